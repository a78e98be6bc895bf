"""The experiment plan against values written out by hand: seeds, labels and their inverses,
paths, eval groups, the test and validation set, perturbation pairs, tables and figures."""

import copy
from pathlib import Path

import pytest
import yaml
from ensemble_distill import plan
from ensemble_distill.config import validate_config
from ensemble_distill.plan import Experiment, Plan

REPO = Path(__file__).resolve().parent.parent
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.fixture
def digits():
    """The default digits experiment with 3 distillation seeds in groups of 2, 10 members in
    packs of 4, and two students."""
    spec = validate_config(copy.deepcopy(DEFAULT))["experiments"]["digits"]
    spec.update(distill_seeds=[0, 1, 2], distill_seeds_per_job=2, eval_group="seed_group")
    spec["ensemble"].update(size=10, pack=4)
    spec["students"] = {s: spec["students"][s] for s in ("kd", "be_ods")}
    return Experiment("digits", spec)


def test_packs_labels_and_their_inverses(digits):
    assert digits.teacher_packs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert digits.student_seed_groups == [[0, 1], [2]]
    assert digits.teacher_pack("seeds8-9") == [8, 9]
    assert digits.student_seed_group("seeds2-2") == [2]
    with pytest.raises(KeyError):
        digits.teacher_pack("seeds0-1")  # not a pack of this ensemble
    assert plan.model_id("kd", 12) == "kd/seed12"
    assert plan.parse_model_id("kd/seed12") == ("kd", 12)
    assert plan.parse_model_id("ensemble") == ("ensemble", None)


def test_checkpoint_paths(digits):
    assert digits.teacher_dirs([3, 4]) == [
        "results/digits/teachers/seeds0-3",
        "results/digits/teachers/seeds4-7",
    ]
    assert digits.teacher_checkpoints([3, 9]) == [
        "results/digits/teachers/seeds0-3/seed3/model.pt",
        "results/digits/teachers/seeds8-9/seed9/model.pt",
    ]
    # be_ods learns from the first 4 teachers: one pack
    assert digits.student_teacher_seeds("be_ods") == [0, 1, 2, 3]
    assert digits.student_checkpoints(["kd", "be_ods"], [2]) == [
        "results/digits/students/kd/seeds2-2/seed2/model.pt",
        "results/digits/students/be_ods/seeds2-2/seed2/model.pt",
    ]
    assert digits.student_dirs(["kd"]) == [
        "results/digits/students/kd/seeds0-1",
        "results/digits/students/kd/seeds2-2",
    ]
    assert digits.resume("train_teacher", pack="seeds0-3") == (
        "results/.resume/digits/teachers-seeds0-3.pt"
    )


def test_eval_groups_cover_every_model_once_per_mode(digits):
    assert digits.eval_groups == {
        "ensemble": ["ensemble"],
        "kd-seeds0-1": ["kd/seed0", "kd/seed1"],
        "kd-seeds2-2": ["kd/seed2"],
        "be_ods-seeds0-1": ["be_ods/seed0", "be_ods/seed1"],
        "be_ods-seeds2-2": ["be_ods/seed2"],
    }
    assert digits.eval_files("predictions", ["kd/seed2", "ensemble"]) == [
        "results/digits/predictions/kd-seeds2-2/kd/seed2.npz",
        "results/digits/predictions/ensemble/ensemble.npz",
    ]
    assert digits.eval_dirs("metrics", ["kd/seed0", "kd/seed1"]) == [
        "results/digits/metrics/kd-seeds0-1"
    ]
    digits.spec["eval_group"] = "experiment"
    assert digits.eval_groups == {
        "all": ["ensemble", "kd/seed0", "kd/seed1", "kd/seed2",
                "be_ods/seed0", "be_ods/seed1", "be_ods/seed2"]
    }  # fmt: skip
    assert digits.eval_files("per_example", ["kd/seed1"]) == [
        "results/digits/per_example/all/kd/seed1.parquet"
    ]


def test_test_set_pairs_analysis_tables_and_figures(digits):
    assert (digits.test_set, digits.validation_set) == ("test", "val")
    digits.students["be_kd"] = {**digits.students["be_ods"], "perturbation": {"kind": "none"}}
    assert digits.perturbation_pairs == {"be_ods": "be_kd"}
    assert digits.analysis == {
        "step": 0.0039215686,
        "temperature": 4.0,
        "draws": 5,
    }  # config.yaml's
    assert digits.tables == ["summary", "cost", "mu_gap", "ood", "diversity", "selective"]
    assert digits.figures == ["shift_curves", "ood_histograms", "diversity", "reliability",
                              "risk_coverage", "training_curves"]  # fmt: skip
    assert digits.model_order == ["ensemble", "single", "kd", "be_ods", "be_kd"]


def test_whole_config_results_and_resources():
    config = validate_config(copy.deepcopy(DEFAULT))
    results = Plan(config).results
    assert "results/toy_regression/tables/summary.md" in results
    assert "results/toy_regression/figures/regression_fit.png" in results
    assert "results/spiral/figures/uncertainty_maps.png" in results
    assert "results/toy_regression/figures/reliability.png" not in results  # regression
    # toy: table, fit, training curves; spiral: 4 tables, maps, reliability, risk–coverage,
    # training curves; digits: 6 tables, 6 figures
    assert len(results) == 3 + 8 + 12
    config["run"] = ["spiral"]
    assert all(p.startswith("results/spiral/") for p in Plan(config).results)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("results/digits/dataset.npz", ("prepare_dataset", "data", {"exp": "digits"})),
        (
            "results/digits/teachers/seeds0-7/seed3/model.pt",
            ("train_teacher", "pack", {"exp": "digits", "pack": "seeds0-7"}),
        ),
        (
            "results/digits/predictions/hydra-seeds0-1/hydra/seed0.npz",
            ("predict", "predictions", {"exp": "digits", "group": "hydra-seeds0-1"}),
        ),
        (
            "results/uci_table4.md",
            ("uci_table", "markdown", {}),
        ),
        (
            "results/spiral/tables/mu_gap.md",
            ("mu_gap_table", "markdown", {"exp": "spiral"}),
        ),
        ("results/spiral/notes.txt", None),
    ],
)
def test_rule_of_a_path(path, expected):
    assert plan.rule_of(path) == expected
