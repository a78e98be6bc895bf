"""Regression: Gaussian losses, UCI loading, mixture metrics, and a tiny UCI run."""

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, cell, run_tiny_config, trace
from ensemble_distill.datasets import DataError, load_dataset
from ensemble_distill.losses import (
    gaussian_kl,
    gaussian_nll,
    hydra_gaussian_loss,
    kd_gaussian_loss,
)
from ensemble_distill.metrics import mixture_log_density, regression_metrics

DATA_ROOT = Path(os.environ.get("ENSEMBLE_DISTILL_DATA", REPO.parent / "shared" / "data"))
needs_uci = pytest.mark.skipif(
    not (DATA_ROOT / "uci").is_dir(), reason=f"no UCI data in {DATA_ROOT}"
)


def gaussians(*pairs):
    """(1, K, 2) outputs from (mean, variance) pairs."""
    return torch.tensor([[[m, math.log(v)] for m, v in pairs]], dtype=torch.float64)


def test_gaussian_kl_closed_form():
    expected = math.log(2 / 1) + (1 + (0 - 1) ** 2) / (2 * 4) - 0.5
    value = gaussian_kl(*map(torch.tensor, (0.0, 1.0, 1.0, 4.0)))
    assert value.item() == pytest.approx(expected)


def test_hydra_gaussian_loss_averages_per_head_kls():
    teachers, heads = gaussians((0, 1), (2, 0.25)), gaussians((1, 4), (2, 0.25))
    expected = (gaussian_kl(*map(torch.tensor, (0.0, 1.0, 1.0, 4.0))).item() + 0) / 2
    assert hydra_gaussian_loss(heads, teachers).item() == pytest.approx(expected)


def test_kd_gaussian_loss_is_the_mixture_kl_up_to_a_constant():
    """Differences of the loss equal differences of KL(mixture ‖ q), checked by Monte Carlo,
    and the loss is smallest at the moment-matched Gaussian."""
    teachers = gaussians((0, 1), (3, 0.5))
    rng = np.random.default_rng(0)
    which = rng.integers(0, 2, 400_000)
    samples = np.where(
        which == 0, rng.normal(0, 1, which.size), rng.normal(3, np.sqrt(0.5), which.size)
    )

    def cross_entropy(m, v):  # E_mixture[−log q], estimated
        return np.mean(0.5 * np.log(2 * np.pi * v) + (samples - m) ** 2 / (2 * v))

    q1, q2 = (1.0, 2.0), (2.0, 4.0)
    loss_gap = kd_gaussian_loss(gaussians(q1), teachers) - kd_gaussian_loss(gaussians(q2), teachers)
    assert loss_gap.item() == pytest.approx(cross_entropy(*q1) - cross_entropy(*q2), abs=0.01)
    matched = (1.5, (1 + 0.5) / 2 + 1.5**2)  # mean of means; mean var + var of means
    best = kd_gaussian_loss(gaussians(matched), teachers).item()
    for other in ((1.4, matched[1]), (1.6, matched[1]), (1.5, 2.6), (1.5, 3.4)):
        assert kd_gaussian_loss(gaussians(other), teachers).item() > best


def test_mixture_metrics_by_hand():
    mean, var, targets = np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]), np.array([1.0])
    density = 0.5 * 2 * math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert mixture_log_density(mean, var, targets)[0] == pytest.approx(math.log(density))
    m = regression_metrics(mean, var, targets)
    assert m["nll"] == pytest.approx(-math.log(density))
    assert m["rmse"] == pytest.approx(0.0)
    assert m["aleatoric"] == 1.0 and m["epistemic"] == 1.0
    single = regression_metrics(mean[:1], var[:1], targets)
    assert math.isnan(single["epistemic"])


@needs_uci
def test_uci_splits_are_standardised_with_training_statistics():
    data = load_dataset({"name": "uci", "set": "boston"}, DATA_ROOT)
    assert data.x_train.shape == (20, 455, 13) and data.x_test.shape == (20, 51, 13)
    np.testing.assert_allclose(data.x_train.mean(1), 0, atol=1e-4)
    np.testing.assert_allclose(data.y_train.std(1), 1, atol=1e-4)
    assert abs(data.y_test.mean()) > 1e-3  # test statistics are not used
    assert load_dataset({"name": "uci", "set": "protein"}, DATA_ROOT).n_splits == 5


@needs_uci
def test_missing_and_malformed_uci_files_are_named(tmp_path):
    with pytest.raises(DataError, match="file not found: .*yacht/data/data.txt"):
        load_dataset({"name": "uci", "set": "yacht"}, tmp_path)
    shutil.copytree(DATA_ROOT / "uci/yacht", tmp_path / "uci/yacht")
    (tmp_path / "uci/yacht/data/index_train_1.txt").write_text("12\nnot-a-number\n")
    with pytest.raises(DataError, match="malformed file .*index_train_1.txt"):
        load_dataset({"name": "uci", "set": "yacht"}, tmp_path)


@needs_uci
@pytest.mark.slow
def test_tiny_uci_end_to_end(workflow_copy):
    results = run_tiny_config(workflow_copy, "tiny-uci.yaml", DATA_ROOT)
    metrics = pd.read_parquet(results / "uci_yacht/metrics.parquet")
    nll = metrics[metrics["metric"] == "nll"]
    assert sorted(nll["split"].unique()) == [0, 1]
    assert set(nll["model"]) == {"ensemble", "single", "kd", "hydra"}
    assert np.isfinite(nll["value"]).all()
    epistemic = metrics[(metrics["metric"] == "epistemic") & (metrics["model"] == "kd")]
    assert epistemic["value"].isna().all()  # one Gaussian: no epistemic part
    table = (results / "uci_table4.md").read_text()
    assert "| yacht |" in table and "| boston |" in table and "-0.1640" in table
    assert "Hydra's NLL is at most KD's on" in table
    # trace: the cell is the mean ± standard error over splits of the per-split seed means
    traced = trace(workflow_copy, "results/uci_table4.md", "boston", "NLL Hydra")
    assert traced.returncode == 0, traced.stdout + traced.stderr
    nll = pd.read_parquet(results / "uci_boston/metrics.parquet")
    nll = nll[(nll["method"] == "hydra") & (nll["metric"] == "nll")]
    per_split = [nll[nll["split"] == s]["value"].mean() for s in (0, 1)]  # 2 seeds each
    se = abs(per_split[0] - per_split[1]) / 2  # std of 2 values / sqrt(2)
    expected = f"{np.mean(per_split):.4f} ± {se:.4f}"
    assert cell(table, "boston", "NLL Hydra") == expected
    assert f"recomputed: {expected}\n" in traced.stdout
    for piece in (
        "rule uci_table",
        "tables.hydra.uci_tables",
        "metrics.regression_metrics",
        "metrics.mixture_log_density",
        "rule distill_student",
        "method 'hydra'",
    ):
        assert piece in traced.stdout, piece
    assert (results / "toy/figures/regression_fit.png").stat().st_size > 1000


def test_toy_regression_keeps_the_input_scaling_for_grids_and_validation():
    data = load_dataset({"name": "toy_regression", "train": 400, "seed": 0})
    assert data.x_scale.shape == (1, 1) and 1.5 < data.x_scale[0, 0] < 2.0  # std of U(-3, 3)
    for x in (data.x_train, data.x_val, data.x_test):
        assert 0.8 < x.std() < 1.2  # every split standardised with the training statistics
    from ensemble_distill.evalsets import build_eval_set

    test = build_eval_set(data, {"kind": "test"})
    assert 2.5 < abs(test["coords"]).max() <= 3.0  # original units for plots
    grid = build_eval_set(data, {"kind": "grid", "extent": 5.0, "resolution": 11})
    np.testing.assert_allclose(
        grid["x"][0, :, 0] * data.x_scale[0, 0] + data.x_shift[0, 0],
        np.linspace(-5, 5, 11),
        atol=1e-5,
    )


def test_gaussian_losses_by_hand_with_three_teachers_and_two_heads():
    teachers = gaussians((0, 1), (3, 0.5), (1, 2))
    student = gaussians((1, 2), (2, 4))

    # E_mixture[−log q_k] = ½ log 2πσ_k² + mean_m(σ_m² + (μ_m − μ_k)²) / 2σ_k², averaged over k.
    def cross_entropy(mean, var):
        second = sum(v + (m - mean) ** 2 for m, v in ((0, 1), (3, 0.5), (1, 2))) / 3
        return 0.5 * math.log(2 * math.pi * var) + second / (2 * var)

    expected = (cross_entropy(1, 2) + cross_entropy(2, 4)) / 2
    assert kd_gaussian_loss(student, teachers).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="2 heads, 3 teachers"):
        hydra_gaussian_loss(student, teachers)


def test_gaussian_nll_by_hand():
    outputs = gaussians((0.0, 4.0), (1.0, 1.0))
    targets = torch.tensor([2.0], dtype=torch.float64)
    expected = (0.5 * math.log(2 * math.pi * 4) + 4 / 8 + 0.5 * math.log(2 * math.pi) + 0.5) / 2
    assert gaussian_nll(outputs, targets).item() == pytest.approx(expected)


def constant_gaussian_checkpoint(outputs_per_split):
    """A linear 'network' per split whose output is always (μ, log σ²) in standardised units."""
    from ensemble_distill.models import build_model

    spec = {"arch": "mlp", "sizes": [1, 2]}
    states = []
    for mean, var in outputs_per_split:
        state = build_model(spec).state_dict()
        weight, bias = (
            [k for k in state if k.endswith("weight")],
            [k for k in state if k.endswith("bias")],
        )
        state[weight[0]] = torch.zeros_like(state[weight[0]])
        state[bias[0]] = torch.tensor([mean, math.log(var)])
        states.append(state)
    return {"spec": spec, "state_dicts": states, "output": "gaussian", "seed": 0}


def test_regression_predictions_are_in_original_units():
    from ensemble_distill.predict import predict_eval_set

    checkpoint = constant_gaussian_checkpoint([(0.5, 0.25), (-1.0, 4.0)])
    evalset = {
        "x": np.zeros((2, 3, 1), dtype=np.float32),  # (splits, N, d)
        "labels": np.zeros((2, 3)),
        "y_scale": np.array([3.0, 0.5]),
        "y_shift": np.array([10.0, -2.0]),
    }
    arrays = predict_eval_set([checkpoint], "gaussian", evalset, "cpu")
    # split 0: 0.5·3 + 10 = 11.5, 0.25·3² = 2.25; split 1: −1·0.5 − 2 = −2.5, 4·0.5² = 1.
    np.testing.assert_allclose(arrays["mean"][:, 0, 0], [11.5, -2.5], rtol=1e-6)
    np.testing.assert_allclose(arrays["var"][:, 0, 0], [2.25, 1.0], rtol=1e-6)
    assert arrays["mean"].shape == (2, 1, 3)  # (splits, K, N)
