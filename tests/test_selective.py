"""Selective prediction and reliability bins, against values worked out by hand."""

import numpy as np
import pandas as pd
import pytest
from ensemble_distill.metrics import ece, ece_of_bins, reliability_bins
from ensemble_distill.selective import aurc, aurc_rows, mean_curves, risk_coverage


def test_risk_coverage_by_hand():
    # most confident first: right, right, wrong, wrong -> risks 0, 0, 1/3, 2/4
    coverage, risk = risk_coverage([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1])
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk == pytest.approx([0, 0, 1 / 3, 1 / 2])
    assert aurc([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]) == pytest.approx((1 / 3 + 1 / 2) / 4)
    # the worst order: wrong first -> risks 1, 1, 2/3, 2/4
    assert aurc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]) == pytest.approx((2 + 2 / 3 + 1 / 2) / 4)


def test_tied_scores_count_at_their_expected_error_rate():
    """0.9 right; 0.8 wrong and 0.8 right tied; 0.5 wrong. Either order of the tie gives
    k = 2 risk 1/2 or 0; the curve takes their mean, 1/4, and does not depend on the input
    order of the tied pair."""
    risks = [0, 0.25, 1 / 3, 0.5]
    assert risk_coverage([0.9, 0.8, 0.8, 0.5], [0, 1, 0, 1])[1] == pytest.approx(risks)
    assert risk_coverage([0.9, 0.8, 0.8, 0.5], [0, 0, 1, 1])[1] == pytest.approx(risks)
    assert aurc([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(1 / 3)  # all tied: flat 1/3


def per_example(model, seed, confidence, wrong, mu=None, kind="test"):
    n = len(confidence)
    return pd.DataFrame(
        dict(
            model=model,
            method=model,
            distill_seed=seed,
            eval_set=kind,
            eval_kind=kind,
            intensity=0.0,
            index=np.arange(n),
            confidence=confidence,
            model_uncertainty=np.full(n, np.nan) if mu is None else mu,
            label=np.zeros(n, int),
            prediction=np.asarray(wrong, int),
        )  # fmt: skip
    )


def test_aurc_rows_per_model_seed_and_score():
    frame = pd.concat(
        [
            per_example("kd", 0, [0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]),
            per_example(
                "ensemble", pd.NA, [0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1], mu=[0.4, 0.3, 0.2, 0.1]
            ),  # fmt: skip  # MU ranks the wrong first
            per_example("kd", 0, [0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], kind="ood"),  # not scored
        ]
    )
    rows = aurc_rows(frame).set_index(["model", "metric"])["value"]
    assert rows[("kd", "AURC confidence")] == pytest.approx((1 / 3 + 1 / 2) / 4)
    assert ("kd", "AURC MU") not in rows  # a single network has no MU
    assert rows[("ensemble", "AURC MU")] == pytest.approx((2 + 2 / 3 + 1 / 2) / 4)
    two_seeds = pd.concat([per_example("kd", 0, [0.4, 0.3], [0, 1]),
                           per_example("kd", 1, [0.4, 0.3], [1, 0])])  # fmt: skip
    coverage, risk, n = mean_curves(two_seeds, "confidence")["kd"]
    assert n == 2 and coverage.tolist() == [0.5, 1.0] and risk == pytest.approx([0.5, 0.5])


def test_reliability_bins_by_hand_and_ece_from_them():
    """Confidences 0.05 and 0.1, both wrong ((1/15, 2/15] holds 0.1), 0.95 and 0.99, one
    right: bins 0, 1 and 14; ECE = 1/4·0.05 + 1/4·0.1 + 2/4·|0.5 − 0.97|."""
    confidence = np.array([0.05, 0.1, 0.95, 0.99])
    correct = np.array([0, 0, 1, 0])
    table = reliability_bins(confidence, correct)
    assert len(table) == 15 and table["count"].tolist() == [1, 1] + [0] * 12 + [2]
    assert table["accuracy"][14] == 0.5 and table["confidence"][14] == pytest.approx(0.97)
    assert np.isnan(table["accuracy"][5])
    expected = 0.25 * 0.05 + 0.25 * 0.1 + 0.5 * 0.47
    assert ece_of_bins(table) == pytest.approx(expected)
    classes = 30  # the rest spread evenly: below every confidence above, class 0 predicted
    probs = np.repeat(((1 - confidence) / (classes - 1))[:, None], classes, axis=1)
    probs[:, 0] = confidence
    labels = np.array([1, 1, 0, 1])  # wrong, wrong, right, wrong
    assert ece(probs, labels) == pytest.approx(expected)


def test_calibrated_confidence_per_example_is_softmax_of_log_mean_over_t():
    """The per-example column the reliability diagram reads: max softmax(log p̄ / T) with T
    from the metric rows, checked by hand on two examples; its ECE is the table's cECE."""
    from ensemble_distill.metrics import evaluate_predictions

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 300)
    logits = np.eye(3)[labels] * 3 + rng.normal(size=(300, 3)) * 2.5  # overconfident
    log_probs = (logits - np.log(np.exp(logits).sum(-1, keepdims=True)))[None, None]
    pred = dict(kind="categorical", log_probs=log_probs, labels=labels, intensities=np.zeros(1),
                eval_kind=np.array("test"), seeds=np.array([0]))  # fmt: skip
    metrics, examples = evaluate_predictions(pred, "e", "kd", "kd", 0, "test", validation=pred)
    value = metrics.set_index("metric")["value"]
    t = value["temperature"]
    assert t > 1.05  # overconfident: softened
    for i in (0, 1):
        scaled = np.exp(logits[i] / t) / np.exp(logits[i] / t).sum()
        assert examples["calibrated_confidence"][i] == pytest.approx(scaled.max(), rel=1e-9)
        assert examples["confidence"][i] == pytest.approx(np.exp(log_probs[0, 0, i]).max())
    correct = examples["prediction"] == examples["label"]
    bins = reliability_bins(examples["calibrated_confidence"].to_numpy(), correct.to_numpy())
    assert ece_of_bins(bins) == pytest.approx(value["cece"], rel=1e-9)
    assert ece_of_bins(reliability_bins(examples["confidence"].to_numpy(), correct)) == (
        pytest.approx(value["ece"], rel=1e-9)
    )


def record(epoch, train, val):
    return {"epoch": epoch, "train_loss": train, "val_loss": val}


def test_training_histories_phases_and_the_kept_epoch(tmp_path):
    """A Hydra history (Hinton 1-2, heads 1-3): two phases, the kept epoch is the lowest
    validation loss of the last phase (index 3), not of the whole history (index 1); without
    validation losses the last epoch is kept. Read from the header, no tensor loaded."""
    import torch
    from ensemble_distill.evaluation_figures import training_curves
    from ensemble_distill.histories import best_epoch, histories_frame, phases
    from ensemble_distill.io import checkpoint_values, save_checkpoint

    hydra = [record(1, 2.0, 1.0), record(2, 1.0, 0.1), record(1, 0.9, 0.5), record(2, 0.8, 0.3),
             record(3, 0.7, 0.4)]  # fmt: skip
    assert [len(p) for p in phases(hydra)] == [2, 3]
    assert best_epoch(hydra) == 3
    assert best_epoch([record(1, 1.0, float("nan")), record(2, 0.5, float("nan"))]) == 1
    path = tmp_path / "model.pt"
    save_checkpoint(path, spec={"arch": "mlp"}, state_dicts=[{"w": torch.ones(3)}],
                    history=[hydra], seed=4)  # fmt: skip
    values = checkpoint_values(path)
    assert values == {"spec": {"arch": "mlp"}, "history": [hydra], "seed": 4}
    frame = histories_frame({"hydra": [path]})
    assert frame["step"].tolist() == [1, 2, 3, 4, 5] and frame["phase"].tolist() == [0, 0, 1, 1, 1]
    assert frame["kept"].tolist() == [False, False, False, True, False]
    assert (frame["network"] == 4).all() and frame["val_loss"].tolist()[3] == 0.3
    training_curves(frame)  # draws without error
    path.write_bytes(path.read_bytes()[:5])  # truncated: named
    with pytest.raises(Exception, match=r"cannot read the header of checkpoint .*model.pt"):
        checkpoint_values(path)
