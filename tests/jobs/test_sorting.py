"""--sort-into: copy / link / move, sub-folders kept, clashes suffixed, move never loses a file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from anime_detector.image_paths import expand_inputs, expand_with_roots, input_root
from anime_detector.jobs.sorting import Sorter


def _tree(root: Path) -> dict[str, Path]:
    files = {"top": root / "a.jpg", "deep": root / "sub" / "deeper" / "a.jpg",
             "other": root / "sub" / "b.png"}
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 1000)
    return files


def test_roots_follow_the_input_argument(tmp_path: Path) -> None:
    files = _tree(tmp_path / "in")
    folder = str(tmp_path / "in")
    assert input_root(folder) == folder
    assert input_root(str(files["other"])) == str(files["other"].parent)
    assert input_root(f"{folder}/sub/*/*.jpg") == f"{folder}/sub"
    pairs = expand_with_roots([folder, str(files["other"])], recursive=True)
    assert [p for p, _ in pairs] == expand_inputs([folder, str(files["other"])], recursive=True)
    assert {r for _, r in pairs} == {folder}  # the file was already named by the folder


@pytest.mark.parametrize("mode", ["copy", "link", "move"])
def test_modes_keep_sub_folders_and_never_overwrite(tmp_path: Path, mode: str) -> None:
    files = _tree(tmp_path / "in")
    sorter = Sorter(tmp_path / "out", mode)
    placed = {k: sorter.place(p, "anime", tmp_path / "in") for k, p in files.items()}
    out = tmp_path / "out" / "anime"
    assert placed == {"top": out / "a.jpg", "deep": out / "sub" / "deeper" / "a.jpg",
                      "other": out / "sub" / "b.png"}
    # The same name again from another root clashes with out/anime/a.jpg: suffix, no overwrite.
    again = tmp_path / "again" / "a.jpg"
    again.parent.mkdir()
    again.write_bytes(b"second")
    assert sorter.place(again, "anime", again.parent) == out / "a_1.jpg"
    assert (out / "a.jpg").read_bytes() == b"top" * 1000
    assert (out / "a_1.jpg").read_bytes() == b"second"
    assert all(p.exists() for p in files.values()) == (mode != "move")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_link_mode_makes_links_not_copies(tmp_path: Path) -> None:
    src = _tree(tmp_path / "in")["top"]
    placed = Sorter(tmp_path / "out", "link").place(src, "not_anime", src.parent)
    assert os.path.samefile(placed, src)


def _other_filesystem(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) to move across")
    folder = shm / f"sort-test-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    return folder


def test_move_across_filesystems_copies_then_deletes(tmp_path: Path) -> None:
    other = _other_filesystem(tmp_path)
    try:
        files = _tree(other / "in")
        placed = Sorter(tmp_path / "out", "move").place(files["deep"], "anime", other / "in")
        assert placed.read_bytes() == b"deep" * 1000 and not files["deep"].exists()
        linked = Sorter(tmp_path / "links", "link").place(files["top"], "anime", other / "in")
        assert linked.is_symlink() and linked.read_bytes() == b"top" * 1000
    finally:
        shutil.rmtree(other)


def test_move_interrupted_mid_copy_keeps_the_source(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    other = _other_filesystem(tmp_path)
    try:
        src = _tree(other / "in")["top"]
        real = shutil.copyfileobj

        def half_then_ctrl_c(reader: object, writer: object, length: int = 0) -> None:
            real(reader, writer, 100)  # type: ignore[arg-type]
            raise KeyboardInterrupt

        monkeypatch.setattr(shutil, "copyfileobj", half_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            Sorter(tmp_path / "out", "move").place(src, "anime", src.parent)
        assert src.read_bytes() == b"top" * 1000
        assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no partial file
    finally:
        shutil.rmtree(other)


def test_move_interrupted_before_delete_has_both_complete(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = _tree(tmp_path / "in")["top"]
    real_unlink = Path.unlink

    def ctrl_c_on_source(self: Path, missing_ok: bool = False) -> None:
        if self == src:
            raise KeyboardInterrupt
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", ctrl_c_on_source)
    with pytest.raises(KeyboardInterrupt):
        Sorter(tmp_path / "out", "move").place(src, "anime", src.parent)
    assert src.read_bytes() == (tmp_path / "out" / "anime" / "a.jpg").read_bytes()


def test_unwritable_destination_leaves_every_source(tmp_path: Path) -> None:
    files = _tree(tmp_path / "in")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "anime").write_text("a file where the label folder should be")
    sorter = Sorter(dest, "move")
    for path in files.values():
        with pytest.raises(OSError):
            sorter.place(path, "anime", tmp_path / "in")
    assert all(p.read_bytes() for p in files.values())
