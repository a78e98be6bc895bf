"""Datasets as whole-array splits: ``load_dataset(spec, data_root) -> Dataset``.

Inputs are float32 arrays (images in [0, 1] with shape (N, 1, H, W)); labels are int64.
Each loader is a plain function registered in ``LOADERS``; a new dataset is one more
function with the same signature. The pipeline runs a loader once per experiment
(``python -m ensemble_distill.datasets``) and every later job reads the saved splits.

Usage::

    python -m ensemble_distill.datasets --dataset '{"name": "digits", "split_seed": 0}' \
        --data-root data --out results/digits/dataset.npz
"""

import argparse
import json
from dataclasses import asdict, dataclass

import numpy as np

from .io import load_npz, save_npz


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self):
        return self.x_train.ndim == 4

    def save(self, path):
        save_npz(path, **asdict(self))

    @classmethod
    def load(cls, path):
        arrays = load_npz(path)
        return cls(
            **{**arrays, "name": str(arrays["name"]), "num_classes": int(arrays["num_classes"])}
        )


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
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(spec["split_seed"]).permutation(len(y))
    n_test, n_val = DIGITS_SPLIT["test"], DIGITS_SPLIT["val"]
    test, val, train = np.split(order, [n_test, n_test + n_val])
    return Dataset("digits", x[train], y[train], x[val], y[val], x[test], y[test], num_classes=10)


LOADERS = {"spiral": load_spiral, "digits": load_digits}


def load_dataset(spec, data_root=None):
    """Load the dataset named by ``spec['name']`` (a validated config ``dataset`` block)."""
    try:
        loader = LOADERS[spec["name"]]
    except KeyError:
        raise ValueError(
            f"unknown dataset '{spec['name']}', expected one of {sorted(LOADERS)}"
        ) from None
    return loader(spec, data_root)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Load a dataset once and save its splits.")
    parser.add_argument("--dataset", type=json.loads, required=True, help="dataset config (JSON)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset, args.data_root)
    data.save(args.out)
    print(
        f"wrote {args.out}: train {data.x_train.shape}, val {data.x_val.shape}, "
        f"test {data.x_test.shape}, {data.num_classes} classes"
    )


if __name__ == "__main__":
    main()
