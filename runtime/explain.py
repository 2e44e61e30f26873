"""Grad-CAM heatmaps from the runtime alone: where the model sees anime.

Which score: the difference of the pre-softmax logits, ``z_anime - z_not_anime``. With
two classes ``p_anime = sigmoid(z_anime - z_not_anime)``, so this is exactly the
quantity the decision depends on; a single logit also carries a part common to both
classes that changes no decision (and whose gradient would colour the map with it).

How: ``anime-detector export`` adds two outputs to the model (see
:mod:`anime_detector.explain_graph`): ``feature_map`` ``A`` (N, H, W, C), the tensor
global average pooling reduces (``block5_pool``, 7 x 7 x 512 for VGG19), and
``cam_weights`` ``w`` (N, C), the score's gradient with respect to ``A`` averaged over
positions, computed in the graph by explicit back-propagation through the dense head.
One ``session.run`` fetches ``output``, ``feature_map`` and ``cam_weights``, so the
forward pass is shared with the prediction; numpy then forms
``relu(sum_c w_c A[..., c])`` and scales it to [0, 1] (all zeros when nothing in the
picture argues for anime). A plain ``predict`` fetches only ``output``.

Only the onnxruntime engine can explain (it reads those outputs from the ``.onnx``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.annotate import annotate_image, annotation_path
from anime_detector.detector import Detector, Failure, Prediction
from anime_detector.errors import AnimeDetectorError, InputError, ModelError
from anime_detector.explain_graph import CAM_WEIGHTS, FEATURE_MAP
from anime_detector.heatmap_render import write_heatmap_png
from anime_detector.inputs import expand_inputs
from anime_detector.predict_files import PredictSummary
from anime_detector.prefetch import prefetch
from anime_detector.preprocess import ImageSource, preprocess
from anime_detector.progress import track
from anime_detector.session import available_cpus

__all__ = ["EXPLAIN_ENGINES", "ExplainSummary", "Explanation", "check_engine", "explain_batch",
           "explain_files", "explain_iter", "gradcam", "load_explainer",
           "require_explain_outputs"]

EXPLAIN_ENGINES = ("onnxruntime",)


@dataclass(frozen=True)
class Explanation(Prediction):
    """A prediction plus its Grad-CAM heatmap: (h, w) floats in [0, 1], row 0 at the top."""

    heatmap: NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, 0), np.float32), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(),
                "heatmap": [[round(float(v), 6) for v in row] for row in self.heatmap]}


@dataclass
class ExplainSummary(PredictSummary):
    """What an ``explain`` run did: ``explained`` heatmap PNGs were written."""

    explained: int = 0


def gradcam(feature_map: NDArray[np.floating], cam_weights: NDArray[np.floating]
            ) -> NDArray[np.float32]:
    """``relu(sum_c w_c A[..., c])`` per image, divided by its maximum: (N, H, W) in [0, 1]."""
    cam = np.einsum("nhwc,nc->nhw", np.asarray(feature_map, np.float64),
                    np.asarray(cam_weights, np.float64))
    cam = np.maximum(cam, 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    scaled: NDArray[np.float64] = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    return scaled.astype(np.float32)


def require_explain_outputs(session: Any, path: str | os.PathLike[str]) -> None:
    """Raise a one-line :class:`ModelError` unless the model has the Grad-CAM outputs."""
    names = {o.name for o in session.get_outputs()}
    if not {FEATURE_MAP, CAM_WEIGHTS} <= names:
        raise ModelError(path, f"has no Grad-CAM outputs ({FEATURE_MAP}, {CAM_WEIGHTS}); it "
                         "was exported before `explain` existed: re-export it with "
                         "`anime-detector export`")


def explain_batch(session: Any, batch: NDArray[np.float32], input_name: str = "input",
                  output_name: str = "output") -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Probabilities (N, classes) and heatmaps (N, H, W) from ONE ``session.run``."""
    probs, feature_map, weights = session.run([output_name, FEATURE_MAP, CAM_WEIGHTS],
                                              {input_name: batch})
    return np.asarray(probs, dtype=np.float32), gradcam(feature_map, weights)


def check_engine(engine: str, model: str | os.PathLike[str] | None = None) -> None:
    """Refuse an engine (or a model file) that cannot explain, naming those that can."""
    can = ", ".join(EXPLAIN_ENGINES)
    if engine.lower() not in EXPLAIN_ENGINES:
        raise AnimeDetectorError(f"engine {engine!r} cannot explain; engines that can: {can} "
                                 "(Grad-CAM reads extra outputs of the exported .onnx)")
    if model is not None and Path(model).suffix.lower() != ".onnx":
        raise ModelError(model, f"explain needs an exported .onnx model (engines that can "
                         f"explain: {can}); export it with `anime-detector export`")


def load_explainer(model: str | os.PathLike[str], device: str = "auto",
                   threads: int | None = None, engine: str = "onnxruntime") -> Detector:
    """Open ``model`` for explaining; fails early on an engine or file that cannot.

    ``Detector.load`` opens the session (``anime_detector.session.open_session``): the
    one place to change when sessions move to ``anime_detector.engines``.
    """
    check_engine(engine, model)
    detector = Detector.load(model, device=device, threads=threads)
    require_explain_outputs(detector.session, model)
    return detector


def _source_name(source: object) -> str | None:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else None


def _results(detector: Detector, pending: list[tuple[object, Any]], threshold: float | None
             ) -> Iterator[Explanation | Failure]:
    arrays = [value for _, value in pending if not isinstance(value, Exception)]
    if arrays:
        probs, heat = explain_batch(detector.session, np.stack(arrays), detector.input_name,
                                    detector.output_name)
    row = 0
    for source, value in pending:
        name = _source_name(source)
        if isinstance(value, Exception):
            reason = value.reason if isinstance(value, InputError) else str(value)
            yield Failure(name or "<image>", reason or type(value).__name__)
            continue
        base = detector._to_prediction(probs[row], name, threshold)
        yield Explanation(base.label, base.score, base.probabilities, name, heat[row])
        row += 1


def explain_iter(detector: Detector, images: Iterable[ImageSource], batch_size: int = 8,
                 threshold: float | None = None, workers: int | None = None
                 ) -> Iterator[Explanation | Failure]:
    """Yield one :class:`Explanation` (or :class:`Failure`) per image, in order."""
    require_explain_outputs(detector.session, detector.path)
    spec, size = detector.contract.spec, max(1, batch_size)
    n_workers = available_cpus() if workers is None else workers
    pending: list[tuple[object, Any]] = []
    for item in prefetch(lambda s: preprocess(s, spec), images, workers=n_workers,
                         depth=2 * size + 4):
        pending.append((item.source, item.value if item.error is None else item.error))
        if sum(not isinstance(v, Exception) for _, v in pending) == size:
            yield from _results(detector, pending, threshold)
            pending = []
    yield from _results(detector, pending, threshold)


def _write(item: Explanation, out_dir: Path, annotate_dir: Path | None,
           taken: dict[str, set[str]]) -> Explanation | Failure:
    assert item.source is not None
    try:
        write_heatmap_png(item.source, item, item.heatmap,
                          annotation_path(out_dir, item.source, taken["explain"]))
        if annotate_dir is not None:
            annotate_image(item.source, item,
                           annotation_path(annotate_dir, item.source, taken["annotate"]))
    except (AnimeDetectorError, OSError) as exc:
        return Failure(item.source, f"writing the heatmap failed: {exc}")
    return item


def explain_files(
    detector: Detector,
    inputs: Sequence[str],
    emit: Callable[[Prediction | Failure], None],
    *,
    out_dir: Path,
    recursive: bool = False,
    batch_size: int = 8,
    threshold: float | None = None,
    annotate_dir: Path | None = None,
    progress: bool | None = None,
) -> ExplainSummary:
    """Predict and explain every image ``inputs`` name: one heatmap PNG each in ``out_dir``.

    Hands each result (an :class:`Explanation`, whose ``to_dict`` adds the heatmap grid,
    or a :class:`Failure`) to ``emit``; ``annotate_dir`` also writes ``--annotate`` copies.

    Raises:
        ModelError: the model has no Grad-CAM outputs (exported before this feature).
        InputError: the inputs name no image at all.
    """
    require_explain_outputs(detector.session, detector.path)
    paths = expand_inputs(inputs, recursive=recursive)
    if not paths:
        raise InputError(" ".join(inputs), "no images found (supported: jpg, png, webp, "
                         "bmp, gif, tiff; use --recursive for sub-folders)")
    summary = ExplainSummary(total=len(paths))
    taken: dict[str, set[str]] = {"explain": set(), "annotate": set()}
    results = explain_iter(detector, paths, batch_size=batch_size, threshold=threshold)
    for item in track(results, len(paths), "explaining", enabled=progress):
        if isinstance(item, Explanation):
            item = _write(item, Path(out_dir), annotate_dir, taken)
        if isinstance(item, Failure):
            summary.failed += 1
        else:
            summary.explained += 1
            summary.annotated += annotate_dir is not None
        emit(item)
    return summary
