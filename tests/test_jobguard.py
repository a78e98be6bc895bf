"""One process per resume state, a clean stop on SIGTERM, and no orphaned training when the
Snakemake that started the job is gone."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import REPO
from ensemble_distill import jobguard
from ensemble_distill.datasets import load_dataset
from ensemble_distill.teacher import train_teachers

SPIRAL = {"name": "spiral", "arms": 3, "train_per_arm": 40, "noise": 0.08, "seed": 0}
TEACHER = {"arch": "mlp", "hidden": [16],
           "train": {"epochs": 6, "batch_size": 16, "lr": 0.01, "weight_decay": 0.0}}  # fmt: skip


@pytest.fixture
def data(tmp_path):
    load_dataset(SPIRAL).save(tmp_path / "data.npz")
    return tmp_path / "data.npz"


def test_a_second_run_of_the_same_job_is_refused(tmp_path):
    with jobguard.owning(tmp_path / "resume.pt"):
        with pytest.raises(SystemExit, match="another process is already running this job: "
                           r"it holds .*resume.pt.lock"):  # fmt: skip
            with jobguard.owning(tmp_path / "resume.pt"):
                pass
    with jobguard.owning(tmp_path / "resume.pt"):  # released when the first one ends
        pass
    assert not (tmp_path / "resume.pt.lock").exists()  # no empty lock file left behind


def test_a_second_prediction_job_on_one_folder_touches_nothing_of_the_first(tmp_path):
    """Predict (and metrics) jobs lock their output folder; the refused second run stops
    before it opens its log, so the running job's log and folder stay as they are."""
    from ensemble_distill import predict

    out, log = tmp_path / "predictions/all", tmp_path / "predict.log"
    log.write_text("the first job's lines\n")
    (out / "ensemble").mkdir(parents=True)
    (out / "ensemble/kd.npz").write_bytes(b"being written")
    with jobguard.owning(out):  # the first job
        with pytest.raises(SystemExit, match=r"another process .* holds .*predictions/all.lock"):
            predict.main(["--model", "kd", "none.pt", "--eval-sets", "test=none.npz",
                          "--out", str(out), "--log", str(log)])  # fmt: skip
    assert log.read_text() == "the first job's lines\n"
    assert (out / "ensemble/kd.npz").read_bytes() == b"being written"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])  # scancel; Ctrl-C
def test_stop_signal_stops_with_the_saved_epoch_and_where(tmp_path, data, capsys, signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def fit_then_term(*args, **kwargs):
        jobguard.saved(4)
        os.kill(os.getpid(), signum)

    with pytest.raises(SystemExit):
        with jobguard.owning(tmp_path / "resume.pt"):
            fit_then_term()
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and re.fullmatch(rf"stopped by signal {signum.name}: the state after "
                                           r"epoch 4 is kept in .*resume.pt; rerun to "
                                           r"continue from there", said[0])  # fmt: skip
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


def test_training_stops_when_snakemake_is_gone(tmp_path, data, monkeypatch, capsys):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    monkeypatch.setenv(jobguard.PARENT_ENV, str(gone.pid))
    with pytest.raises(SystemExit):
        with jobguard.owning(tmp_path / "resume.pt"):
            train_teachers(data, TEACHER, [0], out=tmp_path / "t", resume=tmp_path / "resume.pt")
    assert f"Snakemake (pid {gone.pid}) is gone, so this job stops" in capsys.readouterr().err
    assert not (tmp_path / "t/seed0/model.pt").exists()
    monkeypatch.setenv(jobguard.PARENT_ENV, str(os.getpid()))  # alive: trains to the end
    train_teachers(data, TEACHER, [0], out=tmp_path / "t", resume=tmp_path / "resume.pt")
    assert (tmp_path / "t/seed0/model.pt").exists()


def test_two_processes_on_one_resume_state(tmp_path, data):
    """The second of two identical training jobs stops at once; the first is unharmed."""
    slow = {**TEACHER, "train": {**TEACHER["train"], "epochs": 4000}}
    resume, out = str(tmp_path / "resume.pt"), str(tmp_path / "t")
    command = [sys.executable, "-m", "ensemble_distill.teacher", "--data", str(data), "--seeds",
               "0", "--teacher", json.dumps(slow), "--resume", resume, "--out", out]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    env.pop(jobguard.PARENT_ENV, None)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    try:
        for line in first.stdout:  # wait until it trains
            if "epoch    2/" in line:
                break
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        assert "another process is already running this job" in second.stderr
        assert first.poll() is None  # still training
        first.send_signal(signal.SIGTERM)
        rest = first.communicate(timeout=60)[0]
    finally:
        first.kill()
    assert first.returncode != 0 and rest.count("stopped by signal SIGTERM: the state after") == 1
    assert not (tmp_path / "t/seed0/model.pt").exists() and (tmp_path / "resume.pt").exists()
