"""Figures of the evaluation researchers expect beside the tables: reliability diagrams,
risk–coverage curves (from per-example Parquet) and training curves (from the histories
table, ``histories.py``). Sub-commands of ``figures``."""

import matplotlib.pyplot as plt
import numpy as np

from .metrics import ece_of_bins, reliability_bins
from .selective import SCORES, mean_curves, test_inputs


def first_seed(part):
    """One network per model: the first distillation seed (the ensemble has none)."""
    seeds = part["distill_seed"]
    return part[seeds.isna() | (seeds == seeds.min())]


def reliability_diagrams(per_example, models):
    """Per model (a column): accuracy per confidence bin before and after temperature
    scaling, the diagonal, and below it the share of test inputs per bin; the ECE of the
    same 15 bins as the tables' in the legend."""
    fig, axes = plt.subplots(2, len(models), squeeze=False, sharex=True,
                             figsize=(2.6 * len(models), 4.6), height_ratios=[3, 1])  # fmt: skip
    for col, model in enumerate(models):
        part = first_seed(test_inputs(per_example[per_example["model"] == model]))
        correct = (part["prediction"] == part["label"]).to_numpy()
        top, bottom = axes[0, col], axes[1, col]
        top.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        columns = {"before": "confidence", "after TS": "calibrated_confidence"}
        for (label, column), style in zip(columns.items(), ("C7", "C0"), strict=True):
            if column not in part or part[column].isna().all():
                continue
            bins = reliability_bins(part[column].to_numpy(), correct)
            ece = ece_of_bins(bins)
            centres = (bins["lower"] + bins["upper"]) / 2
            width = 1 / len(bins)
            top.bar(centres, bins["accuracy"].fillna(0), width=width, alpha=0.45, color=style,
                    edgecolor=style, label=f"{label}: ECE {ece:.4f}")  # fmt: skip
            bottom.bar(centres, bins["count"] / bins["count"].sum(), width=width, alpha=0.45,
                       color=style)  # fmt: skip
        seed = part["distill_seed"].dropna().unique()
        top.set_title(model + (f" (seed {int(seed[0])})" if len(seed) else ""), fontsize=9)
        top.set_xlim(0, 1), top.set_ylim(0, 1)
        top.legend(fontsize=7, loc="upper left")
        bottom.set_xlabel("confidence")
    axes[0, 0].set_ylabel("accuracy")
    axes[1, 0].set_ylabel("share of inputs")
    fig.tight_layout()
    return fig


def risk_coverage_curves(per_example, models):
    """Risk against coverage per model, ranking by confidence and by low MU (models that
    have it); each curve the mean over seeds, its AURC (= the table's mean) in the legend."""
    fig, axes = plt.subplots(1, len(SCORES), squeeze=False, figsize=(5 * len(SCORES), 3.6))
    for ax, score in zip(axes[0], SCORES, strict=True):
        curves = mean_curves(per_example[per_example["model"].isin(models)], score)
        for model in (m for m in models if m in curves):
            coverage, risk, n = curves[model]
            ax.plot(coverage, risk, lw=1.2, color=f"C{models.index(model) % 10}",
                    label=f"{model}: AURC {risk.mean():.4f} (n={n})")  # fmt: skip
        ax.set_title(f"ranked by {'confidence' if score == 'confidence' else 'low MU'}",
                     fontsize=9)  # fmt: skip
        ax.set_xlabel("coverage")
        ax.set_ylabel("risk (error rate of the accepted)")
        ax.set_xlim(0, 1)
        if curves:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "n/a: no model has MU", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def training_curves(histories):
    """One panel per model (teachers, each student; ``histories.py``'s table): every
    network's train (solid) and validation (dashed) loss per epoch, the kept epoch marked,
    the start of a second phase dotted."""
    models = list(dict.fromkeys(histories["model"]))
    fig, axes = plt.subplots(1, len(models), squeeze=False, figsize=(3.4 * len(models), 3.2))
    for ax, model in zip(axes[0], models, strict=True):
        part = histories[histories["model"] == model]
        networks = part.groupby(["network", "replica"], sort=False)
        for i, (_, net) in enumerate(networks):
            color = f"C{i % 10}"
            ax.plot(net["step"], net["train_loss"], color=color, lw=0.9)
            ax.plot(net["step"], net["val_loss"], color=color, lw=0.9, ls="--")
            kept = net[net["kept"]].iloc[0]
            y = kept["val_loss"] if np.isfinite(kept["val_loss"]) else kept["train_loss"]
            ax.plot(kept["step"], y, "o", color=color, ms=4)
        for start in part.loc[part["phase"] > part["phase"].shift(), "step"].unique():
            ax.axvline(start - 0.5, color="0.6", lw=0.8, ls=":")
        n = part["network"].nunique()
        ax.set_title(f"{model} ({n} network{'s' * (n > 1)})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
    axes[0, 0].set_ylabel("loss (solid: train, dashed: validation)")
    fig.tight_layout()
    return fig


def input_diversity_figure(frame):
    """Diversity Matters Fig. 1: left, the teachers' mean pairwise KL against the L2 norm of
    the perturbation (after clipping) for Gaussian and ODS inputs, with their clean
    training and test levels; right, each multi-member student's members on clean training
    inputs, test inputs and ODS inputs at the largest step."""
    from .tables.diversity import input_diversity_summary

    stats = input_diversity_summary(frame)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    teachers = stats[stats["network"] == "teachers"]
    for label, style in (("train + Gaussian", "C1"), ("train + ODS", "C3")):
        part = teachers[teachers["inputs"] == label]
        left.errorbar(part["l2_norm_mean"], part["mean_kl_mean"], yerr=part["mean_kl_std"],
                      color=style, marker="o", capsize=2, label=label)  # fmt: skip
    for label, ls in (("train", ":"), ("test", "--")):
        level = teachers.loc[teachers["inputs"] == label, "mean_kl_mean"]
        if len(level):
            left.axhline(level.iloc[0], color="0.3", ls=ls, lw=1, label=f"{label} (clean)")
    left.set_xlabel("L2 norm of the perturbation (after clipping)")
    left.set_ylabel("teachers' mean pairwise KL")
    left.legend(fontsize=7)
    students = [n for n in dict.fromkeys(stats["network"]) if n != "teachers"]
    top = stats["step"].max()
    for i, name in enumerate(students):
        part = stats[stats["network"] == name].set_index(["inputs", "step"])["mean_kl_mean"]
        for (label, step), marker in ((("train", 0.0), "o"), (("test", 0.0), "s"),
                                      (("train + ODS", top), "^")):  # fmt: skip
            if (label, step) in part.index:
                right.plot(part[(label, step)], i, marker, color="C0" if label == "train"
                           else "C2" if label == "test" else "C3",
                           label=label if i == 0 else None)  # fmt: skip
    right.set_yticks(range(len(students)), students, fontsize=7)
    right.set_xlabel("members' mean pairwise KL")
    right.set_title(f"students (ODS at η = {top * 255:.0f}/255)", fontsize=9)
    if students:
        right.legend(fontsize=7)
    fig.tight_layout()
    return fig
