"""Diversity, temperature scaling, DEE and paired intervals against hand-worked values."""

import numpy as np
import pandas as pd
import pytest
from ensemble_distill.calibration import dee, fit_temperature, log_mean_exp, nll_at, scaled
from ensemble_distill.ensemble_curve import ensemble_curve, subset_means, subsets
from ensemble_distill.metrics import disagreement, evaluate_predictions, pairwise_kl
from ensemble_distill.tables.diversity import diversity_tables
from ensemble_distill.tables.format import paired_interval
from scipy.special import log_softmax


def test_pairwise_kl_by_hand_and_zero_for_identical_members():
    p = np.array([[0.5, 0.5]])
    q = np.array([[0.9, 0.1]])
    log_probs = np.log(np.stack([p, q]))  # (K=2, N=1, C=2)
    kl_pq = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    kl_qp = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert pairwise_kl(log_probs)[0] == pytest.approx((kl_pq + kl_qp) / 2)
    same = np.log(np.stack([q, q, q]))
    assert pairwise_kl(same)[0] == pytest.approx(0.0, abs=1e-12)


def test_pairwise_kl_matches_the_double_loop():
    rng = np.random.default_rng(0)
    log_probs = log_softmax(rng.normal(size=(4, 5, 3)), axis=-1)
    p = np.exp(log_probs)
    loop = np.zeros(5)
    for i in range(4):
        for j in range(4):
            if i != j:
                loop += (p[j] * (log_probs[j] - log_probs[i])).sum(-1)
    np.testing.assert_allclose(pairwise_kl(log_probs), loop / 12)


def test_disagreement_by_hand():
    # Members' top-1 classes 0, 0, 1: of the 6 ordered pairs, 4 disagree.
    log_probs = np.log(np.array([[[0.9, 0.1]], [[0.8, 0.2]], [[0.3, 0.7]]]))
    assert disagreement(log_probs)[0] == pytest.approx(4 / 6)
    assert disagreement(log_probs[:2])[0] == 0.0


def test_temperature_scaling_recovers_the_temperature_of_the_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(20000, 5))
    labels = np.array([rng.choice(5, p=p) for p in np.exp(log_softmax(logits / 2, axis=-1))])
    assert fit_temperature(log_softmax(logits, axis=-1), labels) == pytest.approx(2, abs=0.08)


def test_log_mean_exp_neither_overflows_nor_loses_tiny_terms():
    assert log_mean_exp(np.log([[1.0], [3.0]]))[0] == pytest.approx(np.log(2))
    assert log_mean_exp(np.array([[1000.0], [1000.0]]))[0] == pytest.approx(1000)  # exp: inf
    # exp(-800) is 0 in float64; the shift keeps both terms: -800 + log((1 + e^-2) / 2)
    assert log_mean_exp(np.array([[-800.0], [-802.0]]))[0] == pytest.approx(
        -800 + np.log((1 + np.exp(-2)) / 2), abs=1e-12
    )
    assert log_mean_exp(np.array([[-np.inf], [-np.inf]]))[0] == -np.inf
    assert log_mean_exp(np.array([[-np.inf], [0.0]]))[0] == pytest.approx(np.log(0.5))


def test_subset_means_match_the_mixture_and_recompute_underflowing_entries():
    # Members' probabilities of 2 classes for one example; the last member's class 0
    # has log p = -800, which exp() cannot hold.
    log_probs = np.log(np.array([[[0.9, 0.1]], [[0.5, 0.5]], [[0.2, 0.8]]]))
    mean_of = subset_means(log_probs)
    np.testing.assert_allclose(np.exp(mean_of([0, 2])), [[0.55, 0.45]], rtol=1e-14)
    np.testing.assert_allclose(np.exp(mean_of([1])), [[0.5, 0.5]], rtol=1e-14)
    tiny = np.array([[[-800.0, 0.0]], [[-802.0, 0.0]], [[0.0, -800.0]]])
    out = subset_means(tiny)([0, 1])
    assert out[0, 0] == pytest.approx(-800 + np.log((1 + np.exp(-2)) / 2), abs=1e-12)
    assert out[0, 1] == 0.0


def test_nll_at_a_temperature_by_hand():
    # softmax(log p / 2) of p = (0.9, 0.1) is (√0.9, √0.1) / (√0.9 + √0.1); label 0 then 1.
    log_mean = np.log(np.array([[0.9, 0.1], [0.9, 0.1]]))
    by_hand = -np.log(np.sqrt([0.9, 0.1]) / (np.sqrt(0.9) + np.sqrt(0.1)))
    assert nll_at(log_mean, np.array([0, 1]), 2.0) == pytest.approx(by_hand.mean(), rel=1e-13)
    np.testing.assert_allclose(np.exp(scaled(log_mean, 2.0))[0], np.exp(-by_hand), rtol=1e-13)
    assert nll_at(log_mean, np.array([0, 0]), 1.0) == pytest.approx(-np.log(0.9), rel=1e-13)


def test_dee_on_hand_made_curves():
    sizes, curve = [1, 2, 3, 4], [1.0, 0.8, 0.7, 0.65]
    assert dee(0.75, sizes, curve) == pytest.approx(2.5)
    assert dee(0.8, sizes, curve) == pytest.approx(2.0)
    assert dee(0.9, sizes, curve) == pytest.approx(1.5)
    assert dee(1.2, sizes, curve) == 1.0  # worse than one member
    assert dee(0.6, sizes, curve) == 4.0  # better than all: capped at K


def test_dee_interpolates_between_ensemble_sizes_that_are_not_consecutive():
    sizes, curve = [1, 2, 4, 8], [1.0, 0.8, 0.7, 0.6]
    assert dee(0.75, sizes, curve) == pytest.approx(3.0)  # halfway between DE-2 and DE-4
    assert dee(0.625, sizes, curve) == pytest.approx(7.0)  # ¾ of the way from DE-4 to DE-8


def test_fitted_temperature_is_the_minimiser_of_the_validation_nll():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=2, size=(500, 4))
    log_probs = log_softmax(logits, axis=-1)
    labels = np.array([rng.choice(4, p=p) for p in np.exp(log_softmax(logits / 1.7, axis=-1))])
    grid = np.linspace(0.5, 20, 39001)  # step 5e-4
    nlls = [-log_softmax(log_probs / t, axis=-1)[np.arange(500), labels].mean() for t in grid]
    assert fit_temperature(log_probs, labels) == pytest.approx(grid[np.argmin(nlls)], abs=2e-3)


def test_subsets_are_all_combinations_when_few_and_distinct_otherwise():
    rng = np.random.default_rng(0)
    assert subsets(2, 4, rng) == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    drawn = subsets(4, 8, rng, limit=20)  # C(8, 4) = 70 > 20
    assert len(drawn) == 20 and len({tuple(s) for s in drawn}) == 20
    assert all(len(set(s)) == 4 and s == sorted(s) for s in drawn)  # k distinct members
    assert len(subsets(2, 4, rng, limit=6)) == 6  # C(4, 2) = 6 = limit: all of them


def test_ensemble_curve_averages_over_subsets():
    # Two members, one right and confident, one wrong: DE-1 is the mean of their NLLs.
    right = np.log(np.array([[0.9, 0.1]]))
    wrong = np.log(np.array([[0.2, 0.8]]))
    log_probs = np.stack([right, wrong])
    labels = np.array([0])
    rows = ensemble_curve(log_probs, labels, log_probs, labels)
    assert rows[0]["subsets"] == 2 and rows[1]["subsets"] == 1
    assert rows[0]["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.2)) / 2)
    assert rows[1]["nll"] == pytest.approx(-np.log(0.55))
    # cNLL: each row at the temperature fitted on the (here identical) validation set,
    # which can only lower the NLL there.
    assert rows[1]["cnll"] <= rows[1]["nll"] + 1e-9 and rows[0]["cnll"] <= rows[0]["nll"] + 1e-9


def test_paired_interval_by_hand():
    mean, half = paired_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)
    assert np.isnan(paired_interval([1.0])[1])


def test_calibrated_metrics_use_the_models_own_validation_temperature():
    rng = np.random.default_rng(1)
    n = 3000
    logits = rng.normal(scale=4, size=(n, 3))
    labels = np.array([rng.choice(3, p=p) for p in np.exp(log_softmax(logits / 3, axis=-1))])
    overconfident = log_softmax(logits, axis=-1)[None, None]  # (I=1, K=1, N, C)
    pred = dict(kind="categorical", log_probs=overconfident, labels=labels,
                intensities=np.zeros(1), eval_kind="test", seeds=[0])  # fmt: skip
    metrics, _ = evaluate_predictions(pred, "e", "kd", "kd", 0, "test", validation=pred)
    value = dict(zip(metrics["metric"], metrics["value"], strict=True))
    assert value["temperature"] == pytest.approx(3, abs=0.2)
    assert value["cnll"] < value["nll"] - 0.05
    assert value["cacc"] == value["acc"]  # temperature scaling keeps the argmax


def test_diversity_table_rows_dee_and_pairs():
    def rows(model, seed, cnll, kld):
        return [
            dict(model=model, method="batchensemble", distill_seed=seed, eval_set="test",
                 split=0, metric=m, value=v)
            for m, v in (("acc", 0.9), ("nll", cnll + 0.1), ("cnll", cnll), ("diversity_kl", kld))
        ]  # fmt: skip

    metrics = pd.DataFrame(
        rows("be", 0, 0.75, 0.01) + rows("be", 1, 0.85, 0.02)
        + rows("be_ods", 0, 0.70, 0.05) + rows("be_ods", 1, 0.80, 0.04)
        + rows("single", 3, 0.1, 0.0)  # members of the ensemble are not a row
    )  # fmt: skip
    other = pd.DataFrame(rows("be", 0, 9.0, 9.0)).assign(eval_set="rot")  # not the test set
    metrics = pd.concat([metrics, other, pd.DataFrame(rows("be", 1, 9.0, 9.0)).assign(split=1)])
    curve = pd.DataFrame({"size": [1, 2, 3, 4], "subsets": [4, 6, 4, 1],
                          "cnll": [1.0, 0.8, 0.7, 0.65]})  # fmt: skip
    cost = pd.DataFrame({"model": ["ensemble", "be", "be_ods"], "params": [400, 120, 120]})
    text, csv = diversity_tables(metrics, curve, cost, ["ensemble", "be", "be_ods"], "test",
                                 {"be_ods": "be"})  # fmt: skip
    be = csv[(csv["model"] == "be") & csv["baseline"].isna()].iloc[0]
    assert be["dee_mean"] == pytest.approx((2.5 + 1.75) / 2)  # DEE 2.5 and 1.75
    assert "| DE-4 | 1 | 400 |" in text and "| be | 2 | 120 |" in text
    # DEE of DE-k is k; metrics the curve lacks are n/a (acc, nll, mean-KLD here)
    assert "| DE-2 | 6 | 200 | n/a | n/a | 0.8000 | 2 | n/a |" in text
    assert set(csv["model"]) == {"DE-1", "DE-2", "DE-3", "DE-4", "be", "be_ods"}
    assert be["cnll_mean"] == pytest.approx(0.8) and be["cnll_std"] == pytest.approx(0.0707107)
    pair = csv[(csv["baseline"] == "be") & (csv["metric"] == "cnll")].iloc[0]
    assert pair["paired_mean"] == pytest.approx(-0.05) and pair["paired_ci95"] == pytest.approx(
        0, abs=1e-12
    )
    kld = csv[(csv["baseline"] == "be") & (csv["metric"] == "diversity_kl")].iloc[0]
    assert kld["paired_mean"] == pytest.approx(0.03)
