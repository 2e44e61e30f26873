"""Drawing a heatmap over its picture: colour map, upsampling, blending, the PNG file.

numpy and Pillow only (no matplotlib in the runtime). The colour map is matplotlib's
``inferno`` sampled at 17 points and interpolated: perceptually uniform, readable in
grey and by colour-blind readers. The label and both probabilities are written by
:func:`anime_detector.drawing.annotate.render`, as ``predict --annotate`` writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from anime_detector.detector import Prediction
from anime_detector.drawing.annotate import DISPLAY_MAX, font, render
from anime_detector.file_io import atomic_path

__all__ = ["colorize", "overlay", "render_heatmap", "write_heatmap_png"]

LEGEND = 32
_INFERNO_ANCHORS = np.array([
    [0, 0, 4], [11, 7, 36], [33, 12, 74], [61, 9, 101], [87, 16, 110], [113, 25, 110],
    [138, 34, 106], [163, 44, 97], [188, 55, 84], [210, 70, 68], [228, 90, 49],
    [241, 115, 29], [249, 142, 9], [252, 172, 17], [249, 203, 53], [242, 234, 105],
    [252, 255, 164],
], dtype=np.float64)
_STEPS = np.linspace(0.0, 1.0, len(_INFERNO_ANCHORS))
INFERNO: NDArray[np.uint8] = np.stack(
    [np.interp(np.linspace(0.0, 1.0, 256), _STEPS, _INFERNO_ANCHORS[:, c]) for c in range(3)],
    axis=-1,
).round().astype(np.uint8)


def colorize(heat: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Map values in [0, 1] to inferno RGB: (H, W) -> (H, W, 3) uint8."""
    index = np.clip(np.asarray(heat, dtype=np.float64) * 255.0, 0, 255).round().astype(np.intp)
    return INFERNO[index]


def upsample(heat: NDArray[np.floating], size: tuple[int, int]) -> NDArray[np.float32]:
    """Bilinear resize of a (h, w) grid to ``size`` = (width, height), cell centres aligned.

    The model saw the whole picture squashed to its input size (no crop), so the grid
    covers the whole picture whatever its aspect ratio.
    """
    grid = Image.fromarray(np.ascontiguousarray(heat, dtype=np.float32))  # mode "F"
    return np.asarray(grid.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def overlay(image: Image.Image, heat: NDArray[np.floating], low: float = 0.35,
            high: float = 0.75) -> Image.Image:
    """The picture with the coloured heat blended in: opacity ``low`` at 0 to ``high`` at 1."""
    full = np.clip(upsample(heat, image.size), 0.0, 1.0)
    alpha = ((low + (high - low) * full) * 255.0).round().astype(np.uint8)
    # Pillow's composite blends in C: colour * alpha + picture * (1 - alpha).
    return Image.composite(Image.fromarray(colorize(full)), image.convert("RGB"),
                           Image.fromarray(alpha, mode="L"))


def _legend(width: int) -> Image.Image:
    """A colour bar saying what the colours mean."""
    strip = Image.new("RGB", (width, LEGEND), (255, 255, 255))
    bar = colorize(np.linspace(0.0, 1.0, max(1, width - 16))[None, :].repeat(8, axis=0))
    strip.paste(Image.fromarray(bar), (8, 4))
    draw = ImageDraw.Draw(strip)
    small = font(12)
    draw.text((8, 14), "anime evidence (Grad-CAM): none", fill=(0, 0, 0), font=small)
    draw.text((width - 8, 14), "most", fill=(0, 0, 0), font=small, anchor="ra")
    return strip


def render_heatmap(image: Image.Image, prediction: Prediction,
                   heat: NDArray[np.floating]) -> Image.Image:
    """Picture (at most 512 px) with the heatmap over it, the ``--annotate`` banner above
    and a colour bar below."""
    picture = image.copy()
    picture.thumbnail((DISPLAY_MAX, DISPLAY_MAX))
    top = render(overlay(picture, heat), prediction)
    canvas = Image.new("RGB", (top.width, top.height + LEGEND), (255, 255, 255))
    canvas.paste(top, (0, 0))
    canvas.paste(_legend(top.width), (0, top.height))
    return canvas


def write_heatmap_png(picture: Image.Image, prediction: Prediction,
                      heat: NDArray[np.floating], target: Path) -> Path:
    """Render the heatmap over ``picture`` and save it atomically as PNG at ``target``.

    ``picture``: as :func:`~anime_detector.drawing.annotate.annotate_image` takes it.
    """
    canvas = render_heatmap(picture, prediction, heat)
    with atomic_path(target) as tmp:
        canvas.save(tmp, format="PNG", compress_level=1)  # 4x faster to write than level 6
    return target
