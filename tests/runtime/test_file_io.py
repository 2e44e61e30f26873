"""Atomic writes: a reader sees the old file (or folder) or the new one, never half, never none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anime_detector import file_io
from anime_detector.file_io import atomic_dir, atomic_path, atomic_write_text


def test_failure_half_way_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.onnx"]


def test_new_files_follow_the_umask_which_is_left_alone(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "run") as folder:
            (folder / "f").write_text("y")
        assert os.umask(0o027) == 0o027  # nothing changed it meanwhile
    finally:
        os.umask(previous)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o750


def test_overwrite_replaces_a_run_only_once_the_new_one_is_in_place(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_text("old")
    with atomic_dir(run, overwrite=True) as folder:
        (folder / "model.keras").write_text("new")
        assert (run / "model.keras").read_text() == "old"  # still there while writing
    assert (run / "model.keras").read_text() == "new" and os.listdir(tmp_path) == ["run"]


def test_interrupt_between_the_renames_puts_the_old_run_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after the old run moved aside, before the new one moved in."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_text("old")
    real_replace, calls = os.replace, []

    def interrupted_second_rename(src: str | Path, dst: str | Path) -> None:
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(file_io.os, "replace", interrupted_second_rename)
    with pytest.raises(KeyboardInterrupt), atomic_dir(run, overwrite=True) as folder:
        (folder / "model.keras").write_text("new")
    monkeypatch.undo()
    assert (run / "model.keras").read_text() == "old" and os.listdir(tmp_path) == ["run"]


def test_existing_folder_is_never_clobbered_without_overwrite(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep").write_text("x")
    with pytest.raises(OSError), atomic_dir(run) as folder:
        (folder / "new").write_text("y")
    assert os.listdir(run) == ["keep"] and os.listdir(tmp_path) == ["run"]
