"""Sampling images from a folder, one policy for every check that needs a few real images.

Export verification, int8 calibration and ``bench``'s fidelity column all take up to
``limit`` images in a seeded, class-balanced order: with ``DATA_DIR/anime`` and
``DATA_DIR/not_anime`` the first 64 are a shuffled mix of both classes, not the first 64
file names of ``anime/``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from anime_detector.errors import SourceError
from anime_detector.image_paths import expand_inputs
from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, preprocess

__all__ = ["sample_images", "stratified_order"]


def stratified_order(paths: Sequence[str], root: Path, seed: int = 0) -> list[str]:
    """``paths`` grouped by their first folder under ``root``, each group shuffled with
    ``seed``, then interleaved round-robin (groups in name order)."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        try:
            parts = Path(path).relative_to(root).parts
        except ValueError:
            parts = ()
        groups.setdefault(parts[0] if len(parts) > 1 else "", []).append(path)
    rng = np.random.default_rng(seed)
    shuffled = [[group[i] for i in rng.permutation(len(group))]
                for _, group in sorted(groups.items())]
    return [group[i] for i in range(max(map(len, shuffled), default=0))
            for group in shuffled if i < len(group)]


def sample_images(folder: Path, spec: PreprocessSpec = DEFAULT_SPEC, limit: int = 64,
                  seed: int = 0, purpose: str = "to sample"
                  ) -> tuple[NDArray[np.float32], str]:
    """Up to ``limit`` readable images of ``folder`` (all levels) in :func:`stratified_order`,
    preprocessed for ``spec``, and a description (``"50 images from DIR (25 anime, 25
    not_anime)"``). Unreadable images are skipped.

    Raises:
        SourceError: no readable image (the message ends with ``purpose``).
    """
    arrays, classes = [], Counter[str]()
    for path in stratified_order(expand_inputs([str(folder)], recursive=True), folder, seed):
        try:
            arrays.append(preprocess(path, spec))
        except SourceError:
            continue
        parts = Path(path).relative_to(folder).parts
        classes[parts[0] if len(parts) > 1 else "."] += 1
        if len(arrays) >= limit:
            break
    if not arrays:
        raise SourceError(folder, f"no readable images {purpose}")
    mix = ", ".join(f"{n} {name}" for name, n in sorted(classes.items()))
    return np.stack(arrays), f"{len(arrays)} images from {folder} ({mix})"
