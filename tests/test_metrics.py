import math

import numpy as np
import pytest
from ensemble_distill.metrics import (
    brier,
    brier_hydra,
    classification_metrics,
    dirichlet_uncertainties,
    ece,
    ensemble_log_mean,
    evaluate_predictions,
    per_example_frame,
    uncertainties,
)


def log(p):
    return np.log(np.asarray(p, dtype=np.float64))


def metrics_of(log_probs, labels):
    """Aggregate metrics of (K, N, C) member log-probabilities."""
    return classification_metrics(ensemble_log_mean(log_probs), uncertainties(log_probs), labels)


def test_perfect_predictions():
    probs = np.array([[1 - 2e-12, 1e-12, 1e-12], [1e-12, 1 - 2e-12, 1e-12]])
    m = metrics_of(log(probs)[None], np.array([0, 1]))
    assert m["acc"] == 1.0
    assert m["nll"] == pytest.approx(0.0, abs=1e-9)
    assert m["brier"] == pytest.approx(0.0, abs=1e-9)
    assert m["brier_hydra"] == pytest.approx(-1.0, abs=1e-9)
    assert m["ece"] == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(m["model_uncertainty"])  # one member: MU is missing, not 0


def test_uniform_predictions():
    c = 4
    m = metrics_of(log(np.full((3, c), 1 / c))[None], np.array([0, 1, 2]))
    assert m["nll"] == pytest.approx(math.log(c))
    assert m["brier"] == pytest.approx((1 - 1 / c) ** 2 + (c - 1) / c**2)
    assert m["total_uncertainty"] == pytest.approx(math.log(c))


def test_one_wrong_prediction():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([0, 0, 1, 1])  # the last one is wrong
    m = metrics_of(log(probs)[None], labels)
    assert m["acc"] == 0.75
    assert m["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.7, 0.4])))
    assert m["brier"] == pytest.approx(np.mean([0.02, 0.08, 0.18, 0.72]))
    assert brier_hydra(probs, labels) == pytest.approx(brier(probs, labels) - 1)
    # Bins of width 1/15: 0.9 -> (0.867, 0.933], 0.8 -> (0.733, 0.8], 0.7 -> (0.667, 0.733],
    # 0.6 -> (0.533, 0.6]; one example each, so ECE = mean |correct - confidence|.
    assert m["ece"] == pytest.approx(np.mean([0.1, 0.2, 0.3, 0.6]))


def test_ece_pools_examples_within_a_bin():
    probs = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert ece(probs, np.array([0, 1])) == pytest.approx(abs(0.5 - 0.9))


def two_class(confidences):
    return np.array([[c, 1 - c] for c in confidences])


def test_ece_uses_15_bins():
    # 0.66 and 0.68 straddle 10/15 = 0.667 but share a bin of 10 bins (0.6, 0.7] and of
    # 20 bins (0.65, 0.7]; one right, one wrong. Apart: ½·0.34 + ½·0.68; pooled: |½ − 0.67|.
    probs, labels = two_class([0.66, 0.68]), np.array([0, 1])
    assert ece(probs, labels) == pytest.approx(0.5 * 0.34 + 0.5 * 0.68)
    # 0.70 and 0.72 share the 15-bin (0.667, 0.733] (100 bins would separate them).
    assert ece(two_class([0.70, 0.72]), labels) == pytest.approx(abs(0.5 - 0.71))


def test_ece_bins_are_closed_on_the_right():
    # 0.8 = 12/15 is the upper edge of (0.733, 0.8], where 0.75 lies: pooled with (l, u],
    # apart with [l, u) edges (0.8 would open the next bin).
    probs, labels = two_class([0.8, 0.75]), np.array([0, 1])
    assert ece(probs, labels) == pytest.approx(abs(0.5 - 0.775))


def test_model_uncertainty_of_agreeing_and_disagreeing_members():
    same = log([[[0.7, 0.3]], [[0.7, 0.3]]])
    assert uncertainties(same)["model_uncertainty"][0] == pytest.approx(0.0, abs=1e-12)
    eps = 1e-12
    opposite = log([[[1 - eps, eps]], [[eps, 1 - eps]]])
    u = uncertainties(opposite)
    assert u["total_uncertainty"][0] == pytest.approx(math.log(2))
    assert u["data_uncertainty"][0] == pytest.approx(0.0, abs=1e-9)
    assert u["model_uncertainty"][0] == pytest.approx(math.log(2))


def test_ensemble_nll_uses_the_mixture_not_the_mean_of_nlls():
    members = log([[[0.9, 0.1]], [[0.5, 0.5]]])
    m = metrics_of(members, np.array([0]))
    assert m["nll"] == pytest.approx(-math.log(0.7))


def test_unlabelled_sets_get_only_uncertainties():
    m = metrics_of(log([[[0.5, 0.5]], [[0.9, 0.1]]]), np.array([-1]))
    assert set(m) == {"total_uncertainty", "data_uncertainty", "model_uncertainty",
                      "diversity_kl", "disagreement"}  # fmt: skip


def test_ensemble_file_also_scores_each_member():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5, 4))  # 2 intensities, 3 members
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    pred = dict(
        kind=np.array("categorical"),
        log_probs=log_probs,
        labels=np.arange(5) % 4,
        intensities=np.array([0.0, 15.0]),
        eval_kind=np.array("rotate"),
        seeds=np.array([4, 5, 6]),
    )
    metrics, examples = evaluate_predictions(pred, "exp", "ensemble", "ensemble", None, "rot")
    assert (metrics["experiment"] == "exp").all() and (metrics["eval_set"] == "rot").all()
    assert (metrics["eval_kind"] == "rotate").all() and (metrics["split"] == 0).all()
    assert set(zip(metrics["model"], metrics["method"], strict=True)) == {("ensemble", "ensemble"),
                                                             ("single", "member")}  # fmt: skip
    assert metrics[metrics["model"] == "ensemble"]["distill_seed"].isna().all()
    singles = metrics[metrics["model"] == "single"]
    assert sorted(singles["distill_seed"].unique()) == [4, 5, 6]
    assert singles[singles["metric"] == "model_uncertainty"]["value"].isna().all()
    # Each single row scores its own member: member 1 (seed 5) at intensity 15.
    nll_5 = singles[(singles["distill_seed"] == 5) & (singles["metric"] == "nll")
                    & (singles["intensity"] == 15.0)]["value"]  # fmt: skip
    own = -log_probs[1, 1][np.arange(5), np.arange(5) % 4].mean()
    assert nll_5.item() == pytest.approx(own)
    ensemble_nll = metrics[(metrics["model"] == "ensemble") & (metrics["metric"] == "nll")
                           & (metrics["intensity"] == 0.0)]["value"]  # fmt: skip
    mixture = np.log(np.exp(log_probs[0]).mean(0))[np.arange(5), np.arange(5) % 4]
    assert ensemble_nll.item() == pytest.approx(-mixture.mean())
    assert set(metrics["intensity"]) == {0.0, 15.0}
    assert len(examples) == 2 * 5
    expected_cols = [
        "experiment",
        "model",
        "method",
        "distill_seed",
        "eval_set",
        "eval_kind",
        "intensity",
        "split",
        "metric",
        "value",
    ]
    assert list(metrics.columns) == expected_cols


def test_dirichlet_uncertainties_of_a_flat_and_a_sharp_dirichlet():
    flat = dirichlet_uncertainties(np.log([[1.0, 1.0]]))
    # α = (1, 1): H[α/α₀] = ln 2; expected data uncertainty ψ(3) − ψ(2) = 1/2.
    assert flat["total_uncertainty"][0] == pytest.approx(math.log(2))
    assert flat["data_uncertainty"][0] == pytest.approx(0.5)
    assert flat["model_uncertainty"][0] == pytest.approx(math.log(2) - 0.5)
    sharp = dirichlet_uncertainties(np.log([[1e6, 1e6]]))  # huge α₀: no epistemic spread
    assert sharp["model_uncertainty"][0] == pytest.approx(0.0, abs=1e-5)


def test_dirichlet_prediction_file_is_scored_on_its_mean():
    log_alpha = np.log(np.array([[[[3.0, 1.0], [1.0, 1.0]]]]))  # (I=1, K=1, N=2, C=2)
    pred = dict(
        kind=np.array("dirichlet"),
        log_alpha=log_alpha,
        labels=np.array([0, 1]),
        intensities=np.array([0.0]),
        eval_kind=np.array("test"),
        seeds=np.array([0]),
    )
    metrics, _ = evaluate_predictions(pred, "exp", "end2", "end2", 0, "test")
    value = dict(zip(metrics["metric"], metrics["value"], strict=True))
    assert value["nll"] == pytest.approx(-(math.log(0.75) + math.log(0.5)) / 2)
    # α = (3, 1): p = (¾, ¼), H = −¾ ln ¾ − ¼ ln ¼; data = ¾(ψ(5) − ψ(4)) + ¼(ψ(5) − ψ(2))
    # = ¾·¼ + ¼·(½ + ⅓ + ¼). α = (1, 1): ln 2 − ½ (see above).
    mu_a = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) - (0.75 / 4 + 0.25 * 13 / 12)
    assert value["model_uncertainty"] == pytest.approx((mu_a + math.log(2) - 0.5) / 2)
    assert value["acc"] == 0.5  # argmax of α/α₀: right on (3, 1); the tie (1, 1) picks class 0


def test_ece_separates_the_top_bins_and_the_lowest_bins():
    # 0.9 → (0.867, 0.933], 0.95 → (0.933, 1]: apart, ½·0.1 + ½·0.95.
    assert ece(two_class([0.9, 0.95]), np.array([0, 1])) == pytest.approx(0.525)
    # 20 classes: confidence 0.06 lies in the first bin (0, 1/15], 0.1 in the second.
    probs = np.array([[c] + [(1 - c) / 19] * 19 for c in (0.06, 0.1)])
    assert ece(probs, np.array([0, 1])) == pytest.approx(0.5 * 0.94 + 0.5 * 0.1)


def test_dirichlet_uncertainties_of_several_examples_and_classes():
    log_alpha = np.log([[2.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    u = dirichlet_uncertainties(log_alpha)
    # α = (2, 1, 1), α₀ = 4: data = ½(ψ(5) − ψ(3)) + 2·¼(ψ(5) − ψ(2)) = ½·(⅓ + ¼) + ½·(½ + ⅓ + ¼)
    data = 0.5 * (1 / 3 + 1 / 4) + 0.5 * (1 / 2 + 1 / 3 + 1 / 4)
    total = -(0.5 * math.log(0.5) + 0.5 * math.log(0.25))
    np.testing.assert_allclose(u["data_uncertainty"], [data, 1 / 2 + 1 / 3], rtol=1e-12)
    np.testing.assert_allclose(u["total_uncertainty"], [total, math.log(3)], rtol=1e-12)
    assert np.isnan(u["diversity_kl"]).all() and np.isnan(u["disagreement"]).all()


def test_per_example_frame_of_a_classifier():
    log_probs = log(
        [[[[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]]], [[[0.4, 0.6], [0.5, 0.5], [0.9, 0.1]]]]
    )
    pred = dict(kind="categorical", log_probs=log_probs, labels=np.array([0, 0, 1]),
                intensities=np.array([0.0, 30.0]), eval_kind=np.array("rotate"),
                coords=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))  # fmt: skip
    keys = dict(experiment="e", model="kd", method="kd", distill_seed=2, eval_set="rot",
                eval_kind="rotate")  # fmt: skip
    frame = per_example_frame(pred, keys)
    assert list(frame.columns[:8]) == [*keys, "intensity", "index"]
    assert list(frame["intensity"]) == [0.0] * 3 + [30.0] * 3
    assert list(frame["index"]) == [0, 1, 2] * 2
    assert list(frame["prediction"]) == [0, 1, 0, 1, 0, 0]  # ties go to class 0
    np.testing.assert_allclose(frame["confidence"], [0.7, 0.8, 0.6, 0.6, 0.5, 0.9])
    assert list(frame["label"]) == [0, 0, 1] * 2
    assert list(frame["x1"]) == [2.0, 4.0, 6.0] * 2
    assert (frame["distill_seed"] == 2).all() and (frame["eval_set"] == "rot").all()


def test_regression_rows_and_per_example_frame_per_split():
    # (S=2 splits, K=2 members, N=3 examples)
    mean = np.array([[[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]], [[1.0, 1.0, 1.0], [1.0, 1.0, 3.0]]])
    var = np.array([[[1.0, 1.0, 1.0], [3.0, 1.0, 1.0]], [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]])
    labels = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 2.0]])
    pred = dict(kind="gaussian", mean=mean, var=var, labels=labels, eval_kind=np.array("test"),
                intensities=np.zeros(1), seeds=np.array([7, 8]))  # fmt: skip
    metrics, examples = evaluate_predictions(pred, "uci", "ensemble", "ensemble", None, "test")
    ens = metrics[metrics["model"] == "ensemble"].set_index(["split", "metric"])["value"]
    # split 0: mixture means (1, 1, 1) → RMSE 0; aleatoric mean of (2, 1, 1); epistemic
    # var of means (1, 0, 1) → 2/3.
    assert ens[(0, "rmse")] == pytest.approx(0.0)
    assert ens[(0, "aleatoric")] == pytest.approx(4 / 3)
    assert ens[(0, "epistemic")] == pytest.approx(2 / 3)
    assert ens[(1, "rmse")] == pytest.approx(0.0)
    assert ens[(1, "epistemic")] == pytest.approx(1 / 3)  # only the last example differs
    single = metrics[(metrics["model"] == "single") & (metrics["metric"] == "rmse")]
    by_seed = single.set_index(["distill_seed", "split"])["value"]
    assert by_seed[(7, 0)] == pytest.approx(math.sqrt(2 / 3))  # member 0 of split 0: 0, 1, 2
    assert by_seed[(8, 1)] == pytest.approx(math.sqrt(1 / 3))  # member 1 of split 1: 1, 1, 3
    single_nll = metrics[(metrics["model"] == "single") & (metrics["metric"] == "nll")
                         & (metrics["distill_seed"] == 8) & (metrics["split"] == 0)]  # fmt: skip
    expected = np.mean([0.5 * math.log(2 * math.pi * v) + (m - 1) ** 2 / (2 * v)
                        for m, v in ((2, 3), (1, 1), (0, 1))])  # fmt: skip
    assert single_nll["value"].item() == pytest.approx(expected)
    assert (metrics["intensity"] == 0.0).all()

    # Per example: member −1 is the mixture (mean of means, total variance).
    mix = examples[(examples["split"] == 0) & (examples["member"] == -1)]
    np.testing.assert_allclose(mix["mean"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(mix["var"], [2 + 1, 1 + 0, 1 + 1])
    np.testing.assert_allclose(mix["aleatoric"], [2.0, 1.0, 1.0])
    assert list(mix["index"]) == [0, 1, 2]
    one = examples[(examples["split"] == 1) & (examples["member"] == 1)]
    np.testing.assert_allclose(one["mean"], [1.0, 1.0, 3.0])
    np.testing.assert_allclose(one["target"], [1.0, 1.0, 2.0])
    np.testing.assert_allclose(one["epistemic"], [0.0, 0.0, 1.0])
    assert len(examples) == 2 * 3 * 3 and list(examples.columns[:5]) == [
        "experiment", "model", "method", "distill_seed", "eval_set"]  # fmt: skip


def test_each_member_of_an_ensemble_is_calibrated_on_its_own_validation_predictions():
    from ensemble_distill.calibration import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    sharp = np.eye(3)[labels] * 4 + rng.normal(size=(200, 3)) * 3  # overconfident member
    flat = np.eye(3)[labels] * 0.5 + rng.normal(size=(200, 3)) * 0.3  # underconfident member
    logits = np.stack([sharp, flat])[None]  # (I=1, K=2, N, C)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    pred = dict(kind="categorical", log_probs=log_probs, labels=labels, intensities=np.zeros(1),
                eval_kind=np.array("validation"), seeds=np.array([0, 1]))  # fmt: skip
    metrics, _ = evaluate_predictions(pred, "e", "ensemble", "ensemble", None, "val", pred)
    temperature = metrics[metrics["metric"] == "temperature"].set_index("distill_seed")["value"]
    for m in (0, 1):
        assert temperature[m] == pytest.approx(fit_temperature(log_probs[0, m], labels), rel=1e-6)
    assert temperature[0] > 1 > temperature[1]


def test_uncertainties_of_several_members_include_their_diversity():
    members = log([[[0.9, 0.1], [0.5, 0.5]], [[0.2, 0.8], [0.5, 0.5]]])  # (K=2, N=2, C=2)
    u = uncertainties(members)
    kl = lambda p, q: sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))  # noqa: E731
    expected = (kl([0.9, 0.1], [0.2, 0.8]) + kl([0.2, 0.8], [0.9, 0.1])) / 2
    np.testing.assert_allclose(u["diversity_kl"], [expected, 0.0], atol=1e-12)
    np.testing.assert_allclose(u["disagreement"], [1.0, 0.0])
