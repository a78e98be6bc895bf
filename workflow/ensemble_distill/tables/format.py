"""The tables' formatting kernel: mean ± std cells, Markdown, wide statistics, row order,
published reference rows, standard errors and paired t-intervals."""

import numpy as np
import pandas as pd


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


def metric_columns_table(long, models):
    """A table with a column per ``metric`` of long rows (model, method, distill_seed,
    metric, value): mean ± std over seeds, "n/a" where a model has no such metric."""
    csv = ordered(wide_stats(long, ["model", "method"], "metric"), models)
    metrics = list(long["metric"].unique())
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


def ordered(frame, models):
    frame = frame[frame["model"].isin(models)].copy()
    frame["order"] = frame["model"].map({m: i for i, m in enumerate(models)})
    return frame.sort_values("order").drop(columns="order")


def reference_of(paper, table, model, paper_rows):
    """The paper's row for ``model`` in ``table``: the ensemble's, or the row that
    ``paper_rows`` ({student: key}, from paper.paper_row) names."""
    if not paper:
        return None
    key = "ensemble" if model == "ensemble" else (paper_rows or {}).get(model)
    return paper.get(table, {}).get(key) if key else None


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


def share(value, total, spec):
    return f"{value:{spec}} ({100 * value / total:.1f} %)"


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
