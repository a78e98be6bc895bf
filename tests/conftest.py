import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))  # the package, also without `pip install -e .`
sys.path.insert(0, str(REPO / "bench"))
from pipeline import copy_workflow  # noqa: E402  (what a runnable copy of the workflow holds)


def two_split_regression(n=80, train=60):
    """A 1-D regression dataset with two train/test splits (y = x sin x + noise)."""
    import numpy as np
    from ensemble_distill.datasets import regression_dataset

    rng = np.random.default_rng(0)
    splits = []
    for _ in range(2):
        x = rng.uniform(-3, 3, size=(n, 1))
        y = (x * np.sin(x))[:, 0] + 0.2 * rng.standard_normal(n)
        splits.append((x[:train], y[:train], x[train:], y[train:]))
    return regression_dataset("toy_regression", splits)


def snakemake(*args, cwd, timeout=900):
    """Run Snakemake with the interpreter running the tests (no profile from the user)."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workflow_copy(tmp_path):
    """A copy of the workflow in a temporary folder, so results/ never touch the repo."""
    return copy_workflow(tmp_path)


def commit_all(workflow):
    """Make the copy a git checkout with everything committed; returns the commit."""

    def git(*args):
        return subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
            cwd=workflow, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "workflow under test")
    return git("rev-parse", "HEAD")


def run_tiny_config(workflow, config_name, data_root=None, git=False):
    """Run a tests/configs/ file as the copy's config.yaml; returns the results folder.

    With ``git``, the copy is first committed as a git checkout (for provenance tests).
    """
    config = (REPO / "tests/configs" / config_name).read_text()
    if data_root is not None:
        config += f"data_root: {data_root}\n"
    (workflow / "config.yaml").write_text(config)
    if git:
        commit_all(workflow)
    result = snakemake("--cores", "2", cwd=workflow)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workflow / "results"


@pytest.fixture(scope="session")
def standin_root(tmp_path_factory):
    """Stand-in CIFAR-10 / CIFAR-100 / SVHN files in the official formats."""
    from ensemble_distill.standin import write_standin_data

    root = tmp_path_factory.mktemp("cifar-data")
    write_standin_data(root)
    return root


@pytest.fixture
def say(request):
    """Print a line to the terminal even while pytest captures output (for CI summaries)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def write(line):
        with capture.global_and_fixture_disabled():
            print(f"\n[{request.node.name}] {line}", flush=True)

    return write


def trace(workflow, table, row, column, *configfiles):
    """``python -m ensemble_distill.trace`` on a cell of a run in ``workflow``."""
    files = ["--configfile", *configfiles] if configfiles else []
    cmd = [sys.executable, "-m", "ensemble_distill.trace", table, row, column, *files]
    return subprocess.run(cmd, cwd=workflow, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(workflow / "workflow")})  # fmt: skip


def cell(markdown, row, column):
    """A cell of a Markdown table, found by its row's first cell and its column header."""
    lines = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0]]
    for cells in lines[2:]:
        if cells[0].strip() == row:
            return cells[header.index(column)].strip()
    raise KeyError(row)
