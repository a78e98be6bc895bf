"""Manifests of directory outputs, so that an edited, truncated or deleted file inside one
reruns the job that made it and everything that depends on it.

Snakemake judges a ``directory()`` output by the folder alone: a checkpoint edited or
deleted inside a teacher pack's folder leaves "Nothing to be done". Each job that writes
such a folder therefore writes ``<folder>.manifest.json`` last (a declared output: name,
size, mtime and SHA-256 of every file in it). When the workflow is loaded,
:func:`invalidate_stale` compares every manifest with its folder (sizes and mtimes first;
a file's hash only where they differ) and deletes the manifest of a folder that changed:
its job's output is then missing, so Snakemake reruns that job, and its new folder reruns
the jobs that read it.
"""

import json
from pathlib import Path

from .io import atomic_path, file_sha256
from .plan.names import MANIFEST as SUFFIX


def manifest_path(folder):
    return Path(f"{Path(folder)}{SUFFIX}")


def describe(path):
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def listed(folder):
    """The files of a folder that its job wrote (not Snakemake's ``.snakemake_timestamp``)."""
    return {
        str(p.relative_to(folder)): p
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and not p.name.startswith(".snakemake")
    }


def write(folder):
    """Write the manifest of ``folder`` (every file below it) next to it; returns its path."""
    folder = Path(folder)
    files = {name: describe(p) for name, p in listed(folder).items()}
    path = manifest_path(folder)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    return path


def changes(path):
    """What differs between a manifest and its folder now: a list of reasons (empty when
    the folder is as its job left it)."""
    path = Path(path)
    folder = Path(str(path)[: -len(SUFFIX)])
    try:
        written = json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError) as error:
        return [f"{path}: unreadable manifest ({error})"]
    found = set(listed(folder))
    reasons = [f"{folder / name}: deleted" for name in sorted(set(written) - found)]
    reasons += [f"{folder / name}: added" for name in sorted(found - set(written))]
    for name in sorted(set(written) & found):
        file, expected = folder / name, written[name]
        stat = file.stat()
        if (stat.st_size, stat.st_mtime_ns) == (expected["size"], expected["mtime_ns"]):
            continue
        if stat.st_size != expected["size"] or file_sha256(file) != expected["sha256"]:
            reasons.append(f"{file}: changed ({stat.st_size} bytes, {expected['size']} written)")
    return reasons


def invalidate_stale(root="results"):
    """Delete the manifest of every folder under ``root`` that changed since its job wrote
    it; return one line per changed file, for the user."""
    lines = []
    for path in sorted(Path(root).rglob(f"*{SUFFIX}")):
        if ".resume" in path.parts:
            continue
        reasons = changes(path)
        if reasons:
            path.unlink()
            lines += [f"{why}: its job and the jobs that read it will rerun" for why in reasons]
    return lines
