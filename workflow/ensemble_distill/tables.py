"""Paper-style tables from Parquet: summary (Table 2), MU gap (Table 1), OOD AUROC, cost.

Usage::

    python -m ensemble_distill.tables collect --inputs a.parquet b.parquet --out metrics.parquet
    python -m ensemble_distill.tables summary --metrics metrics.parquet \\
        --models ensemble single kd --out-md summary.md --out-csv summary.csv [--paper hydra-mnist]
    python -m ensemble_distill.tables mu-gap --per-example ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables ood --per-example ... --out-md ... --out-csv ...
    python -m ensemble_distill.tables cost --cost cost.parquet --out-md ... --out-csv ...
    python -m ensemble_distill.tables uci --metrics uci_*/metrics.parquet --out-md ... --out-csv ...

Statistics are mean ± std over the evaluated networks of each model (distillation seeds
for students, members for ``single``), with n beside. Each table is written as Markdown
(with a caption) and as CSV.
"""

import argparse

import numpy as np
import pandas as pd

from . import provenance
from .evalsets import GENERATED
from .io import atomic_path
from .paper import PAPERS

SUMMARY_METRICS = {  # column title, in table order
    "acc": "ACC ↑",
    "nll": "NLL ↓",
    "brier": "Brier ↓",
    "brier_hydra": "BS (Σp²−2p_y) ↓",
    "ece": "ECE ↓",
    "model_uncertainty": "MU",
    "total_uncertainty": "TU",
}


def collect(paths):
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def format_value(mean, std=np.nan, count=1):
    if pd.isna(mean):
        return "n/a"
    digits = ".2e" if 0 < abs(mean) < 1e-3 else ".4f"
    text = f"{mean:{digits}}"
    return text if count < 2 or pd.isna(std) else f"{text} ± {std:{digits}}"


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def wide_stats(long, index, column):
    """Mean/std/count of ``value`` per (index..., column), as a wide CSV-ready frame."""
    stats = long.groupby([*index, column], sort=False)["value"].agg(["mean", "std", "count"])
    wide = stats.unstack(column)
    out = pd.DataFrame(index=wide.index)
    out["n"] = wide["count"].max(axis=1).astype(int)
    for name in long[column].unique():
        out[f"{name}_mean"], out[f"{name}_std"] = wide["mean"][name], wide["std"][name]
    return out.reset_index()


def ordered(frame, models):
    frame = frame[frame["model"].isin(models)].copy()
    frame["order"] = frame["model"].map({m: i for i, m in enumerate(models)})
    return frame.sort_values("order").drop(columns="order")


# ----------------------------------------------------------------------------- Table 2
def reference_of(paper, table, model, paper_rows):
    """The paper's row for ``model`` in ``table``: the ensemble's, or the row that
    ``paper_rows`` ({student: key}, from paper.paper_row) names."""
    if not paper:
        return None
    key = "ensemble" if model == "ensemble" else (paper_rows or {}).get(model)
    return paper.get(table, {}).get(key) if key else None


def summary_tables(metrics, models, paper=None, paper_rows=None):
    """In-domain (unshifted, labelled) metrics: (markdown, csv frame)."""
    if "rmse" in set(metrics["metric"]):
        return regression_tables(metrics, models)
    in_domain = metrics[(metrics["shift"] == "none") & metrics["metric"].isin(SUMMARY_METRICS)]
    csv = ordered(wide_stats(in_domain, ["model", "method"], "metric"), models)
    names = [m for m in SUMMARY_METRICS if f"{m}_mean" in csv]
    header = ["model", "n"] + [SUMMARY_METRICS[m] for m in names]
    rows = []
    for _, row in csv.iterrows():
        cells = [format_value(row[f"{m}_mean"], row[f"{m}_std"], row["n"]) for m in names]
        rows.append([row["model"], row["n"], *cells])
        reference = reference_of(paper, "summary", row["model"], paper_rows)
        if reference:
            cells = [format_value(reference[m]) if m in reference else "" for m in names]
            rows.append([f"{row['model']} ({paper['title']})", "", *cells])
    text = markdown(header, rows)
    # Students distilled from the same teachers with the same seeds: each later student
    # minus each earlier one (in table order), paired over seeds.
    students = [m for m in csv["model"] if m not in ("ensemble", "single")]
    pairs = [(b, a) for i, a in enumerate(students) for b in students[i + 1 :]]
    test = in_domain[in_domain["model"].isin(students) & (in_domain["split"] == 0)]
    wide = test.pivot_table(index=["model", "distill_seed"], columns="metric", values="value")
    compared = [m for m in PAIRED_SUMMARY if m in wide]
    paired_rows, _ = paired_differences(wide.reset_index(), pairs, compared)
    if any(row[1] > 1 for row in paired_rows):
        text += (
            "\nPaired differences on the same distillation seeds (mean ± half-width of the "
            "95 % t-interval; negative NLL/Brier/ECE favour the first):\n\n"
        )
        text += markdown(["pair", "n", *[SUMMARY_METRICS[m] for m in compared]], paired_rows)
    return text, csv


PAIRED_SUMMARY = ("acc", "nll", "brier", "ece")  # compared between students, paired by seed

# ----------------------------------------------------------------------------- regression
REGRESSION_METRICS = {
    "nll": "NLL ↓",
    "rmse": "RMSE ↓",
    "aleatoric": "aleatoric E[σ²]",
    "epistemic": "epistemic Var[μ]",
}


def over_splits(metrics):
    """Mean over distillation seeds within a split, then mean and standard error over splits."""
    per_split = metrics.groupby(["model", "method", "metric", "split"], sort=False)["value"].mean()
    stats = per_split.groupby(["model", "method", "metric"], sort=False).agg(
        ["mean", "std", "count"]
    )
    stats["se"] = stats["std"] / np.sqrt(stats["count"])
    return stats.reset_index()


def format_se(mean, se):
    return (
        "n/a" if pd.isna(mean) else f"{mean:.4f} ± {se:.4f}" if not pd.isna(se) else f"{mean:.4f}"
    )


def regression_tables(metrics, models):
    stats = over_splits(metrics[metrics["shift"] == "none"])
    stats = stats[stats["metric"].isin(REGRESSION_METRICS)]
    wide = stats.pivot(index=["model", "method"], columns="metric", values=["mean", "se", "count"])
    csv = pd.DataFrame(index=wide.index)
    csv["splits"] = wide["count"].max(axis=1).astype(int)
    names = [m for m in REGRESSION_METRICS if m in wide["mean"].columns]
    for m in names:
        csv[f"{m}_mean"], csv[f"{m}_se"] = wide["mean"][m], wide["se"][m]
    csv = ordered(csv.reset_index(), models)
    rows = [
        [r["model"], r["splits"], *[format_se(r[f"{m}_mean"], r[f"{m}_se"]) for m in names]]
        for _, r in csv.iterrows()
    ]
    return markdown(["model", "splits", *[REGRESSION_METRICS[m] for m in names]], rows), csv


def uci_tables(metrics, paper):
    """Table 4: test NLL (and RMSE) per UCI set for the paper's methods, beside the paper."""
    methods = paper["methods"]
    metrics = metrics[metrics["method"].isin(methods)]
    stats = over_splits(
        metrics[metrics["metric"].isin(["nll", "rmse"])].assign(model=metrics["experiment"])
    )  # one "model" per experiment; methods stay apart
    stats = stats.rename(columns={"model": "experiment"})
    sets = {e: e.removeprefix("uci_") for e in stats["experiment"].unique()}
    rows, records = [], []
    for experiment, name in sets.items():
        part = stats[stats["experiment"] == experiment].set_index(["method", "metric"])
        cells = []
        for metric in ("nll", "rmse"):
            for method in methods:
                row = part.loc[(method, metric)] if (method, metric) in part.index else None
                cells.append("n/a" if row is None else format_se(row["mean"], row["se"]))
                records.append(
                    dict(
                        dataset=name,
                        method=method,
                        metric=metric,
                        mean=None if row is None else row["mean"],
                        se=None if row is None else row["se"],
                        splits=None if row is None else row["count"],
                    )
                )
        # Experiments are uci_<set>[_<protocol>] (e.g. uci_yacht_long): the paper's row is
        # the set's.
        reference = paper["nll"].get(name.split("_")[0], {})
        cells += [f"{reference[m]:.4f}" if m in reference else "" for m in methods]
        rows.append([name, *cells])
    title = {"ensemble": "ensemble", "kd": "KD", "hydra": "Hydra"}
    header = [
        "dataset",
        *[f"NLL {title.get(m, m)}" for m in methods],
        *[f"RMSE {title.get(m, m)}" for m in methods],
        f"paper NLL {title.get(methods[0], methods[0])} ({paper['title']})",
        *[f"paper NLL {title.get(m, m)}" for m in methods[1:]],
    ]
    csv = pd.DataFrame(records)
    nll = csv[csv["metric"] == "nll"].pivot(index="dataset", columns="method", values="mean")
    a, b = paper["compare"]
    wins = int((nll[a] <= nll[b]).sum()) if {a, b} <= set(nll) else 0
    footer = (
        f"\n{title.get(a, a)}'s NLL is at most {title.get(b, b)}'s on {wins} of {len(nll)} "
        "datasets.\n"
    )
    return markdown(header, rows) + footer, csv


# ----------------------------------------------------------------------------- Table 1
def mu_gap(per_example):
    """Mean |MU_student − MU_ensemble| over examples (all intensities) per model, seed, set."""
    keys = ["eval_set", "intensity", "index"]
    per_example = per_example[per_example["shift"] != "validation"]  # Table 1: test, shifts, OOD
    ensemble = per_example[per_example["model"] == "ensemble"][keys + ["model_uncertainty"]]
    students = per_example[~per_example["model"].isin(["ensemble", "single"])]
    merged = students.merge(ensemble, on=keys, suffixes=("", "_ensemble"))
    merged["value"] = (merged["model_uncertainty"] - merged["model_uncertainty_ensemble"]).abs()
    return (
        merged.groupby(["model", "method", "distill_seed", "eval_set", "shift"], sort=False)[
            "value"
        ]
        .mean()
        .reset_index()
    )


def mu_gap_tables(per_example, models, paper=None, paper_rows=None):
    gaps = mu_gap(per_example)
    csv = ordered(wide_stats(gaps, ["model", "method"], "eval_set"), models)
    sets = list(gaps["eval_set"].unique())
    shift_of = dict(zip(gaps["eval_set"], gaps["shift"], strict=False))
    rows = []
    for _, row in csv.iterrows():
        cells = [format_value(row[f"{s}_mean"], row[f"{s}_std"], row["n"]) for s in sets]
        rows.append([row["model"], row["n"], *cells])
        reference = reference_of(paper, "mu_gap", row["model"], paper_rows)
        if reference:
            kinds = ["test" if shift_of[s] == "none" else shift_of[s] for s in sets]
            cells = [format_value(reference[k]) if k in reference else "" for k in kinds]
            rows.append([f"{row['model']} ({paper['title']})", "", *cells])
    return markdown(["model", "n", *sets], rows), csv


# ----------------------------------------------------------------------------- OOD
def auroc(in_scores, out_scores):
    """P(score_out > score_in) + ½ P(equal): the AUROC of telling OOD from in-domain."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(out_scores, in_scores).statistic
    return float(u / (len(in_scores) * len(out_scores)))


def aupr(in_scores, out_scores):
    """Average precision of finding the OOD inputs (the positives) by a higher score."""
    from sklearn.metrics import average_precision_score

    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    return float(average_precision_score(labels, np.r_[in_scores, out_scores]))


def ood_aurocs(per_example):
    """AUROC and AUPR (OOD positive) of total and model uncertainty, unshifted test set vs
    every OOD set."""
    rows = []
    groups = per_example.groupby(["model", "method", "distill_seed"], sort=False, dropna=False)
    for (model, method, seed), part in groups:
        test = part[part["shift"] == "none"]
        for ood_set, ood in part[part["shift"] == "ood"].groupby("eval_set"):
            for score in ("total_uncertainty", "model_uncertainty"):
                if test[score].isna().all():
                    continue
                in_scores, out_scores = test[score].to_numpy(), ood[score].to_numpy()
                for name, value in (("AUROC", auroc(in_scores, out_scores)),
                                    ("AUPR", aupr(in_scores, out_scores))):  # fmt: skip
                    rows.append(
                        dict(
                            model=model,
                            method=method,
                            distill_seed=seed,
                            metric=f"{ood_set}: {name} {score.split('_')[0]}",
                            value=value,
                        )
                    )
    return pd.DataFrame(rows)


def ood_tables(per_example, models):
    aurocs = ood_aurocs(per_example)
    csv = ordered(wide_stats(aurocs, ["model", "method"], "metric"), models)
    metrics = list(aurocs["metric"].unique())
    rows = [
        [
            r["model"],
            r["n"],
            *[
                format_value(r[f"{m}_mean"], r[f"{m}_std"], r["n"]) if f"{m}_mean" in r else "n/a"
                for m in metrics
            ],
        ]
        for _, r in csv.iterrows()
    ]
    return markdown(["model", "n", *metrics], rows), csv


# ----------------------------------------------------------------------------- Table 5
def share(value, total, spec):
    return f"{value:{spec}} ({100 * value / total:.1f} %)"


def cost_tables(cost, paper=None, paper_rows=None):
    ensemble = cost[cost["model"] == "ensemble"].iloc[0]
    rows = []
    for _, r in cost.iterrows():
        params = share(r["params"], ensemble["params"], ",.0f")
        flops = share(r["flops"], ensemble["flops"], ".3g")
        rows.append([r["model"], params, flops, f"{r['seconds_per_10k']:.3f}"])
        reference = reference_of(paper, "cost", r["model"], paper_rows)
        if reference:
            title = f"{r['model']} ({paper['title']})"
            flops = f"{reference['flops']:.3g}" if "flops" in reference else ""
            rows.append([title, f"{reference['params']:,}", flops, ""])
    header = [
        "model",
        "parameters (% of ensemble)",
        "FLOPs per image (% of ensemble)",
        "inference s / 10k images",
    ]
    return markdown(header, rows), cost


# ----------------------------------------------------------------------------- Diversity Matters
DIVERSITY_METRICS = {
    "acc": "ACC ↑",
    "nll": "NLL ↓",
    "brier": "Brier ↓",
    "ece": "ECE ↓",
    "cnll": "cNLL ↓",
    "cbrier": "cBrier ↓",
    "cece": "cECE ↓",
    "dee": "DEE ↑",
    "diversity_kl": "mean-KLD",
}
PAIRED_METRICS = ("acc", "nll", "cnll", "dee", "diversity_kl")


def paired_interval(differences, level=0.95):
    """Mean and half-width of the t-interval of paired differences (NaN for n < 2)."""
    from scipy.stats import t

    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return float(d.mean()) if len(d) else np.nan, np.nan
    half = t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(half)


def paired_differences(wide, pairs, metrics):
    """Rows and records of ``first − second`` over the distillation seeds both have, per
    metric: mean and half-width of the 95 % t-interval (``wide``: one row per model, seed)."""
    rows, records = [], []
    for first, second in pairs:
        a = wide[wide["model"] == first].set_index("distill_seed")
        b = wide[wide["model"] == second].set_index("distill_seed")
        seeds = a.index.intersection(b.index)
        cells = []
        for m in metrics:
            mean, half = paired_interval(a.loc[seeds, m] - b.loc[seeds, m])
            cells.append(format_value(mean) + ("" if np.isnan(half) else f" ± {half:.4f}"))
            records.append({"model": first, "baseline": second, "metric": m, "n": len(seeds),
                            "paired_mean": mean, "paired_ci95": half})  # fmt: skip
        rows.append([f"{first} − {second}", len(seeds), *cells])
    return rows, records


def with_dee(test, curve):
    """Per-network test metrics (wide: one row per model and seed) plus their DEE."""
    from .calibration import dee

    keys = ["model", "method", "distill_seed", "metric"]
    wide = test.set_index(keys)["value"].unstack("metric").reset_index()
    if "cnll" in wide:
        wide["dee"] = [dee(c, curve["size"], curve["cnll"]) for c in wide["cnll"]]
    return wide


def diversity_tables(metrics, curve, cost, models, test_set, pairs=None, paper=None,
                     paper_rows=None):  # fmt: skip
    """Diversity Matters' table: DE-k rows from the ensemble curve (k = the students' member
    counts and the full ensemble), then every model: #params, ACC, NLL, Brier, ECE, cNLL,
    cBrier, cECE, DEE, mean-KLD (mean ± std over seeds); below it, each perturbed student
    minus its unperturbed twin on the same seeds, with a paired 95 % interval. With a
    ``paper``, its published row follows each DE-k row it has and each student named in
    ``paper_rows`` ({student: paper row key})."""
    test = metrics[(metrics["eval_set"] == test_set) & (metrics["split"] == 0)]
    test = test[test["model"] != "single"]
    wide = with_dee(test, curve)
    member_params = cost.loc[cost["model"] == "ensemble", "params"].iloc[0] / curve["size"].max()
    params = dict(zip(cost["model"], cost["params"], strict=False))
    names = [m for m in DIVERSITY_METRICS if m in wide]
    header = ["model", "n", "#params", *[DIVERSITY_METRICS[m] for m in names]]
    rows, records = [], []
    for _, r in curve.iterrows():
        k = int(r["size"])
        # A deep ensemble of k is worth k; a metric the curve lacks is n/a, not k.
        values = {m: k if m == "dee" else r.get(m, np.nan) for m in names}
        cells = [f"{k}" if m == "dee" else format_value(values[m]) for m in names]
        rows.append([f"DE-{k}", int(r["subsets"]), f"{k * member_params:,.0f}", *cells])
        records.append({"model": f"DE-{k}", "n": int(r["subsets"]), "params": k * member_params,
                        **{f"{m}_mean": v for m, v in values.items()}})  # fmt: skip
        rows += published(paper, f"DE-{k}", f"DE-{k}", names)
    for model in [m for m in models if m in set(wide["model"]) and m != "ensemble"]:
        part = wide[wide["model"] == model]
        n = len(part)
        cells = [format_value(part[m].mean(), part[m].std(), n) for m in names]
        rows.append([model, n, f"{params.get(model, np.nan):,.0f}", *cells])
        rows += published(paper, (paper_rows or {}).get(model), model, names)
        records.append({"model": model, "n": n, "params": params.get(model),
                        **{f"{m}_mean": part[m].mean() for m in names},
                        **{f"{m}_std": part[m].std() for m in names}})  # fmt: skip
    text = markdown(header, rows)
    paired = [m for m in PAIRED_METRICS if m in wide]
    paired_rows, paired_records = paired_differences(wide, (pairs or {}).items(), paired)
    records += paired_records
    if paired_rows:
        text += (
            "\nPaired differences on the same distillation seeds (mean ± half-width of the "
            "95 % t-interval; negative NLL/cNLL and positive DEE/mean-KLD favour the first):\n\n"
        )
        text += markdown(
            ["pair", "n", *[DIVERSITY_METRICS[m] for m in PAIRED_METRICS if m in wide]],
            paired_rows,
        )
    return text, pd.DataFrame(records)


def published(paper, key, label, names):
    """The paper's row ``key`` (if it has one) as a table row labelled after ``label``."""
    reference = paper.get("diversity", {}).get(key) if paper and key else None
    if reference is None:
        return []
    cells = [format_value(reference[m]) if m in reference else "" for m in names]
    return [[f"{label} ({paper['title']})", "", "", *cells]]


# ----------------------------------------------------------------------------- corruptions
CORRUPTION_METRICS = {m: DIVERSITY_METRICS[m] for m in ("acc", "nll", "brier", "ece", "cnll",
                                                         "cece")}  # fmt: skip


def corruption_tables(metrics, models):
    """Diversity Matters Table 3: metrics averaged over every corruption type and severity
    (per seed, then mean ± std over seeds), and per severity (mean over types) below."""
    corrupt = metrics[(metrics["shift"] == "corrupt") & (metrics["split"] == 0)]
    corrupt = corrupt[corrupt["metric"].isin(CORRUPTION_METRICS) & (corrupt["model"] != "single")]
    if corrupt.empty:
        raise ValueError("no corruption rows (eval sets of kind 'corrupt') in the metrics")
    names = [m for m in CORRUPTION_METRICS if m in set(corrupt["metric"])]
    seed_means = corrupt.groupby(["model", "distill_seed", "metric"], dropna=False)["value"].mean()
    overall = seed_means.groupby(["model", "metric"]).agg(["mean", "std", "count"]).reset_index()
    sets = sorted(corrupt["eval_set"].unique())
    generated = [s for s in sets if s.endswith(GENERATED)]
    rows, records = [], []
    for model in [m for m in models if m in set(overall["model"])]:
        part = overall[overall["model"] == model].set_index("metric")
        n = int(part["count"].max())
        rows.append([model, n, *[format_value(part.loc[m, "mean"], part.loc[m, "std"], n)
                                 for m in names]])  # fmt: skip
        records.append({"model": model, "severity": "all", "n": n,
                        **{f"{m}_mean": part.loc[m, "mean"] for m in names},
                        **{f"{m}_std": part.loc[m, "std"] for m in names}})  # fmt: skip
    text = (
        f"{len(sets)} corruption types × severities {sorted(set(corrupt['intensity']))}; "
        f"{len(generated)} of them generated (corruptions.py), not the official files.\n\n"
    )
    text += markdown(["model", "n", *[CORRUPTION_METRICS[m] for m in names]], rows)
    by_severity = (
        corrupt.groupby(["model", "intensity", "distill_seed", "metric"], dropna=False)["value"]
        .mean()
        .groupby(["model", "intensity", "metric"])
        .mean()
        .unstack("metric")
    )
    rows = []
    for model in [m for m in models if m in by_severity.index.get_level_values(0)]:
        for level, values in by_severity.loc[model].iterrows():
            rows.append([model, f"{level:g}", *[format_value(values[m]) for m in names]])
            records.append({"model": model, "severity": f"{level:g}",
                            **{f"{m}_mean": values[m] for m in names}})  # fmt: skip
    text += "\nBy severity (mean over types and seeds):\n\n"
    text += markdown(["model", "severity", *[CORRUPTION_METRICS[m] for m in names]], rows)
    return text, pd.DataFrame(records)


# ----------------------------------------------------------------------------- CLI
CAPTIONS = {
    "summary": "In-domain test metrics, mean ± std over distillation seeds (members for "
    "`single`); MU is n/a for single-output models.",
    "mu-gap": "Mean absolute difference between each student's and the ensemble's model "
    "uncertainty, per example, pooled over all intensities of a set; mean ± std over seeds.",
    "ood": "AUROC and AUPR (OOD inputs as positives) of telling OOD inputs from in-domain "
    "test inputs by total (TU) or model (MU) uncertainty; mean ± std over seeds.",
    "regression": "Test metrics in original units (regression), mean ± standard error over "
    "data splits, each split first averaged over distillation seeds (members for `single`); "
    "the epistemic part is n/a for a single Gaussian.",
    "uci": "UCI regression (Hydra paper Table 4): test NLL and RMSE in original units, mean "
    "± standard error over the standard splits (each split first averaged over distillation "
    "seeds), beside the paper's NLL.",
    "diversity": "Diversity Matters layout (test set): DE-k rows are deep ensembles of k "
    "teachers (mean over random k-subsets, n = subsets); students mean ± std over "
    "distillation seeds. c-metrics after temperature scaling fitted on the validation set; "
    "DEE = the ensemble size whose (interpolated) cNLL the model matches, capped at the "
    "largest ensemble; mean-KLD = mean pairwise KL between members.",
    "corruption": "Corrupted test sets (Hendrycks & Dietterich): mean over all corruption "
    "types and severities per distillation seed, then mean ± std over seeds; c-metrics with "
    "the temperature fitted on the validation set.",
    "cost": "Parameters and FLOPs per image (counted by torch.utils.flop_counter, 1 FLOP = "
    "1 multiply or add), and the median over repeats of the time to predict 10k test images "
    "(batch 1000, one thread) in one process.",
}


# Each table command and the argument naming the files it reads.
SOURCES = {
    "summary": "metrics",
    "mu-gap": "per_example",
    "ood": "per_example",
    "uci": "metrics",
    "cost": "cost",
    "diversity": "metrics",
    "corruption": "metrics",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    for name, source in SOURCES.items():
        p = sub.add_parser(name)
        p.add_argument(f"--{source.replace('_', '-')}", nargs="+", required=True)
        p.add_argument("--models", nargs="+", help="row order")
        p.add_argument("--paper", choices=sorted(PAPERS), help="add published numbers")
        p.add_argument("--paper-rows", nargs="*", default=[], help="student=paper row key")
        p.add_argument("--title", default="")
        p.add_argument("--out-md", required=True)
        p.add_argument("--out-csv", required=True)
        if name == "diversity":
            p.add_argument("--curve", required=True, help="ensemble_curve.parquet")
            p.add_argument("--cost", required=True, help="cost.parquet (#params)")
            p.add_argument("--test-set", required=True)
            p.add_argument("--pairs", nargs="*", default=[], help="student=baseline")
    args = parser.parse_args(argv)
    inputs = args.inputs if args.command == "collect" else vars(args)[SOURCES[args.command]]
    if args.command == "diversity":
        inputs = [*inputs, args.curve, args.cost]
    paths = {"inputs", *SOURCES.values(), "out", "out_md", "out_csv", "curve"}
    config = {k: v for k, v in vars(args).items() if k not in paths}
    record = provenance.start(config=config, inputs=inputs)
    if args.command == "collect":
        provenance.write_parquet(
            collect(inputs), args.out, record, upstream=provenance.upstream_of(inputs)
        )
        return
    paper = PAPERS.get(args.paper)
    rows = dict(item.split("=", 1) for item in args.paper_rows)
    if args.command == "summary":
        text, csv = summary_tables(collect(args.metrics), args.models, paper, rows)
    elif args.command == "mu-gap":
        text, csv = mu_gap_tables(collect(args.per_example), args.models, paper, rows)
    elif args.command == "ood":
        text, csv = ood_tables(collect(args.per_example), args.models)
    elif args.command == "diversity":
        pairs = dict(item.split("=", 1) for item in args.pairs)
        text, csv = diversity_tables(
            collect(args.metrics),
            pd.read_parquet(args.curve),
            pd.read_parquet(args.cost),
            args.models,
            args.test_set,
            pairs,
            paper,
            rows,
        )
    elif args.command == "corruption":
        text, csv = corruption_tables(collect(args.metrics), args.models)
    elif args.command == "uci":
        text, csv = uci_tables(collect(args.metrics), PAPERS["hydra-uci"])
    else:
        text, csv = cost_tables(collect(args.cost), paper, rows)
    kind = "regression" if args.command == "summary" and "splits" in csv else args.command
    caption = f"{args.title}{CAPTIONS[kind]}\n\n"
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(caption + text)
    with atomic_path(args.out_csv) as tmp:
        csv.to_csv(tmp, index=False)
    provenance.write_sidecar(
        record, [args.out_md, args.out_csv], upstream=provenance.upstream_of(inputs)
    )
    print(caption + text)


if __name__ == "__main__":
    main()
