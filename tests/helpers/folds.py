"""k-fold copies of a labelled folder, for accuracy measured on images a head never saw
(the nsfwjs encoder's test and ``benchmarks/accuracy.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["fold_folders"]


def fold_folders(sample: Path, root: Path, fold: int, folds: int) -> tuple[Path, Path]:
    """Copies of ``sample``: every ``folds``-th image of each class (from ``fold``) in
    ``root/val``, the rest in ``root/train``."""
    for label in ("anime", "not_anime"):
        files = sorted(p for p in (sample / label).iterdir() if p.is_file())
        for i, path in enumerate(files):
            part = "val" if i % folds == fold else "train"
            (root / part / label).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / part / label / path.name)
    return root / "train", root / "val"
