"""Snakemake-level tests: dry-run, lint, and a tiny end-to-end run in a temporary folder."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import cell, run_tiny_config, snakemake, trace
from ensemble_distill import provenance
from ensemble_distill.io import file_sha256, load_checkpoint

pytestmark = pytest.mark.slow
REPORT = {}  # the tiny run's HTML report and the items Snakemake put into it


def test_dry_run_of_the_default_config(workflow_copy):
    result = snakemake("-n", "--cores", "2", cwd=workflow_copy)
    assert result.returncode == 0, result.stderr
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    # Teachers: one pack per experiment (spiral 10, digits 8, toy_regression 5 members).
    # Students: one job for both seeds (distill_seeds_per_job: 2): 2 + 4 + 2. Predictions and
    # metrics: one job each per experiment (eval_group: experiment), for all its models.
    assert jobs["train_teacher"] == jobs["predict"] == jobs["compute_metrics"] == "3"
    assert jobs["distill_student"] == "8"
    assert jobs["diversity_table"] == jobs["ensemble_curve"] == jobs["plot_diversity"] == "1"
    assert jobs["plot_regression_fit"] == jobs["plot_uncertainty_maps"] == "1"


def test_lint_is_clean(workflow_copy):
    result = snakemake("--lint", cwd=workflow_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_invalid_config_fails_before_any_job_with_the_key_path(workflow_copy):
    (workflow_copy / "bad.yaml").write_text("experiments: {spiral: {teacher: {arch: vgg}}}\n")
    result = snakemake("-n", "--configfile", "bad.yaml", cwd=workflow_copy)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "experiments.spiral.teacher.arch': 'vgg' is not one of ['mlp', 'cnn', 'resnet'," in (
        output
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "run=[]"], "config key 'run': [] should be non-empty"),
        (["--config", "experiments={spiral: {eval_sets: {test: {kind: grid}}}}"],
         "'experiments.spiral.eval_sets': needs an eval set of kind 'test'"),
        (["--config", "data_root=/nonexistent", "run=[mnist]",
          "experiments={mnist: {dataset: {name: mnist}, teacher: {arch: mlp, hidden: [8]}, "
          "ensemble: {size: 1}, distill_seeds: [0], students: {}, "
          "eval_sets: {test: {kind: test}}}}"],
         "config key 'data_root': experiment 'mnist' reads /nonexistent/mnist/"),
    ],
)  # fmt: skip
def test_bad_command_line_config_stops_the_dry_run(workflow_copy, args, message):
    result = snakemake("-n", *args, cwd=workflow_copy)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_numbers_nested_in_a_command_line_override_are_accepted(workflow_copy):
    override = "experiments={spiral: {ensemble: {size: 3, pack: 2}}}"
    result = snakemake("-n", "--config", override, "run=[spiral]", cwd=workflow_copy)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"train_teacher\s+2\n", result.stdout)  # packs of seeds 0-1 and 2


def test_tiny_config_end_to_end(workflow_copy):
    results = run_tiny_config(workflow_copy, "tiny.yaml", git=True)
    config = yaml.safe_load((workflow_copy / "config.yaml").read_text())

    toy = pd.read_parquet(results / "toy/metrics.parquet")
    assert set(toy["model"]) == {"ensemble", "single", "kd", "hydra"}
    assert set(toy["eval_set"]) == {"test", "grid"}
    test_rows = toy[(toy["eval_set"] == "test") & (toy["metric"] == "acc")]
    assert sorted(test_rows.groupby("model").size().items()) == [
        ("ensemble", 1),
        ("hydra", 2),
        ("kd", 2),
        ("single", 2),
    ]
    assert toy[(toy["eval_set"] == "grid") & (toy["metric"] == "acc")].empty  # unlabelled
    assert toy["value"][toy["metric"] == "acc"].between(0, 1).all()

    img = pd.read_parquet(results / "img/metrics.parquet")
    rot = img[(img["eval_set"] == "rot") & (img["metric"] == "nll") & (img["model"] == "single")]
    assert sorted(rot["distill_seed"].unique()) == config["experiments"]["img"]["ensemble"]["seeds"]
    assert sorted(rot["intensity"].unique()) == [0.0, 90.0]
    hydra_mu = img[(img["model"] == "hydra") & (img["metric"] == "model_uncertainty")]
    # Phase 2 pulls the grown heads apart towards their own teachers: identical heads (the
    # KD loss in phase 2, or a missing grow) would give MU ≈ 1e-9.
    assert hydra_mu["value"].notna().all() and (hydra_mu["value"] > 1e-5).all(), hydra_mu

    table = (results / "toy/tables/summary.md").read_text()
    for model in ("ensemble", "single", "kd", "hydra"):
        assert f"| {model} |" in table
    csv = pd.read_csv(results / "toy/tables/summary.csv")
    assert list(csv["model"]) == ["ensemble", "single", "kd", "hydra"]
    assert list(csv["n"]) == [1, 2, 2, 2]

    for figure in ("toy/figures/uncertainty_maps", "img/figures/shift_curves"):
        for suffix in (".png", ".pdf"):
            assert (results / (figure + suffix)).stat().st_size > 1000
    assert not (results / "img/figures/uncertainty_maps.png").exists()  # no grid for images
    assert not list(Path(results / ".resume").rglob("*.pt"))  # resume state cleaned up

    # Nothing left to do, and a second run changes nothing.
    again = snakemake("-n", "--cores", "2", cwd=workflow_copy)
    assert "Nothing to be done" in again.stdout + again.stderr

    check_provenance_audit_and_report(workflow_copy, results)
    check_replanning(workflow_copy, results)


def check_replanning(workflow_copy, results):
    """Files changed inside directory outputs rerun the jobs that made them and those that
    read them (manifest.py); a plain run rebuilds them and leaves nothing missing."""
    # check_provenance_audit_and_report overwrote teacher seed 7 of img; now also truncate a
    # student checkpoint, delete a prediction file and edit a per-model metric table.
    kd = results / "toy/students/kd/seeds0-1/seed1/model.pt"
    kd.write_bytes(kd.read_bytes()[:100])
    (results / "toy/predictions/hydra-seeds0-1/hydra/seed0.npz").unlink()
    edit_parquet_value(results / "toy/metrics/ensemble/ensemble.parquet")
    plan = snakemake("-n", "--cores", "2", cwd=workflow_copy)
    assert plan.returncode == 0, plan.stderr[-3000:]
    for changed in ("img/teachers/seeds5-7/seed7/model.pt: changed", "seed1/model.pt: changed",
                    "hydra/seed0.npz: deleted", "ensemble/ensemble.parquet: changed"):  # fmt: skip
        assert changed in plan.stderr, changed
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.stdout, flags=re.M))
    # img's teacher pack, toy's kd seed group, and what reads them; toy's hydra group's
    # predictions and the ensemble's metrics
    assert jobs["train_teacher"] == "1" and jobs["distill_student"] == "2", jobs
    assert int(jobs["predict"]) >= 3 and int(jobs["compute_metrics"]) >= 4, jobs
    rebuilt = snakemake("--cores", "2", cwd=workflow_copy)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    again = snakemake("-n", "--cores", "2", cwd=workflow_copy)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]
    assert load_checkpoint(kd)["seed"] == 1


def audit(workflow, *args):
    return subprocess.run(
        [sys.executable, "-m", "ensemble_distill.audit", *args],
        cwd=workflow, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(workflow / "workflow")},
    )  # fmt: skip


ARTIFACTS = {".npz", ".pt", ".png", ".pdf", ".md", ".csv"}


def check_provenance_audit_and_report(workflow_copy, results):
    """Every artifact has a record; audit traces a cell to the data; the report is stamped."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=workflow_copy, capture_output=True, text=True
    ).stdout.strip()

    artifacts = [p for p in results.rglob("*") if ".resume" not in p.parts and p.is_file()]
    for path in artifacts:
        if path.suffix in ARTIFACTS:
            assert provenance.sidecar_path(path).is_file(), f"{path}: no sidecar"
        if path.suffix == ".parquet":
            assert provenance.read(path) is not None, f"{path}: no provenance metadata"
    kd = provenance.read(results / "toy/students/kd/seeds0-1/seed1/model.pt")
    assert kd["seeds"] == {"distill": 1, "seed_group": [0, 1]}  # both seeds in one job, own records
    assert kd["config"]["student"]["method"] == "kd"
    # toy: an eval group per student seed group; img: one group of all models (eval_group)
    kd_predictions = provenance.read(results / "toy/predictions/kd-seeds0-1/kd/seed1.npz")
    assert [p for p in kd_predictions["inputs"] if p.endswith(".pt")] == [
        "results/toy/students/kd/seeds0-1/seed1/model.pt"  # its own checkpoint only
    ]
    teacher = provenance.read(results / "img/teachers/seeds5-7/seed5/model.pt")
    assert teacher["git"] == {"commit": head, "dirty": False}
    assert teacher["seeds"] == {"member": 5, "pack": [5, 7]}
    assert teacher["config"]["teacher"]["hidden"] == [16]
    dataset = "results/img/dataset.npz"
    assert teacher["inputs"] == {dataset: file_sha256(workflow_copy / dataset)}
    data = provenance.read(workflow_copy / dataset)
    assert any(p.endswith("sklearn/datasets/data/digits.csv.gz") for p in data["inputs"])
    collected = provenance.read(results / "img/metrics.parquet")
    assert len(collected["upstream"]) == len(collected["inputs"]) == 2  # ensemble, hydra

    cell = ["--experiment", "img", "--model", "hydra", "--metric", "nll", "--eval-set", "rot"]
    traced = audit(workflow_copy, *cell)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    for path in ("metrics/all/hydra/seed0.parquet", "predictions/all/hydra/seed0.npz",
                 "students/hydra/seeds0-0/seed0/model.pt", "teachers/seeds5-7/seed7/model.pt",
                 "evalsets/rot.npz",
                 "dataset.npz", "digits.csv.gz"):  # fmt: skip
        assert path in traced.stdout, path
    assert f"commit(s): {head[:10]}" in traced.stdout

    check_trace(workflow_copy, results)
    check_tampering(workflow_copy, results)

    report = snakemake("--report", "results/report.html", cwd=workflow_copy)
    assert report.returncode == 0, report.stderr[-3000:]
    REPORT["html"] = results / "report.html"  # opened in a browser by the next test
    REPORT["items"] = re.findall(r"Adding (\S+) \(", report.stdout + report.stderr)
    html = (results / "report.html").read_text()
    assert "toy: in-domain test metrics" in html
    summary = pd.read_csv(results / "provenance_summary.csv")  # in the report: who made what
    # toy: 4 tables (summary, cost, mu_gap, selective), 4 figures (uncertainty maps,
    # reliability, risk–coverage, training curves); img: 5 tables (+ ood), 5 figures
    # (shift curves and OOD histograms instead of the maps)
    assert len(summary) == 8 + 10 and set(summary["commit"]) == {head}
    embedded = re.search(r"filename=provenance_summary\.csv;base64,([A-Za-z0-9+/=]+)", html)
    assert head in base64.b64decode(embedded.group(1)).decode()
    assert set(summary["upstream_commits"].dropna()) == {head}
    assert "shift_curves.png" in html and "uncertainty_maps.png" in html
    assert "reliability.png" in html and "training_curves.png" in html

    (results / "img/teachers/seeds5-7/seed7/model.pt").write_bytes(b"not the trained weights")
    tampered = audit(workflow_copy, "results/img/figures/shift_curves.png")
    assert tampered.returncode == 1
    assert "results/img/teachers/seeds5-7/seed7/model.pt: sha256" in tampered.stdout


def check_trace(workflow_copy, results):
    """trace explains the summary table's Hydra NLL: rule, functions, config keys (defaults
    marked), files; after one metric row is edited, the cell no longer follows from it."""
    summary = "results/img/tables/summary.md"
    traced = trace(workflow_copy, summary, "hydra", "NLL")
    assert traced.returncode == 0, traced.stdout + traced.stderr
    shown = cell((workflow_copy / summary).read_text(), "hydra", "NLL ↓")
    assert f"recomputed: {shown}\n" in traced.stdout
    for piece in ("rule summary_table", "tables.hydra.summary_tables", "-> metrics.nll (",
                  "rule compute_metrics", "method 'hydra'", "rule distill_student",
                  "experiments.img.students.hydra.hinton_epochs = 1\n",
                  "experiments.img.students.hydra.head.hidden = [8]\n",
                  "results/img/students/hydra/seeds0-0/seed0/model.pt  [ok sha256",
                  "rule train_teacher"):  # fmt: skip
        assert piece in traced.stdout, piece
    assert re.search(r"hydra\.train\.lr = [\d.e-]+  \(default\)", traced.stdout)

    metrics = results / "img/metrics.parquet"
    original = metrics.read_bytes()
    table = pq.read_table(metrics)
    frame = table.to_pandas()
    row = (frame["model"] == "hydra") & (frame["metric"] == "nll") & (frame["eval_set"] == "test")
    frame.loc[row, "value"] += 0.5
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        table.schema.metadata), metrics)  # fmt: skip
    edited = trace(workflow_copy, summary, "hydra", "NLL")
    assert edited.returncode == 1 and f"the table shows {shown}" in edited.stdout, edited.stdout
    metrics.write_bytes(original)


def edit_parquet_value(path):
    """Change one value of a Parquet file, keeping its metadata (and so its record)."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    frame.loc[frame.index[0], "value"] += 1.0
    edited = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(edited.replace_schema_metadata(table.schema.metadata), path)


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def check_tampering(workflow_copy, results):
    """Each of five tamperings is flagged by the cell audit (exit 1, the file named), also
    where the edited file keeps its own record; --all flags it too; all clean before."""
    cell = ["--experiment", "img", "--model", "hydra", "--metric", "nll", "--eval-set", "rot"]
    assert audit(workflow_copy, "--all", "--experiment", "img").returncode == 0
    img = results / "img"
    tamperings = {
        "prediction": (img / "predictions/all/hydra/seed0.npz", flip_last_byte),
        "per-model metrics": (img / "metrics/all/hydra/seed0.parquet", edit_parquet_value),
        "aggregate metrics": (img / "metrics.parquet", edit_parquet_value),
        "checkpoint byte": (img / "students/hydra/seeds0-0/seed0/model.pt", flip_last_byte),
        "truncated checkpoint": (img / "students/hydra/seeds0-0/seed0/model.pt",
                                 lambda p: p.write_bytes(p.read_bytes()[:100])),
    }  # fmt: skip
    for name, (path, tamper) in tamperings.items():
        original = path.read_bytes()
        tamper(path)
        relative = str(path.relative_to(workflow_copy))
        traced, checked = audit(workflow_copy, *cell), audit(workflow_copy, "--all")
        path.write_bytes(original)
        for result in (traced, checked):
            assert result.returncode == 1, (name, result.stdout[-2000:])
            assert f"  {relative}: " in result.stdout, (name, result.stdout[-2000:])
    assert audit(workflow_copy, *cell).returncode == 0


def browser():
    """Headless Chromium driven by Selenium, or the reason there is none."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None, "selenium is not installed (pip install -e '.[dev]')"
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        return None, "no chromium/chromedriver (Debian: apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = binary
    return webdriver.Chrome(service=Service(driver), options=options), None


def report_items(driver, url):
    """Open every category, subcategory, item and toggle of a Snakemake report, as a reader
    would: [(file name, what shows)]. A figure shows as an image (its decoded width); a table
    is a data link whose CSV is returned."""
    from selenium.webdriver.common.by import By

    def go(*path):  # from the landing page along the menu; returns the link texts then
        driver.get(url)
        for name in path:
            driver.find_element(By.LINK_TEXT, name).click()
        return [a.text for a in driver.find_elements(By.TAG_NAME, "a") if a.text]

    def images():
        return {img.get_attribute("src"): img for img in driver.find_elements(By.TAG_NAME, "img")}

    def name_of(data_uri):
        return re.search(r"filename=([^;]+);", data_uri).group(1)

    fixed = {"Workflow", "Statistics", "About", "Results"}
    go()
    landing = set(images())  # the logo
    shown = []
    for category in [c for c in go() if c not in fixed]:
        subs = [s for s in go(category) if s not in fixed | {category}]
        for path in [(category, sub) for sub in subs] or [(category,)]:
            go(*path)
            for i in range(len(driver.find_elements(By.CSS_SELECTOR, "a[iconname=eye]"))):
                go(*path)
                eye = driver.find_elements(By.CSS_SELECTOR, "a[iconname=eye]")[i]
                href = eye.get_attribute("href") or ""
                if href.startswith("data:"):  # a table: its CSV rides in the link
                    csv = base64.b64decode(href.split("base64,", 1)[1]).decode()
                    shown.append((name_of(href), csv))
                    continue
                eye.click()
                # Items that differ in one two-valued label share a row, with a toggle.
                toggles = driver.find_elements(By.XPATH, "//label[input[@type='radio']]")
                for toggle in toggles or [None]:
                    if toggle is not None:
                        toggle.click()
                    for src, img in images().items():
                        if src not in landing and src.startswith("data:image"):
                            width = driver.execute_script("return arguments[0].naturalWidth", img)
                            shown.append((name_of(src), width))
    return shown


def test_report_renders_every_item_in_a_browser():
    if not REPORT:
        pytest.skip("the tiny end-to-end test (which builds the report) did not run")
    driver, reason = browser()
    if driver is None:
        pytest.skip(reason)
    try:
        shown = report_items(driver, REPORT["html"].as_uri())
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    assert errors == []
    assert sorted(name for name, _ in shown) == sorted(REPORT["items"])  # each item once
    for name, what in shown:
        if name.endswith(".png"):
            assert what > 100, name  # pixels decoded
        else:
            assert len(what.splitlines()) >= 2, name  # a header and rows


def test_editing_a_raw_data_file_reruns_its_dataset(workflow_copy, tmp_path):
    """Raw files (UCI tables here) are inputs of the rule that reads them."""
    folder = tmp_path / "data/uci/yacht/data"
    folder.mkdir(parents=True)
    rows = np.random.default_rng(0).normal(size=(12, 3))
    np.savetxt(folder / "data.txt", rows)
    train = "\n".join(map(str, range(9)))
    for name, text in (("index_features.txt", "0\n1\n"), ("index_target.txt", "2\n"),
                       ("n_splits.txt", "1\n"), ("index_train_0.txt", train),
                       ("index_test_0.txt", "9\n10\n11\n")):  # fmt: skip
        (folder / name).write_text(text)
    (workflow_copy / "config.yaml").write_text(
        f"data_root: {tmp_path / 'data'}\nexperiments:\n  u:\n"
        "    dataset: {name: uci, set: yacht}\n    teacher: {arch: mlp, hidden: [4]}\n"
        "    ensemble: {size: 1}\n    distill_seeds: [0]\n    students: {}\n"
        "    eval_sets: {test: {kind: test}}\n"
    )
    target = "results/u/dataset.npz"
    made = snakemake("--cores", "1", target, cwd=workflow_copy)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    assert "Nothing to be done" in snakemake("-n", target, cwd=workflow_copy).stdout
    np.savetxt(folder / "data.txt", rows * 2)  # a corrected data file
    plan = snakemake("-n", target, cwd=workflow_copy)
    assert "prepare_dataset" in plan.stdout and "data.txt" in plan.stdout, plan.stdout[-2000:]
