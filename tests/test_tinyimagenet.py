"""Tiny ImageNet: the official layout (folder and archive), splits, checks that name the
file, the Diversity Matters config's dry run and an end-to-end run on stand-in files."""

import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, snakemake
from ensemble_distill import tinyimagenet
from ensemble_distill.datasets import DataError, load_dataset
from ensemble_distill.standin import shrink, write_tinyimagenet_standin
from ensemble_distill.tinyimagenet import load_tinyimagenet_arrays, open_source, training_files

SPEC = {"name": "tinyimagenet", "verify": False, "val_per_class": 3}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("tin")
    wnids, test_labels = write_tinyimagenet_standin(root, archive=True)
    return root, wnids, test_labels


def folder_only(root, tmp_path):
    shutil.copytree(root / "tiny-imagenet-200", tmp_path / "tiny-imagenet-200")
    return tmp_path


def test_splits_labels_and_dtype(standin, tmp_path):
    root, wnids, test_labels = standin
    data = load_dataset(SPEC, folder_only(root, tmp_path))
    assert data.x_train.dtype == np.uint8 and data.x_train.shape == (5 * 9, 3, 64, 64)
    assert data.x_val.shape == (5 * 3, 3, 64, 64) and data.x_test.shape == (20, 3, 64, 64)
    assert data.num_classes == 5
    assert data.y_train.tolist() == [k for k in range(5) for _ in range(9)]  # sorted wnids
    assert data.y_test.tolist() == test_labels
    # the last 3 by number validate: _9, _10, _11 (not the last 3 by name: _7, _8, _9)
    names = training_files(open_source(tmp_path, verify=False), wnids, 3)[2]
    assert names[:3] == [f"train/{wnids[0]}/images/{wnids[0]}_{i}.JPEG" for i in (9, 10, 11)]
    # each class keeps its colour: train and test images of one class look alike
    mean = lambda x: x.reshape(len(x), 3, -1).mean(-1)  # noqa: E731
    by_class = np.stack([mean(data.x_train[data.y_train == k]).mean(0) for k in range(5)])
    nearest = np.abs(mean(data.x_test)[:, None] - by_class[None]).sum(-1).argmin(1)
    assert nearest.tolist() == test_labels


def test_archive_is_read_as_the_folder_and_checked(standin, tmp_path):
    root, *_ = standin
    from_archive = load_tinyimagenet_arrays(root, verify=False, val_per_class=3)[0]
    from_folder = load_tinyimagenet_arrays(folder_only(root, tmp_path), False, 3)[0]
    for part in ("train", "val", "test"):
        for a, b in zip(from_archive[part], from_folder[part], strict=True):
            np.testing.assert_array_equal(a, b)
    mismatch = r"checksum mismatch for .*tiny-imagenet-200.zip: expected md5 90528d7ca1a48142e"
    with pytest.raises(DataError, match=mismatch):
        open_source(root, verify=True)
    with pytest.raises(DataError, match=r"is an extracted folder, which has no published"):
        open_source(tmp_path, verify=True)
    with pytest.raises(DataError, match=r"neither .*tiny-imagenet-200.zip nor"):
        open_source(tmp_path / "nowhere", verify=False)


def broken(root, tmp_path, edit):
    data_root = folder_only(root, tmp_path)
    edit(data_root / "tiny-imagenet-200")
    return data_root


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: next(f.glob("train/*/images/*_4.JPEG")).write_bytes(b"not a jpeg"),
         r"_4.JPEG is not an image"),
        (lambda f: __import__("PIL.Image").Image.new("RGB", (32, 32)).save(
            f / "val/images/val_3.JPEG", format="JPEG"),
         r"val/images/val_3.JPEG is 32x32, expected 64x64"),
        (lambda f: (f / "val/val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\n"),
         r"val_annotations.txt line 1: expected .* one of the 5 wnids, found 'val_0.JPEG\\tn9"),
        (lambda f: next(f.glob("train/*/images/*_11.JPEG")).unlink(),
         r"every class needs the same number .* found \[11, 12\] images per class"),
    ],
)  # fmt: skip
def test_bad_files_are_named(standin, tmp_path, edit, message):
    data_root = broken(standin[0], tmp_path, edit)
    with pytest.raises(DataError, match=message):
        load_tinyimagenet_arrays(data_root, verify=False, val_per_class=3)


def test_config_check_names_the_key(standin, tmp_path):
    from ensemble_distill.config import ConfigError, validate_config

    config = tiny_config(standin[0])
    config["experiments"]["dm_tinyimagenet"]["dataset"]["verify"] = True
    with pytest.raises(ConfigError, match=r"'experiments.dm_tinyimagenet.dataset.verify': "
                                          r"tinyimagenet: checksum mismatch"):  # fmt: skip
        validate_config(config)
    config = tiny_config(tmp_path)  # nothing there
    with pytest.raises(ConfigError, match=r"reads .*tiny-imagenet-200/wnids.txt \(and 1 more\)"):
        validate_config(config)


def tiny_config(data_root, students=("be4_scratch", "be4_ods", "wrn5_kd")):
    config = yaml.safe_load((REPO / "configs/dm-tinyimagenet.yaml").read_text())
    exp = shrink(config["experiments"]["dm_tinyimagenet"])
    exp["dataset"] = {**SPEC, "subset": {"train": 40, "val": 10}}
    exp["students"] = {k: v for k, v in exp["students"].items() if k in students}
    return {"run": ["dm_tinyimagenet"], "device": "cpu", "data_root": str(data_root),
            "experiments": {"dm_tinyimagenet": exp}}  # fmt: skip


@pytest.mark.slow
def test_config_dry_run_counts(standin, workflow_copy):
    """The paper config's dry run (stand-in archive, verify off): jobs per rule."""
    (workflow_copy / "standin.yaml").write_text(
        "experiments: {dm_tinyimagenet: {dataset: {verify: false}}}\n"
    )
    result = snakemake("-n", "--configfile", "configs/dm-tinyimagenet.yaml", "standin.yaml",
                       "--config", f"data_root={standin[0]}", cwd=workflow_copy)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = dict(
        line.split() for line in (result.stdout + result.stderr).splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )  # fmt: skip
    assert int(counts["train_teacher"]) == 4 and int(counts["distill_student"]) == 7 * 3
    assert int(counts["make_eval_set"]) == 2 and int(counts["predict"]) == 1 + 9 * 3
    assert int(counts["average_student"]) == 2 * 3  # LatentBE of be4_kd and be4_ods
    assert int(counts["total"]) == 108


@pytest.mark.slow
def test_end_to_end_on_standin_files(standin, workflow_copy):
    """Shrunk (tiny WRN, one epoch): every rule of the config runs on 64x64 inputs."""
    (workflow_copy / "config.yaml").write_text(yaml.safe_dump(tiny_config(standin[0])))
    result = snakemake("--cores", "2", cwd=workflow_copy)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = workflow_copy / "results/dm_tinyimagenet"
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert set(metrics["model"]) == {"ensemble", "single", "be4_scratch", "be4_ods", "wrn5_kd"}
    test = metrics[(metrics["eval_kind"] == "test") & (metrics["metric"] == "acc")]
    assert len(test) and test["value"].between(0, 1).all()
    assert (out / "tables/diversity.md").is_file() and (out / "figures/reliability.png").is_file()
    with zipfile.ZipFile(standin[0] / "tiny-imagenet-200.zip") as zf:  # the archive was read
        assert "tiny-imagenet-200/wnids.txt" in zf.namelist()
    assert tinyimagenet.raw_files(standin[0]) == [standin[0] / "tiny-imagenet-200.zip"]
