"""Decoding training images, with seeded augmentation; re-exports the folder discovery.

Every image becomes model input through ``anime_detector.preprocessing.preprocess``
(the runtime's function); augmentation happens on the PIL image before it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from anime_detector.dataset import DataError, Sample, discover, stratified_split
from anime_detector.file_io import sha256_path
from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, load_image, preprocess

__all__ = ["DataError", "Sample", "augment", "decode", "discover",
           "stratified_split"]

def augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random view: horizontal flip (p=0.5) and a crop keeping 85-100% of each side."""
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    w, h = image.size
    keep = rng.uniform(0.85, 1.0)
    cw, ch = max(1, int(w * keep)), max(1, int(h * keep))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return image.crop((x0, y0, x0 + cw, y0 + ch))


AUGMENT_VERSION = 1  # bump when augment() changes: it is part of the feature cache key


def view_key(digest: str, view: int, seed: int) -> str:
    """What a view depends on: the image's content, the view, the seed, the augmentation.
    View 0 is the plain image (no seed); the path never matters, so moved data is the same."""
    return digest if view == 0 else f"{digest}-a{AUGMENT_VERSION}-s{seed}"


def decode(
    path: Path, view: int = 0, seed: int = 0, spec: PreprocessSpec = DEFAULT_SPEC,
    digest: str | None = None,
) -> NDArray[np.float32]:
    """Model input for ``path``; ``view`` > 0 is a seeded random augmentation of it, drawn
    from the file's content hash (``digest``, computed when not given), view and seed."""
    image = load_image(path, spec, for_model=True)  # the same decode as preprocess(path)
    if view > 0:
        content = digest or sha256_path(path)
        key = int.from_bytes(hashlib.sha256(f"{view_key(content, view, seed)}|{view}".encode())
                             .digest()[:8], "big")
        image = augment(image, np.random.default_rng(key))
    return preprocess(image, spec)
