"""Explain one cell of a generated table: the chain a reader needs to trust the number.

Usage::

    python -m ensemble_distill.trace results/digits/tables/summary.md hydra NLL
    python -m ensemble_distill.trace results/digits/tables/diversity.md be_ods mean-KLD
    python -m ensemble_distill.trace results/uci_table4.md boston "NLL Hydra" \\
        --configfile config.yaml configs/hydra-uci.yaml

For the cell it prints, top to bottom: the table's rule and the function that aggregated
the cell, the metric rows behind it (recomputing the cell from them), the functions that
computed each row's value, the config keys that set the model (defaults marked, from the
config files given), and the files behind it from the provenance records, each with the
rule that made it and its hash checked against the file on disk (audit.py). Everything is
read from the plan, the provenance records, the method and metric registries and the
table modules: nothing here is a hand-kept list of names. Exit status 1 when the
recomputed cell differs from the table or a hash does not match.
"""

import argparse
import inspect
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics, plan, provenance
from .audit import Audit, files_behind
from .calibration import dee
from .config import _merge, load_yaml
from .methods import method_of
from .tables import diversity, hydra
from .tables.format import format_se, format_value

# Each metric table's columns (header -> metric key), from the table modules themselves.
COLUMNS = {
    "summary": {**hydra.SUMMARY_METRICS, **hydra.REGRESSION_METRICS},
    "diversity": diversity.DIVERSITY_METRICS,
    "corruption": diversity.CORRUPTION_METRICS,
}
TABLE_FUNCTIONS = {
    "summary": hydra.summary_tables,
    "diversity": diversity.diversity_tables,
    "corruption": diversity.corruption_tables,
    "uci": hydra.uci_tables,
}


def where(fn):
    """'module.function (file:line)' of a function, for the reader to open."""
    file = Path(inspect.getsourcefile(fn)).relative_to(Path(plan.__file__).parents[3])
    name = f"{fn.__module__.removeprefix('ensemble_distill.')}.{fn.__qualname__}"
    return f"{name} ({file}:{inspect.getsourcelines(fn)[1]})"


def metric_of(columns, column):
    """The metric key of a column given by its header, its header without arrows, or key."""
    for key, header in columns.items():
        if column in (key, header, header.rstrip(" ↑↓")) or column.lower() == key:
            return key
    raise SystemExit(f"no column '{column}'; the table has {list(columns.values())}")


def read_record(root, path):
    record = provenance.read(root / path)
    if record is None:
        raise SystemExit(f"{root / path}: no provenance record; was it made by the workflow?")
    return record


class Cell:
    """One table cell: which rows of which metrics file make it, and how they combine."""

    def __init__(self, root, table, row, column):
        self.root, self.table, self.row = Path(root), str(table), row
        found = plan.rule_of(self.table)
        if not found or not found[0].endswith("_table"):
            raise SystemExit(f"{table}: not a table of the workflow ({plan.OUTPUTS.keys()})")
        self.rule, _, wildcards = found
        self.kind = self.rule.removesuffix("_table")
        if self.kind not in TABLE_FUNCTIONS:
            raise SystemExit(f"trace reads metric tables ({sorted(TABLE_FUNCTIONS)}), not {table}")
        self.record = read_record(self.root, plan.output(self.rule, "markdown", **wildcards))
        if self.kind == "uci":
            self.experiment = f"uci_{row}"
            self.metric, self.model = column.split()[0].lower(), column.split()[-1].lower()
        else:
            self.experiment, self.model = wildcards["exp"], row
            self.metric = metric_of(COLUMNS[self.kind], column)
        self.metrics_path = plan.output("collect_metrics", "metrics", exp=self.experiment)

    def rows(self, frame):
        """The metric rows behind the cell."""
        model = (frame["model"] == self.model) | (frame["method"] == self.model)
        metric = "cnll" if self.metric == "dee" else self.metric
        rows = frame[model & (frame["metric"] == metric)]
        if self.kind == "summary":
            return rows[rows["eval_kind"] == "test"]
        if self.kind == "diversity":
            return rows[
                (rows["eval_set"] == self.record["config"]["test_set"]) & (rows["split"] == 0)
            ]
        if self.kind == "corruption":
            return rows[(rows["eval_kind"] == "corrupt") & (rows["split"] == 0)]
        return rows[rows["eval_kind"] == "test"]  # uci

    def value(self, rows):
        """The cell recomputed from ``rows``, formatted as the table formats it."""
        if (
            self.kind == "uci"
            or self.metric in ("rmse", "aleatoric", "epistemic")
            or (self.kind == "summary" and rows["split"].max() > 0)
        ):
            per_split = rows.groupby("split")["value"].mean()
            return format_se(per_split.mean(), per_split.std() / np.sqrt(len(per_split)))
        values = rows.groupby("distill_seed", dropna=False)["value"].mean()
        if self.metric == "dee":
            curve = pd.read_parquet(
                self.root / plan.output("ensemble_curve", "curve", exp=self.experiment)
            )
            values = values.map(lambda c: dee(c, curve["size"], curve["cnll"]))
        return format_value(values.mean(), values.std(), len(values))


def cell_text(root, table, row, column, kind):
    """The cell as printed in the Markdown table (row label in the first column)."""
    lines = [line for line in (root / table).read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == row:
            matches = [i for i, h in enumerate(header) if column in (h, h.rstrip(" ↑↓"))]
            if not matches and kind != "uci":
                key = metric_of(COLUMNS[kind], column)
                matches = [i for i, h in enumerate(header) if h == COLUMNS[kind][key]]
            return cells[matches[0]] if matches else None
    return None


def config_lines(cell, model_record, config_files):
    """The config keys that set the model, with values as the job used them; keys the
    config files do not set are marked as the schema's defaults."""
    raw = {}
    for path in config_files:
        raw = _merge(raw, load_yaml(path))
    experiment = raw.get("experiments", {}).get(cell.experiment, {})
    job = model_record.get("config", {})
    block, prefix = (job["student"], ("students", cell.model)) if "student" in job else (
        job.get("teacher", {}), ("teacher",))  # fmt: skip
    lines = []
    for keys, value in flatten(block, prefix):
        node = experiment
        for part in keys:
            node = node.get(part) if isinstance(node, dict) else None
        mark = "" if node is not None else "  (default)"
        lines.append(f"experiments.{cell.experiment}.{'.'.join(keys)} = {value}{mark}")
    return lines


def flatten(block, prefix):
    """(key path, value) of every leaf of a nested config block."""
    for key, value in sorted(block.items()):
        if isinstance(value, dict) and value:
            yield from flatten(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def trace(root, table, row, column, config_files=("config.yaml",)):
    """Lines explaining the cell, and the problems found (empty when all is consistent)."""
    cell = Cell(root, table, row, column)
    out, problems = [], []
    shown = cell_text(cell.root, table, row, column, cell.kind)
    out.append(f"{table} | {row} | {column} = {shown}")
    out.append(f"\n1. rule {cell.rule}: `{' '.join(cell.record['command'][:4])}`")
    out.append(f"   aggregated by {where(TABLE_FUNCTIONS[cell.kind])}")
    frame = pd.read_parquet(cell.root / cell.metrics_path)
    rows = cell.rows(frame)
    if rows.empty:
        raise SystemExit(f"no rows for {cell.model} / {cell.metric} in {cell.metrics_path}")
    recomputed = cell.value(rows)
    out.append(f"\n2. {len(rows)} row(s) of {cell.metrics_path} (rule collect_metrics):")
    columns = ["model", "method", "distill_seed", "eval_set", "eval_kind", "intensity", "split"]
    out.append(
        "   " + rows[[*columns, "metric", "value"]].to_string(index=False).replace("\n", "\n   ")
    )
    out.append(
        f"   recomputed: {recomputed}" + ("" if recomputed == shown else f" (table: {shown})")
    )
    if shown is not None and recomputed != shown:
        problems.append(f"the rows give {recomputed}, the table shows {shown}")
    task = "regression" if "rmse" in set(frame["metric"]) else "classification"
    metric = "cnll" if cell.metric == "dee" else cell.metric  # DEE is read off the cNLL
    chain = " -> ".join(where(fn) for fn in metrics.computed_by(metric, task))
    out.append(f"\n3. each value: rule compute_metrics, {chain}")
    if cell.metric == "dee":
        out.append(f"   then {where(dee)} on results/{cell.experiment}/ensemble_curve.parquet")
    metrics_record = read_record(cell.root, cell.metrics_path)
    files = files_behind(metrics_record, rows)
    model_record = first_model_record(cell.root, metrics_record, files)
    out.append("\n4. the model: " + describe_method(model_record))
    out += ["   " + line for line in config_lines(cell, model_record, config_files)]
    audit = Audit(cell.root)
    out.append("\n5. the files behind it (provenance records; hashes checked):")
    audit.lines.append(
        f"{cell.metrics_path}  [{audit.self_check(cell.metrics_path, metrics_record)}]"
    )
    audit.seen.add(cell.metrics_path)
    for path, sha in files.items():
        audit.walk(
            path, sha, by=cell.metrics_path, depth=1, record=metrics_record["upstream"][path]
        )
    out += audit.lines
    return out, problems + audit.problems


def first_model_record(root, metrics_record, files):
    """The provenance record of the first checkpoint behind the rows' prediction files."""
    for path in files:
        for prediction in metrics_record["upstream"][path].get("inputs", {}):
            for checkpoint in (provenance.read(root / prediction) or {}).get("inputs", {}):
                if checkpoint.endswith(plan.CHECKPOINT):
                    return provenance.read(root / checkpoint) or {}
    return {}


def describe_method(record):
    config = record.get("config", {})
    if "student" not in config:
        return "the teachers (rule train_teacher), trained on the labels"
    method = method_of(config["student"])
    phases = ", ".join(f"{p.name} (target: {p.target})" for p in method.phases)
    return (
        f"rule distill_student, method '{method.name}' (methods.py): {method.summary}; "
        f"phases {phases}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "table", help="a table's Markdown file, e.g. results/digits/tables/summary.md"
    )
    parser.add_argument("row", help="the row's first cell: a model (or a UCI data set)")
    parser.add_argument(
        "column", help="the column's header, with or without its arrow, or the metric"
    )
    parser.add_argument("--root", default=".", help="the workflow folder (holds results/)")
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"],
                        help="the config files of the run, as given to Snakemake")  # fmt: skip
    args = parser.parse_args(argv)
    lines, problems = trace(args.root, args.table, args.row, args.column, args.configfile)
    print("\n".join(lines))
    if problems:
        print(f"\n{len(problems)} problem(s):\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("\nthe cell follows from its rows, and every recorded hash matches the file on disk")


if __name__ == "__main__":
    main()
