"""A results bundle: one archive with an experiment's per-example predictions, Parquet
tables, configuration and provenance, from which the workflow regenerates every table and
figure of the experiment elsewhere, without the checkpoints.

    python -m ensemble_distill.bundle --experiment digits --out digits-bundle.tar.gz
        [--configfile configs/x.yaml ...] [--checkpoints] [--without-predictions]

Inside (paths as in the workflow folder): ``results/<exp>/`` without the checkpoints
(``teachers/``, ``students/``; kept with ``--checkpoints``; ``--without-predictions`` also
leaves out the per-member probabilities, which no table reads), the dataset and eval-set
arrays (inputs of other jobs) and the Markdown tables and figures (products: regenerated
from the rest); ``config.yaml``, the experiment's validated configuration with
``bundle: true``; ``bundle.json``, the SHA-256 of every file in the archive and of the
original tables and figures, with the commit that made them. To regenerate, in a fresh
copy of the workflow's code (``Snakefile``, ``workflow/``, ``profiles/``, ``envs/``; the
bundle brings the config)::

    tar xzf digits-bundle.tar.gz
    snakemake --cores 2
    python -m ensemble_distill.bundle --check bundle.json   # tables as the originals?

With ``bundle: true`` the Snakefile loads only the table, figure and report rules, so the
bundle's files are the inputs and no training job can be planned.
"""

import argparse
import copy
import io
import json
import sys
import tarfile
from pathlib import Path

import yaml

from . import plan, provenance
from .config import merged_config_files, validate_config
from .io import atomic_path, file_sha256

LEFT_OUT = ("teachers", "students", "evalsets", "tables", "figures")  # folders under results/<exp>
CHECKPOINTS = ("teachers", "students")


def bundled_files(experiment, checkpoints=False, predictions=True):
    """The files of ``results/<experiment>`` that go into its bundle."""
    root = Path("results") / experiment
    if not root.is_dir():
        raise SystemExit(f"no results for experiment '{experiment}' under {root}: run it first")
    left_out = [d for d in LEFT_OUT if not (checkpoints and d in CHECKPOINTS)]
    left_out += [] if predictions else ["predictions"]
    files = []
    for path in sorted(root.rglob("*")):
        inside = path.relative_to(root).parts
        if path.is_dir() or inside[0] in left_out or path.name.startswith(".snakemake"):
            continue
        if inside[0].startswith("dataset.") or path.suffix == ".lock":
            continue  # the dataset (and its record) are inputs of other jobs
        files.append(path)
    return files


def products(config, name):
    """The tables and figures a bundle regenerates: {path: sha256}."""
    found = plan.Plan(config).experiments[name].results
    return {p: file_sha256(p) for p in found if Path(p).is_file()}


def bundle_config(config, name):
    """The experiment's configuration as its files set it (defaults are filled in again
    when it is read), to regenerate from the bundle."""
    keep = {k: v for k, v in config.items() if k not in ("experiments", "run")}
    return {**keep, "run": [name], "experiments": {name: config["experiments"][name]},
            "bundle": True}  # fmt: skip


def write_bundle(raw, name, out, checkpoints=False, predictions=True):
    """``raw``: the merged config files, as written (validated here)."""
    config = validate_config(copy.deepcopy(raw))
    files = bundled_files(name, checkpoints, predictions)
    record = provenance.start(config={"experiment": name, "checkpoints": checkpoints})
    index = {
        "experiment": name,
        "made_by": record["git"],
        "files": {str(p): file_sha256(p) for p in files},
        "products": products(config, name),
    }
    extra = {
        "config.yaml": yaml.safe_dump(bundle_config(raw, name), sort_keys=False),
        "bundle.json": json.dumps(index, indent=1, sort_keys=True) + "\n",
    }
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(path), recursive=False)
        for arcname, text in extra.items():
            data = text.encode()
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    size = sum(p.stat().st_size for p in files)
    print(f"wrote {out}: {len(files)} files, {size / 1e6:.1f} MB before compression, "
          f"{Path(out).stat().st_size / 1e6:.1f} MB compressed")  # fmt: skip


def check(index_path):
    """Compare the tables and figures here with the originals' hashes in ``bundle.json``;
    returns the paths that differ or are missing."""
    index = json.loads(Path(index_path).read_text())
    differing = []
    for path, sha in sorted(index["products"].items()):
        found = file_sha256(path) if Path(path).is_file() else "missing"
        print(f"{'identical' if found == sha else 'DIFFERS  '}  {path}")
        if found != sha:
            differing.append(path)
    return differing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment")
    parser.add_argument(
        "--configfile", nargs="*", default=[], help="config files merged over config.yaml"
    )
    parser.add_argument("--checkpoints", action="store_true", help="include the checkpoints")
    parser.add_argument(
        "--without-predictions", action="store_true", help="leave out the probabilities"
    )
    parser.add_argument("--out", help="the archive (.tar.gz)")
    parser.add_argument(
        "--check", metavar="BUNDLE_JSON", help="compare regenerated tables with the originals"
    )
    args = parser.parse_args(argv)
    if args.check:
        differing = check(args.check)
        sys.exit(1 if differing else 0)
    if not (args.experiment and args.out):
        parser.error("give --experiment and --out (or --check bundle.json)")
    raw = merged_config_files(["config.yaml", *args.configfile])
    if args.experiment not in raw.get("experiments", {}):
        parser.error(f"no experiment '{args.experiment}' in the config")
    write_bundle(raw, args.experiment, args.out, args.checkpoints, not args.without_predictions)


if __name__ == "__main__":
    main()
