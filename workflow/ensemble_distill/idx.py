"""MNIST and Fashion-MNIST from their original idx files (``<root>/<folder>/`` or
torchvision's ``<root>/<Class>/raw/``), each file's SHA-256 checked before it is read."""

import gzip
from pathlib import Path

import numpy as np

from . import provenance
from .io import DataError, downloading, file_sha256

# SHA-256 of the original files (they match the MD5s torchvision and the authors publish;
# see ../shared/data/SOURCES.md). Checked before any file is read.
IDX_FILES = {
    "mnist": {
        "folder": "mnist",
        "torchvision": "MNIST",
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
    },
    "fashion_mnist": {
        "folder": "fashion-mnist",
        "torchvision": "FashionMNIST",
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",  # noqa: E501
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",  # noqa: E501
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",  # noqa: E501
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",  # noqa: E501
    },
}
MNIST_VAL = 10_000  # Ovadia et al.: the last 10k training images validate, the first 50k train


def idx_candidates(name, filename, data_root):
    """Where an idx file may be: ``<root>/<folder>/``, then torchvision's ``<Class>/raw/``."""
    info, root = IDX_FILES[name], Path(data_root or ".")
    return [root / info["folder"] / filename, root / info["torchvision"] / "raw" / filename]


def find_idx_file(name, filename, data_root, download=False):
    """Path of a verified idx file: ``<root>/<folder>/`` or torchvision's ``<root>/<Class>/raw/``.

    With ``download``, a missing file is fetched by torchvision's dataset class (which also
    checks the published MD5). The SHA-256 is verified in every case.
    """
    info, root = IDX_FILES[name], Path(data_root or ".")
    candidates = idx_candidates(name, filename, data_root)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None and download:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, info["torchvision"])
        with downloading(name, root):
            for train in (True, False):
                dataset_class(str(root), train=train, download=True)
        found = candidates[1]
    if found is None:
        raise DataError(
            f"{name}: file not found: looked for {' and '.join(map(str, candidates))}. "
            f"Point config key 'data_root' at the folder holding '{info['folder']}/', "
            f"or set the dataset's 'download: true' where the internet is reachable."
        )
    actual = file_sha256(found)
    if actual != info[filename]:
        raise DataError(
            f"{name}: checksum mismatch for {found}: expected sha256 "
            f"{info[filename]}, found {actual}"
        )
    provenance.note_data_file(found, actual)
    return found


def idx_path(name, filename, data_root):
    """Where an idx file is read from: the first existing candidate, else the preferred one."""
    candidates = idx_candidates(name, filename, data_root)
    return next((p for p in candidates if p.is_file()), candidates[0])


def read_idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def load_idx_split(name, split, data_root, download=False):
    """Images (N, 1, 28, 28) in [0, 1] and labels of the ``train`` or ``t10k`` file pair."""
    images = read_idx(find_idx_file(name, f"{split}-images-idx3-ubyte.gz", data_root, download), 16)
    labels = read_idx(find_idx_file(name, f"{split}-labels-idx1-ubyte.gz", data_root, download), 8)
    x = (images.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32)
    return x, labels.astype(np.int64)
