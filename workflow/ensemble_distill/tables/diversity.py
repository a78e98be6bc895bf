"""The Diversity Matters tables: DE-k rows, calibrated metrics, DEE and mean-KLD with
paired differences between perturbed students and their twins (Table 1 layout), and the
corrupted test sets (Table 3)."""

import numpy as np
import pandas as pd

from ..calibration import dee
from ..evalsets import GENERATED
from .format import format_value, markdown, paired_differences

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


def with_dee(test, curve):
    """Per-network test metrics (wide: one row per model and seed) plus their DEE."""
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


CORRUPTION_METRICS = {m: DIVERSITY_METRICS[m] for m in ("acc", "nll", "brier", "ece", "cnll",
                                                         "cece")}  # fmt: skip


def corruption_tables(metrics, models):
    """Diversity Matters Table 3: metrics averaged over every corruption type and severity
    (per seed, then mean ± std over seeds), and per severity (mean over types) below."""
    corrupt = metrics[(metrics["eval_kind"] == "corrupt") & (metrics["split"] == 0)]
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


def input_diversity_tables(frame, models=None):
    """Diversity Matters Fig. 1 as a table (input_diversity.py): per network (teachers
    first, then students in ``models`` order), inputs and step."""
    stats = input_diversity_summary(frame)
    order = ["teachers", *(m for m in (models or []) if m in set(stats["network"]))]
    order += [n for n in stats["network"].unique() if n not in order]
    stats["order"] = stats["network"].map({n: i for i, n in enumerate(order)})
    stats = stats.sort_values(["order"], kind="stable").drop(columns="order")
    rows = [
        [r["network"], r["inputs"], f"{r['step'] * 255:.0f}/255" if r["step"] else "",
         f"{r['nominal_norm']:.3f}" if r["step"] else "",
         f"{r['l2_norm_mean']:.3f}" if r["step"] else "",
         format_value(r["mean_kl_mean"], r["mean_kl_std"], r["n"]),
         format_value(r["disagreement_mean"], r["disagreement_std"], r["n"]), r["n"]]
        for _, r in stats.iterrows()
    ]  # fmt: skip
    header = ["network", "inputs", "η", "nominal L2", "L2 after clipping", "mean-KLD",
              "disagreement", "n"]  # fmt: skip
    return markdown(header, rows), stats


def input_diversity_summary(frame):
    """Mean ± std over draws and student seeds, per network, inputs and step."""
    grouped = frame.groupby(["network", "inputs", "step"], sort=False)
    out = grouped[["l2_norm", "mean_kl", "disagreement"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out["nominal_norm"] = grouped["nominal_norm"].first()
    out["n"] = grouped.size()
    return out.reset_index()
