"""The onnx.helper VGG19-head graph used by ``bench`` equals the Keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from anime_detector.graphs.reference import build_reference_graph, cached_reference_model


def _run(model_bytes: bytes, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["output"], {"input": batch})[0])


def test_cached_model_is_built_once(tmp_path: Path) -> None:
    first = cached_reference_model(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert cached_reference_model(tmp_path) == first and first.stat().st_mtime_ns == mtime
    out = _run(first.read_bytes(), np.zeros((2, 224, 224, 3), np.float32))
    assert out.shape == (2, 2)


@pytest.mark.tf
@pytest.mark.slow
def test_same_outputs_as_keras_with_the_same_weights() -> None:
    pytest.importorskip("keras")
    from anime_detector.train.model import build_model

    model = build_model(weights=None)
    rng = np.random.default_rng(0)
    weights = [w if w.ndim != 1 else rng.normal(0, 0.05, w.shape).astype(np.float32)
               for w in model.get_weights()]  # non-zero biases so they are checked too
    model.set_weights(weights)
    batch = rng.uniform(-120, 130, (2, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(model(batch, training=False))
    got = _run(build_reference_graph(weights).SerializeToString(), batch)
    assert np.abs(got - expected).max() < 1e-4
    shift = np.array([1.0, 0.0], np.float32)  # one class's bias off (a shift of both is not)
    broken = [*weights[:-1], weights[-1] + shift]
    assert np.abs(_run(build_reference_graph(broken).SerializeToString(), batch)
                  - expected).max() > 1e-3
