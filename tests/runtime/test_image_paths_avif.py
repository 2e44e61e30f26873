"""AVIF in folder scans: listed like every other image, so a folder's AVIF files are
predicted where Pillow decodes them, and named with the reason where it does not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image, features

from anime_detector.errors import InputError
from anime_detector.image_paths import expand_inputs
from anime_detector.preprocessing import preprocess

from helpers.cli import invoke

NO_DECODER = "unsupported image type: AVIF (the installed Pillow cannot decode it)"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support to write the test file with")
    Image.new("RGB", (64, 48), (0, 0, 255)).save(tmp_path / "blue.avif")
    Image.new("RGB", (64, 48), (255, 0, 0)).save(tmp_path / "red.png")
    return tmp_path


def test_a_folder_scan_predicts_its_avif_files(tiny_model: Path, folder: Path) -> None:
    assert [Path(p).name for p in expand_inputs([str(folder)])] == ["blue.avif", "red.png"]
    result = invoke("predict", tiny_model, folder, "-f", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(Path(r["path"]).name, r["label"]) for r in rows] == [
        ("blue.avif", "anime"), ("red.png", "not_anime")]


def test_without_an_avif_decoder_the_file_is_named_with_the_reason(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Pillow does when it was built without libavif: no ``PIL._avif`` module, and the
    AVIF plugin refuses every file."""
    from PIL import AvifImagePlugin  # there: the folder fixture wrote an AVIF file

    monkeypatch.setitem(sys.modules, "PIL._avif", None)
    monkeypatch.setattr(AvifImagePlugin, "SUPPORTED", False)
    avif = folder / "blue.avif"
    with pytest.warns(UserWarning, match="AVIF support not installed"):  # Pillow's own
        with pytest.raises(InputError) as refused:
            preprocess(avif)
    assert str(refused.value) == f"{avif}: {NO_DECODER}"
    garbage = folder / "notes.avif"
    garbage.write_bytes(b"not an image at all")
    monkeypatch.undo()  # with the decoder, a file that is no AVIF is said to be no image
    with pytest.raises(InputError, match="not a recognised image file"):
        preprocess(garbage)
