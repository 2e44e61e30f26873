"""End-to-end batches of (images, one-hot labels) for ``--no-feature-cache`` training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from anime_detector.preprocessing import PreprocessSpec
from anime_detector.train.data import Sample, decode

__all__ = ["ImageBatches"]


class ImageBatches(keras.utils.PyDataset):  # type: ignore[misc]
    """Decodes each batch through the shared ``preprocess`` every epoch."""

    def __init__(self, samples: Sequence[Sample], batch_size: int, spec: PreprocessSpec,
                 n_classes: int = 2, shuffle: bool = True, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.samples = list(samples)
        self.batch_size = batch_size
        self.spec = spec
        self.n_classes = n_classes
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        # Shuffled from the first epoch on: samples come sorted by class.
        n = len(self.samples)
        self.order = self.rng.permutation(n) if shuffle else np.arange(n)

    def __len__(self) -> int:
        return (len(self.samples) + self.batch_size - 1) // self.batch_size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.stack([decode(self.samples[i].path, 0, 0, self.spec) for i in picked])
        y = np.eye(self.n_classes, dtype=np.float32)[[self.samples[i].label for i in picked]]
        return x, y

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(len(self.samples))
