"""The ``predict`` job: expand inputs, stream results, annotate, count failures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anime_detector.detector import Detector, Failure, Prediction
from anime_detector.errors import AnimeDetectorError, InputError
from anime_detector.files import expand_inputs
from anime_detector.jobs.annotate import annotate_image, annotation_path
from anime_detector.jobs.progress import track

__all__ = ["PredictSummary", "predict_files"]


@dataclass
class PredictSummary:
    """What a ``predict`` run did."""

    total: int = 0
    failed: int = 0
    annotated: int = 0


def predict_files(
    detector: Detector,
    inputs: Sequence[str],
    emit: Callable[[Prediction | Failure], None],
    *,
    recursive: bool = False,
    batch_size: int = 8,
    threshold: float | None = None,
    annotate_dir: Path | None = None,
    progress: bool | None = None,
) -> PredictSummary:
    """Predict every image that ``inputs`` name and hand each result to ``emit``.

    Raises:
        InputError: the inputs name no image at all.
    """
    paths = expand_inputs(inputs, recursive=recursive)
    if not paths:
        raise InputError(" ".join(inputs), "no images found (supported: jpg, png, webp, "
                         "bmp, gif, tiff; use --recursive for sub-folders)")
    summary = PredictSummary(total=len(paths))
    taken: set[str] = set()
    results = detector.predict_iter(paths, batch_size=batch_size, threshold=threshold)
    for item in track(results, len(paths), "predicting", enabled=progress):
        if isinstance(item, Prediction) and annotate_dir is not None and item.source:
            try:
                annotate_image(item.source, item, annotation_path(annotate_dir, item.source, taken))
                summary.annotated += 1
            except (AnimeDetectorError, OSError) as exc:
                item = Failure(item.source, f"annotation failed: {exc}")
        if isinstance(item, Failure):
            summary.failed += 1
        emit(item)
    return summary
