"""Per-image output files: a failed write is reported beside the prediction, not instead."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from helpers.cli import invoke


def test_unwritable_annotation_is_reported_next_to_the_prediction(tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    image = tmp_path / "blue.png"
    Image.new("RGB", (30, 30), (0, 0, 255)).save(image)
    blocked = tmp_path / "annotated"
    blocked.write_text("a file where the folder should be")
    result = invoke("predict", tiny_model, image, "--annotate", blocked, "-f", "json")
    assert result.returncode == 1
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["label"] == "anime" and row["score"] > 0.9
    assert row["output_error"].startswith("writing an output file failed")
    assert "error" not in row
