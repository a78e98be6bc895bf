"""Tables on hand-made frames: which statistic each table prints (std over seeds, standard
error over splits), the MU gap, the AUROC's direction, and the cost shares."""

import numpy as np
import pandas as pd
import pytest
from ensemble_distill.tables import (
    auroc,
    cost_tables,
    mu_gap,
    ood_aurocs,
    summary_tables,
    uci_tables,
)


def rows(model, method, metric, values, eval_set="test", shift="none", split=None):
    """Long metric rows, one per distillation seed (or per split with ``split='each'``)."""
    return [
        dict(experiment="exp", model=model, method=method, distill_seed=seed,
             eval_set=eval_set, shift=shift, intensity=0.0, split=s, metric=metric, value=v)
        for seed, (s, v) in enumerate(values)
    ]  # fmt: skip


def test_summary_is_mean_and_sample_std_over_seeds():
    metrics = pd.DataFrame(
        rows("kd", "kd", "nll", [(0, 0.1), (0, 0.2), (0, 0.4)])
        + rows("kd", "kd", "acc", [(0, 0.9), (0, 0.8), (0, 0.7)])
        + rows("kd", "kd", "nll", [(0, 9.0)], eval_set="rot", shift="rotate")  # not in-domain
        + rows("ensemble", "ensemble", "nll", [(0, 0.05)])
    )
    text, csv = summary_tables(metrics, ["ensemble", "kd"])
    kd = csv.set_index("model").loc["kd"]
    # mean 0.7/3; sample std: deviations −0.1333, −0.0333, 0.1667 → √(0.04667/2) = 0.1528
    assert kd["nll_mean"] == pytest.approx(0.7 / 3)
    assert kd["nll_std"] == pytest.approx(0.152753, rel=1e-5)
    assert kd["acc_std"] == pytest.approx(0.1)
    assert kd["n"] == 3
    assert "| kd | 3 | 0.8000 ± 0.1000 | 0.2333 ± 0.1528 |" in text
    assert "| ensemble | 1 | n/a | 0.0500 |" in text  # one network: no ± part
    assert list(csv["model"]) == ["ensemble", "kd"]


def test_regression_summary_is_standard_error_over_splits_of_seed_means():
    # split 0: seeds 1.0, 3.0 → 2.0; split 1: 4.0, 4.0 → 4.0. Over splits: mean 3, sample
    # std √2, standard error √2/√2 = 1 (pooling all four values would give 0.707).
    metrics = pd.DataFrame(
        [dict(experiment="uci_yacht", model="kd", method="kd", distill_seed=seed,
              eval_set="test", shift="none", intensity=0.0, split=split, metric=metric,
              value=value)
         for metric, values in (("nll", [[1.0, 3.0], [4.0, 4.0]]), ("rmse", [[1, 1], [2, 2]]))
         for split, pair in enumerate(values) for seed, value in enumerate(pair)]
    )  # fmt: skip
    text, csv = summary_tables(metrics, ["kd"])
    kd = csv.set_index("model").loc["kd"]
    assert (kd["nll_mean"], kd["nll_se"], kd["splits"]) == (3.0, pytest.approx(1.0), 2)
    assert kd["rmse_se"] == pytest.approx(0.5)  # splits 1 and 2: std 1/√2, se 1/2
    assert "| kd | 2 | 3.0000 ± 1.0000 | 1.5000 ± 0.5000 |" in text

    paper = {
        "title": "P",
        "methods": ["kd"],
        "compare": ["kd", "kd"],
        "nll": {"yacht": {"kd": 0.5}},
    }
    text, csv = uci_tables(metrics, paper)
    nll = csv[(csv["metric"] == "nll")].iloc[0]
    assert (nll["dataset"], nll["mean"], nll["se"]) == ("yacht", 3.0, pytest.approx(1.0))
    assert "| yacht | 3.0000 ± 1.0000 | 1.5000 ± 0.5000 | 0.5000 |" in text


def per_example(model, seed, eval_set, shift, mu, intensity=0.0, total=None):
    return pd.DataFrame(
        dict(experiment="exp", model=model, method=model, distill_seed=seed, eval_set=eval_set,
             shift=shift, intensity=intensity, index=np.arange(len(mu)),
             model_uncertainty=mu, total_uncertainty=mu if total is None else total)
    )  # fmt: skip


def test_mu_gap_by_hand_matches_examples_and_intensities_and_skips_validation():
    frame = pd.concat(
        [
            per_example("ensemble", pd.NA, "rot", "rotate", [0.5, 0.1], intensity=0.0),
            per_example("ensemble", pd.NA, "rot", "rotate", [0.2, 0.2], intensity=90.0),
            per_example("hydra", 0, "rot", "rotate", [0.3, 0.4], intensity=0.0),
            per_example("hydra", 0, "rot", "rotate", [0.2, 0.6], intensity=90.0),
            per_example("single", 3, "rot", "rotate", [9.0, 9.0]),
            per_example("ensemble", pd.NA, "val", "validation", [0.0, 0.0]),
            per_example("hydra", 0, "val", "validation", [5.0, 5.0]),
        ]
    )
    gaps = mu_gap(frame)
    # |0.3−0.5|, |0.4−0.1|, |0.2−0.2|, |0.6−0.2| → mean 0.9/4
    assert list(gaps["model"]) == ["hydra"] and list(gaps["eval_set"]) == ["rot"]
    assert gaps["value"].item() == pytest.approx(0.9 / 4)


def test_auroc_counts_ood_scored_above_in_domain():
    # Pairs (out, in): 0.5>0.1, 0.5>0.2, 0.15>0.1 yes; 0.15>0.2 no; ties count ½.
    assert auroc(np.array([0.1, 0.2]), np.array([0.5, 0.15])) == pytest.approx(0.75)
    assert auroc(np.array([0.1, 0.2]), np.array([0.2, 0.2])) == pytest.approx(
        (1 + 0.5 + 1 + 0.5) / 4
    )
    frame = pd.concat(
        [
            per_example("kd", 0, "test", "none", [np.nan, np.nan], total=[0.1, 0.2]),
            per_example("kd", 0, "svhn", "ood", [np.nan, np.nan], total=[0.5, 0.15]),
        ]
    )
    aurocs = ood_aurocs(frame)
    assert list(aurocs["metric"]) == ["svhn: AUROC total"]  # no MU for a single output
    assert aurocs["value"].item() == pytest.approx(0.75)


def test_cost_shares_are_of_the_ensemble():
    cost = pd.DataFrame(
        dict(model=["ensemble", "hydra"], method=["ensemble", "hydra"], params=[1000, 250],
             flops=[4000.0, 1000.0], seconds_per_10k=[2.0, 0.5])
    )  # fmt: skip
    text, _ = cost_tables(cost)
    assert "| hydra | 250 (25.0 %) | 1e+03 (25.0 %) | 0.500 |" in text
