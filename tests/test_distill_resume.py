"""A distillation job killed mid-run and restarted ends with the same weights and history as
an uninterrupted one: in Hydra's second phase, during EnD²'s temperature annealing, and in
a regression job's pack of per-split students; and a job's pack of distillation seeds."""

import shutil

import pytest
import torch
from conftest import two_split_regression
from ensemble_distill import train as train_module
from ensemble_distill.datasets import load_dataset
from ensemble_distill.distill import distill, distill_seed_group
from ensemble_distill.io import load_checkpoint
from ensemble_distill.teacher import train_teachers

TRAIN = {"epochs": 5, "batch_size": 32, "lr": 0.01, "weight_decay": 0.0}
TEACHER = {"arch": "mlp", "hidden": [16], "train": {**TRAIN, "epochs": 3}}
STUDENTS = {
    "hydra": ({"method": "hydra", "head": {"type": "mlp", "hidden": [8]}, "hinton_epochs": 2,
               "temperature": 2.0, "alpha": 1.0, "train": TRAIN}, "phase2.pt", 2),
    "end2": ({"method": "end2", "temperature": 5.0, "anneal_epochs": 4, "kd_epochs": 0,
              "teacher_smoothing": 1e-4, "train": TRAIN}, "end2.pt", 3),
    "regression": ({"method": "hydra", "head": {"type": "mlp", "hidden": [8]}, "hinton_epochs": 2,
                    "train": TRAIN}, "phase2.pt", 2),
}  # fmt: skip


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teachers")
    out = {}
    for task, data in (
        (
            "classification",
            load_dataset(
                {"name": "spiral", "arms": 3, "train_per_arm": 40, "noise": 0.08, "seed": 0}
            ),
        ),  # fmt: skip
        ("regression", two_split_regression()),
    ):
        data.save(tmp / f"{task}.npz")
        pack = tmp / f"{task}-teachers"
        paths = train_teachers(
            tmp / f"{task}.npz", TEACHER, [0, 1, 2], out=pack, resume=tmp / "r.pt"
        )
        out[task] = (tmp / f"{task}.npz", paths)
    return out


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_killed_distillation_resumes_to_identical_weights(name, teachers, tmp_path, monkeypatch):
    student, kill_file, kill_epoch = STUDENTS[name]
    data, paths = teachers["regression" if name == "regression" else "classification"]
    distill(data, student, paths, 0, out=tmp_path / "reference.pt", resume_dir=tmp_path / "ref")

    save = train_module.save_checkpoint
    kills = []

    def save_then_die(path, **payload):
        save(path, **payload)
        if str(path).endswith(kill_file) and payload["epoch"] == kill_epoch:
            kills.append(path)
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        distill(data, student, paths, 0, out=tmp_path / "resumed.pt", resume_dir=tmp_path / "run")
    assert kills and not (tmp_path / "resumed.pt").exists()
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    distill(data, student, paths, 0, out=tmp_path / "resumed.pt", resume_dir=tmp_path / "run")

    reference, resumed = (load_checkpoint(tmp_path / f) for f in ("reference.pt", "resumed.pt"))
    assert resumed["history"] == reference["history"]
    assert resumed["spec"] == reference["spec"]
    for a, b in zip(reference["state_dicts"], resumed["state_dicts"], strict=True):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_pack_of_seeds_equals_each_seed_alone_and_resumes_without_retraining(
    teachers, tmp_path, monkeypatch
):
    """distill_seed_group trains seed after seed in one process: each equals distill() of that
    seed alone, bit for bit. Killed in seed 1, with the half-written pack folder deleted
    (as Snakemake does), the rerun replays seed 0 from its kept final state: no epoch of
    it runs again."""
    student, _, _ = STUDENTS["hydra"]
    data, paths = teachers["classification"]
    for seed in (0, 1):
        distill(data, student, paths, seed, out=tmp_path / f"alone{seed}.pt",
                resume_dir=tmp_path / f"alone{seed}")  # fmt: skip

    save = train_module.save_checkpoint
    saved, kills = [], []

    def save_then_die(path, **payload):
        save(path, **payload)
        saved.append(path)
        if "seed1" in str(path) and not kills:  # once: after seed 1's first epoch
            kills.append(path)
            raise Killed

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        distill_seed_group(
            data, student, paths, [0, 1], out=tmp_path / "pack", resume_dir=tmp_path / "r"
        )
    assert (tmp_path / "pack/seed0/model.pt").is_file()
    shutil.rmtree(tmp_path / "pack")  # Snakemake removes an incomplete directory output
    saved.clear()
    written = distill_seed_group(data, student, paths, [0, 1], out=tmp_path / "pack",
                           resume_dir=tmp_path / "r")  # fmt: skip
    assert written == [tmp_path / "pack/seed0/model.pt", tmp_path / "pack/seed1/model.pt"]
    assert not [p for p in saved if "seed0" in str(p)]  # seed 0: nothing trained again
    assert not (tmp_path / "r").exists()  # the pack is written: resume state removed

    for seed, path in enumerate(written):
        alone = load_checkpoint(tmp_path / f"alone{seed}.pt")
        packed = load_checkpoint(path)
        assert packed["seed"] == seed and packed["history"] == alone["history"]
        for a, b in zip(alone["state_dicts"], packed["state_dicts"], strict=True):
            for key in a:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
