"""Datasets as whole-array splits: ``load_dataset(spec, data_root) -> Dataset``.

Inputs are float32 arrays (images in [0, 1] with shape (N, 1, H, W)), or uint8 images
(N, 3, 32, 32) for CIFAR (models take either, models/resnet.py); labels are int64.
Each loader is a plain function registered in ``LOADERS``; a new dataset is one more
function with the same signature. The pipeline runs a loader once per experiment
(``python -m ensemble_distill.datasets``) and every later job reads the saved splits.

Usage::

    python -m ensemble_distill.datasets --dataset '{"name": "digits", "split_seed": 0}' \
        --data-root data --out results/digits/dataset.npz
"""

import argparse
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import cifar, provenance, tinyimagenet
from .idx import IDX_FILES, MNIST_VAL, idx_path, load_idx_split
from .io import DataError, load_npz, save_npz


@dataclass
class Dataset:
    """Classification: arrays (N, ...). Regression: a leading split axis, (S, N, d) and (S, N).

    Regression inputs and targets are standardised with each split's training statistics;
    ``y_shift``/``y_scale`` (S,) map predictions back to the original units, and
    ``x_shift``/``x_scale`` (S, d) map original inputs to the standardised ones.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int  # outputs per member: classes, or 2 (mean, log variance) for regression
    task: str = "classification"
    y_shift: np.ndarray = field(default_factory=lambda: np.zeros(1))
    y_scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    x_shift: np.ndarray = field(default_factory=lambda: np.zeros(1))
    x_scale: np.ndarray = field(default_factory=lambda: np.ones(1))

    @property
    def n_splits(self):
        return len(self.x_train) if self.task == "regression" else 1

    def split(self, s):
        """(x_train, y_train, x_val, y_val) of split ``s``."""
        arrays = (self.x_train, self.y_train, self.x_val, self.y_val)
        return arrays if self.task != "regression" else tuple(a[s] for a in arrays)

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[2 if self.task == "regression" else 1 :])

    def save(self, path):
        save_npz(path, **asdict(self))

    @classmethod
    def load(cls, path):
        arrays = load_npz(path)
        scalars = {
            "name": str(arrays["name"]),
            "task": str(arrays["task"]),
            "num_classes": int(arrays["num_classes"]),
        }
        return cls(**{**arrays, **scalars})


# ----------------------------------------------------------------------------- spiral
def spiral_points(arms, per_arm, noise, rng):
    """A multi-arm spiral in 2-D, one class per arm (the Hydra paper's toy, Fig. 2).

    Radius grows linearly with the position ``t`` along the arm while the angle turns
    by one full revolution, so neighbouring arms interleave and overlap under noise.
    """
    t = rng.uniform(0.05, 1.0, size=(arms, per_arm))
    angle = 2 * np.pi * (t + np.arange(arms)[:, None] / arms)
    xy = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=-1)
    xy += noise * rng.standard_normal(xy.shape)
    labels = np.repeat(np.arange(arms), per_arm)
    return xy.reshape(-1, 2).astype(np.float32), labels.astype(np.int64)


def load_spiral(spec, data_root=None):
    rng = np.random.default_rng(spec["seed"])
    arms, n = spec["arms"], spec["train_per_arm"]
    # Validation and test are a quarter of the training size each, drawn independently.
    splits = [spiral_points(arms, size, spec["noise"], rng) for size in (n, n // 4, n // 4)]
    (xtr, ytr), (xva, yva), (xte, yte) = splits
    return Dataset("spiral", xtr, ytr, xva, yva, xte, yte, num_classes=arms)


# ----------------------------------------------------------------------------- digits
DIGITS_SPLIT = {"test": 360, "val": 270}  # of 1797 images; the remaining 1167 train


def load_digits(spec, data_root=None):
    """scikit-learn's 8x8 handwritten digits (ships with the package) with a fixed split."""
    from importlib.resources import files

    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    provenance.note_data_file(files("sklearn.datasets.data") / "digits.csv.gz")
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(spec["split_seed"]).permutation(len(y))
    n_test, n_val = DIGITS_SPLIT["test"], DIGITS_SPLIT["val"]
    test, val, train = np.split(order, [n_test, n_test + n_val])
    return Dataset("digits", x[train], y[train], x[val], y[val], x[test], y[test], num_classes=10)


def load_mnist_like(spec, data_root=None):
    """MNIST or Fashion-MNIST: train = first 50k, val = last 10k of the training file, test 10k.

    ``subset: {train: n, val: n, test: n}`` keeps the first n of each split (for tests).
    """
    name, download = spec["name"], spec.get("download", False)
    x, y = load_idx_split(name, "train", data_root, download)
    x_test, y_test = load_idx_split(name, "t10k", data_root, download)
    cut = len(x) - MNIST_VAL
    splits = {"train": (x[:cut], y[:cut]), "val": (x[cut:], y[cut:]), "test": (x_test, y_test)}
    limits = spec.get("subset") or {}
    splits = {k: (a[: limits.get(k)], b[: limits.get(k)]) for k, (a, b) in splits.items()}
    return Dataset(name, *splits["train"], *splits["val"], *splits["test"], num_classes=10)


# ----------------------------------------------------------------------------- regression
def standardise(x_train, y_train, x_test, y_test):
    """Standardise with training statistics (Hernández-Lobato & Adams 2015 protocol).

    Returns the standardised arrays and the statistics (y mean, y std, x mean, x std).
    """
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    x_std[x_std == 0] = 1.0  # constant features (e.g. in naval) stay as they are
    y_mean, y_std = y_train.mean(), y_train.std()
    arrays = (
        (x_train - x_mean) / x_std,
        (y_train - y_mean) / y_std,
        (x_test - x_mean) / x_std,
        (y_test - y_mean) / y_std,
    )
    return arrays, (y_mean, y_std, x_mean, x_std)


def regression_dataset(name, splits):
    """Stack per-split (x_train, y_train, x_test, y_test) into a standardised Dataset."""
    arrays, stats = zip(*(standardise(*split) for split in splits), strict=True)
    xtr, ytr, xte, yte = (np.stack(a).astype(np.float32) for a in zip(*arrays, strict=True))
    y_shift, y_scale, x_shift, x_scale = (np.stack(a) for a in zip(*stats, strict=True))
    return Dataset(
        name,
        xtr,
        ytr,
        xte[:, :0],
        yte[:, :0],
        xte,
        yte,
        num_classes=2,
        task="regression",
        y_shift=y_shift,
        y_scale=y_scale,
        x_shift=x_shift,
        x_scale=x_scale,
    )


def toy_regression_function(x):
    return x * np.sin(x)


def toy_noise_std(x):
    return 0.1 + 0.25 * np.abs(x)


def load_toy_regression(spec, data_root=None):
    """1-D heteroscedastic toy: y = x sin x + (0.1 + 0.25 |x|) ε on x in [−3, 3], one split."""
    rng = np.random.default_rng(spec["seed"])

    def draw(n):
        x = rng.uniform(-3, 3, size=(n, 1))
        return x, (toy_regression_function(x) + toy_noise_std(x) * rng.standard_normal(x.shape))[
            :, 0
        ]

    (xtr, ytr), (xva, yva), (xte, yte) = (
        draw(spec["train"]),
        draw(spec["train"] // 4),
        draw(spec["train"] // 4),
    )
    data = regression_dataset("toy_regression", [(xtr, ytr, xte, yte)])
    data.x_val = ((xva - data.x_shift[0]) / data.x_scale[0])[None].astype(np.float32)
    data.y_val = ((yva - data.y_shift[0]) / data.y_scale[0])[None].astype(np.float32)
    return data


UCI_FOLDERS = {
    "boston": "bostonHousing",
    "concrete": "concrete",
    "energy": "energy",
    "kin8nm": "kin8nm",
    "naval": "naval-propulsion-plant",
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine": "wine-quality-red",
    "yacht": "yacht",
}


def read_table(path, dtype=float, ndmin=1):
    """A whitespace-separated numeric file; errors name the file and what was wrong."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "input contained no data"
            table = np.loadtxt(path, dtype=dtype, ndmin=ndmin)
    except ValueError as error:
        raise DataError(f"malformed file {path}: {error}") from None
    if table.size == 0:
        raise DataError(f"empty file {path}: expected numbers")
    bad = np.argwhere(~np.isfinite(table))
    if len(bad):
        where = f"line {bad[0][0] + 1}" + (f", column {bad[0][1] + 1}" if table.ndim > 1 else "")
        raise DataError(f"non-finite value (NaN or inf) in {path} at {where}")
    provenance.note_data_file(path)
    return table


def checked_indices(indices, size, path, what):
    """Row or column indices read from ``path``, each within [0, size)."""
    bad = indices[(indices < 0) | (indices >= size)]
    if len(bad):
        raise DataError(f"{path}: {what} index {bad[0]} out of range; expected 0 to {size - 1}")
    return indices


def load_uci(spec, data_root=None):
    """A UCI regression set with its standard 90/10 splits (Gal's ``UCI_Datasets`` layout).

    ``splits`` keeps the first n splits (default: all, i.e. 20, or 5 for protein).
    """
    folder = Path(data_root or ".") / "uci" / UCI_FOLDERS[spec["set"]] / "data"
    data = read_table(folder / "data.txt", ndmin=2)
    columns = data.shape[1]
    features = checked_indices(read_table(folder / "index_features.txt", dtype=int), columns,
                               folder / "index_features.txt", "column")  # fmt: skip
    target = checked_indices(read_table(folder / "index_target.txt", dtype=int)[:1], columns,
                             folder / "index_target.txt", "column")[0]  # fmt: skip
    n_splits = int(read_table(folder / "n_splits.txt", dtype=int)[0])
    n_splits = min(n_splits, spec.get("splits") or n_splits)
    splits = []
    for i in range(n_splits):
        train, test = (
            checked_indices(read_table(path, dtype=int), len(data), path, "row")
            for path in (folder / f"index_train_{i}.txt", folder / f"index_test_{i}.txt")
        )
        if len(np.intersect1d(train, test)):
            raise DataError(f"bad split {i} in {folder}: train and test indices overlap")
        splits.append(
            (
                data[train][:, features],
                data[train, target],
                data[test][:, features],
                data[test, target],
            )
        )
    return regression_dataset(spec["set"], splits)


# ----------------------------------------------------------------------------- CIFAR
def load_cifar_like(spec, data_root=None):
    """CIFAR-10 or CIFAR-100 as uint8 images: train = first 45k, val = last 5k of the
    training files (Diversity Matters / giung2, unshuffled), test 10k.

    ``subset: {train: n, val: n, test: n}`` keeps the first n of each split (for tests).
    """
    name = spec["name"]
    (x, y), test = cifar.load_cifar_arrays(
        name, data_root, download=spec.get("download", False), verify=spec.get("verify", True)
    )
    cut = len(x) - min(cifar.VALIDATION, len(x) // 10)  # stand-in data: keep a tenth
    splits = {"train": (x[:cut], y[:cut]), "val": (x[cut:], y[cut:]), "test": test}
    limits = spec.get("subset") or {}
    splits = {k: (a[: limits.get(k)], b[: limits.get(k)]) for k, (a, b) in splits.items()}
    classes = cifar.CIFAR_FILES[name]["classes"]
    return Dataset(name, *splits["train"], *splits["val"], *splits["test"], num_classes=classes)


def load_tinyimagenet(spec, data_root=None):
    """Tiny ImageNet as uint8 64x64 images (tinyimagenet.py): per class the first images
    train and the last ``val_per_class`` validate; the official validation set is the test
    set. ``subset`` keeps the first n of a split (tests)."""
    splits, classes = tinyimagenet.load_tinyimagenet_arrays(
        data_root, verify=spec.get("verify", True), val_per_class=spec.get("val_per_class", 50),
        limits=spec.get("subset"),
    )  # fmt: skip
    return Dataset(spec["name"], *splits["train"], *splits["val"], *splits["test"],
                   num_classes=classes)  # fmt: skip


def raw_files(spec, data_root=None):
    """The files a dataset is read from (none for generated sets): the rules declare them as
    inputs, so replacing or editing one reruns what depends on it."""
    name = spec["name"]
    if name in IDX_FILES:
        return [idx_path(name, f, data_root) for f in IDX_FILES[name] if f.endswith(".gz")]
    if name in cifar.CIFAR_FILES:
        return cifar.cifar_paths(name, data_root)
    if name == "svhn":
        return [cifar.svhn_path(data_root)]
    if name == "tinyimagenet":
        return tinyimagenet.raw_files(data_root)
    if name != "uci":
        return []
    folder = Path(data_root or ".") / "uci" / UCI_FOLDERS[spec["set"]] / "data"
    fixed = ["data.txt", "index_features.txt", "index_target.txt", "n_splits.txt"]
    files = [folder / f for f in fixed]
    if not files[-1].is_file():
        return files  # reported missing by the config check
    n_splits = int(read_table(files[-1], dtype=int)[0])
    for i in range(min(n_splits, spec.get("splits") or n_splits)):
        files += [folder / f"index_train_{i}.txt", folder / f"index_test_{i}.txt"]
    return files


def download_urls(name):
    """Where torchvision downloads a dataset's files from (any one of them serves)."""
    import torchvision.datasets

    if name in IDX_FILES:
        return getattr(torchvision.datasets, IDX_FILES[name]["torchvision"]).mirrors
    if name in cifar.CIFAR_FILES:
        return [getattr(torchvision.datasets, cifar.CIFAR_FILES[name]["torchvision"]).url]
    if name == "svhn":
        return [torchvision.datasets.SVHN.split_list["test"][0]]
    raise ValueError(f"{name} is not downloaded")


LOADERS = {
    "spiral": load_spiral,
    "toy_regression": load_toy_regression,
    "uci": load_uci,
    "digits": load_digits,
    "mnist": load_mnist_like,
    "fashion_mnist": load_mnist_like,
    "cifar10": load_cifar_like,
    "cifar100": load_cifar_like,
    "tinyimagenet": load_tinyimagenet,
}


def load_dataset(spec, data_root=None):
    """Load the dataset named by ``spec['name']`` (a validated config ``dataset`` block)."""
    try:
        loader = LOADERS[spec["name"]]
    except KeyError:
        raise ValueError(
            f"unknown dataset '{spec['name']}', expected one of {sorted(LOADERS)}"
        ) from None
    return loader(spec, data_root)


def dataset_seeds(spec):
    return {key: spec[key] for key in ("seed", "split_seed") if key in spec}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Load a dataset once and save its splits.")
    parser.add_argument("--dataset", type=json.loads, required=True, help="dataset config (JSON)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    record = provenance.start(config={"dataset": args.dataset}, seeds=dataset_seeds(args.dataset))
    data = load_dataset(args.dataset, args.data_root)
    data.save(args.out)
    provenance.write_sidecar(record, [args.out])
    print(
        f"wrote {args.out}: train {data.x_train.shape}, val {data.x_val.shape}, "
        f"test {data.x_test.shape}, {data.num_classes} classes"
    )


if __name__ == "__main__":
    main()
