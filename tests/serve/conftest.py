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


@pytest.fixture(scope="module")
def server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    """The CLI's service over the explain model: batching on, a small queue."""
    running = ServerProcess(explain_model, "--max-batch", "8", "--max-queue", "32",
                            "--max-files", "8", "--max-body-mb", "2",
                            log=tmp_path_factory.mktemp("log") / "server.log")
    yield running
    running.stop()
