"""One image's way to a result, decode -> run -> decide, and the loop that composes them.

Every way of predicting runs these three stages and only brings its own source and sink:
``predict`` and the Python API (:meth:`~anime_detector.detector.Detector.predict_iter`),
``batch`` on Ray Data, and the service. A :class:`Pipeline` holds what the stages need of
the model (its contract, the threshold, the decoding limits):

- :meth:`Pipeline.decode`: one source (a path, bytes, an image) to the model's input, or a
  :class:`Failure` naming it in one line;
- ``run``: the caller's, a batch of inputs to :class:`InferenceResult` rows (an engine in
  this process, a queue in front of one, Ray actors);
- :meth:`Pipeline.decide`: probabilities to a :class:`Prediction` (:func:`decide`).

:meth:`Pipeline.picture` decodes a source again for drawing on (``--annotate``, heatmaps),
under the same limits and decode budget as :meth:`Pipeline.decode`.

:func:`in_order` groups a stream of inputs and failures into batches and gives the results
back in input order, failures in their places; :meth:`Pipeline.stream` is the whole loop on
decoding threads, with bounded memory. The rows every caller writes are
``Prediction.to_dict()`` and ``Failure.to_dict()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from anime_detector.contract import ModelContract
from anime_detector.decode_budget import DecodeBudget
from anime_detector.errors import describe_error
from anime_detector.image_paths import path_fields, printable
from anime_detector.prefetch import Decoded, prefetch
from anime_detector.preprocessing import ImageSource, load_image, preprocess

__all__ = ["Failure", "InferenceResult", "ModelInput", "Pipeline", "Prediction", "decide",
           "in_order", "source_name"]

T = TypeVar("T")
R = TypeVar("R")

EMPTY = "empty file (0 bytes)"


@dataclass(frozen=True)
class Prediction:
    """One image's result. ``score`` is the probability of ``anime``.

    ``heatmap`` (with ``explain=True``): Grad-CAM, (h, w) floats in [0, 1], row 0 at the
    top. ``output_error``: the prediction is fine but writing one of its files (an
    annotated copy, a heatmap PNG) failed; it is reported beside the result.
    """

    label: str
    score: float
    probabilities: dict[str, float]
    source: str | None = None
    heatmap: NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
    output_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            **path_fields(self.source),
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
        }
        if self.heatmap is not None:
            row["heatmap"] = [[round(float(v), 6) for v in line] for line in self.heatmap]
        if self.output_error is not None:
            row["output_error"] = printable(self.output_error)
        return row


@dataclass(frozen=True)
class Failure:
    """An input that could not be predicted, with a one-line reason."""

    source: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {**path_fields(self.source), "error": printable(self.error)}


@dataclass(frozen=True)
class ModelInput:
    """One decoded image, ready for the model, and the name its result carries."""

    source: str | None
    array: NDArray[np.float32]


@dataclass(frozen=True)
class InferenceResult:
    """One image's probabilities, and its Grad-CAM grid for explain runs."""

    probabilities: NDArray[np.float32]
    heatmap: NDArray[np.float32] | None = None


def decide(contract: ModelContract, probs: NDArray[np.float32], source: str | None,
           threshold: float | None = None) -> Prediction:
    """One image's :class:`Prediction` from its class probabilities: the decision rule.

    Two labels: ``anime`` when P(anime) >= ``threshold`` (default: the model's); more
    labels: the most probable one.
    """
    labels = contract.labels
    pos = contract.positive_index
    cut = contract.threshold if threshold is None else threshold
    score = float(probs[pos])
    if len(labels) == 2:
        label = labels[pos] if score >= cut else labels[1 - pos]
    else:
        label = labels[int(np.argmax(probs))]
    probabilities = {k: float(p) for k, p in zip(labels, probs, strict=True)}
    return Prediction(label, score, probabilities, source)


def source_name(source: object) -> str | None:
    """The name a result carries for ``source``: a path's text; None for bytes or images."""
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else None


def in_order(items: Iterable[T | Failure], run: Callable[[list[T]], Sequence[R]], size: int,
             weight: Callable[[T], int] | None = None, max_weight: float = float("inf"),
             ) -> Iterator[R | Failure]:
    """``run`` on batches of the items that are not failures; every result (``run``'s, one
    per item, in order) and failure comes out in input order.

    A batch runs as soon as it holds ``size`` items, or before an item whose ``weight``
    would take it over ``max_weight`` (a batch holds at least one item), and at the end.
    At most one batch and the failures that came with it are held at a time.
    """
    size = max(1, size)
    pending: list[T | Failure] = []
    count = load = 0
    for item in items:
        if not isinstance(item, Failure):
            heavy = weight(item) if weight is not None else 0
            if count and load + heavy > max_weight:
                yield from _flush(pending, run)
                pending, count, load = [], 0, 0
            count += 1
            load += heavy
        pending.append(item)
        if count >= size:
            yield from _flush(pending, run)
            pending, count, load = [], 0, 0
    yield from _flush(pending, run)


def _flush(pending: list[T | Failure], run: Callable[[list[T]], Sequence[R]]
           ) -> Iterator[R | Failure]:
    batch = [item for item in pending if not isinstance(item, Failure)]
    results = iter(run(batch) if batch else ())
    for item in pending:
        yield item if isinstance(item, Failure) else next(results)


@dataclass(frozen=True)
class Pipeline:
    """decode -> run -> decide for one model; ``threshold`` None: the model's.

    ``max_pixels`` (None: ``preprocessing.MAX_IMAGE_PIXELS``) and ``budget`` (None: no
    bound) bound what decoding may cost (see :func:`~anime_detector.preprocessing.load_image`).
    Picklable: Ray ships it to its decoding tasks, each with a budget of its own.
    """

    contract: ModelContract
    threshold: float | None = None
    max_pixels: int | None = None
    budget: DecodeBudget | None = field(default=None, compare=False)

    def decode(self, source: ImageSource, name: str | None = None) -> ModelInput | Failure:
        """The model input of ``source``, or why not; ``name`` (default: the path) is what
        its result and its failure say."""
        name = name if name is not None else source_name(source)
        if isinstance(source, bytes) and not source:
            return Failure(name or "<image>", EMPTY)
        try:
            array = preprocess(source, self.contract.spec, self.max_pixels, self.budget)
        except Exception as exc:  # one bad image is one failure, never the whole run
            return Failure(name or "<image>", describe_error(exc))
        return ModelInput(name, array)

    def picture(self, source: ImageSource) -> Image.Image:
        """``source`` for drawing on: upright 8-bit RGB at full size, decoded under the same
        pixel limit and charged to the same budget as :meth:`decode` (it costs more: no
        reduced JPEG decode, and the RGB copy of an image of another mode).

        Raises:
            InputError: over the limits, or undecodable; the message names ``source``.
        """
        return load_image(source, self.contract.spec, max_pixels=self.max_pixels,
                          budget=self.budget)

    def decide(self, item: ModelInput, result: InferenceResult) -> Prediction:
        """``item``'s :class:`Prediction`, with its heatmap when ``result`` has one."""
        prediction = decide(self.contract, result.probabilities, item.source, self.threshold)
        return prediction if result.heatmap is None else replace(prediction,
                                                                 heatmap=result.heatmap)

    def finish(self, items: Sequence[ModelInput | Failure],
               results: Sequence[InferenceResult]) -> list[Prediction | Failure]:
        """Every item's result in order: ``results`` hold one per :class:`ModelInput`."""
        return list(in_order(items, lambda batch: [self.decide(i, r) for i, r in
                                                   zip(batch, results, strict=True)],
                             size=len(items)))

    def stream(self, sources: Iterable[ImageSource],
               run: Callable[[NDArray[np.float32]], Sequence[InferenceResult]],
               batch_size: int = 8, workers: int = 2) -> Iterator[Prediction | Failure]:
        """One result per source, in order: decoded on ``workers`` threads while the
        previous batch runs (at most ``2 * batch_size + 4`` decoded images wait), ``run`` on
        batches of ``batch_size`` decoded images."""
        batch_size = max(1, batch_size)
        decoded = prefetch(self.decode, sources, workers=workers, depth=2 * batch_size + 4)

        def run_batch(batch: list[ModelInput]) -> list[Prediction]:
            results = run(np.stack([item.array for item in batch]))
            return [self.decide(i, r) for i, r in zip(batch, results, strict=True)]

        return in_order((_decoded(d) for d in decoded), run_batch, batch_size)


def _decoded(item: Decoded[ImageSource, ModelInput | Failure]) -> ModelInput | Failure:
    """:meth:`Pipeline.decode`'s answer (it raises nothing an image can cause)."""
    if item.value is not None:
        return item.value
    error = describe_error(item.error) if item.error is not None else "unknown error"
    return Failure(source_name(item.source) or "<image>", error)
