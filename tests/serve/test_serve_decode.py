"""Decoding limits of the service, on a real server: the pixel limit it starts with, and the
decode budget that every request in flight shares (charged from the header, before a
pixel is decoded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from helpers.cli import run_cli
from helpers.server import ServerProcess


@pytest.fixture(scope="module")
def budgeted(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ServerProcess]:
    """A service with a 1 MB decode budget."""
    with ServerProcess(explain_model, "--max-decode-mb", "1",
                       log=tmp_path_factory.mktemp("log") / "budget.log") as running:
        yield running


def _png(path: Path, mode: str, size: tuple[int, int], value: int) -> Path:
    Image.new(mode, size, value).save(path)
    return path


def test_an_image_over_the_decode_budget_is_refused_in_one_line(
        budgeted: ServerProcess, image_set: list[Path], tmp_path: Path) -> None:
    big = _png(tmp_path / "deep.png", "I;16", (1000, 1000), 3000)  # 2 MB decoded, 2 KB sent
    small = image_set[0]
    response = httpx.post(budgeted.url + "/v1/predict", timeout=30, files=[
        ("file", (big.name, big.read_bytes())), ("file", (small.name, small.read_bytes()))])
    assert response.status_code == 200, response.text
    refused, predicted = response.json()["results"]
    assert refused["name"] == "deep.png" and "label" not in refused
    assert refused["error"] == ("image too large to decode: about 2 MB (1000x1000 PNG I;16), "
                                "over the decode budget of 1 MB (raise it with "
                                "--max-decode-mb)")
    assert predicted["name"] == small.name and predicted["label"]
    assert "Traceback" not in budgeted.log_text()


def test_the_budget_is_given_back_after_each_image(budgeted: ServerProcess,
                                                   tmp_path: Path) -> None:
    fits = _png(tmp_path / "grey.png", "L", (700, 700), 90)  # 0.5 MB decoded
    for _ in range(4):  # more than the budget, one after another
        response = httpx.post(budgeted.url + "/v1/predict", timeout=30,
                              files=[("file", (fits.name, fits.read_bytes()))])
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["label"]


def test_explain_draws_under_the_same_budget_and_names_a_picture_over_it(
        budgeted: ServerProcess, image_set: list[Path], tmp_path: Path) -> None:
    """The model input of a 700x700 grey PNG fits the 1 MB budget (0.5 MB); the picture
    the heatmap is drawn on does not (its RGB copy too): 422 in one line, not a 500."""
    grey = _png(tmp_path / "grey.png", "L", (700, 700), 90)
    response = httpx.post(budgeted.url + "/v1/explain", timeout=30,
                          files=[("file", (grey.name, grey.read_bytes()))])
    assert response.status_code == 422, response.text
    assert response.json()["error"] == ("grey.png: image too large to decode: about 2 MB "
                                        "(700x700 PNG L), over the decode budget of 1 MB "
                                        "(raise it with --max-decode-mb)")
    small = image_set[0]
    drawn = httpx.post(budgeted.url + "/v1/explain", timeout=30,
                       files=[("file", (small.name, small.read_bytes()))])
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    assert "Traceback" not in budgeted.log_text()


def test_the_service_starts_with_a_pixel_limit_for_a_small_box(
        process_server: ServerProcess, tmp_path: Path) -> None:
    huge = _png(tmp_path / "huge.png", "L", (7200, 7100), 90)  # 51 megapixels, 50 KB sent
    response = httpx.post(process_server.url + "/v1/predict", timeout=30,
                          files=[("file", (huge.name, huge.read_bytes()))])
    assert response.status_code == 422, response.text
    assert response.json()["error"] == ("huge.png: image too large: 7200x7100 = 51 megapixels "
                                        "> the limit of 50 (raise it with --max-pixels)")
    limits = httpx.get(process_server.url + "/v1/model").json()["limits"]
    assert limits["max_pixels"] == 50_000_000 and limits["max_decode_mb"] == 512


def test_help_states_the_pixel_limit_and_the_decode_budget() -> None:
    done = run_cli("serve", "--help", env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.replace("│", " ").split())
    assert "before decoding (50 megapixels, 200 MB as RGB: sized for a small box" in text
    assert "--max-decode-mb" in text and "one over it all is refused" in text
