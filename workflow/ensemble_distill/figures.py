"""Figures from Parquet tables (never from models): shift curves and uncertainty maps.

Usage::

    python -m ensemble_distill.figures shift-curves --metrics metrics.parquet \
        --models ensemble single kd hydra --out shift_curves.png
    python -m ensemble_distill.figures uncertainty-maps --grid ens.parquet kd.parquet ... \
        --labels ensemble kd ... --data test.parquet --out uncertainty_maps.png
    python -m ensemble_distill.figures regression-fit --grid ens.parquet kd.parquet ... \
        --labels ensemble kd ... --data test.parquet --out regression_fit.png
    python -m ensemble_distill.figures corruption-boxes --metrics metrics.parquet \
        --models ensemble kd hydra --out corruption_boxes.png
    python -m ensemble_distill.figures ood-histograms --per-example ... --models ... \
        --out ood_histograms.png
    python -m ensemble_distill.figures reliability --per-example ... --models ... --out r.png
    python -m ensemble_distill.figures risk-coverage --per-example ... --models ... --out r.png
    python -m ensemble_distill.figures training-curves --histories histories.parquet --out t.png

Each figure is written as PNG and as PDF (same stem), with fixed metadata so that the
same data gives the same bytes.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import provenance  # noqa: E402
from .evaluation_figures import (  # noqa: E402
    first_seed,
    input_diversity_figure,
    reliability_diagrams,
    risk_coverage_curves,
    training_curves,
)
from .io import atomic_path  # noqa: E402

UNCERTAINTIES = {
    "model_uncertainty": "model uncertainty (MI)",
    "total_uncertainty": "total uncertainty H[p̄]",
    "data_uncertainty": "expected data uncertainty",
}
SHIFT_METRICS = {
    "acc": "accuracy",
    "nll": "NLL",
    "brier": "Brier",
    "model_uncertainty": "model uncertainty",
    "total_uncertainty": "total uncertainty",
    "data_uncertainty": "expected data uncertainty",
}
SHIFT_AXES = {"rotate": "rotation angle (°)", "translate": "horizontal shift (px)"}


def save_figure(fig, png_path):
    """Write ``png_path`` and the PDF beside it, atomically and without volatile metadata.
    Every figure is laid out by ``tight_layout`` when built, so saving needs no
    ``bbox_inches="tight"`` (an extra draw per file: 1.8 s of a 9.5 s figure job)."""
    png_path = Path(png_path)
    for path, metadata in (
        (png_path, {"Software": None}),
        (png_path.with_suffix(".pdf"), {"Creator": None, "Producer": None, "CreationDate": None}),
    ):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, metadata=metadata)
    plt.close(fig)


def shift_curves(metrics, models, metric_names=SHIFT_METRICS):
    """Metric against shift intensity, one row per shift kind, mean ± std band over seeds."""
    shifted = metrics[metrics["eval_kind"].isin(SHIFT_AXES)]
    shifts = [s for s in SHIFT_AXES if s in set(shifted["eval_kind"])]
    if not shifts:
        raise ValueError("no rotate/translate rows in the metrics table: nothing to plot")
    fig, axes = plt.subplots(
        len(shifts),
        len(metric_names),
        squeeze=False,
        figsize=(4 * len(metric_names), 3.2 * len(shifts)),
    )
    for row, shift in enumerate(shifts):
        for col, (metric, title) in enumerate(metric_names.items()):
            ax = axes[row, col]
            part = shifted[(shifted["eval_kind"] == shift) & (shifted["metric"] == metric)]
            for i, model in enumerate(models):
                curve = (
                    part[part["model"] == model].groupby("intensity")["value"].agg(["mean", "std"])
                )
                if curve.empty or curve["mean"].isna().all():
                    continue
                color, style = f"C{i}", "--" if model == "single" else "-"  # fixed per model
                ax.plot(
                    curve.index, curve["mean"], style, color=color, marker="o", ms=3, label=model
                )
                spread = curve["std"].fillna(0)
                low, high = curve["mean"] - spread, curve["mean"] + spread
                ax.fill_between(curve.index, low, high, color=color, alpha=0.2)
            ax.set_xlabel(SHIFT_AXES[shift])
            ax.set_title(title)
            ax.grid(alpha=0.3)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=len(models))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def uncertainty_maps(grids, labels, data):
    """Rows: models; columns: model / total / data uncertainty over a 2-D input grid."""
    fig, axes = plt.subplots(len(grids), 3, squeeze=False, figsize=(12, 3.6 * len(grids)))
    for row, (grid, label) in enumerate(zip(grids, labels, strict=True)):
        side = int(np.sqrt(len(grid)))  # the grid is square, rows of constant x1
        extent = [grid["x0"].min(), grid["x0"].max(), grid["x1"].min(), grid["x1"].max()]
        for col, (column, title) in enumerate(UNCERTAINTIES.items()):
            ax = axes[row, col]
            values = grid[column].to_numpy().reshape(side, side)
            if np.isnan(values).all():
                ax.text(
                    0.5, 0.5, "n/a: single output", ha="center", va="center", transform=ax.transAxes
                )
            else:
                image = ax.imshow(values, origin="lower", extent=extent, cmap="viridis")
                fig.colorbar(image, ax=ax, fraction=0.046)
            ax.scatter(data["x0"], data["x1"], c=data["label"], s=2, cmap="tab10", vmin=0, vmax=9)
            ax.set(xlim=extent[:2], ylim=extent[2:], aspect="equal")
            ax.set_title(f"{label}: {title}", fontsize=9)
    fig.tight_layout()
    return fig


def ood_histograms(per_example, models):
    """Histograms of total and model uncertainty, in-domain test vs each OOD set, per model.

    One network per model: the first distillation seed (all members for the ensemble).
    """
    fig, axes = plt.subplots(len(models), 2, squeeze=False, figsize=(9, 2.4 * len(models)))
    for row, model in enumerate(models):
        part = first_seed(per_example[per_example["model"] == model])
        for col, score in enumerate(("total_uncertainty", "model_uncertainty")):
            ax = axes[row, col]
            ax.set_title(f"{model}: {UNCERTAINTIES[score]}", fontsize=9)
            if part[score].isna().all():
                ax.text(
                    0.5, 0.5, "n/a: single output", ha="center", va="center", transform=ax.transAxes
                )
                continue
            bins = np.linspace(0, part[score].max(), 40)
            for name, group in part[part["eval_kind"].isin(["test", "ood"])].groupby("eval_set"):
                # one filled outline per set, not 40 bar patches: half the drawing time
                ax.hist(group[score], bins=bins, alpha=0.5, density=True, label=name,
                        histtype="stepfilled")  # fmt: skip
            ax.set_yscale("log")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def regression_fit(grids, labels, data):
    """1-D regression: each member's / head's mean ± 2σ, the mixture, the data, and the
    aleatoric / epistemic decomposition along x."""
    fig, axes = plt.subplots(1, len(grids) + 1, figsize=(4.2 * (len(grids) + 1), 3.6))
    points = data[data["member"] == -1]
    for ax, grid, label in zip(axes, grids, labels, strict=False):
        ax.scatter(points["x0"], points["target"], s=4, color="0.6", label="test data")
        for member, curve in grid[grid["member"] >= 0].groupby("member"):
            std = np.sqrt(curve["var"])
            ax.plot(curve["x0"], curve["mean"], lw=0.8, color=f"C{member % 10}")
            ax.fill_between(
                curve["x0"],
                curve["mean"] - 2 * std,
                curve["mean"] + 2 * std,
                color=f"C{member % 10}",
                alpha=0.08,
            )
        mixture = grid[grid["member"] == -1]
        std = np.sqrt(mixture["var"])
        ax.plot(mixture["x0"], mixture["mean"], "k", lw=1.5, label="predictive mean")
        ax.plot(mixture["x0"], mixture["mean"] - 2 * std, "k--", lw=1, label="± 2 total std")
        ax.plot(mixture["x0"], mixture["mean"] + 2 * std, "k--", lw=1)
        ax.set_title(f"{label}: members / heads, mean ± 2σ", fontsize=9)
        ax.set_xlabel("x")
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    for i, (grid, label) in enumerate(zip(grids, labels, strict=True)):
        mixture = grid[grid["member"] == -1]
        ax.plot(mixture["x0"], mixture["aleatoric"], color=f"C{i}", label=f"{label} aleatoric")
        if mixture["epistemic"].notna().any():
            ax.plot(
                mixture["x0"], mixture["epistemic"], "--", color=f"C{i}", label=f"{label} epistemic"
            )
    ax.set_yscale("log")
    ax.set_title("aleatoric E[σ²] and epistemic Var[μ]", fontsize=9)
    ax.set_xlabel("x")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def binned_diversity(frame, bins=10):
    """Mean pairwise KL per equal-width confidence bin: (bin centres, means), empty bins out."""
    edges = np.linspace(frame["confidence"].min(), 1.0, bins + 1)
    which = np.clip(np.digitize(frame["confidence"], edges[1:-1]), 0, bins - 1)
    means = frame.groupby(which)["diversity_kl"].mean()
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[means.index], means.to_numpy()


def diversity_plots(teachers, per_example, models, test_set):
    """Paper Fig. 1/5 style: members' mean pairwise KL against the mean prediction's
    confidence. Left: the teachers on training inputs (clean, Gaussian- and ODS-perturbed)
    and on the test set; right: the teachers and every multi-member student on test."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for label, part in teachers.groupby("inputs", sort=False):
        left.plot(*binned_diversity(part), marker="o", label=f"teachers, {label}")
    test = per_example[per_example["eval_set"] == test_set]
    for i, model in enumerate(models):
        part = test[test["model"] == model]
        if part.empty or part["diversity_kl"].isna().all():
            continue
        seed = part["distill_seed"].min()
        part = part if pd.isna(seed) else part[part["distill_seed"] == seed]
        target = [left, right] if model == "ensemble" else [right]
        for ax in target:
            style = "k--" if model == "ensemble" else f"C{i}-"
            ax.plot(*binned_diversity(part), style, marker=".", label=f"{model}, test")
    for ax, title in ((left, "teachers"), (right, "students (first seed) on test")):
        ax.set(xlabel="confidence (max of mean prediction)", title=title)
        ax.legend(fontsize=7)
    left.set_ylabel("mean pairwise KL between members")
    fig.tight_layout()
    return fig


def jacobian_figure(similarities, snr):
    """Left: ROC of telling a distilled student's Jacobian similarity to its teacher from a
    from-scratch student's (AUROC in the legend). Right: gradient SNR, Gaussian vs ODS."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    negatives = similarities[similarities["baseline"]]["cosine"].to_numpy()
    distilled = similarities[~similarities["baseline"]]
    for name, part in distilled.groupby("student", sort=False):
        scores = np.concatenate([part["cosine"].to_numpy(), negatives])
        truth = np.r_[np.ones(len(part)), np.zeros(len(negatives))]
        fpr, tpr, _ = roc_curve(truth, scores)
        left.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(truth, scores):.3f})")
    left.plot([0, 1], [0, 1], "k:", lw=0.8)
    left.set(xlabel="false positive rate", ylabel="true positive rate",
             title="Jacobian cosine similarity to teacher m: distilled vs scratch")  # fmt: skip
    left.legend(fontsize=7)
    if not snr.empty:
        table = snr.groupby(["student", "perturbation"], sort=False)["snr"].mean().unstack()
        table.plot.bar(ax=right, rot=30)
        right.set(ylabel="‖E g‖ / sqrt(Σ Var g)", title="gradient SNR of the perturbation term")
    fig.tight_layout()
    return fig


CORRUPTION_BOX_METRICS = {"acc": "accuracy", "nll": "NLL", "ece": "ECE", "brier": "Brier"}


def corruption_boxes(metrics, models, metric_names=CORRUPTION_BOX_METRICS):
    """Hydra Fig. 3 / Diversity Matters Fig. 9: per severity, one box per model over the
    corruption types (each type's value averaged over distillation seeds)."""
    corrupt = metrics[(metrics["eval_kind"] == "corrupt") & (metrics["model"] != "single")]
    if corrupt.empty:
        raise ValueError("no corruption rows in the metrics table: nothing to plot")
    models = [m for m in models if m in set(corrupt["model"])]
    levels = sorted(corrupt["intensity"].unique())
    per_type = corrupt.groupby(["metric", "model", "intensity", "eval_set"])["value"].mean()
    fig, axes = plt.subplots(1, len(metric_names), squeeze=False,
                             figsize=(4.5 * len(metric_names), 3.6))  # fmt: skip
    width = 0.8 / len(models)
    for ax, (metric, title) in zip(axes[0], metric_names.items(), strict=True):
        for i, model in enumerate(models):
            data = [per_type.get((metric, model, level), pd.Series(dtype=float)).to_numpy()
                    for level in levels]  # fmt: skip
            positions = np.arange(len(levels)) + (i - (len(models) - 1) / 2) * width
            boxes = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True,
                               showfliers=False, manage_ticks=False)  # fmt: skip
            for box in boxes["boxes"]:
                box.set(facecolor=f"C{i}", alpha=0.6)
            ax.plot([], [], color=f"C{i}", lw=6, alpha=0.6, label=model)  # legend handle
        ax.set_xticks(np.arange(len(levels)), [f"{level:g}" for level in levels])
        ax.set_xlabel("corruption severity")
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
    n_types = corrupt["eval_set"].nunique()
    n_generated = sum(name.endswith(" (generated)") for name in corrupt["eval_set"].unique())
    fig.suptitle(f"{n_types} corruption types ({n_generated} generated, not the official files)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=len(models))
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return fig


# Figures of per-example Parquet files and a model order: sub-command -> function.
PER_EXAMPLE_FIGURES = {
    "ood-histograms": ood_histograms,
    "reliability": reliability_diagrams,
    "risk-coverage": risk_coverage_curves,
}


def by_kind(frame, kind):
    """Rows of one kind of eval set ('test', 'grid', ...; config eval_sets.<name>.kind)."""
    return frame[frame["eval_kind"] == kind].reset_index(drop=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("shift-curves")
    p.add_argument("--metrics", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("corruption-boxes")
    p.add_argument("--metrics", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("uncertainty-maps")
    p.add_argument("--grid", nargs="+", required=True, help="per-example Parquet on the grid")
    p.add_argument("--labels", nargs="+", required=True)
    p.add_argument("--data", required=True, help="per-example Parquet of the test points")
    p.add_argument("--out", required=True)
    p = sub.add_parser("regression-fit")
    p.add_argument("--grid", nargs="+", required=True, help="per-example Parquet on the grid")
    p.add_argument("--labels", nargs="+", required=True)
    p.add_argument("--data", required=True, help="per-example Parquet of the test points")
    p.add_argument("--out", required=True)
    for name in PER_EXAMPLE_FIGURES:
        p = sub.add_parser(name)
        p.add_argument("--per-example", nargs="+", required=True)
        p.add_argument("--models", nargs="+", required=True)
        p.add_argument("--out", required=True)
    p = sub.add_parser("input-diversity")
    p.add_argument("--diversity", required=True, help="input_diversity.py's Parquet table")
    p.add_argument("--out", required=True)
    p = sub.add_parser("training-curves")
    p.add_argument("--histories", required=True, help="histories.py's Parquet table")
    p.add_argument("--out", required=True)
    p = sub.add_parser("diversity")
    p.add_argument("--teachers", required=True, help="analysis teachers Parquet")
    p.add_argument("--per-example", nargs="+", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--test-set", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("jacobians")
    p.add_argument("--jacobians", required=True)
    p.add_argument("--snr", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    inputs = []
    for key in ("metrics", "grid", "data", "per_example", "teachers", "jacobians", "snr",
                "histories", "diversity"):  # fmt: skip
        paths = vars(args).get(key) or []
        inputs += [paths] if isinstance(paths, str) else paths
    config = {
        "command": args.command,
        "models": vars(args).get("models") or vars(args).get("labels"),
    }
    record = provenance.start(config=config, inputs=inputs)
    if args.command in ("regression-fit", "uncertainty-maps"):
        # Per-model per-example files hold every eval set: keep the grid and the test set.
        grids = [by_kind(pd.read_parquet(p), "grid") for p in args.grid]
        data = by_kind(pd.read_parquet(args.data), "test")
        plot = regression_fit if args.command == "regression-fit" else uncertainty_maps
        fig = plot(grids, args.labels, data)
    elif args.command in PER_EXAMPLE_FIGURES:
        per_example = pd.concat(map(pd.read_parquet, args.per_example), ignore_index=True)
        fig = PER_EXAMPLE_FIGURES[args.command](per_example, args.models)
    elif args.command == "input-diversity":
        fig = input_diversity_figure(pd.read_parquet(args.diversity))
    elif args.command == "training-curves":
        fig = training_curves(pd.read_parquet(args.histories))
    elif args.command == "diversity":
        per_example = pd.concat(map(pd.read_parquet, args.per_example), ignore_index=True)
        fig = diversity_plots(pd.read_parquet(args.teachers), per_example, args.models,
                              args.test_set)  # fmt: skip
    elif args.command == "jacobians":
        fig = jacobian_figure(pd.read_parquet(args.jacobians), pd.read_parquet(args.snr))
    elif args.command == "shift-curves":
        fig = shift_curves(pd.read_parquet(args.metrics), args.models)
    elif args.command == "corruption-boxes":
        fig = corruption_boxes(pd.read_parquet(args.metrics), args.models)
    save_figure(fig, args.out)
    pdf = Path(args.out).with_suffix(".pdf")
    provenance.write_sidecar(record, [args.out, pdf], upstream=provenance.upstream_of(inputs))
    print(f"wrote {args.out} and its PDF")


if __name__ == "__main__":
    main()
