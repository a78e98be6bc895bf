"""The MNIST reproduction's rules on a slice of real MNIST (skipped where the data is absent)."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_tiny_config
from ensemble_distill.datasets import DataError, load_dataset

DATA_ROOT = Path(os.environ.get("ENSEMBLE_DISTILL_DATA", REPO.parent / "shared" / "data"))
needs_mnist = pytest.mark.skipif(
    not (DATA_ROOT / "mnist").is_dir(),
    reason=f"MNIST not found under {DATA_ROOT} (set ENSEMBLE_DISTILL_DATA)",
)


@needs_mnist
def test_mnist_splits_follow_ovadia_et_al():
    data = load_dataset({"name": "mnist"}, DATA_ROOT)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50_000, 10_000, 10_000)
    assert data.input_shape == (1, 28, 28) and 0 <= data.x_train.min() <= data.x_train.max() <= 1
    assert list(data.y_train[:5]) == [5, 0, 4, 1, 9]  # the file's first labels


@needs_mnist
def test_corrupted_file_is_named(tmp_path):
    for name in ("mnist", "fashion-mnist"):
        shutil.copytree(DATA_ROOT / name, tmp_path / name)
    target = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF  # flip one byte inside the compressed stream
    target.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum mismatch for .*t10k-labels-idx1-ubyte.gz"):
        load_dataset({"name": "mnist"}, tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match="file not found: looked for .*mnist/train-images"):
        load_dataset({"name": "mnist"}, tmp_path)


@needs_mnist
@pytest.mark.slow
def test_mnist_slice_end_to_end(workflow_copy):
    out = run_tiny_config(workflow_copy, "tiny-mnist.yaml", DATA_ROOT) / "mnist"

    metrics = pd.read_parquet(out / "metrics.parquet")
    end2 = metrics[(metrics["model"] == "end2") & (metrics["eval_set"] == "rotate")]
    assert set(end2["metric"]) >= {"acc", "nll", "model_uncertainty"}

    # The summary's Hydra row is the test-set mean over seeds, with the paper's row below it.
    test = metrics[(metrics["eval_set"] == "test") & (metrics["model"] == "hydra")]
    acc = test[test["metric"] == "acc"]["value"].mean()
    lines = (out / "tables/summary.md").read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| hydra |"))
    assert lines[row].startswith(f"| hydra | 1 | {acc:.4f} |")
    assert lines[row + 1].startswith("| hydra (Tran et al. 2020) |  | 0.9857 | ")
    mu_gap = pd.read_csv(out / "tables/mu_gap.csv")
    assert set(mu_gap["model"]) == {"hydra", "end2"}
    assert {"rotate_mean", "translate_mean", "fashion_mnist_mean"} <= set(mu_gap.columns)
    ood = pd.read_csv(out / "tables/ood.csv")
    aurocs = ood.filter(regex="AUROC .*_mean").stack().dropna()
    assert len(aurocs) == 4 + 3 and aurocs.between(0, 1).all()  # MU n/a for KD
    auprs = ood.filter(regex="AUPR .*_mean").stack().dropna()
    assert len(auprs) == 4 + 3 and auprs.between(0, 1).all()

    cost = pd.read_csv(out / "tables/cost.csv").set_index("model")
    assert cost.loc["ensemble", "params"] == 3 * cost.loc["kd", "params"]
    # FLOPs by hand (2 per multiply-add, 784-32-32-10 members; Hydra: body 784-32-32, three
    # heads 32-16-16-10).
    member = 2 * (784 * 32 + 32 * 32 + 32 * 10)
    assert (cost.loc["kd", "flops"], cost.loc["ensemble", "flops"]) == (member, 3 * member)
    assert cost.loc["hydra", "flops"] == 2 * (784 * 32 + 32 * 32) + 3 * 2 * (
        32 * 16 + 16 * 16 + 16 * 10
    )
    assert (cost["seconds_per_10k"] > 0).all()
    for figure in ("shift_curves", "ood_histograms"):
        assert (out / f"figures/{figure}.png").stat().st_size > 1000
