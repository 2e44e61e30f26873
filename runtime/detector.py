"""The Python API: load an exported model once, predict on many images.

>>> det = Detector.load("model.onnx")            # doctest: +SKIP
>>> det.predict(["cat.jpg"])[0].label              # doctest: +SKIP
'not_anime'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.errors import AnimeDetectorError, InputError, ModelError
from anime_detector.contract import ModelContract
from anime_detector.prefetch import prefetch
from anime_detector.preprocess import ImageSource, preprocess
from anime_detector.session import available_cpus, open_session

__all__ = ["Detector", "Failure", "Prediction", "load_detector"]


@dataclass(frozen=True)
class Prediction:
    """One image's result. ``score`` is the probability of ``anime``."""

    label: str
    score: float
    probabilities: dict[str, float]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.source,
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
        }


@dataclass(frozen=True)
class Failure:
    """An input that could not be predicted, with a one-line reason."""

    source: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.source, "error": self.error}


def _source_name(source: object) -> str | None:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else None


def _read_contract(path: Path, session: Any, labels: Sequence[str] | None) -> ModelContract:
    """The model's own metadata; ``labels`` (``--labels``) overrides or stands in for it."""
    props = dict(session.get_modelmeta().custom_metadata_map)
    try:
        contract = ModelContract.from_metadata(props)
    except ValueError as exc:
        if not labels:
            raise ModelError(path, str(exc)) from None
        contract = ModelContract()  # default VGG19 preprocessing
    return replace(contract, labels=tuple(labels)) if labels else contract


def _check_shapes(path: Path, session: Any, contract: ModelContract) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    spec = contract.spec
    want = f"(batch, {spec.height}, {spec.width}, 3) -> (batch, {len(contract.labels)})"
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelError(path, f"expected one input and one output {want}")
    shape_in, shape_out = list(inputs[0].shape), list(outputs[0].shape)
    ok_in = len(shape_in) == 4 and shape_in[1:] == [spec.height, spec.width, 3]
    ok_out = len(shape_out) == 2 and shape_out[1] == len(contract.labels)
    if not (ok_in and ok_out) or inputs[0].type != "tensor(float)":
        raise ModelError(
            path, f"model takes {inputs[0].type}{shape_in} -> {shape_out}, expected {want}"
        )


class Detector:
    """An exported anime-detector model in an onnxruntime session.

    Thread-safe: ``predict`` may be called from several threads at once.
    """

    def __init__(self, session: Any, contract: ModelContract, path: Path) -> None:
        self.session = session
        self.contract = contract
        self.path = path
        self.input_name: str = session.get_inputs()[0].name
        self.output_name: str = session.get_outputs()[0].name

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str = "auto",
        threads: int | None = None,
        labels: Sequence[str] | None = None,
        spin: bool = True,
    ) -> Detector:
        """Open ``path`` on ``device`` (``auto``, ``cpu`` or ``cuda``); see ``open_session``."""
        model = Path(path)
        session = open_session(model, device=device, threads=threads, spin=spin)
        contract = _read_contract(model, session, labels)
        _check_shapes(model, session, contract)
        return cls(session, contract, model)

    @property
    def providers(self) -> list[str]:
        """Execution providers the session really uses, best first."""
        return list(self.session.get_providers())

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Raw probabilities for an already preprocessed ``(N, H, W, 3)`` batch."""
        out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)

    def to_prediction(
        self, probs: NDArray[np.float32], source: str | None = None,
        threshold: float | None = None,
    ) -> Prediction:
        """The :class:`Prediction` for one row of :meth:`run`'s output."""
        return self._to_prediction(probs, source, threshold)

    def _to_prediction(
        self, probs: NDArray[np.float32], source: str | None, threshold: float | None
    ) -> Prediction:
        labels = self.contract.labels
        pos = self.contract.positive_index
        cut = self.contract.threshold if threshold is None else threshold
        score = float(probs[pos])
        if len(labels) == 2:
            label = labels[pos] if score >= cut else labels[1 - pos]
        else:
            label = labels[int(np.argmax(probs))]
        probabilities = {k: float(p) for k, p in zip(labels, probs, strict=True)}
        return Prediction(label, score, probabilities, source)

    def predict(
        self,
        images: Iterable[ImageSource],
        batch_size: int = 8,
        threshold: float | None = None,
    ) -> list[Prediction]:
        """Predict every image; raises :class:`InputError` on the first bad one."""
        results: list[Prediction] = []
        for item in self.predict_iter(images, batch_size=batch_size, threshold=threshold):
            if isinstance(item, Failure):
                raise InputError(item.source, item.error)
            results.append(item)
        return results

    def predict_iter(
        self,
        images: Iterable[ImageSource],
        batch_size: int = 8,
        threshold: float | None = None,
        workers: int | None = None,
    ) -> Iterator[Prediction | Failure]:
        """Yield one result per image, in order; bad images yield a :class:`Failure`.

        Images are decoded on ``workers`` threads while the previous batch runs.
        """
        batch_size = max(1, batch_size)
        spec = self.contract.spec
        n_workers = available_cpus() if workers is None else workers
        pending: list[tuple[object, NDArray[np.float32] | None, str | None]] = []
        filled = 0
        stream = prefetch(
            lambda s: preprocess(s, spec), images, workers=n_workers, depth=2 * batch_size + 4
        )
        for item in stream:
            error = None if item.error is None else _error_text(item.source, item.error)
            pending.append((item.source, item.value, error))
            filled += item.value is not None
            if filled == batch_size:
                yield from self._flush(pending, threshold)
                pending, filled = [], 0
        yield from self._flush(pending, threshold)

    def _flush(
        self,
        pending: list[tuple[object, NDArray[np.float32] | None, str | None]],
        threshold: float | None,
    ) -> Iterator[Prediction | Failure]:
        arrays = [value for _, value, _ in pending if value is not None]
        probs = self.run(np.stack(arrays)) if arrays else np.zeros((0, 0), np.float32)
        row = 0
        for source, value, error in pending:
            name = _source_name(source)
            if value is None:
                yield Failure(name or "<image>", error or "unknown error")
            else:
                yield self._to_prediction(probs[row], name, threshold)
                row += 1


def _error_text(source: object, exc: Exception) -> str:
    if isinstance(exc, InputError):
        return exc.reason
    if isinstance(exc, AnimeDetectorError):
        return str(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


@lru_cache(maxsize=4)
def load_detector(path: str, device: str = "auto") -> Detector:
    """A cached :meth:`Detector.load`, for one-off calls."""
    return Detector.load(path, device=device)
