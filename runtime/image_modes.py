"""Pixel modes: what a decoded image costs in memory, and how any mode becomes 8-bit RGB
without a full-size temporary.

Pillow holds a decoded image at 1 byte a pixel for ``1``, ``L`` and ``P``, 2 for the
16-bit greys and 4 for every other mode (RGB included: its pixels are padded to 32 bits).
:func:`decoded_bytes` reads that from the header, before a pixel is decoded, and
:func:`decoder_bytes` what the few decoders that hold whole images take besides.

The conversions work on strips of rows (a quarter megapixel each), so the only full-size
image is the decoded one (plus the RGB result for :func:`to_rgb`). Each strip goes through
the same per-pixel arithmetic a whole image would, so the pixels are identical:

- 16-bit and 32-bit grey (``I;16*``, ``I``, ``F``) are scaled to 0-255 in float64 (over
  65535 for 16-bit, and for 32-bit images whose maximum is above 255; else over 255),
  rounded and clipped, then copied to the three channels;
- alpha (``LA``, ``PA``, ``RGBA``, palettes with transparency) is composited on the
  background colour with Pillow's own ``paste``;
- every other mode goes through Pillow's ``convert("RGB")``.

:func:`resized_rgb` also resizes each strip across (Pillow resizes across first, then
down, rounding to 8 bits in between), so the model's input never needs a full-size RGB
copy: the result equals converting first and resizing the whole image after.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

__all__ = ["GREY_MODES", "decoded_bytes", "decoder_bytes", "pixel_bytes", "resized_rgb", "to_rgb"]

GREY_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
_SMALL_MODES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_STRIP_PIXELS = 1 << 18


def pixel_bytes(mode: str) -> int:
    """Bytes Pillow holds per pixel of ``mode`` once decoded."""
    return _SMALL_MODES.get(mode, 4)


def decoded_bytes(image: Image.Image) -> int:
    """The memory ``image`` takes once decoded, from its header (mode and size)."""
    width, height = image.size
    return width * height * pixel_bytes(image.mode)


def decoder_bytes(image: Image.Image) -> int:
    """The memory ``image``'s decoder holds beside the decoded image, from its header.

    Most decoders work a few rows at a time. Three hold whole images (measured by
    ``benchmarks/decode_memory.py``): OpenJPEG a 32-bit plane per band plus a copy, and
    libwebp and libavif their own RGBA canvases, which Pillow then copies.
    """
    width, height = image.size
    if image.format == "JPEG2000":
        return width * height * 4 * len(image.getbands()) + decoded_bytes(image)
    return {"WEBP": 3, "AVIF": 2}.get(image.format or "", 0) * decoded_bytes(image)


def _pieces(box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """``box`` cut into strips of whole rows, about :data:`_STRIP_PIXELS` each."""
    left, upper, right, lower = box
    rows = max(1, _STRIP_PIXELS // max(1, right - left))
    return [(left, top, right, min(lower, top + rows)) for top in range(upper, lower, rows)]


def _grey_top(image: Image.Image) -> float:
    """The value that maps to 255: 65535 for 16-bit grey and for 32-bit grey above 255."""
    if image.mode.startswith("I;16"):
        return 65535.0
    peaks = [np.asarray(image.crop(box)).max() for box in _pieces((0, 0, *image.size))]
    return 65535.0 if np.max(peaks) > 255 else 255.0  # NaN (float images) propagates


def _strip_rgb(strip: Image.Image, top: float | None,
               background: tuple[int, int, int]) -> Image.Image:
    """One strip in RGB (``top``: see :func:`_grey_top`, for the grey modes)."""
    if top is not None:
        arr = np.asarray(strip, dtype=np.float64)  # one float64 strip, worked on in place
        np.multiply(arr, 255.0 / top, out=arr)
        np.clip(arr, 0, 255, out=arr)
        np.round(arr, out=arr)
        strip = Image.fromarray(arr.astype(np.uint8), mode="L")
    if strip.mode == "P":
        strip = strip.convert("RGBA" if "transparency" in strip.info else "RGB")
    if strip.mode in ("LA", "PA", "La"):
        strip = strip.convert("RGBA")
    if strip.mode in ("RGBA", "RGBa"):
        canvas = Image.new("RGB", strip.size, background)
        canvas.paste(strip, mask=strip.getchannel("A"))
        return canvas
    return strip.convert("RGB") if strip.mode != "RGB" else strip


def _rgb_region(image: Image.Image, box: tuple[int, int, int, int], top: float | None,
                background: tuple[int, int, int]) -> Image.Image:
    """The ``box`` of ``image`` in RGB, converted a strip of rows at a time."""
    pieces = _pieces(box)
    if len(pieces) == 1:
        return _strip_rgb(image.crop(box), top, background)
    out = Image.new("RGB", (box[2] - box[0], box[3] - box[1]))
    for piece in pieces:
        out.paste(_strip_rgb(image.crop(piece), top, background), (0, piece[1] - box[1]))
    return out


@functools.cache
def _pillow_may_shrink_height_first() -> bool:
    """Whether this Pillow runs a resize's vertical pass first when the height shrinks much
    more than the width (newer Pillow does; older ones always start across)."""
    rng = np.random.default_rng(0)
    probe = Image.fromarray(rng.integers(0, 256, (64, 8, 3), dtype=np.uint8))
    bilinear = Image.Resampling.BILINEAR
    across_first = probe.resize((4, 64), bilinear).resize((4, 4), bilinear)
    return probe.resize((4, 4), bilinear).tobytes() != across_first.tobytes()


def _height_first(size: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether Pillow resizes ``size`` to ``target`` down first, then across."""
    shrink_y, shrink_x = size[1] - target[1], size[0] - target[0]
    return shrink_y > 0 and shrink_y > 2 * shrink_x and _pillow_may_shrink_height_first()


def _convert_bands(image: Image.Image, target: tuple[int, int] | None,
                   resample: Image.Resampling, background: tuple[int, int, int]
                   ) -> Image.Image:
    """``image`` in RGB, band by band; with a ``target`` size, each band also gets the first
    pass of Pillow's resize to it (bands of columns when Pillow starts down, else of rows)."""
    top = _grey_top(image) if image.mode in GREY_MODES else None
    width, height = image.size
    columns = target is not None and _height_first(image.size, target)
    if target is None:
        size = image.size
    else:
        size = (width, target[1]) if columns else (target[0], height)
    out = Image.new("RGB", size)
    step = max(1, _STRIP_PIXELS // max(1, height if columns else width))
    for start in range(0, width if columns else height, step):
        box = ((start, 0, min(width, start + step), height) if columns else
               (0, start, width, min(height, start + step)))
        part = _rgb_region(image, box, top, background)
        want = (part.size[0], size[1]) if columns else (size[0], part.size[1])
        if part.size != want:
            part = part.resize(want, resample)
        out.paste(part, (start, 0) if columns else (0, start))
    return out


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """``image`` as 8-bit RGB, alpha composited on ``background`` (``image`` itself if RGB)."""
    if image.mode == "RGB":
        return image
    return _convert_bands(image, None, Image.Resampling.NEAREST, background)


def resized_rgb(image: Image.Image, size: tuple[int, int], resample: Image.Resampling,
                background: tuple[int, int, int]) -> Image.Image:
    """:func:`to_rgb` then ``resize(size, resample)``: the same pixels, without a full-size
    RGB copy of a non-RGB image."""
    if image.mode == "RGB":
        return image.resize(size, resample) if image.size != size else image
    first = _convert_bands(image, size, resample, background)
    return first.resize(size, resample) if first.size != size else first
