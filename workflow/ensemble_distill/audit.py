"""Trace a number or a figure back to everything that produced it, and check the hashes.

    python -m ensemble_distill.audit --experiment digits --model hydra --metric nll --eval-set test
    python -m ensemble_distill.audit results/spiral/figures/uncertainty_maps.png
    python -m ensemble_distill.audit --all --experiment digits
    python -m ensemble_distill.audit --rerun results/digits/metrics/all/kd/seed0.parquet

A table cell is found in ``results/<experiment>/metrics.parquet`` (the rows behind it and
their mean are printed). From there the provenance records (Parquet metadata, sidecar
JSONs; see provenance.py) are followed through metric files, predictions, checkpoints,
eval sets and the dataset to the raw data files, printing for each artifact its commit,
config hash, seeds, host and SLURM job. Every file is compared with the hash its own record
holds (for Parquet files, of their data) and with the hash each consumer recorded; the exit
status is 1 when any differs or a file is missing. ``--all`` checks every artifact of an
experiment this way, one level deep each. ``--rerun`` re-executes the job that made an
artifact in a scratch folder and compares the results (rerun.py).
"""

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import pandas as pd

from . import plan, provenance, rerun
from .io import file_sha256


@cache
def current_sha256(path):
    return file_sha256(path) if Path(path).is_file() else None


class Audit:
    def __init__(self, root, verbose=False):
        self.root = Path(root)
        self.verbose = verbose
        self.seen = set()
        self.commits = set()
        self.problems = []
        self.lines = []

    def check(self, path, recorded, by):
        """Compare a recorded hash with the file; remember and describe any difference."""
        actual = current_sha256(self.root / path)
        if actual is None:
            self.problems.append(f"{path}: missing (recorded by {by})")
            return "MISSING"
        if recorded is not None and actual != recorded:
            self.problems.append(
                f"{path}: sha256 {actual[:12]} on disk, {recorded[:12]} recorded by {by}"
            )
            return f"CHANGED sha256 {actual[:12]}"
        return f"ok sha256 {actual[:12]}"

    def describe(self, record):
        git = record.get("git") or {}
        commit = (git.get("commit") or "no git")[:10] + (" dirty" if git.get("dirty") else "")
        self.commits.add(commit)
        parts = [f"commit {commit}", f"config {record.get('config_sha256', '')[:10]}"]
        if seeds := {k: v for k, v in (record.get("seeds") or {}).items() if v is not None}:
            parts.append("seeds " + ",".join(f"{k}={v}" for k, v in seeds.items()))
        parts.append(f"host {record.get('host')}")
        if record.get("slurm_job_id"):
            parts.append(f"slurm job {record['slurm_job_id']}")
        if record.get("finished"):  # Parquet records carry no times (byte-reproducible)
            parts.append(f"finished {record['finished']}")
        return ", ".join(parts)

    def walk(self, path, recorded=None, by=None, depth=0, record=None):
        """Print ``path`` and, once per artifact, the artifacts and files it was made from."""
        indent = "  " * depth
        status = self.check(path, recorded, by) if by else self.self_check(path, record)
        line = f"{indent}{path}  [{status}]"
        if path in self.seen:  # its own inputs are listed where it first appeared
            self.lines.append(line + "  (see above)")
            return
        if current_sha256(self.root / path):
            try:
                record = provenance.read(self.root / path)
            except Exception as error:  # a damaged Parquet file or sidecar
                self.problems.append(f"{path}: provenance record unreadable: {error}")
                record = None
        if record is None and "results" in Path(path).parts:
            self.problems.append(f"{path}: no provenance record (sidecar or Parquet metadata)")
            self.lines.append(line + "  (no provenance record)")
            return
        if record is None:
            self.lines.append(line + "  (raw input)")
            return
        self.seen.add(path)
        if by and not self.matches_own_record(path, record):  # (the start: in self_check)
            line += "  EDITED since its job wrote it"
        made_by = plan.rule_of(path)
        made_by = f"rule {made_by[0]}" if made_by else " ".join(record.get("command", [])[:3])
        self.lines.append(f"{line}  {made_by}")
        self.lines.append(f"{indent}    {self.describe(record)}")
        if self.verbose:
            self.lines.append(f"{indent}    config {json.dumps(record.get('config'))}")
        for child, sha in record.get("inputs", {}).items():
            upstream = (record.get("upstream") or {}).get(child)
            self.walk(child, sha, by=path, depth=depth + 1, record=upstream)

    def self_check(self, path, record):
        """The starting artifact: check it against the hash in its own sidecar, if any."""
        record = record or provenance.read(self.root / path) or {}
        status = self.check(path, None, by=f"{path}'s record")  # is it there at all?
        return status if self.matches_own_record(path, record) else f"{status}, EDITED"

    def matches_own_record(self, path, record):
        """The file against the hash its own record holds: a sidecar's output hash, or a
        Parquet file's data against the content hash in its metadata (a Parquet file
        cannot hold its own file hash)."""
        if not current_sha256(self.root / path):
            return True  # reported missing by check()
        recorded = (record.get("outputs") or {}).get(path)
        if recorded and current_sha256(self.root / path) != recorded:
            self.problems.append(
                f"{path}: sha256 {current_sha256(self.root / path)[:12]}, its own record says "
                f"{recorded[:12]}: changed after its job wrote it"
            )
            return False
        recorded = record.get("content_sha256")
        if not (path.endswith(".parquet") and recorded):
            return True
        actual = provenance.parquet_content_sha256(self.root / path)
        if actual != recorded:
            self.problems.append(
                f"{path}: data sha256 {actual[:12]}, its own record says {recorded[:12]}: "
                "edited after its job wrote it"
            )
        return actual == recorded

    def check_all(self, folder):
        """Every artifact under ``folder`` against its own record and the hashes its record
        holds of its inputs (one level: each input is itself an artifact checked here)."""
        for path in sorted(p for p in (self.root / folder).rglob("*") if p.is_file()):
            relative = str(path.relative_to(self.root))
            if ".resume" in path.parts or relative.endswith(".provenance.json"):
                continue
            record = provenance.read(path)
            if record is None:
                continue
            status = self.self_check(relative, record)
            for child, sha in record.get("inputs", {}).items():
                self.check(child, sha, by=relative)
            self.seen.add(relative)
            self.lines.append(f"{relative}  [{status}]")


def cell_rows(metrics, model, metric, eval_set):
    rows = metrics[
        ((metrics["model"] == model) | (metrics["method"] == model))
        & (metrics["metric"] == metric)
        & (metrics["eval_set"] == eval_set)
    ]
    if rows.empty:
        found = {c: sorted(metrics[c].unique()) for c in ("model", "metric", "eval_set")}
        raise SystemExit(
            f"no rows for model/method '{model}', metric '{metric}', eval set '{eval_set}'; "
            f"found models {found['model']}, metrics {found['metric']}, "
            f"eval sets {found['eval_set']}"
        )
    return rows


def files_behind(record, rows):
    """The per-model metric files (recorded upstream) that hold ``rows``; each holds all
    eval sets of one model and seed."""
    # a member (`single`) is scored from the ensemble's prediction file
    wanted = set(rows["model"].replace("single", "ensemble"))
    return {
        path: sha
        for path, sha in record["inputs"].items()
        if (rec := record.get("upstream", {}).get(path)) and rec["config"]["model"] in wanted
    }


def audit_cell(audit, experiment, model, metric, eval_set):
    table = f"results/{experiment}/metrics.parquet"
    if not (audit.root / table).is_file():
        raise SystemExit(
            f"{audit.root / table} not found: run the workflow for '{experiment}' first"
        )
    rows = cell_rows(pd.read_parquet(audit.root / table), model, metric, eval_set)
    columns = ["model", "method", "distill_seed", "eval_kind", "intensity", "split", "value"]
    audit.lines.append(f"{experiment} / {model} / {metric} / {eval_set}: {len(rows)} row(s)")
    audit.lines.append(rows[columns].to_string(index=False))
    audit.lines.append(
        f"mean {rows['value'].mean():.6g} ± {rows['value'].std():.6g} (std over n={len(rows)} "
        "rows; the summary table's cell where the eval set has one intensity)\n"
    )
    record = provenance.read(audit.root / table)
    if record is None:
        audit.problems.append(f"{table}: no provenance record (written before provenance existed?)")
        return
    audit.lines.append(f"{table}  [{audit.self_check(table, record)}]")
    audit.lines.append(f"    {audit.describe(record)}")
    audit.seen.add(table)
    for path, sha in files_behind(record, rows).items():
        audit.walk(path, sha, by=table, depth=1, record=record["upstream"][path])


def rerun_and_report(args):
    """Exit status: 0 identical or within tolerance, 1 differs, 2 refused."""
    if not args.artifact:
        raise SystemExit("--rerun needs an ARTIFACT path")
    try:
        verdict, lines = rerun.rerun(args.artifact, args.root, args.scratch)
    except rerun.Refused as refused:
        print(f"refused: {refused}")
        return 2
    print("\n".join(lines))
    return 1 if verdict == "differs" else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", nargs="?", help="a figure, table or any other artifact")
    parser.add_argument("--experiment")
    parser.add_argument("--model", help="model or method name (ensemble, single, kd, hydra, ...)")
    parser.add_argument("--metric", help="e.g. nll, acc, brier, ece, model_uncertainty")
    parser.add_argument("--eval-set", help="e.g. test, rot, fashion")
    parser.add_argument("--all", action="store_true",
                        help="check every artifact of --experiment (or of results/)")  # fmt: skip
    parser.add_argument("--root", default=".", help="the workflow folder (holds results/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every job's config")
    parser.add_argument(
        "--rerun", action="store_true", help="rerun the job that made ARTIFACT and compare"
    )
    parser.add_argument("--scratch", help="where --rerun writes (default: a new temporary folder)")
    args = parser.parse_args(argv)
    if args.rerun:
        sys.exit(rerun_and_report(args))
    cell = (args.experiment, args.model, args.metric, args.eval_set)
    audit = Audit(args.root, args.verbose)
    if args.all:
        audit.check_all(f"results/{args.experiment}" if args.experiment else "results")
    elif args.artifact and not any(cell):
        audit.walk(args.artifact)
    elif all(cell) and not args.artifact:
        audit_cell(audit, *cell)
    else:
        parser.error("give an artifact path, or all of --experiment --model --metric --eval-set")
    print("\n".join(audit.lines))
    commits = ", ".join(sorted(audit.commits))
    print(f"\n{len(audit.seen)} artifact(s) traced; code commit(s): {commits}")
    if audit.problems:
        print(f"{len(audit.problems)} problem(s):\n  " + "\n  ".join(audit.problems))
        sys.exit(1)
    print("every recorded hash matches the file on disk")


if __name__ == "__main__":
    main()
