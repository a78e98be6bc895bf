"""Atomic file output and safe checkpoint I/O.

Every artifact is written to a temporary file beside its destination and renamed into
place, so a killed job never leaves a half-written file that looks complete.
"""

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_path(path):
    """Yield a temporary path in the destination folder; rename it to ``path`` on success.

    The temporary name keeps the suffix so that writers that infer the format from it
    (``np.savez``, ``savefig``) behave as for the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npz(path, **arrays):
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_npz(path, group=None):
    """Load an ``.npz`` written by :func:`save_npz` (no pickled objects allowed).

    With ``group``, only the arrays saved as ``<group>/<name>`` (returned as ``name``) and
    the ungrouped ones are read: a prediction file holds one group per eval set.
    """
    with np.load(path, allow_pickle=False) as f:
        if group is None:
            return {k: f[k] for k in f.files}
        out = {k: f[k] for k in f.files if "/" not in k}
        if not any(k.startswith(f"{group}/") for k in f.files):
            raise KeyError(f"{path} has no arrays for '{group}', found {sorted(f.files)}")
        out.update({k.split("/", 1)[1]: f[k] for k in f.files if k.startswith(f"{group}/")})
        return out


def save_checkpoint(path, **payload):
    """Save tensors, state dicts and plain Python values with ``torch.save``, atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path):
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
