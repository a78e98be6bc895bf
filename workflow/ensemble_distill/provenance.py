"""Provenance of every artifact: which code, config, inputs, machine and job produced it.

A job calls ``start(config=..., seeds=..., inputs=[...])`` before its work and
``record.finish(outputs)`` after it. The record goes into a Parquet file's key-value
metadata (``write_parquet``) or into a sidecar JSON declared as an output beside
checkpoints, predictions, tables and figures (``write_sidecar``). Inputs are hashed
(SHA-256) when the job starts, so the record says exactly what the job read; outputs with a
sidecar are hashed too. Aggregating jobs (tables, figures) embed their inputs' records under
``upstream``, so a table carries the provenance of every number in it, and ``audit``
can walk the chain back and compare every recorded hash with the file on disk.
"""

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from .io import atomic_path, file_sha256

PARQUET_KEY = b"ensemble_distill.provenance"
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "torchvision", "snakemake", "numpy", "pandas", "pyarrow", "scikit-learn")

# Raw data files (MNIST idx, UCI tables) a loader read since the job's ``start``, with hashes.
_data_files = {}


def note_data_file(path, sha256=None):
    """Called by dataset loaders for every raw file they read, so the record lists it."""
    _data_files[str(path)] = sha256 or file_sha256(path)


def sidecar_path(path):
    """``results/x/model.pt`` -> ``results/x/model.provenance.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.provenance.json")


def canonical_sha256(obj):
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def git_state(root=REPO_ROOT):
    """Commit and dirty flag of the checkout the code runs from (tracked files only)."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        )

    try:
        head = git("rev-parse", "HEAD")
    except OSError as error:  # no git on this node
        return {"commit": None, "dirty": None, "note": f"git not runnable: {error}"}
    if head.returncode != 0:
        return {"commit": None, "dirty": None, "note": f"{root} is not a git checkout"}
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return {"commit": head.stdout.strip(), "dirty": bool(dirty)}


def versions():
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware():
    """CPU always; GPU and CUDA only where this process imported torch (others used none)."""
    info = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    torch = sys.modules.get("torch")
    if torch is None:
        info.update(gpu=None, cuda=None)
    else:
        cuda = torch.cuda.is_available()
        used = cuda and torch.cuda.is_initialized()  # this job ran on the GPU, not only saw it
        info.update(
            gpu=torch.cuda.get_device_name(0) if cuda else None,
            cuda=torch.version.cuda if cuda else None,
            gpu_used=used,
            gpu_peak_memory_mb=torch.cuda.max_memory_allocated() / 2**20 if used else None,
            torch_threads=torch.get_num_threads(),
        )
    return info


class Record(dict):
    """One job's provenance; ``finish`` completes it when the outputs are written."""

    def finish(self, outputs=(), upstream=None):
        self["inputs"].update(_data_files)
        self["outputs"] = {str(p): file_sha256(p) for p in outputs}
        if upstream is not None:
            self["upstream"] = upstream
        self["finished"] = now()
        self["hardware"] = hardware()  # after the work: torch may have been imported by then
        return self


def start(config, seeds=None, inputs=()):
    """Begin a job's record: code, config and its hash, seeds, input hashes, machine, job."""
    _data_files.clear()  # raw files count from here on: one job, one record
    return Record(
        command=[sys.executable.rsplit("/", 1)[-1], "-m", main_module(), *sys.argv[1:]],
        git=git_state(),
        config=config,
        config_sha256=canonical_sha256(config),
        seeds=seeds or {},
        inputs={str(p): file_sha256(p) for p in inputs},
        versions=versions(),
        host=socket.gethostname(),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
        started=now(),
    )


def main_module():
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name.removesuffix(".__main__") if spec else Path(sys.argv[0]).stem


def write_sidecar(record, outputs, upstream=None):
    """Finish ``record`` for ``outputs`` and write it beside the first one, atomically."""
    record.finish(outputs, upstream)
    path = sidecar_path(outputs[0])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    return path


WALL_CLOCK = ("started", "finished")


def write_parquet(df, path, record, upstream=None):
    """Write ``df`` atomically with ``record`` in the file's key-value metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    record.finish((), upstream)
    table = pa.Table.from_pandas(df, preserve_index=False)
    # A Parquet file cannot hold its own hash: the record holds its content's (the data as
    # read back, without the metadata), so an edited value is found even with the record kept.
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    record["content_sha256"] = content_sha256(pq.read_table(pa.BufferReader(buffer.getvalue())))
    # Without its wall-clock times (they stay in the job's log and benchmark file), a
    # deterministic rerun writes the same bytes.
    timeless = {k: v for k, v in record.items() if k not in WALL_CLOCK}
    metadata = {**(table.schema.metadata or {}), PARQUET_KEY: json.dumps(timeless, default=str)}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def content_sha256(table):
    """SHA-256 of a Parquet table's data (columns, types, values), not its metadata."""
    import pyarrow as pa

    table = table.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def parquet_content_sha256(path):
    import pyarrow.parquet as pq

    return content_sha256(pq.read_table(path))


def read(path):
    """The record of an artifact: from a Parquet file's metadata or from its sidecar JSON.

    Returns None where there is none (files written before provenance existed).
    """
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata[PARQUET_KEY]) if PARQUET_KEY in metadata else None
    sidecar = sidecar_path(path)
    return json.loads(sidecar.read_text()) if sidecar.is_file() else None


def upstream_of(paths):
    """The records of ``paths`` (without their own upstream), for an aggregating job."""
    found = {}
    for path in paths:
        record = read(path)
        if record is not None:
            record.pop("upstream", None)
        found[str(path)] = record
    return found


def summary(records):
    """One row per artifact: who made it and from which code (for the HTML report)."""
    import pandas as pd

    rows = []
    for path in records:
        record = json.loads(Path(path).read_text())
        upstream = [r for r in (record.get("upstream") or {}).values() if r]
        rows.append(
            {
                "artifact": ", ".join(record["outputs"]),
                "commit": record["git"].get("commit"),
                "dirty": record["git"].get("dirty"),
                "upstream_commits": ", ".join(
                    sorted({str(r["git"].get("commit")) for r in upstream})
                ),
                "config_sha256": record["config_sha256"][:12],
                "host": record["host"],
                "slurm_job_id": record.get("slurm_job_id"),
                "finished": record["finished"],
            }
        )
    return pd.DataFrame(rows)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Table of the provenance of tables/figures.")
    parser.add_argument("--records", nargs="+", required=True, help="*.provenance.json files")
    parser.add_argument("--out", required=True, help="CSV")
    args = parser.parse_args(argv)
    record = start(config={"records": len(args.records)}, inputs=args.records)
    with atomic_path(args.out) as tmp:
        summary(args.records).to_csv(tmp, index=False)
    write_sidecar(record, [args.out])


if __name__ == "__main__":
    main()
