"""Seeded synthetic images for the tests: two visually different classes.

``draw_flat`` makes cel-shaded-looking pictures (flat colour regions with dark
outlines, the "anime" stand-in); ``draw_noisy`` makes photo-like pictures
(smooth gradients plus sensor noise, the "not_anime" stand-in).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def draw_flat(seed: int, size: tuple[int, int] = (160, 160)) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
        x1, y1 = x0 + rng.integers(30, size[0] // 2), y0 + rng.integers(30, size[1] // 2)
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x1, y1), fill=fill, outline=(10, 10, 10), width=4)
    return img


def draw_noisy(seed: int, size: tuple[int, int] = (160, 160)) -> Image.Image:
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-0.6, 0.6, (3, 2))
    chans = [base[c] + slope[c, 0] * xx + slope[c, 1] * yy for c in range(3)]
    arr = np.stack(chans, axis=-1) + rng.normal(0, 25, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


def write_class_folder(root: Path, per_class: int, seed: int = 0, fmt: str = "png") -> Path:
    """``root/anime`` (flat drawings) and ``root/not_anime`` (noisy photos-alikes)."""
    for label, draw in (("anime", draw_flat), ("not_anime", draw_noisy)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(seed * 1000 + i).save(folder / f"{label}-{i:03d}.{fmt}")
    return root
