"""Reuse beyond the run: audit by re-execution (rerun.py: a job rerun from its provenance
record in a scratch folder writes the same bytes; a tampered artifact is reported with what
differs; changed inputs refuse the rerun before anything runs; nothing in results/ is
written) and results bundles (bundle.py: every table and figure regenerated elsewhere
from a bundle, without checkpoints or data, byte-identical)."""

import subprocess
import sys
import tarfile

import numpy as np
import pytest
from conftest import REPO, copy_workflow
from ensemble_distill.io import file_sha256, load_checkpoint, load_npz, save_checkpoint, save_npz

pytestmark = pytest.mark.slow
TEACHER = "results/img/teachers/seeds5-7/seed5/model.pt"
METRICS = "results/img/metrics/all/hydra/seed0.parquet"


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """The tiny config's digits experiment ('img'), run once for every test here."""
    root = tmp_path_factory.mktemp("rerun")
    copy_workflow(root)
    (root / "config.yaml").write_text((REPO / "tests/configs/tiny.yaml").read_text()
                                      + "run: [img]\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=root,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def audit_rerun(workflow, artifact, *more):
    command = [sys.executable, "-m", "ensemble_distill.audit", "--rerun", artifact, *more]
    return subprocess.run(command, cwd=workflow, capture_output=True, text=True)


def hashes(folder):
    return {p: file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_checkpoint_and_metrics_rerun_identical_and_results_untouched(workflow, tmp_path):
    before = hashes(workflow / "results")
    teacher = audit_rerun(workflow, TEACHER, "--scratch", str(tmp_path / "a"))
    assert teacher.returncode == 0, teacher.stdout + teacher.stderr
    assert f"{TEACHER}: identical\n  byte-identical" in teacher.stdout
    assert (tmp_path / "a" / TEACHER).is_file() and not (tmp_path / "a" / TEACHER).is_symlink()
    metrics = audit_rerun(workflow, METRICS, "--scratch", str(tmp_path / "b"))
    assert metrics.returncode == 0, metrics.stdout + metrics.stderr
    assert f"{METRICS}: identical\n  byte-identical" in metrics.stdout  # same code, same record
    assert hashes(workflow / "results") == before


def test_a_tampered_output_is_reported_with_what_differs(workflow, tmp_path):
    path = workflow / METRICS.replace("metrics/all", "predictions/all").replace(".parquet", ".npz")
    original = path.read_bytes()
    arrays = load_npz(path)
    name = next(k for k, v in arrays.items() if np.asarray(v).dtype.kind == "f")
    arrays[name] = np.asarray(arrays[name]).copy()
    arrays[name].flat[0] += 0.25
    save_npz(path, **arrays)
    try:
        result = audit_rerun(workflow, str(path.relative_to(workflow)))
    finally:
        path.write_bytes(original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ": differs" in result.stdout and f"{name}: largest |difference| 0.25" in result.stdout

    checkpoint = workflow / TEACHER
    original = checkpoint.read_bytes()
    payload = load_checkpoint(checkpoint)
    key = sorted(payload["state_dicts"][0])[0]
    payload["state_dicts"][0][key] = payload["state_dicts"][0][key] + 1e-3
    save_checkpoint(checkpoint, **payload)
    try:
        result = audit_rerun(workflow, TEACHER)
    finally:
        checkpoint.write_bytes(original)
    assert result.returncode == 1 and f"state_dicts.0.{key}: largest |difference| 0.001" in (
        result.stdout
    ), result.stdout


def test_changed_inputs_refuse_before_anything_runs(workflow, tmp_path):
    data = workflow / "results/img/dataset.npz"
    original = data.read_bytes()
    arrays = load_npz(data)
    arrays["x_train"] = np.asarray(arrays["x_train"]).copy()
    arrays["x_train"].flat[0] += 1
    save_npz(data, **arrays)
    try:
        result = audit_rerun(workflow, TEACHER, "--scratch", str(tmp_path / "never"))
    finally:
        data.write_bytes(original)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused: inputs of" in result.stdout and "results/img/dataset.npz: sha256" in (
        result.stdout
    )
    assert not (tmp_path / "never").exists()  # nothing ran


def test_bundle_regenerates_every_table_and_figure_elsewhere(workflow, tmp_path):
    archive = tmp_path / "img.tar.gz"
    made = subprocess.run([sys.executable, "-m", "ensemble_distill.bundle", "--experiment",
                           "img", "--out", str(archive)], cwd=workflow, capture_output=True,
                          text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "config.yaml" in names and "bundle.json" in names
    assert not [n for n in names if "/teachers/" in n or "/students/" in n or "/tables/" in n]
    assert "results/img/metrics.parquet" in names and "results/img/histories.parquet" in names
    fresh = copy_workflow(tmp_path / "elsewhere")
    with tarfile.open(archive) as tar:
        tar.extractall(fresh, filter="data")
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=fresh,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "train_teacher" not in done.stdout + done.stderr  # no training job exists
    originals = sorted((workflow / "results/img").glob("tables/*.*"))
    originals += sorted((workflow / "results/img").glob("figures/*.png"))
    assert len(originals) > 10
    for path in originals:
        if path.suffix in (".md", ".csv", ".png"):
            again = fresh / path.relative_to(workflow)
            assert again.read_bytes() == path.read_bytes(), path.name
    lean = tmp_path / "lean.tar.gz"
    command = ["--experiment", "img", "--out", str(lean), "--without-predictions"]
    subprocess.run([sys.executable, "-m", "ensemble_distill.bundle", *command], cwd=workflow,
                   check=True)  # fmt: skip
    with tarfile.open(lean) as tar:
        lean_names = tar.getnames()
    assert not [n for n in lean_names if "/predictions/" in n]
    assert [n for n in lean_names if "/per_example/" in n] == [
        n for n in names if "/per_example/" in n
    ]
    check = subprocess.run([sys.executable, "-m", "ensemble_distill.bundle", "--check",
                            "bundle.json"], cwd=fresh, capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and "DIFFERS" not in check.stdout, check.stdout
