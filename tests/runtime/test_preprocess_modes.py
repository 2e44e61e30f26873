"""Every pixel mode gives the same model input as converting the whole image first: the
strip-by-strip conversion and resize change memory, never pixels (train/serve parity).

The reference below is the whole-image conversion the strips replaced (float64 over the
full image for 16/32-bit grey, a full RGBA copy for alpha), followed by :func:`resize`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_detector import image_modes
from anime_detector.decode_budget import DecodeBudget
from anime_detector.errors import InputError
from anime_detector.preprocessing import (
    PreprocessSpec,
    decode_cost,
    load_image,
    normalize,
    preprocess,
    resize,
)

from helpers.mode_images import MODE_FILES, write_mode_file

WHITE = (255, 255, 255)
SPECS = [PreprocessSpec(), PreprocessSpec(resize="center-crop", resample="lanczos"),
         PreprocessSpec(height=96, width=160, alpha_background=(0, 90, 0))]
FILTERS = [PreprocessSpec(resample=r) for r in ("bicubic", "nearest")]
# Wide, tall (Pillow then resizes down first), upscaled, one side at the target, slivers.
SHAPES = [(301, 157), (157, 301), (90, 700), (700, 90), (100, 80), (1, 900)]


def reference_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """The whole-image conversion: what the strips must reproduce exactly."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
        image = Image.fromarray(arr, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "PA"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image


def reference_input(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    return normalize(np.asarray(resize(reference_rgb(image, spec.alpha_background), spec)),
                     spec)


def noise_image(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Random pixels in ``mode`` (every value range the mode has)."""
    rng = np.random.default_rng(seed)
    w, h = size
    if mode.startswith("I;16"):
        data = rng.integers(0, 65536, (h, w)).astype(">u2" if mode == "I;16B" else "<u2")
        return Image.frombytes(mode, size, data.tobytes())
    if mode in ("I", "I-small"):
        top = 70000 if mode == "I" else 200  # above 255: over 65535; else: over 255
        return Image.fromarray(rng.integers(-50, top, (h, w)).astype(np.int32), "I")
    if mode == "F":
        return Image.fromarray((rng.random((h, w)) * 300).astype(np.float32), "F")
    rgba = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    if mode in ("P-transparent", "P-alpha"):
        image = rgba.convert("RGB").quantize(64)
        image.info["transparency"] = 3 if mode == "P-transparent" else bytes(range(0, 256, 4))
        return image
    return rgba.convert(mode)


MODES = ["1", "L", "P", "P-transparent", "P-alpha", "LA", "PA", "RGBA", "RGB", "CMYK",
         "YCbCr", "RGBX", "HSV", "I;16", "I;16B", "I", "I-small", "F"]


@pytest.fixture()
def small_strips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips of 4093 pixels: every test image is cut in several strips, at odd places."""
    monkeypatch.setattr(image_modes, "_STRIP_PIXELS", 4093)


def _assert_identical_inputs(mode: str, specs: list[PreprocessSpec]) -> None:
    for shape in SHAPES:
        image = noise_image(mode, shape)
        for spec in specs:
            np.testing.assert_array_equal(preprocess(image, spec),
                                          reference_input(image, spec), err_msg=f"{shape}")


@pytest.mark.usefixtures("small_strips")
@pytest.mark.parametrize("mode", MODES)
def test_model_input_is_identical_to_whole_image_conversion(mode: str) -> None:
    _assert_identical_inputs(mode, SPECS)


@pytest.mark.usefixtures("small_strips")
@pytest.mark.parametrize("mode", ["RGBA", "I;16"])
def test_every_resize_filter_gives_identical_input(mode: str) -> None:
    _assert_identical_inputs(mode, FILTERS)


@pytest.mark.usefixtures("small_strips")
@pytest.mark.parametrize("mode", MODES)
def test_display_image_is_identical_to_whole_image_conversion(mode: str) -> None:
    image = noise_image(mode, (157, 301))
    expected = reference_rgb(image, WHITE)
    assert np.array_equal(np.asarray(load_image(image)), np.asarray(expected))


@pytest.mark.usefixtures("small_strips")
def test_every_mode_file_gives_the_reference_input(tmp_path: Path) -> None:
    for name in MODE_FILES:
        path = write_mode_file(tmp_path, name, (173, 311))
        with Image.open(path) as image:
            image.seek(0)
            image.load()
            expected = reference_input(image, SPECS[0])
        np.testing.assert_array_equal(preprocess(path), expected, err_msg=name)


def test_decode_cost_comes_from_the_header(tmp_path: Path) -> None:
    sizes = {"rgb.png": 4, "grey.png": 1, "palette.png": 1, "grey16.png": 2, "int32.tif": 4,
             "cmyk.jpg": 4, "rgba.webp": 16,  # WebP: libwebp's canvases, Pillow's copy
             "rgba.avif": 12}  # AVIF: libavif's buffers, Pillow's copy
    for name, per_pixel in sizes.items():
        path = write_mode_file(tmp_path, name, (300, 200))
        with Image.open(path) as image:
            assert decode_cost(image) == 300 * 200 * per_pixel, name
            assert image._im is None, name  # nothing decoded to tell
    with Image.open(tmp_path / "grey.png") as image:  # display adds the full RGB result
        assert decode_cost(image, for_model=False) == 300 * 200 * 5


def test_an_image_over_the_budget_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write_mode_file(tmp_path, "grey16.png", (1000, 1000))  # 2 MB decoded
    budget = DecodeBudget(capacity=1_500_000)
    with pytest.raises(InputError) as err:
        preprocess(path, budget=budget)
    message = str(err.value)
    assert message.startswith(f"{path}: image too large to decode: about 2 MB")
    assert "1000x1000 PNG I;16" in message and "\n" not in message
    assert budget.in_use == 0
    assert preprocess(path, budget=DecodeBudget(capacity=2_000_000)).shape == (224, 224, 3)


def test_a_shared_budget_makes_a_decode_wait_for_room_then_gives_up() -> None:
    budget = DecodeBudget(capacity=100, wait_s=5.0)
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with budget.hold("first", 80):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    entered.wait(5)
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    with budget.hold("second", 50):  # waits for the first to give its share back
        assert budget.in_use == 50
    assert 0.15 < time.monotonic() - started < 4.0
    thread.join(5)
    impatient = DecodeBudget(capacity=100, wait_s=0.1)
    with impatient.hold("first", 80), pytest.raises(InputError, match="second: busy"):
        with impatient.hold("second", 50):
            pass
    assert impatient.in_use == 0


def test_every_mode_file_is_closed_once_decoded(tmp_path: Path) -> None:
    paths = [write_mode_file(tmp_path, name, (120, 90)) for name in MODE_FILES]
    before = len(os.listdir("/proc/self/fd"))
    kept = [load_image(path) for path in paths]  # multi-frame formats keep files open
    arrays = [preprocess(path) for path in paths]
    assert len(os.listdir("/proc/self/fd")) == before
    assert all(image.mode == "RGB" for image in kept) and len(arrays) == len(paths)
