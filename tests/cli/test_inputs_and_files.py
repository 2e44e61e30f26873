"""Inputs and files that cannot be used: one line each, never a traceback.

Permission tests run the real console script without root's override of file modes
(``setpriv`` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so a mode-000 folder is
unreadable even to root, as it is to a user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from helpers.cli import cli_command, invoke

SETPRIV = shutil.which("setpriv")


def _blue(path: Path) -> Path:
    Image.new("RGB", (30, 30), (0, 0, 255)).save(path)
    return path


def _as_user(*args: str | Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SETPRIV or "setpriv", "--bounding-set=-dac_override,-dac_read_search",
                           *cli_command(), *map(str, args)], capture_output=True, text=True,
                          timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


def test_glob_matching_nothing_is_an_input_error(tiny_model: Path, tmp_path: Path) -> None:
    good = _blue(tmp_path / "a.png")
    result = invoke("predict", tiny_model, good, str(tmp_path / "nothing-*.jpg"), "-f", "json")
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["label"] == "anime"
    assert rows[1] == {"path": str(tmp_path / "nothing-*.jpg"),
                       "error": "no image matches this pattern"}


def test_glob_never_reports_non_image_files(tiny_model: Path, tmp_path: Path) -> None:
    _blue(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "archive.zip").write_bytes(b"PK")
    result = invoke("predict", tiny_model, str(tmp_path / "*"), "-f", "json")
    assert result.returncode == 0, result.stdout
    assert [Path(json.loads(x)["path"]).name for x in result.stdout.splitlines()] == ["a.png"]


@pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs setpriv as root")
def test_unreadable_input_folder_is_one_line_exit_2(tiny_model: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    _blue(locked / "a.png")
    locked.chmod(0)
    try:
        result = _as_user("predict", tiny_model, locked)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {locked}: cannot read folder: Permission denied"]


@pytest.mark.skipif(SETPRIV is None or os.geteuid() != 0, reason="needs setpriv as root")
@pytest.mark.parametrize("which", ["run folder", "cache"])
def test_unwritable_run_folder_or_cache_is_one_line_exit_2(tmp_path: Path, which: str) -> None:
    pytest.importorskip("tensorflow")
    from helpers.images import write_class_folder

    data = write_class_folder(tmp_path / "data", per_class=2)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "run" if which == "run folder" else tmp_path / "run"
    cache = locked / "cache" if which == "cache" else tmp_path / "cache"
    try:
        result = _as_user("train", data, "--out", out, "--weights", "none", "--backbone", "tiny",
                          "--epochs", "1", "--cache-dir", cache)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and "Permission denied" in line, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_huge_image_is_refused_before_decoding_without_touching_pillow(
        tiny_model: Path, tmp_path: Path) -> None:
    """120 megapixels of PNG, 0.4 MB on disk: refused from the header in one line, at a
    small peak memory, and Pillow's global limit is the host application's own."""
    big = tmp_path / "huge.png"
    Image.new("L", (12_000, 10_000)).save(big, optimize=True)
    code = (
        "import json, sys\n"
        "from PIL import Image\n"
        "Image.MAX_IMAGE_PIXELS = 300_000_000  # the host application's own choice\n"
        "from anime_detector import Detector\n"
        f"out = Detector.load({str(tiny_model)!r}).predict_iter([{str(big)!r}])\n"
        "(row,) = [r.to_dict() for r in out]\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps({'row': row, 'limit': Image.MAX_IMAGE_PIXELS,\n"
        "  'rss_mb': int(hwm.split()[1]) / 1024}))\n")  # VmHWM: ru_maxrss survives exec
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert report["row"]["error"].startswith("image too large: 12000x10000 = 120 megapixels")
    assert report["limit"] == 300_000_000 and report["rss_mb"] < 400
    raised = invoke("predict", tiny_model, big, "--max-pixels", "130000000", "-f", "json")
    assert "label" in json.loads(raised.stdout)


def test_images_are_closed_after_decoding(tmp_path: Path) -> None:
    """No file handle stays open, also for multi-frame formats (GIF, TIFF)."""
    from anime_detector import preprocess

    frames = [Image.new("RGB", (20, 20), (i * 40, 0, 0)) for i in range(3)]
    gif, tiff = tmp_path / "a.gif", tmp_path / "a.tiff"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        preprocess(gif), preprocess(tiff), preprocess(_blue(tmp_path / "b.png"))
    assert len(os.listdir("/proc/self/fd")) == before
