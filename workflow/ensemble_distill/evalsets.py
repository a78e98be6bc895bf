"""Build evaluation sets (in-domain test, shifted copies, OOD, input grids) as ``.npz`` files.

Usage (one eval set of one experiment)::

    python -m ensemble_distill.evalsets --data results/digits/dataset.npz \
        --eval-set '{"kind": "rotate", "intensities": [0, 15, 30]}' --out rotate.npz

The file holds ``x`` with shape (I, N, *input_shape) for I shift intensities (corruption
severities), ``labels`` (N,; -1 where there are none), ``intensities`` (I,), ``eval_kind``
(the config kind; ``test`` for the test set), ``coords`` for input grids, and for
corruptions their name and whether the images were ``generated`` (not the official CIFAR-C
files). Everything is deterministic: same config, same bytes of data.
"""

import argparse
import json

import numpy as np

from . import cifar, provenance
from .datasets import Dataset, raw_files
from .idx import load_idx_split
from .io import DataError, save_npz


def rotate(images, degrees):
    """Rotate a batch (N, C, H, W) by ``degrees``; corners are filled with 0.

    Ovadia et al.'s protocol (uq_benchmark ``mnist/data_lib.py``): ``scipy.ndimage.rotate``
    with the default cubic spline and an enlarged canvas, then a centre crop back to H x W.
    uint8 images stay uint8 (rounded and clipped).
    """
    from scipy import ndimage  # here: tables and metrics import this module for GENERATED

    out = ndimage.rotate(images.astype(np.float32), float(degrees), axes=(-1, -2), reshape=True)
    h, w = images.shape[-2:]
    top, left = (out.shape[-2] - h) // 2, (out.shape[-1] - w) // 2
    out = out[..., top : top + h, left : left + w]
    if images.dtype == np.uint8:
        return np.ascontiguousarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)
    return np.ascontiguousarray(out, dtype=np.float32)


def translate(images, pixels):
    """Shift a batch horizontally by ``pixels`` with wrap-around (Ovadia et al.'s np.roll)."""
    return np.roll(images, int(pixels), axis=-1)


SHIFTS = {"rotate": rotate, "translate": translate}
GENERATED = " (generated)"  # appended to the name of an eval set of generated corruptions


def sample_image_patches(shape, size, seed):
    """Grey patches cut from scikit-learn's two sample photographs, resized to ``shape``.

    Natural-image texture with the digits' pixel range: clearly not digits.
    """
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [img.mean(axis=-1) / 255.0 for img in load_sample_images().images]
    _, h, w = shape
    crop = 8 * h  # cut 8x larger patches, then average down to the target size
    patches = []
    for i in range(size):
        photo = photos[i % len(photos)]
        top = rng.integers(0, photo.shape[0] - crop)
        left = rng.integers(0, photo.shape[1] - crop)
        patch = photo[top : top + crop, left : left + crop]
        patches.append(patch.reshape(h, crop // h, w, crop // w).mean(axis=(1, 3)))
    return np.asarray(patches, dtype=np.float32)[:, None]


def uniform_noise(shape, size, seed):
    return np.random.default_rng(seed).uniform(size=(size, *shape)).astype(np.float32)


GENERATED_OOD = {"sample_image_patches": sample_image_patches, "uniform_noise": uniform_noise}
# The test split of another dataset, by source name: a loader (data root, eval-set spec)
# and the images' shape.
FILE_OOD = {
    "fashion_mnist": (
        lambda root, spec: load_idx_split("fashion_mnist", "t10k", root)[0],
        (1, 28, 28),
    ),  # fmt: skip
    "mnist": (lambda root, spec: load_idx_split("mnist", "t10k", root)[0], (1, 28, 28)),
    "svhn": (
        lambda root, spec: cifar.load_svhn_test(
            root, download=spec.get("download", False), verify=spec.get("verify", True)
        ),
        (3, 32, 32),
    ),
}


def ood_images(spec, input_shape, data_root):
    if spec["source"] in FILE_OOD:
        x = FILE_OOD[spec["source"]][0](data_root, spec)
        if x.shape[1:] != input_shape:
            raise ValueError(
                f"OOD source {spec['source']} has inputs {x.shape[1:]}, "
                f"the experiment's dataset {input_shape}"
            )
        return x[: spec.get("size")]
    return GENERATED_OOD[spec["source"]](input_shape, spec.get("size", 1000), seed=0)


def corrupted_images(dataset, spec, data_root):
    """(S, N, C, H, W) uint8 test images at the spec's severities, and whether they were
    generated: the official CIFAR-C file when the data root has it (``source: auto`` or
    ``official``), else generated (corruptions.py; ``auto`` or ``generated``)."""
    name, severities = spec["corruption"], [int(s) for s in spec["severities"]]
    source = spec.get("source", "auto")
    if source != "generated" and dataset.name in cifar.CORRUPTED_FOLDERS:
        official = cifar.load_official_corruption(
            dataset.name, name, severities, len(dataset.x_test), data_root
        )
        if official is not None:
            return official, False
    if source == "official":
        path = cifar.corrupted_path(dataset.name, name, data_root)
        raise DataError(f"corruption '{name}' (source: official): file not found: {path}")
    from . import corruptions  # scipy, Pillow, matplotlib: only where images are corrupted

    images = dataset.x_test
    if images.dtype != np.uint8:
        raise ValueError(f"corruptions need uint8 images (CIFAR), found {images.dtype}")
    return np.stack([corruptions.corrupt(images, name, s, seed=0) for s in severities]), True


def eval_set_files(spec, data_root, dataset=None):
    """Raw files an eval set reads: an OOD set taken from another dataset's files, an
    official corruption file when it is there."""
    if spec["kind"] == "ood":
        files = raw_files({"name": spec["source"]}, data_root)
        return [p for p in files if p.is_file()] if spec.get("download") else files
    if spec["kind"] == "corrupt" and dataset in cifar.CORRUPTED_FOLDERS:
        path = cifar.corrupted_path(dataset, spec["corruption"], data_root)
        return [path] if path.is_file() or spec.get("source") == "official" else []
    return []


def regression_eval_set(dataset, spec):
    """Test sets of all splits (S, N, d), or a grid over a 1-D input (standardised per split).

    Targets are in original units; ``coords`` are the original inputs.
    """
    scale = dict(
        y_shift=dataset.y_shift, y_scale=dataset.y_scale, splits=np.arange(dataset.n_splits)
    )
    if spec["kind"] == "test":
        targets = dataset.y_test * dataset.y_scale[:, None] + dataset.y_shift[:, None]
        coords = dataset.x_test[0] * dataset.x_scale[0] + dataset.x_shift[0]
        return dict(
            x=dataset.x_test,
            labels=targets,
            eval_kind=np.array("test"),
            intensities=np.zeros(1),
            coords=coords,
            **scale,
        )
    if spec["kind"] == "grid" and dataset.input_shape == (1,):
        grid = np.linspace(-spec["extent"], spec["extent"], spec["resolution"])[:, None]
        x = (grid[None] - dataset.x_shift[:, None]) / dataset.x_scale[:, None]
        labels = np.full(x.shape[:2], np.nan)
        return dict(
            x=x.astype(np.float32),
            labels=labels,
            eval_kind=np.array("grid"),
            intensities=np.zeros(1),
            coords=grid,
            **scale,
        )
    raise ValueError(f"eval-set kind '{spec['kind']}' is not available for regression")


def checked_lengths(arrays, out):
    """The eval set's inputs match its labels and intensities (checked when it is made, not
    when it is scored: a corruption file with the wrong number of rows is named here)."""
    x, labels, intensities = arrays["x"], arrays["labels"], arrays["intensities"]
    examples = x.shape[1] if labels.ndim == 1 else x.shape[-2]
    if examples != labels.shape[-1] or (labels.ndim == 1 and len(x) != len(intensities)):
        raise DataError(
            f"{out}: {x.shape[:2]} (intensities, examples) of inputs, but {len(intensities)} "
            f"intensities and {labels.shape[-1]} labels"
        )
    return arrays


def build_eval_set(dataset, spec, data_root=None):
    """Return the arrays of one eval set (see module docstring) for a loaded dataset."""
    kind = spec["kind"]
    if dataset.task == "regression":
        return regression_eval_set(dataset, spec)
    x, labels = dataset.x_test, dataset.y_test
    if kind == "validation":
        return dict(
            x=dataset.x_val[None],
            labels=dataset.y_val,
            intensities=np.zeros(1),
            eval_kind=np.array("validation"),
        )
    if kind == "test":
        arrays = dict(x=x[None], labels=labels, intensities=np.zeros(1), eval_kind=np.array("test"))
        if dataset.input_shape == (2,):  # 2-D toy data: keep the points for overlays
            arrays["coords"] = x
        return arrays
    if kind in SHIFTS:
        levels = np.asarray(spec["intensities"], dtype=np.float64)
        shifted = np.stack([SHIFTS[kind](x, level) for level in levels])
        return dict(x=shifted, labels=labels, intensities=levels, eval_kind=np.array(kind))
    if kind == "corrupt":
        images, generated = corrupted_images(dataset, spec, data_root)
        return dict(
            x=images,
            labels=labels,
            intensities=np.asarray(spec["severities"], dtype=np.float64),
            eval_kind=np.array(kind),
            corruption=np.array(spec["corruption"]),
            generated=np.array(generated),
        )
    if kind == "ood":
        ood = ood_images(spec, dataset.input_shape, data_root)
        return dict(
            x=ood[None],
            labels=np.full(len(ood), -1),
            intensities=np.zeros(1),
            eval_kind=np.array("ood"),
        )
    if kind == "grid":
        axis = np.linspace(-spec["extent"], spec["extent"], spec["resolution"], dtype=np.float32)
        coords = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
        return dict(
            x=coords[None],
            labels=np.full(len(coords), -1),
            intensities=np.zeros(1),
            eval_kind=np.array("grid"),
            coords=coords,
        )
    raise ValueError(f"unknown eval-set kind '{kind}'")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    parser.add_argument("--eval-set", type=json.loads, required=True, help="eval-set config (JSON)")
    parser.add_argument("--data-root", default=None, help="for OOD sets read from files")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    record = provenance.start(config={"eval_set": args.eval_set}, inputs=[args.data])
    arrays = checked_lengths(build_eval_set(Dataset.load(args.data), args.eval_set,
                                            args.data_root), args.out)  # fmt: skip
    save_npz(args.out, **arrays)
    provenance.write_sidecar(record, [args.out])
    print(f"wrote {args.out}: x {arrays['x'].shape}, intensities {arrays['intensities'].tolist()}")


if __name__ == "__main__":
    main()
