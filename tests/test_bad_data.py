"""Bad data files: each stops with an error that names the file and what is wrong."""

import pickle

import numpy as np
import pytest
import torch
from conftest import snakemake
from ensemble_distill.datasets import DataError, load_dataset, raw_files
from ensemble_distill.io import CheckpointError, load_checkpoint, save_checkpoint

GOOD = {
    "data.txt": "1 2 3\n4 5 6\n7 8 9\n1 3 5\n2 4 6\n",
    "index_features.txt": "0\n1\n",
    "index_target.txt": "2\n",
    "n_splits.txt": "1\n",
    "index_train_0.txt": "0\n1\n2\n",
    "index_test_0.txt": "3\n4\n",
}
YACHT = {"name": "uci", "set": "yacht"}


def uci_folder(tmp_path, **changes):
    folder = tmp_path / "uci" / "yacht" / "data"
    folder.mkdir(parents=True)
    for name, text in {**GOOD, **changes}.items():
        (folder / name).write_text(text)
    return folder


def test_the_good_folder_loads_and_lists_its_files(tmp_path):
    folder = uci_folder(tmp_path)
    data = load_dataset(YACHT, tmp_path)
    assert data.x_train.shape == (1, 3, 2) and data.x_test.shape == (1, 2, 2)
    assert [p.name for p in raw_files(YACHT, tmp_path)] == [*GOOD][:4] + [
        "index_train_0.txt", "index_test_0.txt"]  # fmt: skip
    assert all(p.parent == folder for p in raw_files(YACHT, tmp_path))


BAD_FILES = {
    "NaN cell": ({"data.txt": "1 2 3\n4 nan 6\n7 8 9\n1 3 5\n2 4 6\n"},
                 r"non-finite value \(NaN or inf\) in .*data.txt at line 2, column 2"),
    "empty data": ({"data.txt": ""}, r"empty file .*data.txt"),
    "empty index file": ({"index_train_0.txt": ""}, r"empty file .*index_train_0.txt"),
    "negative row index": ({"index_train_0.txt": "0\n-1\n2\n"},
                           r"index_train_0.txt: row index -1 out of range; expected 0 to 4"),
    "row index past the end": ({"index_test_0.txt": "3\n5\n"},
                               r"index_test_0.txt: row index 5 out of range; expected 0 to 4"),
    "target column out of range": ({"index_target.txt": "3\n"},
                                   r"index_target.txt: column index 3 out of range; expected 0"),
    "feature column out of range": ({"index_features.txt": "0\n7\n"},
                                    r"index_features.txt: column index 7 out of range"),
    "text in a table": ({"data.txt": "1 2 3\n4 five 6\n"}, r"malformed file .*data.txt"),
    "overlapping split": ({"index_test_0.txt": "2\n3\n"}, r"bad split 0 in .*: train and test"),
    "missing split file": ({"n_splits.txt": "2\n"}, r"file not found: .*index_train_1.txt"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_uci_files_are_named(case, tmp_path):
    changes, message = BAD_FILES[case]
    uci_folder(tmp_path, **changes)
    with pytest.raises(DataError, match=message):
        load_dataset(YACHT, tmp_path)


def test_truncated_and_foreign_checkpoints_are_named(tmp_path):
    good = tmp_path / "model.pt"
    save_checkpoint(good, spec={"arch": "mlp"}, state_dicts=[{"w": torch.ones(3)}])
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*truncated.pt .*delete it"):
        load_checkpoint(truncated)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*evil.pt"):
        load_checkpoint(evil)
    legacy = tmp_path / "legacy.pt"  # a malicious torch.save archive: weights_only refuses it
    torch.save({"x": Evil()}, legacy)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*legacy.pt"):
        load_checkpoint(legacy)


def test_checkpoints_round_trip_and_are_byte_reproducible(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    history = [{"epoch": 1, "val_loss": 0.5}]
    payload = dict(model=model.state_dict(), optimizer=opt.state_dict(), best_loss=np.inf,
                   history=history, seeds=(1, 2), n=np.int64(3))  # fmt: skip
    save_checkpoint(tmp_path / "a.pt", **payload)
    save_checkpoint(tmp_path / "b.pt", **payload)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    back = load_checkpoint(tmp_path / "a.pt")
    assert back["best_loss"] == float("inf") and back["seeds"] == (1, 2) and back["n"] == 3
    assert back["history"] == payload["history"]
    assert set(back["optimizer"]["state"]) == {0, 1}  # integer keys survive
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    fresh.load_state_dict(back["optimizer"])
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"],
                               opt.state_dict()["state"][0]["exp_avg"])  # fmt: skip
    for key, value in payload["model"].items():
        assert torch.equal(back["model"][key], value)


# CIFAR, CIFAR-C and SVHN files in the wrong dtype, range or shape: each stops with the
# file and what was expected, instead of becoming black images or inputs on another scale.
def rewrite_batch(root, name, **changes):
    path = root / "cifar-10-batches-py" / name
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch.update({k.encode(): v for k, v in changes.items()})
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def official_c(root, rows, dtype=np.uint8):
    folder = root / "CIFAR-10-C"
    folder.mkdir(exist_ok=True)
    np.save(folder / "fog.npy", np.full((rows, 32, 32, 3), 200, dtype=dtype))
    return folder / "fog.npy"


def corrupt_fog(root):
    from ensemble_distill.evalsets import build_eval_set

    data = load_dataset({"name": "cifar10", "verify": False}, root)
    return build_eval_set(data, {"kind": "corrupt", "corruption": "fog", "severities": [1]}, root)


def svhn(root):
    from ensemble_distill import cifar

    return cifar.load_svhn_test(root, verify=False)


def cifar10(root):
    return load_dataset({"name": "cifar10", "verify": False}, root)


def truncate(path, keep=200):
    path.write_bytes(path.read_bytes()[:keep])


BAD_CIFAR = {
    "float images in [0, 1]": (
        lambda r: rewrite_batch(r, "data_batch_1", data=np.full((60, 3072), 0.5)),
        cifar10, r"data_batch_1 holds float64 images, expected uint8 pixel values 0..255",
    ),
    "pixel values above 255": (
        lambda r: rewrite_batch(r, "data_batch_2", data=np.full((60, 3072), 300)),
        cifar10, r"data_batch_2 holds pixel values 300..300, expected 0..255",
    ),
    "labels out of range": (
        lambda r: rewrite_batch(r, "test_batch", labels=[12] * 40),
        cifar10, r"test_batch holds labels 12..12, expected 0..9",
    ),
    "CIFAR-10-C as float32 0-255": (
        lambda r: official_c(r, 5 * 40, np.float32),
        corrupt_fog, r"fog.npy: float32 images, expected uint8",
    ),
    "truncated CIFAR-10-C": (
        lambda r: truncate(official_c(r, 5 * 40)),
        corrupt_fog, r"fog.npy: not a readable .npy array",
    ),
    "CIFAR-10-C with too few rows": (
        lambda r: official_c(r, 5 * 30),
        corrupt_fog, r"fog.npy: 30 images per severity, expected 40",
    ),
    "SVHN without X": (
        lambda r: __import__("scipy.io").io.savemat(r / "svhn/test_32x32.mat", {"y": [1]}),
        svhn, r"test_32x32.mat has no array 'X' \(the images\), found \['y'\]",
    ),
    "SVHN not a .mat file": (
        lambda r: (r / "svhn/test_32x32.mat").write_bytes(b"garbage" * 100),
        svhn, r"svhn: .*test_32x32.mat is not a readable MATLAB file",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CIFAR))
def test_bad_cifar_files_are_named(case, tmp_path):
    from ensemble_distill.standin import write_standin_data

    damage, load, message = BAD_CIFAR[case]
    write_standin_data(tmp_path)
    damage(tmp_path)
    with pytest.raises(DataError, match=message):
        load(tmp_path)


def test_eval_set_and_prediction_lengths_are_checked(tmp_path):
    from ensemble_distill.compute_metrics import checked_prediction
    from ensemble_distill.evalsets import checked_lengths

    arrays = {"x": np.zeros((2, 5, 3)), "labels": np.zeros(4, int), "intensities": np.zeros(2)}
    with pytest.raises(DataError, match=r"set.npz: \(2, 5\) .* 2 intensities and 4 labels"):
        checked_lengths(arrays, "set.npz")
    pred = {"log_probs": np.zeros((1, 3, 4, 10)), "labels": np.zeros(5, int),
            "intensities": np.zeros(1)}  # fmt: skip
    with pytest.raises(DataError, match=r"p.npz, eval set 'test': log_probs has shape "
                       r"\(1, 3, 4, 10\), expected 1 intensities and 5 examples"):  # fmt: skip
        checked_prediction(pred, "p.npz", "test")
    pred["labels"] = np.zeros(4, int)
    assert checked_prediction(pred, "p.npz", "test") is pred


def test_a_failed_download_names_the_dataset_and_where_files_go(tmp_path, monkeypatch):
    """Offline, torchvision's urllib error ('Name or service not known') named nothing."""
    import urllib.error

    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(
        DataError,
        match=r"cifar10: download failed \(.*Name or service not "
        rf"known.*\); without network access put the official files under {tmp_path}",
    ):  # noqa: E501
        load_dataset({"name": "cifar10", "download": True}, tmp_path)
    with pytest.raises(DataError, match=r"mnist: download failed"):
        load_dataset({"name": "mnist", "download": True}, tmp_path)


def test_cuda_without_a_gpu_names_the_config_key(monkeypatch):
    import torch
    from ensemble_distill.jobs import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=r"config key 'device' is 'cuda', but torch sees no GPU"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_stops_a_local_run_before_any_job(workflow_copy):
    """The dry run passes (it cannot know where jobs will run); the local run stops before
    its first job with the config key, not once per job after others have run."""
    dry = snakemake("-n", "--config", "device=cuda", cwd=workflow_copy)
    assert dry.returncode == 0, dry.stderr[-2000:]
    run = snakemake("--cores", "1", "--config", "device=cuda", cwd=workflow_copy, timeout=300)
    assert run.returncode != 0
    assert "config key 'device' is 'cuda', but torch sees no GPU" in run.stdout + run.stderr
    assert not (workflow_copy / "results").exists() and not (workflow_copy / "logs").exists()
