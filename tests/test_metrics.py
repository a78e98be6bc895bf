import math

import numpy as np
import pytest
from ensemble_distill.metrics import (
    brier,
    brier_hydra,
    classification_metrics,
    dirichlet_uncertainties,
    ece,
    evaluate_predictions,
    mean_log_probs,
    uncertainties,
)


def log(p):
    return np.log(np.asarray(p, dtype=np.float64))


def metrics_of(log_probs, labels):
    """Aggregate metrics of (K, N, C) member log-probabilities."""
    return classification_metrics(mean_log_probs(log_probs), uncertainties(log_probs), labels)


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
        shift=np.array("rotate"),
        seeds=np.array([4, 5, 6]),
    )
    metrics, examples = evaluate_predictions(pred, "exp", "ensemble", "ensemble", None, "rot")
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
        "shift",
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
        shift=np.array("none"),
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
