"""Labelled image folders (``DATA_DIR/anime``, ``DATA_DIR/not_anime``): used by train and eval."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anime_detector.contract import DEFAULT_LABELS
from anime_detector.errors import SourceError
from anime_detector.image_paths import walk_images

__all__ = ["DataError", "Sample", "discover", "stratified_split"]


class DataError(SourceError):
    """The data folder does not have the expected layout."""


@dataclass(frozen=True)
class Sample:
    """One image file and its class index (alphabetical: 0 = anime, 1 = not_anime)."""

    path: Path
    label: int


def discover(data_dir: Path, labels: tuple[str, ...] = DEFAULT_LABELS) -> list[Sample]:
    """All images under ``data_dir/<label>/`` (recursively), label = alphabetical index."""
    if not data_dir.is_dir():
        raise DataError(data_dir, "data folder not found")
    found = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    missing = [name for name in labels if name not in found]
    if missing:
        raise DataError(data_dir, f"expected class folders {list(labels)}, found {found}; "
                        f"missing {missing}")
    samples: list[Sample] = []
    for index, name in enumerate(sorted(labels)):
        samples.extend(Sample(Path(p), index) for p in walk_images(data_dir / name, True))
    if not samples:
        raise DataError(data_dir, "no images found in the class folders")
    return samples


def stratified_split(
    samples: list[Sample], val_split: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Shuffle each class with ``seed`` and hold out ``val_split`` of it (at least one)."""
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for label in sorted({s.label for s in samples}):
        group = [s for s in samples if s.label == label]
        order = rng.permutation(len(group))
        n_val = int(round(len(group) * val_split)) if val_split > 0 else 0
        n_val = min(max(n_val, 1 if val_split > 0 else 0), max(len(group) - 1, 0))
        val.extend(group[i] for i in order[:n_val])
        train.extend(group[i] for i in order[n_val:])
    return train, val
