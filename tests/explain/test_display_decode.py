"""The pictures ``--annotate``, ``--explain`` and ``explain`` draw on are decoded under the
same pixel limit and decode budget as the model input: a file over them keeps its
prediction, gains one line naming it and why, and the other files are drawn.

A grey PNG is the case: its model input costs its grey pixels (1 MB at 1000x1000), the
picture drawn costs those and the RGB copy (5 MB), so a budget of 3 MB fits one, not both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from anime_detector import preprocessing
from anime_detector.detector import Detector
from anime_detector.jobs.predict_files import predict_files
from anime_detector.prediction import Failure, Prediction

from helpers.cli import invoke

pytest.importorskip("onnxruntime")

REFUSED = ("image too large to decode: about 5 MB (1000x1000 PNG L), over the decode "
           "budget of 3 MB (raise it with --max-decode-mb)")


@pytest.fixture()
def grey_and_blue(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    grey, blue = folder / "grey.png", folder / "blue.png"
    Image.new("L", (1000, 1000), 90).save(grey)
    Image.new("RGB", (40, 30), (0, 0, 255)).save(blue)
    return grey, blue


@pytest.mark.parametrize("command", [["predict", "--annotate"], ["predict", "--explain"],
                                     ["explain", "--out"]], ids=lambda c: " ".join(c))
def test_a_picture_over_the_budget_is_named_in_one_line_and_the_others_are_drawn(
        explain_model: Path, grey_and_blue: tuple[Path, Path], tmp_path: Path,
        command: list[str]) -> None:
    grey, blue = grey_and_blue
    out = tmp_path / "out"
    result = invoke(command[0], explain_model, grey, blue, *command[1:], out,
                    "--max-decode-mb", "3", "-f", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    refused, drawn = (json.loads(line) for line in result.stdout.splitlines())
    assert refused["path"] == str(grey) and refused["label"]  # the model input fitted
    assert refused["output_error"] == f"not drawn: {REFUSED}"
    assert drawn["path"] == str(blue) and "output_error" not in drawn
    assert sorted(p.name for p in out.iterdir()) == ["blue.png"]
    assert "Traceback" not in result.stderr

    raised = invoke(command[0], explain_model, grey, blue, *command[1:], out,
                    "--max-decode-mb", "6", "-f", "json")
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert sorted(p.name for p in out.iterdir()) == ["blue.png", "grey.png"]


def test_the_picture_has_the_pixel_limit_the_user_raised(
        explain_model: Path, grey_and_blue: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the default limit made smaller than the image, ``--max-pixels`` above it lets
    both the model input and the picture be decoded, not the model input alone."""
    monkeypatch.setattr(preprocessing, "MAX_IMAGE_PIXELS", 500_000)
    grey, blue = grey_and_blue
    detector = Detector.load(explain_model)
    detector.max_pixels = 2_000_000
    rows: list[Prediction | Failure] = []
    summary = predict_files(detector, [str(grey), str(blue)], rows.append,
                            annotate_dir=tmp_path / "a", explain_dir=tmp_path / "e")
    assert [getattr(r, "output_error", "failed") for r in rows] == [None, None]
    assert (summary.annotated, summary.explained, summary.failed) == (2, 2, 0)

    detector.max_pixels = None  # the default, now below the image: refused before drawing
    rows.clear()
    predict_files(detector, [str(grey)], rows.append, annotate_dir=tmp_path / "b")
    assert isinstance(rows[0], Failure) and "image too large: 1000x1000" in rows[0].error
