"""The bench reference graph with ``explain=True`` carries working Grad-CAM outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from anime_detector.detector import load_explainer
from anime_detector.explain.heatmaps import explain_batch
from anime_detector.graphs.reference import build_reference_graph

pytest.importorskip("onnxruntime")


def test_reference_graph_explain_outputs(tmp_path: Path) -> None:
    path = tmp_path / "ref.onnx"
    onnx.save(build_reference_graph(explain=True), str(path))
    model = onnx.load(str(path), load_external_data=False)
    assert [o.name for o in model.graph.output] == ["output", "feature_map", "cam_weights"]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["anime_detector.explain"])["grid"] == [7, 7]
    detector = load_explainer(path, device="cpu")
    batch = np.random.default_rng(0).normal(0, 60, (1, 224, 224, 3)).astype(np.float32)
    plain = detector.engine.session.run(["output"], {"input": batch})[0]
    probs, maps = explain_batch(detector.engine.session, batch)
    assert np.array_equal(plain, probs) and maps.shape == (1, 7, 7)
    plain_graph = tmp_path / "plain.onnx"
    onnx.save(build_reference_graph(), str(plain_graph))
    assert [o.name for o in onnx.load(str(plain_graph)).graph.output] == ["output"]
