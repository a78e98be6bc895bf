"""Tables on hand-made frames: which statistic each table prints (std over seeds, standard
error over splits), the MU gap, the AUROC's direction, and the cost shares."""

import numpy as np
import pandas as pd
import pytest
from ensemble_distill.metrics import mu_gap
from ensemble_distill.ood import auroc, ood_aurocs
from ensemble_distill.tables.format import format_value
from ensemble_distill.tables.hydra import cost_tables, summary_tables, uci_tables


def rows(model, method, metric, values, eval_set="test", eval_kind="test", split=None):
    """Long metric rows, one per distillation seed (or per split with ``split='each'``)."""
    return [
        dict(experiment="exp", model=model, method=method, distill_seed=seed,
             eval_set=eval_set, eval_kind=eval_kind, intensity=0.0, split=s, metric=metric, value=v)
        for seed, (s, v) in enumerate(values)
    ]  # fmt: skip


def test_summary_is_mean_and_sample_std_over_seeds():
    metrics = pd.DataFrame(
        rows("kd", "kd", "nll", [(0, 0.1), (0, 0.2), (0, 0.4)])
        + rows("kd", "kd", "acc", [(0, 0.9), (0, 0.8), (0, 0.7)])
        + rows("kd", "kd", "nll", [(0, 9.0)], eval_set="rot", eval_kind="rotate")  # not in-domain
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
              eval_set="test", eval_kind="test", intensity=0.0, split=split, metric=metric,
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


def per_example(model, seed, eval_set, eval_kind, mu, intensity=0.0, total=None):
    return pd.DataFrame(
        dict(experiment="exp", model=model, method=model, distill_seed=seed, eval_set=eval_set,
             eval_kind=eval_kind, intensity=intensity, index=np.arange(len(mu)),
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
            per_example("kd", 0, "test", "test", [np.nan, np.nan], total=[0.1, 0.2]),
            per_example("kd", 0, "svhn", "ood", [np.nan, np.nan], total=[0.5, 0.15]),
        ]
    )
    ensemble = pd.concat(  # the ensemble's rows have no distillation seed (NA)
        [
            per_example("ensemble", pd.NA, "test", "test", [0.0, 0.1], total=[0.1, 0.2]),
            per_example("ensemble", pd.NA, "svhn", "ood", [0.2, 0.0], total=[0.0, 0.3]),
        ]
    )
    aurocs = ood_aurocs(pd.concat([frame, ensemble])).set_index(["model", "metric"])["value"]
    assert list(aurocs.loc["kd"].index) == [
        "svhn: AUROC total", "svhn: AUPR total", "svhn: FPR95 total"]  # no MU  # fmt: skip
    assert aurocs[("kd", "svhn: AUROC total")] == pytest.approx(0.75)
    assert aurocs[("ensemble", "svhn: AUROC total")] == pytest.approx(0.5)  # 0.3 > both
    assert aurocs[("ensemble", "svhn: AUROC model")] == pytest.approx((1 + 1 + 0.5 + 0) / 4)


def test_cost_shares_are_of_the_ensemble():
    cost = pd.DataFrame(
        dict(model=["ensemble", "hydra"], method=["ensemble", "hydra"], params=[1000, 250],
             flops=[4000.0, 1000.0], seconds_per_10k=[2.0, 0.5])
    )  # fmt: skip
    text, _ = cost_tables(cost)
    assert "| hydra | 250 (25.0 %) | 1e+03 (25.0 %) | 0.500 |" in text


def test_uci_table_marks_missing_methods_and_counts_ties_as_wins():
    def uci(experiment, method, nll, rmse=1.0):
        return [dict(experiment=experiment, model=method, method=method, distill_seed=0,
                     eval_set="test", eval_kind="test", intensity=0.0, split=s, metric=m, value=v)
                for s in range(2) for m, v in (("nll", nll), ("rmse", rmse))]  # fmt: skip

    metrics = pd.DataFrame(
        uci("uci_yacht", "kd", 3.0) + uci("uci_yacht", "hydra", 3.0)  # a tie counts
        + uci("uci_naval", "kd", 1.0)  # no Hydra run
        + uci("uci_naval", "end2", 0.0)  # a method outside the paper's table
        + uci("uci_yacht_long", "kd", 2.0)  # another protocol on the same set
    )  # fmt: skip
    paper = {"title": "P", "methods": ["kd", "hydra"], "compare": ["hydra", "kd"],
             "nll": {"yacht": {"kd": 1.5, "hydra": 1.25}}}  # fmt: skip
    text, csv = uci_tables(metrics, paper)
    lines = text.splitlines()
    header = (
        "dataset | NLL KD | NLL Hydra | RMSE KD | RMSE Hydra | paper NLL KD (P) | paper NLL Hydra"
    )
    assert lines[0] == f"| {header} |"
    same = "3.0000 ± 0.0000 | 3.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000"
    assert f"| yacht | {same} | 1.5000 | 1.2500 |" in lines
    assert "| naval | 1.0000 ± 0.0000 | n/a | 1.0000 ± 0.0000 | n/a |  |  |" in lines
    long = "2.0000 ± 0.0000 | n/a | 1.0000 ± 0.0000 | n/a"
    assert f"| yacht_long | {long} | 1.5000 | 1.2500 |" in lines
    assert "Hydra's NLL is at most KD's on 1 of 3 datasets." in text
    missing = csv[(csv["dataset"] == "naval") & (csv["method"] == "hydra")]
    assert missing["mean"].isna().all() and missing["splits"].isna().all()
    assert set(csv["method"]) == {"kd", "hydra"}
    assert csv[(csv["dataset"] == "yacht") & (csv["method"] == "kd")]["splits"].tolist() == [2, 2]


def test_summary_puts_the_papers_row_under_the_student_that_reproduces_it():
    metrics = pd.DataFrame(
        rows("hydra", "hydra", "acc", [(0, 0.9), (0, 0.7)])
        + rows("hydra3", "hydra", "acc", [(0, 0.5), (0, 0.7)])
        + rows("single", "member", "acc", [(0, 0.6), (0, 0.8)])
    )
    paper = {"title": "P", "summary": {"hydra": {"acc": 0.95}, "member": {"acc": 0.5}}}
    text, _ = summary_tables(metrics, ["single", "hydra", "hydra3"], paper, {"hydra": "hydra"})
    lines = text.splitlines()
    assert lines[2:6] == [
        "| single | 2 | 0.7000 ± 0.1414 |",
        "| hydra | 2 | 0.8000 ± 0.1414 |",
        "| hydra (P) |  | 0.9500 |",
        "| hydra3 | 2 | 0.6000 ± 0.1414 |",
    ]


def test_paper_rows_name_the_students_that_reproduce_a_published_row():
    from ensemble_distill.paper import paper_row

    hydra = {"method": "hydra", "head": {"type": "copy", "layers": 1}}
    assert paper_row("hydra-cifar10", hydra) == "hydra"
    assert paper_row("hydra-cifar10", {**hydra, "head": {"type": "copy", "layers": 3}}) is None
    assert paper_row("hydra-mnist", {"method": "end2"}) == "end2"
    be = {"method": "batchensemble", "teachers": 4}
    assert paper_row("dm-cifar100", {**be, "perturbation": {"kind": "ods"}}) == "ods"
    assert paper_row("dm-cifar100", be) == "none"
    assert paper_row("dm-cifar100", {**be, "network": {"width": 2}}) is None  # Table 2
    assert paper_row("dm-cifar100", {**be, "teachers": 3}) is None
    assert paper_row(None, be) is None


def test_format_value():
    assert format_value(0.5, 0.1, 1) == "0.5000"  # one network: no spread
    assert format_value(0.5, 0.1, 2) == "0.5000 ± 0.1000"
    assert format_value(0.5, np.nan, 3) == "0.5000"
    assert format_value(5e-4, 1e-4, 3) == "5.00e-04 ± 1.00e-04"  # small values keep digits
    assert format_value(0.001, 0.0, 2) == "0.0010 ± 0.0000"
    assert format_value(0.0) == "0.0000" and format_value(np.nan) == "n/a"


def test_summary_compares_students_paired_over_seeds():
    metrics = pd.DataFrame(
        rows("kd", "kd", "nll", [(0, 0.30), (0, 0.20), (0, 0.25)])
        + rows("hydra", "hydra", "nll", [(0, 0.28), (0, 0.17), (0, 0.24)])
        + rows("ensemble", "ensemble", "nll", [(0, 0.1)])
    )
    text, _ = summary_tables(metrics, ["ensemble", "kd", "hydra"])
    # hydra − kd per seed: −0.02, −0.03, −0.01 → mean −0.02, sd 0.01, t(0.975, 2) = 4.3027
    half = 4.302653 * 0.01 / np.sqrt(3)
    assert f"| hydra − kd | 3 | -0.0200 ± {half:.4f} |" in text
    assert "ensemble −" not in text and "− ensemble" not in text


def test_ood_table_has_aupr_beside_auroc():
    frame = pd.concat(
        [
            per_example("kd", 0, "test", "test", [np.nan] * 3, total=[0.1, 0.4, 0.2]),
            per_example("kd", 0, "svhn", "ood", [np.nan] * 2, total=[0.5, 0.3]),
        ]
    )
    aurocs = ood_aurocs(frame).set_index("metric")["value"]
    # Ranked by score: 0.5 (OOD) 0.4 (in) 0.3 (OOD) 0.2 0.1 → precision at each OOD hit
    # 1/1 and 2/3; AP = ½·1 + ½·⅔.
    assert aurocs["svhn: AUPR total"] == pytest.approx(0.5 + 1 / 3)
    assert aurocs["svhn: AUROC total"] == pytest.approx(5 / 6)
    # 95 % of the 2 OOD inputs is both: the threshold must reach 0.3, which also flags the
    # in-domain 0.4: FPR = 1/3.
    assert aurocs["svhn: FPR95 total"] == pytest.approx(1 / 3)


def test_fpr_at_95_tpr_by_hand_with_ties():
    from ensemble_distill.ood import fpr_at_95_tpr

    in_scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    # 20 OOD scores: 19 above every in-domain score, one at 0.35; 95 % is 19 of 20.
    out_scores = np.r_[np.full(19, 2.0), 0.35]
    assert fpr_at_95_tpr(in_scores, out_scores) == pytest.approx(0.0)  # 2.0 flags 19/20
    out_scores = np.r_[np.full(18, 2.0), 0.35, 0.35]  # 19 needs 0.35: flags 0.4..1.0 (7/10)
    assert fpr_at_95_tpr(in_scores, out_scores) == pytest.approx(0.7)
    # A tie between an OOD and in-domain score at the threshold flags both.
    out_scores = np.r_[np.full(18, 2.0), 0.5, 0.5]
    assert fpr_at_95_tpr(in_scores, out_scores) == pytest.approx(0.6)  # 0.5..1.0
    assert fpr_at_95_tpr(in_scores, np.full(20, 0.05)) == pytest.approx(1.0)  # all below
