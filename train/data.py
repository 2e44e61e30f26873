"""The training image folder: discovery, stratified split, decoding with augmentation.

Every image becomes model input through ``anime_detector.preprocess.preprocess``
(the runtime's function); augmentation happens on the PIL image before it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from anime_detector.errors import SourceError
from anime_detector.inputs import is_image_name
from anime_detector.metadata import DEFAULT_LABELS
from anime_detector.preprocess import DEFAULT_SPEC, PreprocessSpec, load_image, preprocess

__all__ = ["Sample", "DataError", "decode", "discover", "stratified_split"]

log = logging.getLogger(__name__)


class DataError(SourceError):
    """The data folder does not have the expected layout."""


@dataclass(frozen=True)
class Sample:
    """One image file and its class index (0 = anime, 1 = not_anime)."""

    path: Path
    label: int
    digest: str = field(default="", compare=False)


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes: the feature cache key."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def discover(data_dir: Path, labels: tuple[str, ...] = DEFAULT_LABELS) -> list[Sample]:
    """All images under ``data_dir/<label>/`` (recursively), label = alphabetical index."""
    if not data_dir.is_dir():
        raise DataError(data_dir, "data folder not found")
    found = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    missing = [name for name in labels if name not in found]
    if missing:
        raise DataError(data_dir, f"expected class folders {list(labels)}, found {found}; "
                        f"missing {missing}")
    samples = []
    for index, name in enumerate(sorted(labels)):
        files = sorted(p for p in (data_dir / name).rglob("*") if is_image_name(p))
        samples.extend(Sample(p, index) for p in files if not p.is_dir())
    if not samples:
        raise DataError(data_dir, "no images found in the class folders")
    return samples


def stratified_split(
    samples: list[Sample], val_split: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Shuffle each class with ``seed`` and hold out ``val_split`` of it (at least one)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted({s.label for s in samples}):
        group = [s for s in samples if s.label == label]
        order = rng.permutation(len(group))
        n_val = int(round(len(group) * val_split)) if val_split > 0 else 0
        n_val = min(max(n_val, 1 if val_split > 0 else 0), max(len(group) - 1, 0))
        val.extend(group[i] for i in order[:n_val])
        train.extend(group[i] for i in order[n_val:])
    return train, val


def augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random view: horizontal flip (p=0.5) and a crop keeping 85-100% of each side."""
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    w, h = image.size
    keep = rng.uniform(0.85, 1.0)
    cw, ch = max(1, int(w * keep)), max(1, int(h * keep))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def decode(
    path: Path, view: int = 0, seed: int = 0, spec: PreprocessSpec = DEFAULT_SPEC
) -> NDArray[np.float32]:
    """Model input for ``path``; ``view`` > 0 is a seeded random augmentation of it."""
    image = load_image(path, spec)
    if view > 0:
        key = int.from_bytes(hashlib.sha256(f"{path}|{view}|{seed}".encode()).digest()[:8], "big")
        image = augment(image, np.random.default_rng(key))
    return preprocess(image, spec)
