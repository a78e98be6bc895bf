"""Provenance records (sidecars and Parquet metadata) and the audit command, without Snakemake."""

import json
import subprocess

import pandas as pd
import pytest
from ensemble_distill import audit, provenance
from ensemble_distill.io import file_sha256


def test_sidecar_records_inputs_outputs_config_versions_and_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    provenance.note_data_file(__file__)  # read by an earlier job of this process: not an input
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    data = tmp_path / "data.npz"
    data.write_bytes(b"inputs")
    config = {"teacher": {"hidden": [8], "lr": 0.1}, "device": "cpu"}
    record = provenance.start(config=config, seeds={"member": 3}, inputs=[data])
    out = tmp_path / "model.pt"
    out.write_bytes(b"weights")
    sidecar = provenance.write_sidecar(record, [out])

    assert sidecar == tmp_path / "model.provenance.json"
    saved = json.loads(sidecar.read_text())
    assert saved["inputs"] == {str(data): file_sha256(data)}
    assert saved["outputs"] == {str(out): file_sha256(out)}
    assert saved["config"] == config and saved["seeds"] == {"member": 3}
    # the hash of the config does not depend on key order
    assert saved["config_sha256"] == provenance.canonical_sha256({"device": "cpu", **config})
    assert saved["slurm_job_id"] == "4242" and saved["host"]
    assert saved["started"] <= saved["finished"]
    assert {"python", "torch", "torchvision", "snakemake", "numpy", "pandas", "pyarrow"} <= set(
        saved["versions"]
    )
    assert saved["hardware"]["cpu"] and "gpu" in saved["hardware"]


def test_parquet_keeps_the_table_and_carries_the_record(tmp_path):
    df = pd.DataFrame({"metric": ["nll", "acc"], "value": [0.1, 0.9]})
    record = provenance.start(config={"model": "kd"})
    path = tmp_path / "m.parquet"
    provenance.write_parquet(df, path, record, upstream={"a.parquet": {"config": {}}})
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)
    saved = provenance.read(path)
    assert saved["config"] == {"model": "kd"} and saved["upstream"] == {"a.parquet": {"config": {}}}
    assert provenance.read(tmp_path / "nothing.npz") is None


def test_git_state_names_commit_and_dirty_tracked_files(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / "untracked.txt").write_text("ignored\n")
    assert provenance.git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path) == {"commit": head, "dirty": True}
    assert provenance.git_state(tmp_path / "..")["commit"] is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on this node: recorded, not fatal
    assert "git not runnable" in provenance.git_state(tmp_path)["note"]


def make_chain(root):
    """raw -> dataset.npz -> model.pt -> metrics.parquet, each written with its record."""
    (root / "raw.txt").write_text("1 2 3\n")
    (root / "results").mkdir()
    record = provenance.start(config={"dataset": "toy"})
    provenance.note_data_file("raw.txt")
    (root / "results/dataset.npz").write_bytes(b"dataset")
    provenance.write_sidecar(record, ["results/dataset.npz"])
    record = provenance.start(
        config={"teacher": 1}, seeds={"member": 0}, inputs=["results/dataset.npz"]
    )
    (root / "results/model.pt").write_bytes(b"weights")
    provenance.write_sidecar(record, ["results/model.pt"])
    record = provenance.start(config={"model": "ensemble"}, inputs=["results/model.pt"])
    provenance.write_parquet(pd.DataFrame({"value": [1.0]}), "results/metrics.parquet", record)


def run_audit(*args):
    audit.current_sha256.cache_clear()
    try:
        audit.main(list(args))
    except SystemExit as exit_:
        return exit_.code
    return 0


def test_audit_traces_to_raw_data_and_flags_changed_or_missing_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_chain(tmp_path)
    assert run_audit("results/metrics.parquet") == 0
    out = capsys.readouterr().out
    for path in ("metrics.parquet", "model.pt", "dataset.npz", "raw.txt"):
        assert path in out
    assert "raw.txt  [ok sha256" in out and "seeds member=0" in out
    assert "every recorded hash matches" in out

    (tmp_path / "results/model.pt").write_bytes(b"retrained")
    (tmp_path / "raw.txt").unlink()
    assert run_audit("results/metrics.parquet") == 1
    out = capsys.readouterr().out
    assert "results/model.pt: sha256" in out and "recorded by results/metrics.parquet" in out
    assert "raw.txt: missing (recorded by results/dataset.npz)" in out

    (tmp_path / "results/dataset.provenance.json").unlink()
    assert run_audit("results/model.pt") == 1
    out = capsys.readouterr().out
    assert "results/model.pt: sha256" in out and "its own record says" in out
    assert "results/dataset.npz: no provenance record" in out


def test_audit_cell_rejects_unknown_names_with_what_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metrics = pd.DataFrame(
        dict(model=["kd"], method=["kd"], metric=["nll"], eval_set=["test"], value=[0.2])
    )
    (tmp_path / "results/exp").mkdir(parents=True)
    metrics.to_parquet(tmp_path / "results/exp/metrics.parquet")
    with pytest.raises(
        SystemExit, match=r"no rows for model/method 'hydra'.*found models \['kd'\]"
    ):
        audit.main(
            ["--experiment", "exp", "--model", "hydra", "--metric", "nll", "--eval-set", "test"]
        )
    with pytest.raises(SystemExit, match="run the workflow for 'other' first"):
        audit.main(
            ["--experiment", "other", "--model", "kd", "--metric", "nll", "--eval-set", "test"]
        )
