"""The Hydra paper's tables: in-domain summary (Table 2; regression in original units),
the MU gap (Table 1), OOD detection, cost (Table 5) and UCI (Table 4).

Statistics are mean ± std over the evaluated networks of each model (distillation seeds
for students, members for ``single``), with n beside.
"""

import pandas as pd

from ..metrics import mu_gap
from ..ood import ood_aurocs
from .format import (
    format_se,
    format_value,
    markdown,
    metric_columns_table,
    ordered,
    over_splits,
    paired_differences,
    reference_of,
    share,
    wide_stats,
)

SUMMARY_METRICS = {  # column title, in table order
    "acc": "ACC ↑",
    "nll": "NLL ↓",
    "brier": "Brier ↓",
    "brier_hydra": "BS (Σp²−2p_y) ↓",
    "ece": "ECE ↓",
    "model_uncertainty": "MU",
    "total_uncertainty": "TU",
}


def summary_tables(metrics, models, paper=None, paper_rows=None):
    """In-domain (unshifted, labelled) metrics: (markdown, csv frame)."""
    if "rmse" in set(metrics["metric"]):
        return regression_tables(metrics, models)
    in_domain = metrics[(metrics["eval_kind"] == "test") & metrics["metric"].isin(SUMMARY_METRICS)]
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

REGRESSION_METRICS = {
    "nll": "NLL ↓",
    "rmse": "RMSE ↓",
    "aleatoric": "aleatoric E[σ²]",
    "epistemic": "epistemic Var[μ]",
}


def regression_tables(metrics, models):
    stats = over_splits(metrics[metrics["eval_kind"] == "test"])
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


def mu_gap_tables(per_example, models, paper=None, paper_rows=None):
    gaps = mu_gap(per_example)
    csv = ordered(wide_stats(gaps, ["model", "method"], "eval_set"), models)
    sets = list(gaps["eval_set"].unique())
    kind_of = dict(zip(gaps["eval_set"], gaps["eval_kind"], strict=False))
    rows = []
    for _, row in csv.iterrows():
        cells = [format_value(row[f"{s}_mean"], row[f"{s}_std"], row["n"]) for s in sets]
        rows.append([row["model"], row["n"], *cells])
        reference = reference_of(paper, "mu_gap", row["model"], paper_rows)
        if reference:
            kinds = [kind_of[s] for s in sets]
            cells = [format_value(reference[k]) if k in reference else "" for k in kinds]
            rows.append([f"{row['model']} ({paper['title']})", "", *cells])
    return markdown(["model", "n", *sets], rows), csv


def ood_tables(per_example, models):
    return metric_columns_table(ood_aurocs(per_example), models)


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
