import numpy as np
import pytest
from ensemble_distill.datasets import Dataset, load_dataset
from ensemble_distill.evalsets import build_eval_set, rotate, translate
from ensemble_distill.io import atomic_path, load_npz, save_npz

DIGITS = {"name": "digits", "split_seed": 0}


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_dataset(DIGITS), load_dataset(DIGITS)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1167, 270, 360)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.input_shape == (1, 8, 8) and a.x_train.max() == 1.0
    train = {row.tobytes() for row in a.x_train}
    assert sum(row.tobytes() in train for row in a.x_test) < 5  # digits has a few duplicates


def test_dataset_round_trips_through_npz(tmp_path):
    data = load_dataset({"name": "spiral", "arms": 3, "train_per_arm": 20, "noise": 0.1, "seed": 1})
    data.save(tmp_path / "d.npz")
    back = Dataset.load(tmp_path / "d.npz")
    assert back.name == "spiral" and back.num_classes == 3
    np.testing.assert_array_equal(back.x_val, data.x_val)


def test_rotation_by_zero_and_by_multiples_of_90_degrees():
    x = np.random.default_rng(0).uniform(size=(3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(rotate(x, 0), x, atol=1e-6)
    np.testing.assert_allclose(rotate(x, 180), x[..., ::-1, ::-1], atol=1e-5)
    assert rotate(x, 30).shape == x.shape


def test_rotation_is_counter_clockwise_as_displayed():
    # Ovadia et al.'s ndimage.rotate(img, deg, axes=(W, H)): +90° is np.rot90 (row 0 on top:
    # the top-right corner goes to the top-left), -90° the other way.
    x = np.random.default_rng(1).uniform(size=(2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(rotate(x, 90), np.rot90(x, 1, axes=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(rotate(x, 270), np.rot90(x, -1, axes=(-2, -1)), atol=1e-5)


def centre_of_mass(image):
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def test_rotation_turns_about_the_image_centre_and_crops_the_centre():
    # A blob 8 px right of the centre of a 28 x 28 image, turned 30° counter-clockwise,
    # lands 8·sin 30° = 4 px up and 8·cos 30° = 6.93 px right of the centre; a crop that
    # is not centred on the enlarged canvas (or a turn about a corner) moves it elsewhere.
    rows, cols = np.indices((28, 28))
    centre = 13.5
    blob = np.exp(-((rows - centre) ** 2 + (cols - centre - 8) ** 2) / (2 * 1.5**2))
    turned = rotate(blob[None, None].astype(np.float32), 30)[0, 0]
    row, col = centre_of_mass(np.clip(turned, 0, None))
    assert row == pytest.approx(centre - 4, abs=0.3)
    assert col == pytest.approx(centre + 8 * np.cos(np.pi / 6), abs=0.3)
    assert turned.shape == (28, 28)


def test_translation_wraps_around():
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    np.testing.assert_array_equal(translate(x, 2)[0, 0, 0], [6, 7, 0, 1, 2, 3, 4, 5])


def test_eval_sets_are_deterministic_and_shaped():
    data = load_dataset(DIGITS)
    spec = {"kind": "rotate", "intensities": [0, 45]}
    a, b = build_eval_set(data, spec), build_eval_set(data, spec)
    assert a["x"].shape == (2, 360, 1, 8, 8)
    np.testing.assert_array_equal(a["x"], b["x"])
    ood = build_eval_set(data, {"kind": "ood", "source": "sample_image_patches", "size": 50})
    assert ood["x"].shape == (1, 50, 1, 8, 8) and (ood["labels"] == -1).all()
    assert 0 <= ood["x"].min() and ood["x"].max() <= 1


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    save_npz(target, a=np.arange(3))
    np.testing.assert_array_equal(load_npz(target)["a"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
