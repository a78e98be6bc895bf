"""Profiles: rule names under set-resources exist (Snakemake ignores typos there silently),
and the SLURM profile resolves its resources in a dry run without SLURM."""

from pathlib import Path

import pytest
import yaml
from conftest import REPO, snakemake

PROFILES = sorted((REPO / "profiles").glob("*/profile.yaml"))


def rules(cwd):
    result = snakemake("--list-rules", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.parent.name)
def test_set_resources_name_real_rules(profile, workflow_copy):
    names = set(yaml.safe_load(profile.read_text()).get("set-resources", {}))
    assert names <= rules(workflow_copy), f"{profile}: unknown rules {names - rules(workflow_copy)}"


@pytest.mark.slow
def test_slurm_profile_dry_run_resolves_resources(workflow_copy):
    result = snakemake("-n", "--workflow-profile", "profiles/slurm", cwd=workflow_copy)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    teacher = output[output.index("rule train_teacher:") :].split("\n\n")[0]
    assert "gpu=1" in teacher and "slurm_partition=CHANGE_ME_gpu" in teacher
    metrics = output[output.index("rule compute_metrics:") :].split("\n\n")[0]
    assert "gpu=" not in metrics and "slurm_partition=CHANGE_ME_cpu" in metrics
    assert Path(workflow_copy / "profiles/slurm/profile.yaml").is_file()
