"""Peak memory of decoding one image, per pixel mode, measured in a fresh process.

The bound: what :func:`decode_cost` says from the header (the decoded image, plus what
the few whole-image decoders hold besides) and never less than the 8-bit RGB image (4 bytes
a pixel in Pillow), plus 10 % and 8 MB for the strips being converted and the allocator.
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
# into model input (the mark reset first, after a warm-up on a small image).
PROBE = """
import re, sys
from PIL import Image
from anime_detector.preprocessing import preprocess

def kb(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

preprocess(Image.new("RGB", (64, 64)))
with open("/proc/self/clear_refs", "w") as marks:
    marks.write("5")
before = kb("VmRSS")
preprocess(sys.argv[1])
print((kb("VmHWM") - before) * 1024)
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
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.strip())
    assert peak <= bound, (f"{name} ({MODE_FILES[name][0]}): {peak / 2**20:.0f} MB > "
                           f"{bound / 2**20:.0f} MB")
