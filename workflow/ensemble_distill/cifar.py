"""CIFAR-10, CIFAR-100, SVHN and CIFAR-10-C / CIFAR-100-C from their official files.

Layout under the data root (what torchvision's dataset classes download and extract)::

    cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch   (python pickles)
    cifar-100-python/train, test
    svhn/test_32x32.mat                                             (MATLAB v5)
    CIFAR-10-C/<corruption>.npy, labels.npy                         (Hendrycks & Dietterich)
    CIFAR-100-C/<corruption>.npy, labels.npy

Images are kept as uint8 (N, 3, 32, 32): a quarter of float32's memory; models standardise
them on the device (models/resnet.py ``ImageInput``). Each file's MD5 is checked against
the one torchvision publishes (the authors' archives' contents) unless the dataset sets
``verify: false`` (stand-in files, e.g. in tests); provenance records every file's SHA-256.
"""

import pickle
from pathlib import Path

import numpy as np

from . import provenance
from .io import DataError, downloading, file_sha256

# Per dataset: folder, training files, test files, label key, classes, and the MD5s that
# torchvision's CIFAR10 / CIFAR100 / SVHN classes publish (tests/test_cifar.py compares).
CIFAR_FILES = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "torchvision": "CIFAR10",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "labels": "labels",
        "classes": 10,
        "md5": {
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
        },
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "torchvision": "CIFAR100",
        "train": ["train"],
        "test": ["test"],
        "labels": "fine_labels",
        "classes": 100,
        "md5": {
            "train": "16019d7e3df5f24257cddd939b257f8d",
            "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        },
    },
}
SVHN_TEST = ("svhn", "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")
CORRUPTED_FOLDERS = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}
VALIDATION = 5_000  # Diversity Matters (giung2): the last 5k training images validate


def md5(path):
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked(path, expected_md5, verify, what):
    """``path`` after checking that it exists and (with ``verify``) has the published MD5."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{what}: file not found: {path}. Point config key 'data_root' at the folder "
            f"holding '{path.parent.name}/', or set the dataset's 'download: true' where the "
            "internet is reachable."
        )
    if verify and (actual := md5(path)) != expected_md5:
        raise DataError(
            f"{what}: checksum mismatch for {path}: expected md5 {expected_md5} (the "
            f"official file), found {actual}. For stand-in files set the dataset's "
            "'verify: false'."
        )
    provenance.note_data_file(path, file_sha256(path))
    return path


def checksum_mismatches(name, data_root):
    """(file, expected md5, found md5) of the present official files of a CIFAR dataset or
    of ``svhn`` whose MD5 is not the published one (the config check runs this before any
    job, where the dataset or eval set keeps ``verify: true``)."""
    if name == "svhn":
        expected = {svhn_path(data_root): SVHN_TEST[2]}
    else:
        expected = {p: CIFAR_FILES[name]["md5"][p.name] for p in cifar_paths(name, data_root)}
    found = {path: md5(path) for path in expected if path.is_file()}
    return [
        (path, expected[path], actual) for path, actual in found.items() if actual != expected[path]
    ]


def cifar_paths(name, data_root):
    info = CIFAR_FILES[name]
    folder = Path(data_root or ".") / info["folder"]
    return [folder / f for f in info["train"] + info["test"]]


def download_cifar(name, data_root):
    import torchvision.datasets

    cls = getattr(torchvision.datasets, CIFAR_FILES[name]["torchvision"])
    with downloading(name, Path(data_root or ".")):
        cls(str(Path(data_root or ".")), train=True, download=True)


def uint8_images(array, path, what):
    """``array`` as uint8 after checking that it holds 8-bit pixel values: an integer array
    within 0..255 (a float array, e.g. images already scaled to [0, 1], or values above 255
    would become wrong pixels without a word if cast)."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{what}: {path} holds {array.dtype} images, expected uint8 pixel values 0..255 "
            "(the official files' format)"
        )
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(
            f"{what}: {path} holds pixel values {array.min()}..{array.max()}, expected 0..255"
        )
    return array.astype(np.uint8)


def checked_labels(labels, classes, path, what):
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{what}: {path} holds {labels.dtype} labels, expected integers")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(
            f"{what}: {path} holds labels {labels.min()}..{labels.max()}, expected 0..{classes - 1}"
        )
    return labels.astype(np.int64)


def read_cifar_file(path, label_key, classes=100):
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one official pickle batch."""
    with open(path, "rb") as f:
        try:
            batch = pickle.load(f, encoding="bytes")
        except (pickle.UnpicklingError, EOFError, ValueError) as error:
            raise DataError(f"malformed CIFAR batch {path}: {error}") from None
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = {"data", label_key} - set(batch)
    if missing:
        raise DataError(f"CIFAR batch {path} lacks {sorted(missing)}, found {sorted(batch)}")
    images = uint8_images(batch["data"], path, "CIFAR batch")
    if images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise DataError(f"CIFAR batch {path}: expected data (N, 3072), found {images.shape}")
    labels = checked_labels(batch[label_key], classes, path, "CIFAR batch")
    if len(labels) != len(images):
        raise DataError(f"CIFAR batch {path}: {len(images)} images but {len(labels)} labels")
    return images.reshape(-1, 3, 32, 32), labels


def load_cifar_arrays(name, data_root, download=False, verify=True):
    """((x_train, y_train), (x_test, y_test)) of the official files, uint8 images."""
    info = CIFAR_FILES[name]
    paths = cifar_paths(name, data_root)
    if download and not all(p.is_file() for p in paths):
        download_cifar(name, data_root)
    parts = [
        read_cifar_file(
            checked(p, info["md5"][p.name], verify, name), info["labels"], info["classes"]
        )  # fmt: skip
        for p in paths
    ]
    n_train = len(info["train"])
    train, test = parts[:n_train], parts[n_train:]
    return [tuple(np.concatenate(a) for a in zip(*split, strict=True)) for split in (train, test)]


def svhn_path(data_root):
    folder, filename, _ = SVHN_TEST
    return Path(data_root or ".") / folder / filename


def load_svhn_test(data_root, download=False, verify=True):
    """SVHN's test split (26,032 images) as uint8 (N, 3, 32, 32); label 10 is digit 0."""
    from scipy.io import loadmat

    path = svhn_path(data_root)
    if download and not path.is_file():
        import torchvision.datasets

        with downloading("svhn", path.parent):
            torchvision.datasets.SVHN(str(path.parent), split="test", download=True)
    try:
        mat = loadmat(checked(path, SVHN_TEST[2], verify, "svhn"))
    except (ValueError, TypeError, OSError) as error:  # scipy's MatReadError is a ValueError
        raise DataError(f"svhn: {path} is not a readable MATLAB file: {error}") from None
    if "X" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"svhn: {path} has no array 'X' (the images), found {found}")
    x = uint8_images(mat["X"], path, "svhn")  # (32, 32, 3, N)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"svhn: {path} holds X of shape {x.shape}, expected (32, 32, 3, N)")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1))


def corrupted_path(name, corruption, data_root):
    return Path(data_root or ".") / CORRUPTED_FOLDERS[name] / f"{corruption}.npy"


def load_official_corruption(name, corruption, severities, n_test, data_root):
    """Official CIFAR-C images (S, N, 3, 32, 32) uint8 of the given severities (1..5), or
    None when the file is absent. Rows (s − 1)·10000 … s·10000 hold severity s."""
    path = corrupted_path(name, corruption, data_root)
    if not path.is_file():
        return None
    try:
        images = np.load(path, mmap_mode="r")  # (50000, 32, 32, 3)
    except (ValueError, OSError) as error:  # truncated or not a .npy file
        raise DataError(f"{path}: not a readable .npy array ({error})") from None
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: {images.dtype} images, expected uint8 pixel values 0..255 (the "
            "official CIFAR-C format; a float file would be read on another scale)"
        )
    per_severity = len(images) // 5
    if images.shape[1:] != (32, 32, 3) or per_severity * 5 != len(images):
        raise DataError(f"{path}: expected (5·N, 32, 32, 3) uint8, found {images.shape}")
    if per_severity < n_test:  # more is fine: a `subset` of the test set takes the first
        raise DataError(
            f"{path}: {per_severity} images per severity, expected {n_test} (one per test "
            f"image, in the test set's order)"
        )
    provenance.note_data_file(path, file_sha256(path))
    n = n_test
    picked = [images[(s - 1) * per_severity :][:n] for s in severities]
    return np.stack([np.asarray(p).transpose(0, 3, 1, 2) for p in picked])
