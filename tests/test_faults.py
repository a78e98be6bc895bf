"""Faults at the Snakemake level: a run SIGKILLed at several points, unlocked and restarted,
ends with checkpoints and metric tables byte-identical to an uninterrupted run, and its
training jobs do not outlive it; SIGTERM and SIGINT to Snakemake stop its running jobs."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.slow
KILL_AFTER = (6, 14, 24)  # seconds into each restarted run
TRAINING = ("ensemble_distill.teacher", "ensemble_distill.distill")


def toy_workflow(destination):
    copy_workflow(destination)
    config = (REPO / "tests/configs/tiny.yaml").read_text()
    (destination / "config.yaml").write_text(config + "run: [toy]\n")  # the 2-D toy: ~1 min
    return destination


def training_jobs_of(pid):
    """Training processes started by the Snakemake process ``pid`` (from /proc)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        argv = cmdline.split("\0")
        if f"ENSEMBLE_DISTILL_SNAKEMAKE_PID={pid}".encode() in environ and any(
            t in argv
            for t in TRAINING  # python -m <module>, not the shell around it
        ):
            found.append(int(proc.name))
    return found


def wait_for_orphans(pid, timeout=60):
    """Training jobs of a killed Snakemake still alive after ``timeout`` seconds (they stop
    at their next epoch; one still importing torch gets there later)."""
    deadline = time.monotonic() + timeout
    while (alive := training_jobs_of(pid)) and time.monotonic() < deadline:
        time.sleep(1)
    return alive


def artifacts(workflow):
    """Checkpoints, predictions and metric tables (not cost.parquet: it holds timings)."""
    results = workflow / "results"
    files = [*results.rglob("model.pt"), *results.rglob("*.npz"), *results.rglob("*.parquet")]
    files = [p for p in files if p.name != "cost.parquet"]
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(files)}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_killed_and_restarted_run_ends_with_identical_bytes(tmp_path):
    killed = toy_workflow(tmp_path / "workflow")
    result = snakemake("--cores", "2", cwd=killed)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = artifacts(killed)  # the uninterrupted run; then the same run again, killed
    for made in ("results", "logs", "benchmarks", ".snakemake"):
        shutil.rmtree(killed / made)
    command = [sys.executable, "-m", "snakemake", "--cores", "2"]
    orphans = []
    for seconds in KILL_AFTER:
        run = subprocess.Popen(command, cwd=killed, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        time.sleep(seconds)
        if run.poll() is not None:
            break  # finished before this kill point
        run.send_signal(signal.SIGKILL)  # Snakemake cannot pass this on to its jobs
        run.wait()
        orphans += wait_for_orphans(run.pid)
        unlock = snakemake("--unlock", cwd=killed)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    assert orphans == []
    final = snakemake("--cores", "2", cwd=killed)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]

    found = artifacts(killed)
    assert len(expected) > 20 and found.keys() == expected.keys()
    differing = [name for name in expected if found[name] != expected[name]]
    assert differing == [], differing


def long_training_workflow(destination):
    """The toy experiment with teachers that train for minutes, saving after every epoch."""
    workflow = toy_workflow(destination)
    config = (
        (workflow / "config.yaml")
        .read_text()
        .replace(
            "train: {epochs: 3, batch_size: 32}",
            "train: {epochs: 100000, batch_size: 32, checkpoint_interval: 0}",
        )
    )
    (workflow / "config.yaml").write_text(config)
    return workflow


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_to_snakemake_reaches_its_jobs(tmp_path, signum):
    """Snakemake alone waits for running jobs on SIGTERM (hours for a CIFAR job) and leaves
    them running on a SIGINT sent to its process only; with the Snakefile's onstart hook
    both stop the jobs, which save their state, and Snakemake exits within seconds."""
    workflow = long_training_workflow(tmp_path / "workflow")
    command = [sys.executable, "-m", "snakemake", "--cores", "2"]
    run = subprocess.Popen(command, cwd=workflow, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list((workflow / "results/.resume").rglob("*.pt")):  # an epoch was saved
            assert run.poll() is None and time.monotonic() < deadline, "training never started"
            time.sleep(0.5)
        jobs = training_jobs_of(run.pid)
        assert jobs, "no training job found"
        run.send_signal(signum)  # to Snakemake's process only, not its process group
        stopped = time.monotonic()
        run.wait(timeout=60)
        took = time.monotonic() - stopped
    finally:
        run.kill()
    assert run.returncode != 0 and took < 30, (run.returncode, took)
    assert wait_for_orphans(run.pid, timeout=10) == []
    logs = "".join(p.read_text() for p in (workflow / "logs").rglob("*.log"))
    # every job says it stopped; one that had finished an epoch says which it kept (a job
    # started a moment before the signal may not have finished one)
    assert logs.count("stopped by signal SIGTERM: ") == len(jobs), logs[-3000:]
    assert "stopped by signal SIGTERM: the state after epoch" in logs, logs[-3000:]
    assert list((workflow / "results/.resume").rglob("*.pt")), "the saved state was lost"
    assert not list((workflow / "results/.resume").rglob("*.lock"))
