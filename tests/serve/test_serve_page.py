"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright.

It uploads sample images through the file chooser and reads the label and score the page
shows, which must be what ``predict`` gives for the same files. Skips, saying why, where
Chromium or Playwright is missing. Set ``ANIME_DETECTOR_SCREENSHOT=PATH`` to keep the
screenshot (the README's comes from here).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from anime_detector.detector import Detector

from helpers.server import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed "
                                   "(dev extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium "
                    "chromium-driver)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def test_page_shows_predicts_label_and_score(browser: Any, server: ServerProcess,
                                             explain_model: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect  # the fixture skipped where it is missing

    anime, other = sorted((SAMPLE / "anime").iterdir()), sorted((SAMPLE / "not_anime").iterdir())
    files = [SAMPLE / "anime" / "openclipart-chibi-girl.png", *other[:2], *anime[3:6]]
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    expected = {p.name: item for p, item in zip(
        files, Detector.load(explain_model).predict(files), strict=True)}
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) or r.url.startswith(
        ("blob:", "data:")) else outside.append(r.url))
    page.goto(server.url + "/")
    # Locator waits, not wait_for_function: the page's CSP forbids eval, as it should.
    expect(page.locator("#model")).to_contain_text("onnxruntime")
    page.set_input_files("#files", [str(p) for p in files] + [str(bad)])
    expect(page.locator(".card")).to_have_count(len(files) + 1)
    expect(page.locator("#status")).to_contain_text("classified")
    for path, item in expected.items():
        card = page.locator(f".card[data-name='{path}']")
        assert card.locator(".label").inner_text() == item.label
        assert abs(float(card.locator(".score-value").inner_text()) - item.score) < 1e-4
    error = page.locator(".card[data-name='notes.jpg'] .err").inner_text()
    assert error == "not a recognised image file"
    summary = f"{len(files)}/{len(files) + 1} classified, 1 failed"
    assert page.locator("#status").inner_text() == summary
    toggle = page.locator(f".card[data-name='{files[0].name}'] .toggle input")
    before = page.locator(f".card[data-name='{files[0].name}'] img").get_attribute("src")
    toggle.check()
    image = page.locator(f".card[data-name='{files[0].name}'] img")
    expect(image).not_to_have_attribute("src", before or "")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    shot = Path(os.environ.get("ANIME_DETECTOR_SCREENSHOT", tmp_path / "page.png"))
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:4] == b"\x89PNG" and outside == []
    page.close()


def test_page_splits_uploads_by_bytes_and_answers_a_file_too_large_itself(
        browser: Any, explain_model: Path, tmp_path: Path) -> None:
    from PIL import Image
    from playwright.sync_api import expect

    with ServerProcess(explain_model, "--max-body-mb", "0.15", log=tmp_path / "log") as running:
        files = sorted((SAMPLE / "anime").iterdir())[:6]  # 12-75 KB each: 3+ requests
        big = tmp_path / "big.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8)
                        ).save(big)  # 270 KB of noise: over the limit alone
        page = browser.new_page()
        page.goto(running.url + "/")
        expect(page.locator("#model")).to_contain_text("onnxruntime")
        page.set_input_files("#files", [str(p) for p in files] + [str(big)])
        expect(page.locator("#status")).to_have_text(f"{len(files)}/{len(files) + 1} "
                                                     "classified, 1 failed")
        for path in files:
            assert page.locator(f".card[data-name='{path.name}'] .label").inner_text()
        assert "over the server's limit of 0.15 MB" in page.locator(
            ".card[data-name='big.png'] .err").inner_text()
        page.close()
        assert " 413 " not in running.log_text()  # the page never sent what would not fit


def test_page_shows_a_failed_call_instead_of_waiting(browser: Any, explain_model: Path,
                                                     tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with ServerProcess(explain_model, log=tmp_path / "log") as running:
        page = browser.new_page()
        page.goto(running.url + "/")
        expect(page.locator("#model")).to_contain_text("onnxruntime")
    # the server has gone away with the page open
    files = sorted((SAMPLE / "anime").iterdir())[:2]
    page.set_input_files("#files", [str(p) for p in files])
    expect(page.locator("#status")).to_have_text("0/2 classified, 2 failed")
    expect(page.locator("#status")).to_have_class("error")
    assert "cannot reach the server" in page.locator(".card .err").first.inner_text()
    page.close()
