"""The ``predict`` job: expand inputs, stream results, write per-image files, count failures.

Per-image files are the ``--annotate`` copy, the ``--explain`` heatmap PNG and the
``--sort-into`` copy (or link, or the moved image). The first two are drawn on the image
decoded again, under the pixel limit and decode budget its model input had. A file that
cannot be written (or drawn) is reported beside its prediction (``output_error``), never
instead of it, and counts as a failure for the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from anime_detector.detector import Detector, Failure, Prediction
from anime_detector.drawing.annotate import annotate_image, annotation_path
from anime_detector.errors import AnimeDetectorError, InputError, describe_error
from anime_detector.image_paths import expand_with_roots
from anime_detector.jobs.sorting import Sorter
from anime_detector.progress import track

__all__ = ["NO_IMAGES", "PredictSummary", "predict_files"]

NO_IMAGES = ("no images found (supported: jpg, png, webp, avif, bmp, gif, tiff; use "
             "--recursive for sub-folders)")


@dataclass
class PredictSummary:
    """What a ``predict`` run did."""

    total: int = 0
    failed: int = 0
    annotated: int = 0
    explained: int = 0
    sorted: int = 0


@dataclass
class _Outputs:
    """Where per-image files go, and the names already taken in each folder."""

    annotate_dir: Path | None
    explain_dir: Path | None
    picture: Callable[[str], Image.Image]  # the image decoded again, to draw on
    sorter: Sorter | None = None
    roots: dict[str, str] = field(default_factory=dict)
    taken: dict[str, set[str]] = field(default_factory=lambda: {"a": set(), "e": set()})

    def write(self, item: Prediction, summary: PredictSummary) -> Prediction:
        assert item.source is not None
        explain_dir = self.explain_dir if item.heatmap is not None else None
        try:
            picture = (self.picture(item.source)
                       if self.annotate_dir is not None or explain_dir is not None else None)
        except InputError as exc:  # over the limits its model input fitted
            return replace(item, output_error=f"not drawn: {describe_error(exc)}")
        try:
            if self.annotate_dir is not None and picture is not None:
                annotate_image(picture, item,
                               annotation_path(self.annotate_dir, item.source, self.taken["a"]))
                summary.annotated += 1
            if explain_dir is not None and item.heatmap is not None and picture is not None:
                from anime_detector.drawing.heatmap_png import write_heatmap_png

                write_heatmap_png(picture, item, item.heatmap,
                                  annotation_path(explain_dir, item.source, self.taken["e"]))
                summary.explained += 1
            if self.sorter is not None:  # last: a move takes the source away
                self.sorter.place(item.source, item.label, self.roots.get(item.source))
                summary.sorted += 1
        except (AnimeDetectorError, OSError) as exc:
            return replace(item, output_error=f"writing an output file failed: "
                                              f"{describe_error(exc)}")
        return item


def predict_files(
    detector: Detector,
    inputs: Sequence[str],
    emit: Callable[[Prediction | Failure], None],
    *,
    recursive: bool = False,
    batch_size: int = 8,
    threshold: float | None = None,
    annotate_dir: Path | None = None,
    explain_dir: Path | None = None,
    sort_into: Path | None = None,
    sort_mode: str = "copy",
    progress: bool | None = None,
) -> PredictSummary:
    """Predict every image that ``inputs`` name and hand each result to ``emit``.

    With ``explain_dir`` each prediction also carries its Grad-CAM heatmap and a heatmap
    PNG is written there (one forward pass for both). With ``sort_into`` each predicted
    image is copied, linked or moved (``sort_mode``) into ``sort_into/<label>/``, keeping
    its path relative to the INPUT it came from; failed images stay where they are.

    Raises:
        InputError: the inputs name no image at all.
        ModelError: ``explain_dir`` with a model that has no Grad-CAM outputs.
    """
    pairs = expand_with_roots(inputs, recursive=recursive)
    paths = [path for path, _ in pairs]
    if not paths:
        raise InputError(" ".join(inputs), NO_IMAGES)
    summary = PredictSummary(total=len(paths))
    sorter = Sorter(sort_into, sort_mode) if sort_into is not None else None
    pipeline = detector.pipeline(threshold)  # its budget also bounds the pictures drawn
    outputs = _Outputs(annotate_dir, explain_dir, pipeline.picture, sorter, dict(pairs))
    results = detector.predict_iter(paths, batch_size=batch_size, pipeline=pipeline,
                                    explain=explain_dir is not None)
    for item in track(results, len(paths), "predicting", enabled=progress):
        if isinstance(item, Prediction) and item.source:
            item = outputs.write(item, summary)
        if isinstance(item, Failure) or item.output_error:
            summary.failed += 1
        emit(item)
    return summary
