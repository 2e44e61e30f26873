"""The shipped sample set: every image has a licence row, sizes within the limits."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from anime_detector.image_paths import is_image_name

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


def test_every_image_has_exactly_one_source_row() -> None:
    with open(SAMPLE / "SOURCES.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    listed = [row["file"] for row in rows]
    images = sorted(str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*") if is_image_name(p))
    assert sorted(listed) == images
    assert all(row["licence"] and row["origin"] for row in rows)


def test_size_and_class_limits() -> None:
    for label in ("anime", "not_anime"):
        files = [p for p in (SAMPLE / label).iterdir() if is_image_name(p)]
        assert len(files) >= 20
        for path in files:
            with Image.open(path) as img:
                assert max(img.size) <= 384, path
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total <= 5 * 1024 * 1024
