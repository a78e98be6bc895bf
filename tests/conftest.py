import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))  # the package, also without `pip install -e .`


def snakemake(*args, cwd, timeout=900):
    """Run Snakemake with the interpreter running the tests (no profile from the user)."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workflow_copy(tmp_path):
    """A copy of the workflow in a temporary folder, so results/ never touch the repo."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("workflow", "profiles", "envs"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path
