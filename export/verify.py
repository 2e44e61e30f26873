"""Verification: run the source model and onnxruntime on one batch and compare."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, preprocess
from anime_detector.sampling import sample_images
from anime_detector.train.synthetic import synthetic_images

__all__ = ["Comparison", "compare", "onnx_predict", "verification_batch"]


@dataclass(frozen=True)
class Comparison:
    """How closely two engines agree on the same batch."""

    reference: str
    candidate: str
    images: int
    max_abs_diff: float
    mean_abs_diff: float
    label_agreement: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return (f"{self.candidate} vs {self.reference} on {self.images} images: "
                f"max |dp| {self.max_abs_diff:.2e}, mean |dp| {self.mean_abs_diff:.2e}, "
                f"label agreement {self.label_agreement:.1%}")


def verification_batch(folder: Path | None, limit: int = 64, seed: int = 0,
                       spec: PreprocessSpec = DEFAULT_SPEC) -> tuple[np.ndarray, str]:
    """Preprocessed images from ``folder`` (recursively, at most ``limit``, a seeded mix of its
    class folders) or generated ones."""
    if folder is None:
        images = synthetic_images(16, seed=seed)
        return np.stack([preprocess(img, spec) for img in images]), "16 generated images"
    return sample_images(folder, spec, limit, seed, purpose="to verify or calibrate with")


def cpu_session(model_bytes: bytes, *, spin: bool = True) -> Any:
    """An onnxruntime CPU session on an in-memory model, quiet; ``spin=False`` keeps idle
    threads from spinning (when timing it beside another engine)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def onnx_predict(model_bytes: bytes, batch: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Run an in-memory ONNX model on the CPU, ``chunk`` images at a time."""
    session = cpu_session(model_bytes)
    outs = [session.run(["output"], {"input": batch[i : i + chunk]})[0]
            for i in range(0, len(batch), chunk)]
    return np.concatenate(outs).astype(np.float32)


def compare(reference: np.ndarray, candidate: np.ndarray, ref_name: str,
            cand_name: str) -> Comparison:
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    agree = float((reference.argmax(axis=1) == candidate.argmax(axis=1)).mean())
    return Comparison(ref_name, cand_name, int(len(reference)), float(diff.max()),
                      float(diff.mean()), agree)
