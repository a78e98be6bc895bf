"""Run the pipeline on a config in a fresh copy of the workflow and print wall time per stage.

Usage::

    python bench/pipeline.py                       # default config.yaml
    python bench/pipeline.py --configfile configs/hydra-mnist.yaml --data-root ../shared/data

Extra arguments go to Snakemake.

Stages are Snakemake rules; per rule it prints the job count, the summed job time from
the rules' ``benchmark:`` files, and the total wall time of the whole run.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--configfile", default="config.yaml", help="relative to the repo")
    parser.add_argument("--data-root", help="real datasets (made absolute for the copy)")
    parser.add_argument("--cores", default="2")
    parser.add_argument("--keep", help="copy results/ here afterwards")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("Snakefile", "workflow", "profiles", "envs", "configs"):
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy(src, work / name)
        shutil.copy(REPO / args.configfile, work / "config.yaml")
        if args.data_root:
            extra += ["--config", f"data_root={Path(args.data_root).resolve()}"]
        tic = time.perf_counter()
        cmd = [sys.executable, "-m", "snakemake", "--cores", args.cores, "-q", *extra]
        run = subprocess.run(cmd, cwd=work)
        wall = time.perf_counter() - tic
        rows = []
        for tsv in (work / "benchmarks").rglob("*.tsv"):
            rule = tsv.relative_to(work / "benchmarks").parts[0]
            rows.append({"rule": rule, "seconds": pd.read_csv(tsv, sep="\t")["s"].iloc[0]})
        stages = pd.DataFrame(rows).groupby("rule")["seconds"].agg(["count", "sum", "max"])
        print(stages.sort_values("sum", ascending=False).round(1).to_string())
        print(
            f"summed job time {stages['sum'].sum():.0f} s; wall time {wall:.0f} s "
            f"on {args.cores} cores; snakemake exit {run.returncode}"
        )
        if args.keep:
            shutil.copytree(work / "results", args.keep, dirs_exist_ok=True)
        sys.exit(run.returncode)


if __name__ == "__main__":
    main()
