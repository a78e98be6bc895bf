"""Audit by re-execution: rerun the job that made an artifact, from the command, config and
inputs in its provenance record, in a scratch folder, and compare what it writes with the
artifact (``python -m ensemble_distill.audit --rerun PATH``).

* The recorded inputs are checked by hash first; one that changed refuses the rerun
  before anything runs (the job would not be the one that made the artifact).
* The command runs unchanged in a scratch folder that mirrors ``results/`` with links to
  its files (not to resume state), so the job reads what it read and writes new files
  beside the links: outputs are written atomically (a new file renamed over the link), so
  nothing in ``results/`` changes, and training starts afresh. The artifact's own link is
  removed first, so a rerun that does not write it is caught. Other relative paths (a
  ``--data-root``) are made absolute.
* The result is byte-identical, or, for Parquet files, has identical data (their
  metadata holds the job's record, which names the commit and host); otherwise each
  array, tensor or numeric column that differs is listed with its largest difference.
  Differences within ``TOLERANCE`` are reported as such and pass: float32 sums reordered
  by another BLAS, thread count or GPU differ by a few units in the last place (~1e-7
  relative), and a training run compounds that over its steps, so 1e-4 relative (1e-6
  absolute) separates reordering from a changed computation. On the machine, thread count
  and commit of the record the rerun is exact.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import jobguard, provenance
from .io import file_sha256, load_checkpoint, load_npz

TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


class Refused(RuntimeError):
    """The rerun cannot reproduce the recorded job (no record, or changed inputs)."""


def changed_inputs(record, root):
    """Recorded inputs whose file is gone or whose hash differs now."""
    changed = []
    for path, recorded in record.get("inputs", {}).items():
        where = Path(root) / path
        if not where.is_file():
            changed.append(f"{path}: missing")
        elif (found := file_sha256(where)) != recorded:
            changed.append(f"{path}: sha256 {found[:12]}…, the record has {recorded[:12]}…")
    return changed


def shadow(root, scratch, made):
    """Mirror ``root/results`` in ``scratch`` with links to its files (not resume state),
    without the files ``made`` (the artifact and its record's outputs)."""
    results = root / "results"
    for path in results.rglob("*"):
        relative = path.relative_to(root)
        if path.is_dir() or ".resume" in relative.parts or str(relative) in made:
            continue
        link = scratch / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)


def absolute(argument, root, scratch):
    """A relative path outside results/ and logs/ that exists from ``root``, made absolute
    (also the value of ``name=path``); a log's folder is made in ``scratch``."""
    name, sep, value = argument.rpartition("=") if "=" in argument else ("", "", argument)
    if value.startswith("logs/"):
        (scratch / value).parent.mkdir(parents=True, exist_ok=True)  # Snakemake makes it
    elif value and not value.startswith(("results/", "/", "{", "[")) and exists(root / value):
        return f"{name}{sep}{root / value}"
    return argument


def exists(path):
    try:
        return path.exists()
    except OSError:  # not a path (too long a name)
        return False


def scratch_command(record, root, scratch):
    command = list(record["command"])
    if command[0].startswith("python"):  # the recorded name beside this interpreter (a
        # venv has python and python3): the rerun's record then names it alike
        same = Path(sys.executable).with_name(command[0])
        command[0] = str(same) if same.exists() else sys.executable
    return [command[0], *(absolute(a, root, scratch) for a in command[1:])]


def run(record, root, scratch):
    """Run the recorded command with the workflow's own package (``root/workflow``, as the
    Snakefile does), so that its provenance names the same code."""
    package = root / "workflow" if (root / "workflow").is_dir() else Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(package.resolve())}
    env.pop(jobguard.PARENT_ENV, None)  # no Snakemake to outlive
    command = scratch_command(record, root, scratch)
    done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr
        if "--log" in command:  # the job wrote there instead
            log = scratch / command[command.index("--log") + 1]
            said += log.read_text() if log.is_file() else ""
        raise Refused(f"the rerun failed (exit {done.returncode}): {said.strip()[-800:]}")
    return command


def differences(a, b):
    """(name, largest absolute difference, within tolerance) of arrays that differ."""
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            out.append((name, "only in one", False))
            continue
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.shape != y.shape or x.dtype != y.dtype:
            out.append((name, f"{x.dtype}{x.shape} vs {y.dtype}{y.shape}", False))
        elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            if x.dtype.kind not in "fc":
                out.append((name, "differs", False))
                continue
            diff = float(np.nanmax(np.abs(x.astype(float) - y.astype(float))))
            out.append((name, diff, bool(np.allclose(x, y, equal_nan=True, **TOLERANCE))))
    return out


def tensors(path):
    checkpoint = load_checkpoint(path)
    out = {f"state_dicts.{i}.{k}": v.numpy() for i, sd in enumerate(checkpoint["state_dicts"])
           for k, v in sd.items()}  # fmt: skip
    out["history"] = np.array(
        [[r["train_loss"], r["val_loss"]] for h in checkpoint.get("history", []) for r in h],
        dtype=float,
    )
    return out


def columns(path):
    import pandas as pd

    frame = pd.read_parquet(path)
    return {c: frame[c].to_numpy() for c in frame.columns}


READERS = {".npz": load_npz, ".pt": tensors, ".parquet": columns}


def compare(original, again):
    """(verdict, lines): 'identical', 'within tolerance' or 'differs'."""
    if original.read_bytes() == again.read_bytes():
        return "identical", ["byte-identical"]
    if original.suffix == ".parquet" and provenance.parquet_content_sha256(
        original
    ) == provenance.parquet_content_sha256(again):
        return "identical", ["identical data (the record in its metadata differs: commit, host)"]
    reader = READERS.get(original.suffix)
    if reader is None:
        return "differs", ["the bytes differ (no array reader for this file type)"]
    found = differences(reader(original), reader(again))
    if not found:
        return "identical", ["every array is identical (the bytes differ elsewhere: metadata)"]
    lines = [f"{name}: largest |difference| {diff:.3g}" if isinstance(diff, float)
             else f"{name}: {diff}" for name, diff, _ in found]  # fmt: skip
    within = all(ok for *_, ok in found)
    return ("within tolerance" if within else "differs"), lines


def rerun(path, root=".", scratch=None):
    """Rerun the job behind ``path``; returns (verdict, report lines)."""
    root = Path(root).resolve()
    path = Path(path).resolve().relative_to(root) if Path(path).is_absolute() else Path(path)
    record = provenance.read(root / path)
    if record is None:
        raise Refused(f"{path} has no provenance record to rerun")
    if changed := changed_inputs(record, root):
        raise Refused(f"inputs of {path} changed since it was made:\n  " + "\n  ".join(changed))
    scratch = Path(scratch or tempfile.mkdtemp(prefix="rerun-")).resolve()
    if scratch.is_relative_to(root / "results"):
        raise Refused(f"the scratch folder {scratch} is inside results/")
    shadow(root, scratch, {str(path), *record.get("outputs", {})})
    command = run(record, root, scratch)
    again = scratch / path
    if not again.is_file() or again.is_symlink():
        raise Refused(f"the rerun did not write {again}")
    verdict, lines = compare(root / path, again)
    header = [f"reran: {' '.join(command)}", f"in {scratch}", f"{path}: {verdict}"]
    return verdict, header + [f"  {line}" for line in lines]
