"""Every eval-set kind on a hand-made dataset: which arrays, shapes, labels and metadata it
writes, and regression sets in original units."""

import numpy as np
import pytest
from ensemble_distill.datasets import Dataset
from ensemble_distill.evalsets import (
    build_eval_set,
    ood_images,
    sample_image_patches,
    translate,
    uniform_noise,
)


def images(n, seed):
    return np.random.default_rng(seed).uniform(size=(n, 1, 4, 4)).astype(np.float32)


IMAGES = Dataset("img", images(6, 0), np.arange(6) % 3, images(4, 1), np.array([2, 1, 0, 2]),
                 images(5, 2), np.array([0, 1, 2, 0, 1]), num_classes=3)  # fmt: skip
POINTS = Dataset("spiral", np.zeros((3, 2), np.float32), np.zeros(3, int), np.zeros((1, 2)),
                 np.zeros(1, int), np.array([[0.5, -1.0], [2.0, 0.0]], np.float32),
                 np.array([1, 0]), num_classes=2)  # fmt: skip


def test_validation_and_test_sets():
    val = build_eval_set(IMAGES, {"kind": "validation"})
    np.testing.assert_array_equal(val["x"][0], IMAGES.x_val)
    np.testing.assert_array_equal(val["labels"], [2, 1, 0, 2])
    assert val["x"].shape == (1, 4, 1, 4, 4) and str(val["eval_kind"]) == "validation"
    np.testing.assert_array_equal(val["intensities"], [0.0])
    test = build_eval_set(IMAGES, {"kind": "test"})
    np.testing.assert_array_equal(test["x"][0], IMAGES.x_test)
    np.testing.assert_array_equal(test["labels"], [0, 1, 2, 0, 1])
    assert str(test["eval_kind"]) == "test" and "coords" not in test
    points = build_eval_set(POINTS, {"kind": "test"})  # 2-D inputs keep their coordinates
    np.testing.assert_array_equal(points["coords"], POINTS.x_test)


def test_shifted_sets_stack_one_copy_per_intensity():
    shifted = build_eval_set(IMAGES, {"kind": "translate", "intensities": [0, 1, 3]})
    assert shifted["x"].shape == (3, 5, 1, 4, 4) and str(shifted["eval_kind"]) == "translate"
    np.testing.assert_array_equal(shifted["intensities"], [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(shifted["x"][0], IMAGES.x_test)
    np.testing.assert_array_equal(shifted["x"][2][..., 3], IMAGES.x_test[..., 0])  # rolled by 3
    np.testing.assert_array_equal(shifted["labels"], IMAGES.y_test)
    np.testing.assert_array_equal(translate(IMAGES.x_test, -1)[..., 0], IMAGES.x_test[..., 1])
    rotated = build_eval_set(IMAGES, {"kind": "rotate", "intensities": [90]})
    np.testing.assert_allclose(rotated["x"][0], np.rot90(IMAGES.x_test, 1, axes=(-2, -1)),
                               atol=1e-5)  # fmt: skip


def test_ood_and_grid_sets_are_unlabelled():
    ood = build_eval_set(IMAGES, {"kind": "ood", "source": "uniform_noise", "size": 7})
    assert ood["x"].shape == (1, 7, 1, 4, 4) and str(ood["eval_kind"]) == "ood"
    np.testing.assert_array_equal(ood["labels"], [-1] * 7)
    np.testing.assert_array_equal(ood["x"][0], uniform_noise((1, 4, 4), 7, seed=0))
    assert ood_images({"source": "uniform_noise"}, (1, 4, 4), None).shape == (1000, 1, 4, 4)

    grid = build_eval_set(POINTS, {"kind": "grid", "extent": 2.0, "resolution": 3})
    # meshgrid order: x varies fastest, then y.
    expected = [[x, y] for y in (-2.0, 0.0, 2.0) for x in (-2.0, 0.0, 2.0)]
    np.testing.assert_array_equal(grid["coords"], expected)
    np.testing.assert_array_equal(grid["x"][0], expected)
    assert (
        str(grid["eval_kind"]) == "grid"
        and (grid["labels"] == -1).all()
        and len(grid["labels"]) == 9
    )
    with pytest.raises(ValueError, match="unknown eval-set kind 'blur'"):
        build_eval_set(IMAGES, {"kind": "blur"})


def test_generated_ood_images_keep_the_pixel_range_and_are_deterministic():
    a = sample_image_patches((1, 8, 8), 5, seed=3)
    assert a.shape == (5, 1, 8, 8) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.01
    np.testing.assert_array_equal(a, sample_image_patches((1, 8, 8), 5, seed=3))
    assert not np.array_equal(a, sample_image_patches((1, 8, 8), 5, seed=4))
    # Each patch is the 8x8 block average of a 64x64 crop: smoother than the noise.
    assert (
        np.abs(np.diff(a, axis=-1)).mean() < np.abs(np.diff(uniform_noise((1, 8, 8), 5, 0))).mean()
    )


def regression():
    """Two splits with their own scales: y = y_std·scale + shift, x = x_std·scale + shift."""
    return Dataset(
        "toy_regression",
        np.zeros((2, 3, 1), np.float32), np.zeros((2, 3), np.float32),
        np.zeros((2, 0, 1), np.float32), np.zeros((2, 0), np.float32),
        np.array([[[1.0], [-1.0]], [[0.5], [0.0]]], np.float32),
        np.array([[1.0, -2.0], [0.0, 2.0]], np.float32),
        num_classes=2, task="regression",
        y_shift=np.array([10.0, -1.0]), y_scale=np.array([2.0, 0.5]),
        x_shift=np.array([[1.0], [0.0]]), x_scale=np.array([[3.0], [2.0]]),
    )  # fmt: skip


def test_regression_test_set_is_in_original_units():
    test = build_eval_set(regression(), {"kind": "test"})
    np.testing.assert_allclose(test["labels"], [[12.0, 6.0], [-1.0, 0.0]])
    np.testing.assert_allclose(test["coords"], [[4.0], [-2.0]])  # split 0's inputs: x·3 + 1
    np.testing.assert_array_equal(test["x"], regression().x_test)
    np.testing.assert_array_equal(test["y_scale"], [2.0, 0.5])
    np.testing.assert_array_equal(test["splits"], [0, 1])
    assert str(test["eval_kind"]) == "test"


def test_regression_grid_is_standardised_per_split():
    grid = build_eval_set(regression(), {"kind": "grid", "extent": 3.0, "resolution": 3})
    np.testing.assert_allclose(grid["coords"][:, 0], [-3.0, 0.0, 3.0])
    # split 0: (g − 1)/3; split 1: g/2
    np.testing.assert_allclose(grid["x"][..., 0], [[-4 / 3, -1 / 3, 2 / 3], [-1.5, 0.0, 1.5]],
                               rtol=1e-6)  # fmt: skip
    assert np.isnan(grid["labels"]).all() and grid["labels"].shape == (2, 3)
    with pytest.raises(ValueError, match="'rotate' is not available for regression"):
        build_eval_set(regression(), {"kind": "rotate", "intensities": [0]})
