"""Collect metric Parquet files and build paper-style summary tables from them.

Usage::

    python -m ensemble_distill.tables collect --inputs a.parquet b.parquet --out metrics.parquet
    python -m ensemble_distill.tables summary --metrics metrics.parquet \
        --models ensemble single kd --out-md summary.md --out-csv summary.csv

The summary is in-domain (the eval sets without a shift): mean ± std over the evaluated
networks of each model (distillation seeds for students, members for ``single``), n beside.
"""

import argparse

import pandas as pd

from .io import atomic_path
from .metrics import write_parquet

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


def summarize(metrics, models):
    """Mean, std and n per (model, metric) on in-domain eval sets, models in the given order."""
    in_domain = metrics[(metrics["shift"] == "none") & metrics["metric"].isin(SUMMARY_METRICS)]
    stats = (
        in_domain.groupby(["model", "method", "metric"], sort=False)["value"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    stats["model"] = pd.Categorical(stats["model"], categories=models, ordered=True)
    return stats.sort_values("model")


def format_value(mean, std, count):
    if pd.isna(mean):
        return "n/a"
    digits = ".2e" if 0 < abs(mean) < 1e-3 else ".4f"
    text = f"{mean:{digits}}"
    return text if count < 2 or pd.isna(std) else f"{text} ± {std:{digits}}"


def summary_tables(stats):
    """(markdown text, wide CSV frame) from ``summarize`` output."""
    wide = stats.pivot(index=["model", "method"], columns="metric", values=["mean", "std", "count"])
    metrics = [m for m in SUMMARY_METRICS if m in wide["mean"].columns]
    csv = pd.DataFrame(index=wide.index)
    csv["n"] = wide["count"].max(axis=1).astype(int)
    for m in metrics:
        csv[f"{m}_mean"], csv[f"{m}_std"] = wide["mean"][m], wide["std"][m]
    header = ["model", "n"] + [SUMMARY_METRICS[m] for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (model, _), row in csv.iterrows():
        cells = [format_value(row[f"{m}_mean"], row[f"{m}_std"], row["n"]) for m in metrics]
        lines.append("| " + " | ".join([str(model), str(int(row["n"])), *cells]) + " |")
    return "\n".join(lines) + "\n", csv.reset_index()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("summary")
    p.add_argument("--metrics", required=True)
    p.add_argument("--models", nargs="+", required=True, help="row order")
    p.add_argument("--title", default="")
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-csv", required=True)
    args = parser.parse_args(argv)
    if args.command == "collect":
        write_parquet(collect(args.inputs), args.out)
        return
    markdown, csv = summary_tables(summarize(pd.read_parquet(args.metrics), args.models))
    caption = (
        f"{args.title}In-domain test metrics, mean ± std over distillation seeds "
        "(members for `single`); MU is n/a for single-output models.\n\n"
    )
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(caption + markdown)
    with atomic_path(args.out_csv) as tmp:
        csv.to_csv(tmp, index=False)
    print(caption + markdown)


if __name__ == "__main__":
    main()
