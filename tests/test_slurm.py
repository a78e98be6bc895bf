"""The workflow on a real SLURM cluster: a single node on localhost (.ci/local-slurm.sh).

Runs wherever the cluster can be brought up (root + apt-get); skips, saying why, elsewhere.
Every Snakemake call is wrapped in `timeout -k`: a status-polling bug must fail the test,
not hang CI (../shared/reference/slurm-local.md).
"""

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO
from ensemble_distill import provenance
from ensemble_distill.standin import shrunk_config

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SCRIPT = REPO / ".ci/local-slurm.sh"
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


@pytest.fixture(scope="module")
def cluster():
    check = subprocess.run([SCRIPT, "check"], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f"no local SLURM cluster: {check.stdout.strip()}")
    up = subprocess.run([SCRIPT, "up"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, f"{SCRIPT} up failed:\n{up.stdout}\n{up.stderr}"
    yield
    subprocess.run([SCRIPT, "down"], capture_output=True, timeout=120)


def snakemake_command(*args, limit):
    return ["timeout", "-k", "15", str(limit), sys.executable, "-m", "snakemake",
            "--workflow-profile", "profiles/slurm-local", *args]  # fmt: skip


def run_slurm(workflow, *args, limit=600):
    result = subprocess.run(
        snakemake_command(*args, limit=limit),
        cwd=workflow,
        stdin=subprocess.DEVNULL,  # no job-control surprises (slurm-local.md, problem 8)
        capture_output=True,
        text=True,
    )
    assert result.returncode != 124, "Snakemake timed out: SLURM status polling hung?"
    return result.returncode, result.stdout + result.stderr


def write_config(workflow, text):
    # One core for measure_cost: the node has 2, and other jobs need one too.
    (workflow / "config.yaml").write_text("resources: {measure_cost: {threads: 1}}\n" + text)


def scontrol_job(job_id):
    """{key: value} of ``scontrol show job`` (the cluster keeps ended jobs for MinJobAge)."""
    text = subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def test_tiny_cifar_config_runs_through_sbatch_in_groups(cluster, workflow_copy, standin_root,
                                                         say):  # fmt: skip
    """hydra-cifar10 shrunk, one student: 16 jobs that are not local rules go out as 10
    sbatch jobs: prepare_dataset, train_teacher, analyse_teachers, distill_student,
    measure_cost and 2 x predict alone; 6 eval sets in groups of 4 (2 jobs); the metrics of
    both eval groups and the ensemble curve in 1."""
    config = shrunk_config(REPO / "configs/hydra-cifar10.yaml", standin_root, ["kd"])
    write_config(workflow_copy, yaml.safe_dump(config))
    tic = time.monotonic()
    rc, output = run_slurm(workflow_copy)
    assert rc == 0, output[-4000:]
    submitted = {int(job): log for job, log in SUBMITTED.findall(output)}
    remote = re.findall(r"^\s*rule (\w+):", output, flags=re.M)  # not "localrule x:"
    assert len(remote) == 16 and remote.count("make_eval_set") == 6
    groups = sorted(Path(log).parent.name for log in submitted.values() if "/group_" in log)
    assert groups == ["group_eval_sets_make_eval_set"] * 2 + [
        "group_metrics_compute_metrics_ensemble_curve"  # the plugin's folder: group and rules
    ]
    assert len(submitted) == 10, output[-4000:]
    # The 4-set group: 2 cores wide (the profile's `cores`), so 2 layers of 2 jobs, each
    # 4000 MB and 60 min: 8000 MB and 2 h. The 2-set group: 1 layer, 1 h.
    asked = sorted(
        (scontrol_job(job)["NumCPUs"], scontrol_job(job)["TimeLimit"],
         scontrol_job(job)["MinMemoryNode"])
        for job, log in submitted.items() if "group_eval_sets" in log
    )  # fmt: skip
    assert asked == [("2", "01:00:00", "8000M"), ("2", "02:00:00", "8000M")]
    metrics = pd.read_parquet(workflow_copy / "results/hydra_cifar10/metrics.parquet")
    assert set(metrics["model"]) == {"ensemble", "single", "kd"}
    for table in ("summary", "corruption", "ood"):
        assert (workflow_copy / f"results/hydra_cifar10/tables/{table}.md").stat().st_size > 0
    # Provenance names the SLURM job that trained each checkpoint.
    checkpoint = workflow_copy / "results/hydra_cifar10/teachers/seeds0-2/seed1/model.pt"
    teacher = provenance.read(checkpoint)
    assert "train_teacher" in submitted[int(teacher["slurm_job_id"])]
    say(
        f"{len(remote)} jobs in {len(submitted)} SLURM jobs ({len(groups)} of them groups) and "
        f"{output.count('localrule ')} local jobs in {time.monotonic() - tic:.0f} s; "
        f"eval-set groups asked (CPUs, time, memory) {asked}; teacher seed1 trained in "
        f"SLURM job {teacher['slurm_job_id']}"
    )


def test_failing_job_is_reported_failed(cluster, workflow_copy, tmp_path, say):
    empty = tmp_path / "no-data"
    for folder in ("mnist", "fashion-mnist"):  # files present (the config check passes)...
        (empty / folder).mkdir(parents=True)
        for name in ("train", "t10k"):
            for part in ("images-idx3", "labels-idx1"):
                (empty / folder / f"{name}-{part}-ubyte.gz").write_bytes(b"")  # ...but empty
    write_config(
        workflow_copy,
        f"data_root: {empty}\n" + (REPO / "tests/configs/tiny-mnist.yaml").read_text(),
    )
    rc, output = run_slurm(workflow_copy, "--retries", "0", "results/mnist/dataset.npz")
    assert rc != 0
    assert "Error in rule prepare_dataset" in output
    assert "SLURM status is: 'FAILED'" in output
    log = (workflow_copy / "logs/prepare_dataset/mnist.log").read_text()
    assert f"checksum mismatch for {empty}" in log  # our loader's error names the file
    say(re.search(r"SLURM-job '\d+' failed, SLURM status is: 'FAILED'", output).group(0))


SLOW_TEACHER = """
experiments:
  slow:
    dataset: {name: spiral, arms: 3, train_per_arm: 2000, noise: 0.1, seed: 0}
    teacher:
      arch: mlp
      hidden: [64, 64]
      train: {epochs: 200, batch_size: 32, checkpoint_interval: 0}  # a resume state per epoch
    ensemble: {size: 1}
    distill_seeds: [0]
    students: {kd: {method: kd}}
    eval_sets: {test: {kind: test}}
"""


def test_cancelled_training_is_resubmitted_and_resumes(cluster, workflow_copy, say):
    """scancel mid-training: --retries resubmits the job and it resumes from its checkpoint."""
    write_config(workflow_copy, SLOW_TEACHER)
    target = "results/slow/teachers/seeds0-0"
    resume = workflow_copy / "results/.resume/slow/teachers-seeds0-0.pt"
    command = snakemake_command("--retries", "1", target, limit=600)
    with subprocess.Popen(
        command,
        cwd=workflow_copy,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as snakemake:
        deadline = time.monotonic() + 300
        while not resume.exists():  # the first epoch is done and saved
            assert snakemake.poll() is None, snakemake.stdout.read()
            assert time.monotonic() < deadline, "training never wrote its resume state"
            time.sleep(0.5)
        time.sleep(3)  # a few more epochs
        running = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
        ).stdout
        first = [line.split()[0] for line in running.splitlines() if "train_teacher" in line]
        assert len(first) == 1, running
        subprocess.run(["scancel", first[0]], check=True)
        output = snakemake.communicate()[0]
    assert snakemake.returncode == 0, output[-4000:]
    assert "CANCELLED" in output
    jobs = [int(job) for job, log in SUBMITTED.findall(output) if "train_teacher" in log]
    assert len(jobs) == 2 and jobs[0] == int(first[0]), output[-4000:]
    log = (workflow_copy / "logs/train_teacher/slow/seeds0-0.log").read_text()
    resumed = re.search(r"resumed from \S+ after epoch (\d+)/200", log)
    assert resumed and int(resumed.group(1)) >= 1, log[:2000]
    say(f"SLURM jobs {jobs}: {jobs[0]} cancelled, {jobs[1]} resubmitted: {resumed.group(0)}")
