"""Peak memory of decoding one image, per pixel mode, measured in a fresh process.

The bound: what :func:`decode_cost` says from the header (the decoded image, plus what
the few whole-image decoders hold besides) and never less than the 8-bit RGB image (4 bytes
a pixel in Pillow), plus 10 % and 8 MB for the strips being converted and the allocator.
Within ``predict``'s default limits (a decode budget of one RGB image at the pixel limit)
the images that would cost more than RGB are refused before they are decoded.
Converting a whole image at once (float64 grey, RGBA copies for alpha, CMYK beside its RGB)
costs 2 to 7 times that and fails here. ``benchmarks/decode_memory.py`` measures the same
files at the pixel limit, through ``predict``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from anime_detector.preprocessing import decode_cost

from helpers.mode_images import MODE_FILES, write_mode_file

SIDE = 2560  # 6.5 megapixels: big enough that the image, not Python, is what is measured
SLACK = 8 * 2**20

# Prints the bytes the high-water mark of this process rose by while one image was made
# into model input (the mark reset first, after a warm-up on a small image). With a pixel
# limit, also the limits predict has: that limit and the default decode budget at it; a
# refusal is printed on a second line.
PROBE = """
import re, sys
from PIL import Image
from anime_detector.decode_budget import DecodeBudget
from anime_detector.errors import InputError
from anime_detector.preprocessing import default_decode_bytes, preprocess

def kb(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

limits = {}
if len(sys.argv) > 2:
    pixels = int(sys.argv[2])
    limits = {"max_pixels": pixels, "budget": DecodeBudget(default_decode_bytes(pixels))}
preprocess(Image.new("RGB", (64, 64)))
with open("/proc/self/clear_refs", "w") as marks:
    marks.write("5")
before = kb("VmRSS")
try:
    preprocess(sys.argv[1], **limits)
    refusal = ""
except InputError as exc:
    refusal = str(exc)
print((kb("VmHWM") - before) * 1024)
print(refusal)
"""


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as marks:
            marks.write("5")
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not _can_reset_peak(),
                                reason="needs Linux's resettable peak RSS (/proc/self/clear_refs)")


@pytest.fixture(scope="module")
def mode_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("modes")
    return {name: write_mode_file(folder, name, (SIDE, SIDE)) for name in MODE_FILES}


@pytest.mark.parametrize("name", list(MODE_FILES))
def test_peak_memory_of_one_image_is_bounded_in_every_mode(mode_files: dict[str, Path],
                                                           name: str) -> None:
    path = mode_files[name]
    with Image.open(path) as image:
        bound = max(decode_cost(image), SIDE * SIDE * 4) * 1.1 + SLACK
    peak, refusal = _probe(path)
    assert not refusal
    assert peak <= bound, (f"{name} ({MODE_FILES[name][0]}): {peak / 2**20:.0f} MB > "
                           f"{bound / 2**20:.0f} MB")


def test_within_predicts_default_limits_no_image_costs_more_than_rgb(
        mode_files: dict[str, Path]) -> None:
    """The images whose decoders hold more than RGB would (WebP, AVIF: every other mode is
    held to RGB's bound above) are refused from their header at the default decode budget,
    before their decoders take anything."""
    rgb = SIDE * SIDE * 4
    costly = []
    for name, path in mode_files.items():
        with Image.open(path) as image:
            if decode_cost(image) > rgb:
                costly.append(name)
    assert {"rgba.webp", "rgba.avif"} <= set(costly)
    for name in costly:
        peak, refusal = _probe(mode_files[name], SIDE * SIDE)
        assert "image too large to decode" in refusal, name
        assert peak <= SLACK, f"{name}: {peak / 2**20:.0f} MB to refuse it"


def _probe(path: Path, max_pixels: int | None = None) -> tuple[int, str]:
    """(bytes the peak rose by, the refusal or "") of one image made into model input in
    a fresh process, with predict's default limits at ``max_pixels`` if given."""
    limits = [] if max_pixels is None else [str(max_pixels)]
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), *limits],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    peak, refusal = done.stdout.split("\n", 1)
    return int(peak), refusal.strip()
