"""Manifests of directory outputs: what changed inside a folder since its job wrote it."""

import os

from ensemble_distill import manifest


def folder_with_files(tmp_path):
    folder = tmp_path / "seeds0-1"
    (folder / "seed0").mkdir(parents=True)
    (folder / "seed0/model.pt").write_bytes(b"weights0")
    (folder / "seed1.txt").write_text("log")
    manifest.write(folder)
    return folder


def test_an_untouched_folder_has_no_changes_even_with_new_mtimes(tmp_path):
    folder = folder_with_files(tmp_path)
    assert manifest.changes(manifest.manifest_path(folder)) == []
    os.utime(folder / "seed0/model.pt", ns=(1, 1))  # same bytes, other mtime: hashed, equal
    (folder / ".snakemake_timestamp").write_text("")  # Snakemake's own marker is ignored
    assert manifest.changes(manifest.manifest_path(folder)) == []


def test_edited_truncated_deleted_and_added_files_are_named(tmp_path):
    folder = folder_with_files(tmp_path)
    path = manifest.manifest_path(folder)
    (folder / "seed0/model.pt").write_bytes(b"weights1")  # same size, other bytes
    assert manifest.changes(path) == [f"{folder}/seed0/model.pt: changed (8 bytes, 8 written)"]
    (folder / "seed0/model.pt").write_bytes(b"w")
    assert manifest.changes(path) == [f"{folder}/seed0/model.pt: changed (1 bytes, 8 written)"]
    (folder / "seed1.txt").unlink()
    (folder / "extra").write_text("?")
    assert manifest.changes(path)[:2] == [f"{folder}/seed1.txt: deleted", f"{folder}/extra: added"]


def test_invalidate_stale_deletes_only_changed_manifests(tmp_path):
    changed, kept = folder_with_files(tmp_path / "a"), folder_with_files(tmp_path / "b")
    (changed / "seed1.txt").write_text("edited")
    lines = manifest.invalidate_stale(tmp_path)
    assert lines == [f"{changed}/seed1.txt: changed (6 bytes, 3 written): its job and the jobs "
                     "that read it will rerun"]  # fmt: skip
    assert not manifest.manifest_path(changed).exists()
    assert manifest.manifest_path(kept).exists()
    assert manifest.invalidate_stale(tmp_path) == []
