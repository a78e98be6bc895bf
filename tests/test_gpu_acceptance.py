"""bench/gpu_acceptance.py's CPU mode (``--device cpu --tiny``): every part runs, its
arithmetic is the one stated, and every CIFAR config, shrunk, runs end to end through
Snakemake on stand-in files (every rule they use)."""

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO
from ensemble_distill.standin import REPRESENTATIVE_STUDENTS

pytestmark = pytest.mark.slow
EXPERIMENTS = {"hydra-cifar10.yaml": "hydra_cifar10", "dm-cifar10.yaml": "dm_cifar10",
               "dm-cifar100.yaml": "dm_cifar100"}  # fmt: skip


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory):
    out = tmp_path_factory.mktemp("acceptance")
    command = [sys.executable, str(REPO / "bench/gpu_acceptance.py"), "--device", "cpu",
               "--tiny", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, json.loads((out / "acceptance.json").read_text())


def test_throughput_and_draws_are_measured(acceptance):
    _, report = acceptance
    jobs = report["throughput"]
    assert set(jobs) == {"teacher", "teacher_compiled", "teacher_pack8", "teacher_resnet32",
                         "teacher_wrn", "distill_kd", "distill_ods", "evaluate"}  # fmt: skip
    for job in jobs.values():
        assert math.isfinite(job["images_per_s"]) and job["images_per_s"] > 0
        assert job["wall_s"] > 0
        assert job["peak_gpu_mib"] is None and job["syncs"] == []  # CUDA only
    assert jobs["teacher"]["steps_per_epoch"] == 4  # 128 tiny images in batches of 32
    assert len(report["draws"]) == 4 and all(ms > 0 for ms in report["draws"].values())


def test_declared_runtime_against_the_measured_rate(acceptance):
    """dm-cifar10's BE-4 + ODS student: 250 epochs of 45,000 images at the ODS rate,
    against the config's 1440 minutes; ResNet-32 teachers one per job, 200 epochs."""
    _, report = acceptance
    rows = {(r["config"], r["job"]): r for r in report["runtime"]}
    rates = {k: r["images_per_s"] for k, r in report["throughput"].items()}
    ods = rows[("dm-cifar10.yaml", "dm_cifar10: be4_ods")]
    need = 250 * 45_000 / rates["distill_ods"] / 60
    assert ods["declared_min"] == 1440 and ods["need_min"] == pytest.approx(need)
    expected = "too small" if need > 1440 else "ok" if 1440 <= 4 * need else "wasteful"
    assert ods["verdict"].startswith(expected)
    teacher = rows[("dm-cifar10.yaml", "dm_cifar10: pack of 1")]
    assert teacher["measured_as"] == "teacher_resnet32" and teacher["declared_min"] == 360
    assert teacher["need_min"] == pytest.approx(200 * 45_000 / rates["teacher_resnet32"] / 60)
    assert "dm_cifar10: be8_ods" in report["runtime_unmeasured"]  # BE-8: no rate stands for it


def test_declared_memory_against_the_run(acceptance):
    _, report = acceptance
    rows = {(r["config"], r["rule"]): r for r in report["memory"]}
    declared = yaml.safe_load((REPO / "configs/dm-cifar100.yaml").read_text())["resources"]
    for rule in ("train_teacher", "distill_student", "predict", "compute_metrics"):
        assert rows[("dm-cifar100.yaml", rule)]["declared_mb"] == declared[rule]["mem_mb"]
    teacher = rows[("dm-cifar100.yaml", "train_teacher")]
    assert teacher["peak_rss_mb"] > 100  # a torch process
    text = (acceptance[0] / "acceptance.md").read_text()
    for heading in ("Throughput", "Random draws", "Declared runtime", "Declared host memory",
                    "Every CIFAR config shrunk"):  # fmt: skip
        assert f"## {heading}" in text


def test_every_cifar_config_runs_end_to_end(acceptance):
    out, report = acceptance
    run = report["workflow"]
    assert run["returncode"] == 0 and run["failed"] == []
    assert set(run["ran"]) == set(run["planned"]) and len(run["planned"]) >= 25
    results = out / "workflow/results"
    for name, exp in EXPERIMENTS.items():
        metrics = pd.read_parquet(results / exp / "metrics.parquet")
        corrupt = metrics[metrics["eval_kind"] == "corrupt"]
        assert len(corrupt) and corrupt["eval_set"].str.endswith(" (generated)").all()
        assert set(metrics["model"]) == {"ensemble", "single", *REPRESENTATIVE_STUDENTS[name]}
        text = (results / exp / "tables/corruption.md").read_text()
        assert "2 corruption types × severities [1.0, 5.0]; 2 of them generated" in text
        for figure in ("corruption_boxes", "ood_histograms"):
            assert (results / exp / "figures" / f"{figure}.png").stat().st_size > 1000
        log = next((results / exp / "teachers").glob("*/seed0/train.log"))
        assert "examples/s" in log.read_text()
    summary = (results / "hydra_cifar10/tables/summary.md").read_text()
    assert "| kd (Tran et al. 2020) |  | 0.8933 | 0.3598 |" in summary
    assert "hydra3 (Tran" not in summary  # Table 3's Hydra has 1-block heads


def test_host_syncs_are_counted_per_training_epoch(monkeypatch, tmp_path):
    """The sync counter wraps the train_epoch that fit calls: a loss that warns as CUDA's
    sync debug mode does, once per step, is counted 4 times in each of 2 epochs (CUDA's
    calls are stubbed: CI has no GPU)."""
    import warnings

    import torch

    sys.path.insert(0, str(REPO / "bench"))
    import gpu_acceptance
    from ensemble_distill.models import build_model
    from ensemble_distill.train import fit

    modes = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    for name in ("synchronize", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 2**21)

    def loss(model, x, y):
        warnings.warn("called a synchronizing CUDA operation", UserWarning, stacklevel=1)
        return torch.nn.functional.cross_entropy(model(x)[:, 0], y)

    model = build_model({"arch": "mlp", "sizes": [3, 4, 2]})
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    record = {}
    with gpu_acceptance.measured(torch.device("cuda"), record):
        fit(model, loss, (x, y), None, epochs=2, batch_size=8, lr=0.01, weight_decay=0.0,
            seed=0, resume=tmp_path / "r.pt", fingerprint="f", log=lambda line: None)  # fmt: skip
    assert record["syncs"] == [4, 4] and record["peak_gpu_mib"] == 2.0
    assert modes == ["warn", "default"] * 2
