"""The teacher and distill jobs write the best-validation weights into their checkpoints
(not the last epoch's), on a run whose best epoch is not the last."""

import pytest
import torch
from ensemble_distill.datasets import load_dataset
from ensemble_distill.distill import distill, load_teachers
from ensemble_distill.io import load_checkpoint
from ensemble_distill.losses import kd_loss, nll_loss
from ensemble_distill.models import load_model
from ensemble_distill.teacher import train_teachers

SPIRAL = {"name": "spiral", "arms": 3, "train_per_arm": 40, "noise": 0.08, "seed": 0}
# lr 0.3 makes the validation loss jump about: on this data the best epoch is the third.
TEACHER = {"arch": "mlp", "hidden": [32],
           "train": {"epochs": 8, "batch_size": 16, "lr": 0.3, "weight_decay": 0.0}}  # fmt: skip


@pytest.fixture(scope="module")
def spiral_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs")
    data = load_dataset(SPIRAL)
    data.save(tmp / "data.npz")
    train_teachers(tmp / "data.npz", TEACHER, [0, 1], out=tmp / "pack", resume=tmp / "r.pt")
    _, _, x_va, y_va = (torch.as_tensor(a) for a in data.split(0))
    return tmp, x_va, y_va


def best_and_last(history):
    losses = [h["val_loss"] for h in history]
    assert min(losses) < losses[-1], "precondition: the best epoch is not the last"
    return min(losses), losses[-1]


def test_teacher_checkpoint_holds_the_best_validation_weights(spiral_job):
    tmp, x_va, y_va = spiral_job
    checkpoint = load_checkpoint(tmp / "pack/seed0/model.pt")
    best, _ = best_and_last(checkpoint["history"][0])
    with torch.no_grad():
        loss = nll_loss(load_model(checkpoint).eval()(x_va), y_va).item()
    assert loss == pytest.approx(best, rel=1e-5)
    assert checkpoint["val_loss"] == [pytest.approx(best, rel=1e-5)]
    assert not (tmp / "r.pt").exists()  # the finished model supersedes the resume state


def test_student_checkpoint_holds_the_best_validation_weights(spiral_job):
    tmp, x_va, y_va = spiral_job
    student = {"method": "kd", "temperature": 2.0, "alpha": 1.0,
               "train": {**TEACHER["train"], "epochs": 10, "lr": 0.5}}  # fmt: skip
    teachers = [tmp / "pack/seed0/model.pt", tmp / "pack/seed1/model.pt"]
    distill(tmp / "data.npz", student, teachers, 0, out=tmp / "kd.pt", resume_dir=tmp / "kd")
    checkpoint = load_checkpoint(tmp / "kd.pt")
    best, _ = best_and_last(checkpoint["history"][0])
    members, _, _ = load_teachers(teachers)
    with torch.no_grad():
        z = members(x_va)
        loss = kd_loss(load_model(checkpoint).eval()(x_va), z, y_va, temperature=2.0).item()
    assert loss == pytest.approx(best, rel=1e-5)
    assert checkpoint["teacher_seeds"] == [0, 1] and not (tmp / "kd").exists()
