"""Bad data files: each stops with an error that names the file and what is wrong."""

import pickle

import numpy as np
import pytest
import torch
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
