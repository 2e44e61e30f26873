"""Seeded synthetic images, for export verification and benchmarks when no folder is given.

Half are flat-colour drawings with dark outlines, half smooth gradients with
noise, so a trained model's scores spread instead of sitting on one value.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["synthetic_images"]


def _flat(rng: np.random.Generator, size: int) -> Image.Image:
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
        x1, y1 = x0 + int(rng.integers(20, size // 2)), y0 + int(rng.integers(20, size // 2))
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
                     outline=(10, 10, 10), width=3)
    return img


def _noisy(rng: np.random.Generator, size: int) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base, slope = rng.uniform(40, 200, 3), rng.uniform(-0.5, 0.5, (3, 2))
    arr = np.stack([base[c] + slope[c, 0] * xx + slope[c, 1] * yy for c in range(3)], axis=-1)
    arr += rng.normal(0, 25, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def synthetic_images(n: int, seed: int = 0, size: int = 256) -> list[Image.Image]:
    """``n`` RGB images, alternating drawing / photo-like, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [(_flat if i % 2 == 0 else _noisy)(rng, size) for i in range(n)]
