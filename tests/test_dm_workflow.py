"""The Diversity Matters rules end to end on a tiny config (digits, 3 CNN teachers)."""

import os
import re

import pandas as pd
import pytest
from conftest import cell, run_tiny_config, snakemake, trace

pytestmark = pytest.mark.slow


def test_tiny_diversity_matters_config_end_to_end(workflow_copy):
    results = run_tiny_config(workflow_copy, "tiny-dm.yaml")
    dm = results / "dm"

    metrics = pd.read_parquet(dm / "metrics.parquet")
    test = metrics[metrics["eval_set"] == "test"]
    for metric in ("cnll", "cbrier", "cece", "cacc", "temperature", "diversity_kl"):
        assert metric in set(test["metric"]), metric
    kld = test[test["metric"] == "diversity_kl"].groupby("model")["value"].mean()
    several = ["ensemble", "be", "be_gauss", "be_scratch", "hydra_ods", "mimo_confods"]
    assert kld[several].gt(0).all()
    assert kld[["kd", "end2_ods"]].isna().all()  # one output: no members to compare

    curve = pd.read_parquet(dm / "ensemble_curve.parquet")
    assert list(curve["size"]) == [1, 2, 3] and list(curve["subsets"]) == [3, 3, 1]

    table = (dm / "tables/diversity.md").read_text()
    for row in ("DE-1", "DE-3", "be", "be_scratch", "hydra_ods", "mimo_confods", "end2_ods"):
        assert f"| {row} |" in table, row
    assert "| be_gauss − be | 2 |" in table  # the perturbed student paired with its twin
    assert "| be_latent − be | 2 |" in table  # LatentBE paired with its source
    cost = pd.read_parquet(dm / "cost.parquet").set_index("model")["params"]
    assert cost["be_latent"] == cost["kd"] < cost["be"]  # one network's parameters
    traced = trace(workflow_copy, "results/dm/tables/diversity.md", "be_gauss", "mean-KLD")
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert f"recomputed: {cell(table, 'be_gauss', 'mean-KLD')}\n" in traced.stdout
    for piece in (
        "rule diversity_table",
        "metrics.pairwise_kl",
        "method 'batchensemble'",
        "experiments.dm.students.be_gauss.perturbation.kind = gaussian\n",
        "experiments.dm.students.be_gauss.perturbation.step = 0.05\n",
    ):
        assert piece in traced.stdout, piece
    csv = pd.read_csv(dm / "tables/diversity.csv")
    students = csv[csv["model"].isin(["be", "kd"]) & csv["baseline"].isna()]
    assert students["dee_mean"].between(1, 3).all()

    teachers = pd.read_parquet(dm / "analysis/teacher_diversity.parquet")
    assert list(teachers["inputs"].unique()) == ["train", "train + Gaussian", "train + ODS"]
    jac = pd.read_parquet(dm / "analysis/jacobians.parquet")
    assert set(jac[jac["baseline"]]["student"]) == {"be_scratch"}
    assert {"be", "hydra_ods", "mimo_confods"} <= set(jac["student"])
    assert jac["cosine"].between(-1, 1).all()
    snr = pd.read_parquet(dm / "analysis/grad_snr.parquet")
    assert set(snr["perturbation"]) == {"gaussian", "ods"} and (snr["snr"] > 0).all()
    for figure in ("diversity", "jacobians"):
        assert (dm / f"figures/{figure}.png").stat().st_size > 1000

    # Code inputs come from the import graph: editing the perturbations reruns the
    # students and analyses that use them, but neither teachers nor data preparation.
    perturb = workflow_copy / "workflow/ensemble_distill/perturb.py"
    perturb.write_text(perturb.read_text() + "\n# edited\n")
    os.utime(perturb)
    plan = snakemake("-n", "--cores", "2", cwd=workflow_copy)
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    assert jobs["distill_student"] == "14" and "analyse_jacobians" in jobs
    assert "train_teacher" not in jobs and "prepare_dataset" not in jobs
