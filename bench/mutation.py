"""Mutation score of the modules whose numbers reach the tables, against the fast unit tests.

Usage (needs the ``mutation`` extra: ``pip install -e ".[mutation]"``)::

    python bench/mutation.py                       # every module below, ~1 h on 2 cores
    python bench/mutation.py --modules metrics     # one module
    python bench/mutation.py --report-only         # summarise the last run again

mutmut 3 names a mutant by the file path it mutates, so the tests must import the package
under the path mutmut copies (``src/ensemble_distill``), not under ``workflow/``. The
script therefore stages the package and the chosen test files in ``bench/.mutation/``
(ignored by git) and runs mutmut there with one thread per worker (torch in forked
workers hangs otherwise). It prints, per module and per function, how many mutants the
tests killed, which survived, and which no selected test reaches.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE = REPO / "bench/.mutation"

# Module → the fast unit tests that check its numbers (end-to-end tests are excluded:
# one Snakemake run per mutant would take days).
MODULES = {
    "metrics": ["test_metrics.py", "test_regression.py", "test_diversity.py", "test_tables.py"],
    "losses": ["test_losses.py", "test_regression.py", "test_distill_wiring.py"],
    "tables": ["test_tables.py", "test_diversity.py", "test_regression.py"],  # a package
    "ood": ["test_tables.py"],
    "evalsets": ["test_data.py", "test_evalsets.py", "test_regression.py"],
    "calibration": ["test_diversity.py", "test_metrics.py"],
    "ensemble_curve": ["test_diversity.py"],
    "distill": [
        "test_distill_wiring.py",
        "test_distill_resume.py",
        "test_jobs.py",
        "test_perturb.py",
    ],
}
DESELECT = (  # subprocess or Snakemake tests (mutants are invisible to them), rule readers
    '"-m", "not slow and not slurm", "-k", "not code_inputs_cover and not every_rule_declares"'
)
EXIT_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
               34: "skipped", 36: "timeout", -24: "timeout", None: "not checked"}  # fmt: skip


def stage(modules):
    """Write the package, the tests and a mutmut config into STAGE."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "src").mkdir(parents=True)
    shutil.copytree(REPO / "workflow/ensemble_distill", STAGE / "src/ensemble_distill",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("schemas", "rules"):  # found beside the package by config and codegraph
        shutil.copytree(REPO / "workflow" / name, STAGE / "src" / name)
    shutil.copy(REPO / "config.yaml", STAGE / "config.yaml")
    tests = sorted({t for m in modules for t in MODULES[m] if (REPO / "tests" / t).exists()})
    (STAGE / "tests").mkdir()
    for name in ["conftest.py", *tests]:
        shutil.copy(REPO / "tests" / name, STAGE / "tests" / name)
    package = REPO / "workflow/ensemble_distill"
    only = ", ".join(
        f'"src/ensemble_distill/{m}/*.py"'
        if (package / m).is_dir()
        else f'"src/ensemble_distill/{m}.py"'
        for m in modules
    )
    selection = ", ".join(f'"tests/{t}"' for t in tests)
    (STAGE / "setup.cfg").write_text("")
    (STAGE / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["src/ensemble_distill"]\n'
        'also_copy = ["src/schemas", "src/rules", "config.yaml"]\n'
        f"only_mutate = [{only}]\n"
        f"pytest_add_cli_args_test_selection = [{selection}, {DESELECT}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
    )
    return tests


def summarise(modules):
    """Per-module and per-function counts from mutmut's .meta files."""
    by_module = {}
    for module in modules:
        meta = STAGE / "mutants/src/ensemble_distill" / f"{module}.py.meta"
        if not meta.exists():
            print(f"{module}: no results ({meta} missing)")
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        status = {key: EXIT_STATUS.get(code, "suspicious") for key, code in codes.items()}
        by_module[module] = status
        counts = Counter(status.values())
        reached = len(status) - counts["no tests"]
        score = counts["killed"] / reached if reached else float("nan")
        print(f"\n{module}.py: {counts['killed']} of {reached} reached mutants killed "
              f"({score:.0%}); {len(status)} mutants, " + ", ".join(
                  f"{n} {s}" for s, n in sorted(counts.items()) if s != "killed"))  # fmt: skip
        per_function = defaultdict(Counter)
        for key, s in status.items():
            function = key.split(".x_", 1)[-1].split("__mutmut_")[0].replace("xǁ", "")
            per_function[function][s] += 1
        for function, c in sorted(per_function.items(), key=lambda kv: -kv[1]["survived"]):
            if c["survived"] or c["no tests"]:
                print(f"  {function:32s} killed {c['killed']:3d}  survived {c['survived']:3d}"
                      f"  unreached {c['no tests']:3d}")  # fmt: skip
    return by_module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=sorted(MODULES))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--survivors", help="write the surviving mutants' diffs to this file")
    args = parser.parse_args()
    mutmut = Path(sys.executable).with_name("mutmut")
    if not args.report_only:
        tests = stage(args.modules)
        print(f"mutating {args.modules} against {tests}", flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run([mutmut, "run", "--max-children", str(args.max_children)],
                       cwd=STAGE, env=env, check=True)  # fmt: skip
    by_module = summarise(args.modules)
    if args.survivors:
        with open(args.survivors, "w") as out:
            for status in by_module.values():
                for key, s in status.items():
                    if s == "survived":
                        diff = subprocess.run([mutmut, "show", key], cwd=STAGE,
                                              capture_output=True, text=True).stdout  # fmt: skip
                        out.write(f"# {key}\n{diff}\n")
        print(f"surviving mutants' diffs: {args.survivors}")


if __name__ == "__main__":
    main()
