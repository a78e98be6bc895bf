"""The teacher and distill jobs write the best-validation weights into their checkpoints
(not the last epoch's), on a run whose best epoch is not the last; the prediction and
metrics jobs of an eval group write each model's own files."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from ensemble_distill.datasets import Dataset, load_dataset
from ensemble_distill.distill import distill, load_teachers
from ensemble_distill.io import load_checkpoint, save_npz
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


def test_a_prediction_job_and_a_metrics_job_cover_a_group_of_models(spiral_job, tmp_path):
    """One predict job writes each model's own file (its members, its own checkpoints in
    its record); one metrics job scores each file under that model's identity."""
    from ensemble_distill import compute_metrics, provenance
    from ensemble_distill.evalsets import build_eval_set
    from ensemble_distill.io import load_npz

    tmp, _, _ = spiral_job
    test = tmp_path / "test.npz"
    save_npz(test, **build_eval_set(Dataset.load(tmp / "data.npz"), {"kind": "test"}))
    t0, t1 = str(tmp / "pack/seed0/model.pt"), str(tmp / "pack/seed1/model.pt")
    out = tmp_path / "predictions"
    # a process of its own, as in the workflow (torch's thread settings are per process)
    job = subprocess.run([sys.executable, "-m", "ensemble_distill.predict", "--model", "ensemble",
                          t0, t1, "--model", "one/seed1", t1, "--eval-sets", f"test={test}",
                          "--out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert job.returncode == 0, job.stderr
    ensemble = load_npz(out / "ensemble.npz", group="test")["log_probs"]  # (I, K, N, C)
    alone = load_npz(out / "one/seed1.npz", group="test")["log_probs"]
    assert ensemble.shape[1] == 2 and alone.shape[1] == 1
    np.testing.assert_allclose(ensemble[:, 1], alone[:, 0], rtol=1e-6)  # member 1 is t1
    assert not np.allclose(ensemble[:, 0], alone[:, 0])
    checkpoints = lambda p: sorted(i for i in provenance.read(p)["inputs"] if i.endswith(".pt"))  # noqa: E731
    assert checkpoints(out / "ensemble.npz") == [t0, t1]
    assert checkpoints(out / "one/seed1.npz") == [t1]

    models = [{"file": "ensemble", "model": "ensemble", "method": "ensemble", "distill_seed": None},
              {"file": "one/seed1", "model": "one", "method": "kd", "distill_seed": 1}]  # fmt: skip
    compute_metrics.main(["--predictions", str(out), "--experiment", "e",
                          "--models", json.dumps(models), "--out", str(tmp_path / "m"),
                          "--per-example", str(tmp_path / "pe")])  # fmt: skip
    one = pd.read_parquet(tmp_path / "m/one/seed1.parquet")
    assert set(one["model"]) == {"one"} and set(one["distill_seed"]) == {1}
    # the single model's NLL, by hand from its stored log-probabilities
    y = load_npz(test)["labels"]
    nll = -alone[0, 0][np.arange(len(y)), y].mean()
    row = one[(one["metric"] == "nll") & (one["eval_set"] == "test")]
    assert row["value"].item() == pytest.approx(nll, rel=1e-6)
    assert set(pd.read_parquet(tmp_path / "m/ensemble.parquet")["model"]) == {"ensemble", "single"}


def test_a_model_without_checkpoints_is_refused_by_name(capsys):
    from ensemble_distill import predict

    with pytest.raises(SystemExit):
        predict.main(["--model", "kd/seed0", "--eval-sets", "test=t.npz", "--out", "o"])
    error = capsys.readouterr().err
    assert "--model kd/seed0: give the model's checkpoint(s) after its name" in error
