"""Pooled-feature cache: the frozen backbone runs once per image (and view), ever.

The backbone is frozen and the head starts with global pooling, so an image's
pooled feature vector is the same in every epoch. Vectors are stored as ``.npy``
files keyed by the image bytes' SHA-256, the augmentation view and a
fingerprint of the backbone (name, weights) and preprocessing spec.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.file_io import atomic_path, sha256_path, user_cache_dir
from anime_detector.prefetch import prefetch
from anime_detector.preprocessing import PreprocessSpec
from anime_detector.progress import track
from anime_detector.system import available_cpus
from anime_detector.train.data import Sample, decode, view_key

__all__ = ["ExtractResult", "FeatureCache", "backbone_fingerprint", "extract_features",
           "default_cache_dir"]


def default_cache_dir() -> Path:
    """The feature cache under :func:`anime_detector.file_io.user_cache_dir`."""
    return user_cache_dir() / "features"


def backbone_fingerprint(extractor: Any, spec: PreprocessSpec, backbone: str = "vgg19") -> str:
    """SHA-256 over the backbone's name, the extractor's weights and shapes and the spec.

    The name is left out for VGG19, so caches written before other backbones existed
    keep their keys; every other backbone's name is hashed in first.
    """
    digest = hashlib.sha256(b"" if backbone == "vgg19" else f"backbone={backbone}\n".encode())
    digest.update(spec.to_json().encode())
    for weight in extractor.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class FeatureCache:
    """``.npy`` files under ``root/<fingerprint[:16]>/``; ``None`` root disables it."""

    def __init__(self, root: Path | None, fingerprint: str) -> None:
        self.folder = root / fingerprint[:16] if root else None
        self.hits = 0
        self.misses = 0

    def _path(self, digest: str, view: int) -> Path:
        assert self.folder is not None
        return self.folder / digest[:2] / f"{digest}-v{view}.npy"

    def get(self, digest: str, view: int) -> NDArray[np.float32] | None:
        if self.folder is None:
            return None
        path = self._path(digest, view)
        try:
            value = np.load(path)
        except (OSError, ValueError):
            return None
        return np.asarray(value, dtype=np.float32)

    def put(self, digest: str, view: int, value: NDArray[np.float32]) -> None:
        if self.folder is None:
            return
        with atomic_path(self._path(digest, view)) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, value)


@dataclass
class ExtractResult:
    """Feature rows, their labels, and the images that could not be read."""

    features: NDArray[np.float32]
    labels: NDArray[np.int64]
    skipped: list[tuple[str, str]] = field(default_factory=list)


ViewResult = tuple[NDArray[np.float32] | None, NDArray[np.float32] | None]  # (cached, pixels)


def _job(sample: Sample, views: int, seed: int, spec: PreprocessSpec,
         cache: FeatureCache) -> tuple[str, list[ViewResult]]:
    """Hash the file once, then per view: the cached vector, or the decoded pixels."""
    digest = sha256_path(sample.path)
    results: list[ViewResult] = []
    for view in range(views):
        cached = cache.get(view_key(digest, view, seed), view)
        results.append((cached, None) if cached is not None
                       else (None, decode(sample.path, view, seed, spec, digest)))
    return digest, results


def extract_features(
    extractor: Any, samples: Sequence[Sample], cache: FeatureCache, spec: PreprocessSpec,
    views: int = 1, seed: int = 0, batch_size: int = 32,
    warn: Callable[[str], None] = print,
) -> ExtractResult:
    """Pooled features for every sample and view (view 0 = the plain image)."""
    jobs = [(s, v) for s in samples for v in range(views)]
    rows: list[NDArray[np.float32] | None] = [None] * len(jobs)
    pending: list[tuple[int, str, int, NDArray[np.float32]]] = []
    skipped: dict[str, str] = {}

    def flush() -> None:
        if not pending:
            return
        out = np.asarray(extractor.predict_on_batch(np.stack([p[3] for p in pending])))
        for (index, digest, view, _), vector in zip(pending, out, strict=True):
            rows[index] = vector.astype(np.float32)
            cache.put(view_key(digest, view, seed), view, rows[index])  # type: ignore[arg-type]
            cache.misses += 1
        pending.clear()

    stream = prefetch(lambda sample: _job(sample, views, seed, spec, cache), samples,
                      workers=available_cpus(), depth=max(2, 2 * batch_size // views))
    for number, item in enumerate(track(stream, len(samples), "extracting features")):
        if item.error is not None:
            skipped[str(item.source.path)] = str(item.error)
            warn(f"skipped {item.error}")
            continue
        digest, results = item.value  # type: ignore[misc]
        for view, (cached, pixels) in enumerate(results):
            index = number * views + view
            if cached is not None:
                rows[index] = cached
                cache.hits += 1
            else:
                pending.append((index, digest, view, pixels))
                if len(pending) == batch_size:
                    flush()
    flush()
    keep = [i for i, row in enumerate(rows) if row is not None]
    kept = [row for row in rows if row is not None]
    feats = np.stack(kept) if kept else np.zeros((0, 0), np.float32)
    labels = np.array([jobs[i][0].label for i in keep], dtype=np.int64)
    return ExtractResult(feats.astype(np.float32), labels, sorted(skipped.items()))
