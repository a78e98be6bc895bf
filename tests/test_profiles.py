"""Profiles: rule names under set-resources exist (Snakemake ignores typos there silently),
and the SLURM profile resolves its resources in a dry run without SLURM."""

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


def job_block(output, rule):
    """The dry-run description of the first job of ``rule``."""
    return output[output.index(f"rule {rule}:") :].split("\n\n")[0]


@pytest.mark.slow
@pytest.mark.parametrize("style", ["gpu", "gres"])
def test_slurm_profile_dry_run_resolves_resources(workflow_copy, style):
    """Partitions come from the profile; memory, runtime and GPUs from config (configs/gpu.yaml)."""
    (workflow_copy / "style.yaml").write_text(f"resources: {{gpu_request: {style}}}\n")
    result = snakemake(
        "-n", "--cores", "8", "--workflow-profile", "profiles/slurm",
        "--configfile", "config.yaml", "configs/gpu.yaml", "style.yaml",
        cwd=workflow_copy,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    teacher = job_block(output, "train_teacher")
    gpu_request = "gpu=1" if style == "gpu" else "gres=gpu:1"
    assert gpu_request in teacher and "slurm_partition=CHANGE_ME_gpu" in teacher
    assert "mem_mb=16000" in teacher and "runtime=240" in teacher and "--threads 4" in teacher
    assert "--device cuda" in teacher
    metrics = job_block(output, "compute_metrics")
    assert "gpu" not in metrics.split("resources:")[1].split("\n")[0]
    assert "slurm_partition=CHANGE_ME_cpu" in metrics and "runtime=60" in metrics


def test_slurm_profiles_group_the_rules_groups():
    """group-components names exactly the rules' `group:`s (Snakemake ignores unknown
    names), in both SLURM profiles, with `cores` at least every config's largest `threads`."""
    import re

    groups = set()
    for path in (REPO / "workflow/rules").glob("*.smk"):
        groups |= set(re.findall(r'^    group:\n        "(\w+)"', path.read_text(), flags=re.M))
    assert groups == {"eval_sets", "metrics"}
    threads = [
        job["threads"]
        for path in (REPO / "configs").glob("*.yaml")
        for job in (yaml.safe_load(path.read_text()).get("resources") or {}).values()
        if isinstance(job, dict) and "threads" in job
    ]
    for name in ("slurm", "slurm-local"):
        profile = yaml.safe_load((REPO / f"profiles/{name}/profile.yaml").read_text())
        assert set(profile["group-components"]) == groups, name
    assert yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())["cores"] >= max(
        threads
    )
