"""Print the numbers behind docs/diversity-matters.md's regime section from a finished
`configs/dm-regime.yaml` run: the teachers' fit and diversity on training vs test inputs,
the step η chosen per perturbation on validation cNLL (over the seeds), the paired test
differences of the chosen students, and how much cNLL one unit of DEE is worth there.

Usage::

    python bench/dm_regime.py results/dm_regime
"""

import glob
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))
from ensemble_distill.datasets import Dataset  # noqa: E402
from ensemble_distill.distill import load_teachers  # noqa: E402
from ensemble_distill.metrics import disagreement, pairwise_kl  # noqa: E402
from ensemble_distill.models.resnet import as_unit_float  # noqa: E402
from ensemble_distill.perturb import ods_direction  # noqa: E402
from ensemble_distill.tables.format import paired_differences  # noqa: E402


def teachers_fit(folder):
    data = Dataset.load(folder / "dataset.npz")
    teachers = load_teachers(sorted(glob.glob(str(folder / "teachers/*/seed*/model.pt"))))[0]
    for name, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        with torch.no_grad():
            logits = teachers(as_unit_float(torch.as_tensor(x)))
        log_probs = torch.log_softmax(logits.double(), -1).transpose(0, 1).numpy()
        acc = (log_probs.argmax(-1) == y[None]).mean(1)
        print(f"teachers on {name} ({len(y)}): accuracy min {acc.min():.4f} mean {acc.mean():.4f}, "
              f"mean pairwise KL {pairwise_kl(log_probs).mean():.6f}, disagreement "
              f"{disagreement(log_probs).mean():.4f}")  # fmt: skip


def chosen_steps(metrics):
    """Validation cNLL (mean ± std over seeds) of every student; the step chosen per kind."""
    val = metrics[(metrics["eval_kind"] == "validation") & (metrics["metric"] == "cnll")]
    val = val[~val["model"].isin(["single", "ensemble"])]
    table = val.groupby("model")["value"].agg(["mean", "std", "count"]).sort_values("mean")
    print("validation cNLL per student (the choice of η reads only these):")
    print(table.round(5).to_string())
    return table


def dee_sensitivity(folder):
    """How much DEE 0.001 of cNLL is worth between consecutive ensemble sizes (the DE-k
    curve's slope; DEE interpolates it linearly)."""
    curve = pd.read_parquet(folder / "ensemble_curve.parquet").set_index("size")["cnll"]
    sizes = curve.index.to_numpy()
    for a, b in zip(sizes, sizes[1:], strict=False):
        worth = (b - a) / (curve[a] - curve[b]) * 0.001
        print(f"DE-{a}..DE-{b}: cNLL {curve[a]:.4f} -> {curve[b]:.4f}; 0.001 cNLL is worth "
              f"{worth:.3f} DEE")  # fmt: skip


def be_against_single(metrics):
    """BE-4 (KD) − one network distilled with KD, on the same seeds (test set)."""
    test = metrics[(metrics["eval_kind"] == "test") & metrics["metric"].isin(["acc", "cnll"])]
    wide = test.pivot_table(index=["model", "distill_seed"], columns="metric", values="value")
    rows, _ = paired_differences(wide.reset_index(), [("be4_kd", "kd_single")], ["acc", "cnll"])
    print("paired, test set (ACC, cNLL):", rows)


def ods_norms(folder):
    """Share of training inputs whose ODS direction (each of the first 4 teachers) is
    shorter than √D with the paper's float32 arithmetic and with ``numerics: stable``."""
    data = Dataset.load(folder / "dataset.npz")
    paths = sorted(glob.glob(str(folder / "teachers/*/seed*/model.pt")))[:4]
    teachers = load_teachers(paths)[0]
    x = as_unit_float(torch.as_tensor(data.x_train))
    root_d = np.sqrt(x[0].numel())
    for temperature in (1.0, 4.0):
        for numerics in ("paper", "stable"):
            short = []
            for k in range(len(paths)):
                generator = torch.Generator().manual_seed(k)
                d, _ = ods_direction(x, teachers[k], temperature, generator, numerics)
                short.append(float((d.flatten(1).norm(dim=1) < 0.99 * root_d).float().mean()))
            print(f"ODS at T = {temperature}, {numerics}: share of training inputs with a "
                  f"direction shorter than 0.99·√D, per teacher: {np.round(short, 3)}")  # fmt: skip


def main(folder):
    folder = Path(folder)
    teachers_fit(folder)
    metrics = pd.read_parquet(folder / "metrics.parquet")
    chosen_steps(metrics)
    be_against_single(metrics)
    ods_norms(folder)
    dee_sensitivity(folder)
    table = folder / "tables/diversity.md"
    print(table.read_text().split("Paired differences")[-1])
    diversity = folder / "tables/input_diversity.md"
    if diversity.is_file():
        print(diversity.read_text())


if __name__ == "__main__":
    main(sys.argv[1])
