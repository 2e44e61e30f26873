"""Fixtures for the service tests: models, images, and one real server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from explain.explain_model import save_explain_model  # noqa: E402
from images import draw_flat, draw_noisy  # noqa: E402
from server_harness import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def explain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An explainable ONNX model (onnx.helper, no TensorFlow) whose scores spread."""
    return save_explain_model(tmp_path_factory.mktemp("model") / "explain.onnx")


@pytest.fixture(scope="module")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """24 different generated images (flat and noisy drawings, PNG and JPEG)."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for seed in range(12):
        for draw, ext in ((draw_flat, "png"), (draw_noisy, "jpg")):
            path = folder / f"{draw.__name__}-{seed}.{ext}"
            draw(seed).save(path)
            paths.append(path)
    return paths


SERVER_ARGS = ("--max-batch", "8", "--max-queue", "32", "--max-files", "8", "--max-body-mb", "2")


def _ray_serve_installed() -> bool:
    try:
        import ray.serve  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module", params=["process", "ray"])
def server(request: pytest.FixtureRequest, explain_model: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The CLI's service over the explain model (batching on, a small queue), in one process
    and on Ray Serve: the tests that use it must pass the same in both modes."""
    if request.param == "ray" and not _ray_serve_installed():
        pytest.skip("Ray Serve not installed (the serve-ray extra)")
    mode = ("--ray",) if request.param == "ray" else ()
    running = ServerProcess(explain_model, *SERVER_ARGS, *mode,
                            log=tmp_path_factory.mktemp("log") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def process_server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[ServerProcess]:
    """The single-process service alone, for what only it has: its own log lines on stderr,
    its memory (RSS) as one process."""
    running = ServerProcess(explain_model, *SERVER_ARGS,
                            log=tmp_path_factory.mktemp("log") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def batch_one_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that loads, warms up and predicts one image, but fails at run time on a batch
    of two (a Reshape to batch 1 inside): a real engine error for the 500 path."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from anime_detector.contract import ModelContract

    nodes = [
        helper.make_node("Reshape", ["input", "one"], ["single"]),
        helper.make_node("ReduceMean", ["single", "axes"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["output"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "batch-one",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 224, 224, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(np.array([1, 224, 224, 3], np.int64), "one"),
                     numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
                     numpy_helper.from_array(np.full((3, 2), 0.01, np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    for key, value in ModelContract().to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path_factory.mktemp("model") / "batch-one.onnx"
    onnx.save(model, str(path))
    return path
