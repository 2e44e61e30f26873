"""Seeded, class-balanced order of the images in a folder, for verification and calibration.

``verification_batch`` reads images in this order until it has enough: with
``DATA_DIR/anime`` and ``DATA_DIR/not_anime`` the first 64 are then a shuffled mix of
both classes, not the first 64 file names of ``anime/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["stratified_order"]


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
