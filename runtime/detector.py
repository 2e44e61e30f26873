"""The Python API: load an exported model once, predict on many images, on any engine.

>>> det = Detector.load("model.onnx")            # doctest: +SKIP
>>> det.predict(["cat.jpg"])[0].label              # doctest: +SKIP
'not_anime'
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import ModelContract
from anime_detector.decode_budget import DecodeBudget
from anime_detector.engines import ONNX_FILE, Engine, EngineInfo, open_engine
from anime_detector.errors import InputError
from anime_detector.int8_support import Int8Warning, int8_notes
from anime_detector.prediction import Failure, InferenceResult, Pipeline, Prediction, decide
from anime_detector.preprocessing import ImageSource, default_decode_bytes
from anime_detector.system import available_cpus

__all__ = ["Detector", "Failure", "Prediction", "decide", "load_detector", "load_explainer"]


class Detector:
    """A loaded model behind any :class:`~anime_detector.engines.Engine`, with decoding,
    batching and the decision rule on top.

    Thread-safe: ``predict`` may be called from several threads at once.
    """

    def __init__(self, engine: Engine, threads: int | None = None) -> None:
        self.engine = engine
        self.threads = threads  # decoding threads follow the engine's (--threads)
        self.max_pixels: int | None = None  # None: preprocess.MAX_IMAGE_PIXELS
        self.max_decode_bytes: int | None = None  # None: preprocess.default_decode_bytes
        self.contract: ModelContract = engine.contract
        self.path: Path = engine.path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str = "auto",
        threads: int | None = None,
        labels: Sequence[str] | None = None,
        spin: bool = True,
        engine: str = "auto",
        precision: str | None = None,
    ) -> Detector:
        """Open ``path`` with ``engine`` on ``device``; see ``engines.open_engine``.

        Warns (:class:`~anime_detector.int8_support.Int8Warning`, one line each, also kept in
        :attr:`notes`) when an int8 file does not suit this CPU or engine.
        """
        detector = cls(open_engine(path, engine, device=device, threads=threads,
                                   precision=precision, spin=spin, labels=labels), threads)
        for note in detector.notes:
            warnings.warn(note, Int8Warning, stacklevel=2)
        return detector

    @property
    def notes(self) -> list[str]:
        """What does not fit between this int8 model, its engine and this CPU (else empty)."""
        return int8_notes(self.contract, self.info, Path(self.path).name)

    @classmethod
    def from_files(cls, files: dict[str, bytes], **load_options: Any) -> Detector:
        """Load a model shipped as bytes (``engines.model_files`` read into memory): how
        processes on other nodes get it without a shared filesystem. The files go into a
        temporary folder that is removed once the engine has loaded them."""
        with tempfile.TemporaryDirectory(prefix="anime-detector-") as folder:
            for name, data in files.items():
                Path(folder, name).write_bytes(data)
            path = Path(folder, ONNX_FILE) if ONNX_FILE in files else Path(folder)
            return cls.load(path, **load_options)

    @property
    def info(self) -> EngineInfo:
        """What really runs: engine, version, device or provider, precision."""
        return self.engine.info

    @property
    def providers(self) -> list[str]:
        """onnxruntime's execution providers really used, best first (else the engine's device)."""
        providers = getattr(self.engine, "providers", None)
        return list(providers) if providers else [self.engine.info.device]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Raw probabilities for an already preprocessed ``(N, H, W, 3)`` batch."""
        return self.engine.run(batch)

    def require_explain(self) -> None:
        """Raise a one-line error unless this engine and model can give Grad-CAM heatmaps."""
        from anime_detector.explain.heatmaps import check_engine, require_explain_outputs

        check_engine(self.info.engine)
        engine: Any = self.engine  # the onnxruntime engine (check_engine made sure)
        require_explain_outputs(engine.session, self.path)

    def run_explained(self, batch: NDArray[np.float32]
                      ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Probabilities and Grad-CAM heatmaps for a batch, from one forward pass."""
        from anime_detector.explain.heatmaps import explain_batch

        engine: Any = self.engine
        return explain_batch(engine.session, batch, engine.input_name, engine.output_name)

    def to_prediction(
        self, probs: NDArray[np.float32], source: str | None, threshold: float | None
    ) -> Prediction:
        return decide(self.contract, probs, source, threshold)

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
        explain: bool = False,
        pipeline: Pipeline | None = None,
    ) -> Iterator[Prediction | Failure]:
        """Yield one result per image, in order; bad images yield a :class:`Failure`.

        Images are decoded on ``workers`` threads while the previous batch runs. With
        ``explain`` each prediction carries its Grad-CAM ``heatmap`` (same forward pass).
        ``pipeline``: the stages to run, for a caller that decodes more under the same
        limits and budget (:meth:`Pipeline.picture`); default :meth:`pipeline` with
        ``threshold``, which is ignored when a pipeline is given.
        """
        if explain:
            self.require_explain()
        n_workers = workers if workers is not None else (self.threads or available_cpus())
        stages = pipeline if pipeline is not None else self.pipeline(threshold)
        return stages.stream(
            images, lambda batch: self.infer(batch, explain), batch_size, n_workers)

    def pipeline(self, threshold: float | None = None) -> Pipeline:
        """The decode -> run -> decide stages for this model (:mod:`~anime_detector.prediction`),
        with its decoding limits; ``threshold`` None: the model's.

        ``max_pixels``: larger images are refused from their header. ``max_decode_bytes``
        (default: one 8-bit RGB image at ``max_pixels``): the images its decoding threads
        decode at once may take that much, each charged what its header says decoding it
        takes before a pixel is decoded; one over it all is refused, others wait their turn.
        """
        capacity = self.max_decode_bytes or default_decode_bytes(self.max_pixels)
        return Pipeline(self.contract, threshold, self.max_pixels,
                        DecodeBudget(capacity, wait_s=None))

    def infer(self, batch: NDArray[np.float32], explain: bool = False
              ) -> list[InferenceResult]:
        """The run stage: one :class:`InferenceResult` per image of a preprocessed batch,
        with its heatmap when ``explain`` (one forward pass for both)."""
        if explain:
            probs, heat = self.run_explained(batch)
            return [InferenceResult(p, h) for p, h in zip(probs, heat, strict=True)]
        return [InferenceResult(p) for p in self.run(batch)]


@lru_cache(maxsize=4)
def load_detector(path: str, device: str = "auto", engine: str = "auto") -> Detector:
    """A cached :meth:`Detector.load`, for one-off calls."""
    return Detector.load(path, device=device, engine=engine)


def load_explainer(model: str | os.PathLike[str], device: str = "auto",
                   threads: int | None = None, engine: str = "onnxruntime") -> Detector:
    """A :class:`Detector` that can explain; fails early on an engine or file that cannot."""
    from anime_detector.explain.heatmaps import check_engine

    check_engine(engine, model)
    detector = Detector.load(model, device=device, threads=threads, engine=engine)
    detector.require_explain()
    return detector
