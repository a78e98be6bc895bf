"""Atomic file output and safe checkpoint I/O.

Every artifact is written to a temporary file beside its destination and renamed into
place, so a killed job never leaves a half-written file that looks complete.
"""

import hashlib
import json
import os
import socket
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class DataError(RuntimeError):
    """A dataset file is missing, malformed or does not match its published checksum."""


def unreachable(urls, timeout=5.0):
    """Why none of ``urls`` can be reached from here (a TCP connection to its host), or None
    when one can: a download that cannot work is named before any job runs."""
    from urllib.parse import urlsplit

    errors = []
    for url in urls:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            return None
        except OSError as error:
            errors.append(f"{parts.hostname}: {error}")
    return "; ".join(errors)


@contextmanager
def downloading(what, folder):
    """Run a torchvision download; a failure (no network, a refused or broken transfer)
    becomes one line naming the dataset and where its files should be put instead."""
    try:
        yield
    except (OSError, RuntimeError) as error:  # urllib's URLError is an OSError
        raise DataError(
            f"{what}: download failed ({error}); without network access put the official "
            f"files under {folder} and set 'download: false'"
        ) from None


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
    """``np.savez`` with a fixed timestamp on every member, so equal arrays give equal bytes
    (np.savez stamps the current time, and file hashes would differ on every rerun)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


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


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read (truncated, or not written by this package)."""


def _encode(obj, tensors):
    """JSON-able skeleton of ``obj``; tensors go to ``tensors`` under the names it refers to.
    Tuples and dicts with non-string keys (an optimiser's per-parameter state) are tagged so
    that they come back as they were."""
    import torch

    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().cpu().clone().contiguous()  # unshared, as safetensors needs
        return {"__tensor__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple | list):
        items = [_encode(v, tensors) for v in obj]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj, tensors):
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_checkpoint(path, **payload):
    """Save tensors, state dicts and plain values atomically as one safetensors file: the
    tensors as tensors, everything else as JSON in its header. No pickle, and the same
    payload gives the same bytes (torch.save's archives differ run to run)."""
    from safetensors.torch import save

    tensors = {}
    skeleton = json.dumps(_encode(payload, tensors))
    with atomic_path(path) as tmp:
        tmp.write_bytes(save(tensors, metadata={"payload": skeleton}))


def load_checkpoint(path):
    """Load a checkpoint written by :func:`save_checkpoint` (or, from before, by
    ``torch.save``, read with ``weights_only=True``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        legacy = f.read(2) == b"PK"  # a torch.save zip archive
    try:
        if legacy:
            import torch

            return torch.load(path, map_location="cpu", weights_only=True)
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
            skeleton = json.loads(f.metadata()["payload"])
        return _decode(skeleton, tensors)
    except Exception as error:  # unreadable in any way: say which file and what to do
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(error).__name__}: {error}); it is truncated "
            "or was not written by ensemble-distill: delete it and rerun the job that makes it"
        ) from None


def checkpoint_values(path):
    """A checkpoint's plain values (spec, seeds, training history; tensors left out), read
    from the safetensors header alone: no tensor is loaded and torch is not needed (the
    format: an 8-byte little-endian header length, then the JSON header)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        skeleton = json.loads(header["__metadata__"]["payload"])
    except Exception as error:
        raise CheckpointError(
            f"cannot read the header of checkpoint {path} ({type(error).__name__}: {error}); "
            "it is truncated or was not written by ensemble-distill as safetensors: delete "
            "it and rerun the job that makes it"
        ) from None
    values = {k: v for k, v in skeleton.items() if k != "state_dicts"}
    return _decode(values, tensors=_NoTensors())


class _NoTensors(dict):
    """Stands for a checkpoint's tensors where only its plain values are read: None each."""

    def __missing__(self, name):
        return None


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
