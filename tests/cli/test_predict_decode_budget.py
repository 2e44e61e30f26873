"""The decode budget of ``predict`` and ``eval``: by default one 8-bit RGB image at
``--max-pixels``, so an image whose decoder holds more (WebP, AVIF) is refused from its
header in one line and the other files go on; ``--max-decode-mb`` raises it.

The files are small (a megapixel) and ``--max-pixels`` scales the default budget down to
them, except one WebP at the real default, refused before a pixel is decoded.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

from PIL import Image

from anime_detector.batch.pipeline import decode_batch
from anime_detector.decode_budget import MB
from anime_detector.detector import Detector
from anime_detector.preprocessing import MAX_IMAGE_PIXELS, default_decode_bytes

from helpers.cli import invoke
from helpers.mode_images import write_mode_file

SIDE = 1000  # decoded: 4 MB as RGBA, 15 MB to decode as WebP, 11 MB as AVIF
SMALL_LIMIT = "2000000"  # --max-pixels: a default budget of 8 MB


def _rows(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _refusal(mb: int, what: str, budget_mb: int) -> str:
    return (f"image too large to decode: about {mb} MB (1000x1000 {what}), over the decode "
            f"budget of {budget_mb} MB (raise it with --max-decode-mb)")


def test_webp_and_avif_over_the_budget_are_refused_while_the_others_are_predicted(
        tiny_model: Path, tmp_path: Path) -> None:
    webp = write_mode_file(tmp_path, "rgba.webp", (SIDE, SIDE))
    avif = write_mode_file(tmp_path, "rgba.avif", (SIDE, SIDE))
    png = write_mode_file(tmp_path, "rgba.png", (SIDE, SIDE))  # what RGB costs: it fits
    result = invoke("predict", tiny_model, webp, png, avif, "--max-pixels", SMALL_LIMIT,
                    "-f", "json")
    assert result.returncode == 1, result.stdout
    refused_webp, predicted, refused_avif = _rows(result.stdout)
    assert refused_webp == {"path": str(webp), "error": _refusal(15, "WEBP RGBA", 8)}
    assert refused_avif == {"path": str(avif), "error": _refusal(11, "AVIF RGBA", 8)}
    assert predicted["path"] == str(png) and predicted["label"] == "not_anime"
    assert "Traceback" not in result.stderr

    raised = invoke("predict", tiny_model, webp, png, avif, "--max-pixels", SMALL_LIMIT,
                    "--max-decode-mb", "16", "-f", "json")
    assert raised.returncode == 0, raised.stdout
    assert [row["label"] for row in _rows(raised.stdout)] == ["not_anime"] * 3


def test_the_table_names_the_refused_file_in_one_line(tiny_model: Path, tmp_path: Path) -> None:
    webp = write_mode_file(tmp_path, "rgba.webp", (SIDE, SIDE))
    blue = tmp_path / "blue.png"
    Image.new("RGB", (30, 30), (0, 0, 255)).save(blue)
    result = invoke("predict", tiny_model, webp, blue, "--max-decode-mb", "10")
    assert result.returncode == 1
    (line,) = [x for x in result.stdout.splitlines() if "rgba.webp" in x]
    assert line.split()[0] == "ERROR" and line.endswith(
        f"{webp}: {_refusal(15, 'WEBP RGBA', 10)}")
    assert "anime" in next(x for x in result.stdout.splitlines() if "blue.png" in x)
    assert result.stderr.strip() == "1/2 predicted, 1 failed"


def test_the_default_budget_refuses_a_large_webp_from_its_header(
        tiny_model: Path, tmp_path: Path) -> None:
    """4800x4800 is within the default pixel limit, but decoding it as WebP takes 352 MB:
    more than one RGB image at the limit (341 MB). Nothing is decoded to say so."""
    webp = tmp_path / "large.webp"
    Image.new("RGB", (4800, 4800), (200, 30, 60)).save(webp, method=0, quality=10)
    result = invoke("predict", tiny_model, webp, "-f", "json")
    assert result.returncode == 1
    assert _rows(result.stdout) == [{"path": str(webp), "error": (
        "image too large to decode: about 352 MB (4800x4800 WEBP RGB), over the decode "
        "budget of 341 MB (raise it with --max-decode-mb)")}]


def test_the_default_is_one_rgb_image_at_the_pixel_limit_as_help_says(tiny_model: Path) -> None:
    assert default_decode_bytes() == MAX_IMAGE_PIXELS * 4
    assert default_decode_bytes(1000) == 4000
    detector = Detector.load(tiny_model)
    budget = detector.pipeline().budget
    assert budget is not None and budget.capacity == default_decode_bytes()
    assert budget.wait_s is None  # prefetching threads wait for each other, never give up
    detector.max_pixels = 2_000_000
    assert detector.pipeline().budget.capacity == 8_000_000  # type: ignore[union-attr]
    detector.max_decode_bytes = 5 * MB
    assert detector.pipeline().budget.capacity == 5 * MB  # type: ignore[union-attr]
    for command in ("predict", "eval", "batch"):
        text = " ".join(invoke(command, "--help", env={"COLUMNS": "200", "NO_COLOR": "1"})
                        .stdout.replace("│", " ").split())
        assert "--max-decode-mb" in text, command
        stated = re.search(r"one RGB image at --max-pixels, (\d+) MB", text)
        assert stated and stated.group(1) == f"{default_decode_bytes() / MB:.0f}", command
        assert f"(default {MAX_IMAGE_PIXELS})" in text, command


def test_eval_lists_an_image_over_the_budget_as_unreadable(tiny_model: Path,
                                                          tmp_path: Path) -> None:
    for label, colour in (("anime", (0, 0, 255)), ("not_anime", (255, 0, 0))):
        (tmp_path / label).mkdir()
        Image.new("RGB", (30, 30), colour).save(tmp_path / label / "a.png")
    webp = write_mode_file(tmp_path / "anime", "rgba.webp", (SIDE, SIDE))
    result = invoke("eval", tiny_model, tmp_path, "--max-decode-mb", "10", "-f", "json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)["report"]
    assert report["unreadable"] == [{"path": str(webp),
                                     "error": _refusal(15, "WEBP RGBA", 10)}]
    assert report["accuracy"] == 1.0


def test_each_batch_decode_task_gets_a_budget_of_its_own(tiny_model: Path,
                                                         tmp_path: Path) -> None:
    """Ray pickles the pipeline to its decoding tasks: the budget goes with it, empty."""
    webp = write_mode_file(tmp_path, "rgba.webp", (SIDE, SIDE))
    png = write_mode_file(tmp_path, "rgba.png", (SIDE, SIDE))
    detector = Detector.load(tiny_model)
    detector.max_decode_bytes = 10 * MB
    shipped = pickle.loads(pickle.dumps(detector.pipeline()))
    assert shipped.budget is not None and shipped.budget.capacity == 10 * MB
    out = decode_batch({"path": [str(webp), str(png)]}, shipped)
    assert list(out["error"]) == [_refusal(15, "WEBP RGBA", 10), ""]
    assert out["pixels"][1].any() and shipped.budget.in_use == 0
