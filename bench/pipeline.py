"""Run the pipeline on a config in a fresh copy of the workflow and print wall time per stage.

Usage::

    python bench/pipeline.py                       # default config.yaml
    python bench/pipeline.py --configfile configs/hydra-mnist.yaml --data-root ../shared/data

Extra arguments go to Snakemake.

Stages are Snakemake rules; per rule it prints the job count, the summed job time from
the rules' ``benchmark:`` files, and the total wall time of the whole run; then how many
seconds ran 0, 1, 2, ... jobs at once (idle cores) and which jobs ended last.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = ("Snakefile", "config.yaml", "workflow", "profiles", "envs", "configs")


STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]{8} \d{4})\]$")
EVENT = re.compile(r"^(?:local)?rule (\w+):$|^Finished jobid: (\d+)|^\s+jobid: (\d+)$")


def occupancy(log, wall):
    """How many jobs ran in each second of the run (from Snakemake's log, 1 s resolution):
    seconds with 0, 1, 2, ... jobs running, the jobs that ended last, and the seconds of
    the wall time outside any job (Snakemake's start-up and DAG before the first job,
    its wrap-up after the last)."""
    stamp, started, ended, rule = None, {}, {}, None
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := EVENT.match(line):
            if m.group(1):
                rule = m.group(1)
            elif m.group(3) and rule:
                started[m.group(3)] = (stamp, rule)
                rule = None
            elif m.group(2):
                ended[m.group(2)] = stamp
    jobs = [(t0, ended[j], r) for j, (t0, r) in started.items() if j in ended]
    if not jobs:
        return "no job timeline in the Snakemake log"
    first = min(t0 for t0, _, _ in jobs)
    running = Counter()
    for t in range(int(first), int(max(t1 for _, t1, _ in jobs))):
        running[sum(t0 <= t < t1 for t0, t1, _ in jobs)] += 1
    last = sorted(jobs, key=lambda j: j[1])[-4:]
    span = max(t1 for _, t1, _ in jobs) - first
    return (
        "seconds with n jobs running: "
        + ", ".join(f"{n}: {running[n]}" for n in sorted(running))
        + "; last to finish: "
        + ", ".join(f"{r} ({t1 - t0:.0f} s)" for t0, t1, r in last)
        + f"; {wall - span:.0f} s of the wall time outside the first job's start to the last's end"
    )


def copy_workflow(destination):
    """A runnable copy of the workflow (``WORKFLOW``, without results) in ``destination``;
    the tests and bench/gpu_acceptance.py run theirs in one too."""
    Path(destination).mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, Path(destination) / name,
                            ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        else:
            shutil.copy(REPO / name, Path(destination) / name)
    return Path(destination)


def benchmarks(folder):
    """One row per job from the rules' ``benchmark:`` files under ``folder``: rule,
    experiment (the folder or file under the rule's), seconds ``s`` and ``max_rss`` (MB;
    NaN where Snakemake did not sample it)."""
    rows = []
    for tsv in Path(folder).rglob("*.tsv"):
        rule, experiment = tsv.relative_to(folder).parts[:2]
        last = pd.read_csv(tsv, sep="\t", na_values="NA").iloc[-1]
        rows.append({"rule": rule, "experiment": experiment.removesuffix(".tsv"),
                     "s": last["s"], "max_rss": last["max_rss"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["rule", "experiment", "s", "max_rss"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--configfile", default="config.yaml", help="relative to the repo")
    parser.add_argument("--data-root", help="real datasets (made absolute for the copy)")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--keep", help="copy results/ (and the Snakemake log) here afterwards")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = copy_workflow(tmp)
        shutil.copy(REPO / args.configfile, work / "config.yaml")
        if args.data_root:
            extra += ["--config", f"data_root={Path(args.data_root).resolve()}"]
        tic = time.perf_counter()
        cmd = [sys.executable, "-m", "snakemake", "--cores", args.cores, *extra]
        run = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - tic
        if run.returncode:
            print(run.stdout[-5000:], run.stderr[-5000:])
        stages = benchmarks(work / "benchmarks").groupby("rule")["s"].agg(["count", "sum", "max"])
        print(stages.sort_values("sum", ascending=False).round(1).to_string())
        print(
            f"summed job time {stages['sum'].sum():.0f} s; wall time {wall:.0f} s "
            f"on {args.cores} cores; snakemake exit {run.returncode}"
        )
        log = next((work / ".snakemake/log").glob("*.snakemake.log"))
        print(occupancy(log, wall))
        if args.keep:
            shutil.copytree(work / "results", args.keep, dirs_exist_ok=True)
            shutil.copy(log, Path(args.keep) / "snakemake.log")
        sys.exit(run.returncode)


if __name__ == "__main__":
    main()
