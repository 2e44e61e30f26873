"""Fixtures for the service tests: models, images, and one real server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("onnxruntime")

from helpers.images import draw_flat, draw_noisy  # noqa: E402
from helpers.onnx_models import (  # noqa: E402
    build_batch_one_model,
    build_slow_model,
    save,
)
from helpers.server import ServerProcess  # noqa: E402


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


_SHARED: dict[str, ServerProcess] = {}  # the running ``server`` of each mode


@pytest.fixture(scope="session", params=["process", "ray"])
def server(request: pytest.FixtureRequest, explain_model: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The CLI's service over the explain model (batching on, a small queue), in one process
    and on Ray Serve: the tests that use it must pass the same in both modes. One server of
    each mode serves every module (starting and stopping Ray Serve is most of these tests'
    time), so a test must not count on a fresh one; it stops once no later test uses it
    (:func:`pytest_runtest_teardown`)."""
    if request.param == "ray" and not _ray_serve_installed():
        pytest.skip("Ray Serve not installed (the serve-ray extra)")
    mode = ("--ray",) if request.param == "ray" else ()
    with ServerProcess(explain_model, *SERVER_ARGS, *mode,
                       log=tmp_path_factory.mktemp("log") / "server.log") as running:
        _SHARED[request.param] = running
        yield running
        _SHARED.pop(request.param, None)


def _server_mode(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "server" not in getattr(item, "fixturenames", ()):
        return None
    return callspec.params.get("server")


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared ``server`` of a mode after the last test that uses it: pytest keeps a
    session fixture to the end of the run, beside the Ray clusters later tests start."""
    mode = _server_mode(item)
    if mode not in _SHARED:
        return
    items = item.session.items
    if all(_server_mode(later) != mode for later in items[items.index(item) + 1:]):
        _SHARED.pop(mode).stop()


@pytest.fixture(scope="module")
def process_server(explain_model: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[ServerProcess]:
    """The single-process service alone, for what only it has: its own log lines on stderr,
    its memory (RSS) as one process."""
    with ServerProcess(explain_model, *SERVER_ARGS,
                       log=tmp_path_factory.mktemp("log") / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def batch_one_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model that fails at run time on a batch of two: a real engine error (the 500 path)."""
    return save(build_batch_one_model(), tmp_path_factory.mktemp("model") / "batch-one.onnx")


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model that takes seconds per image on one thread (:func:`build_slow_model`)."""
    return save(build_slow_model(), tmp_path_factory.mktemp("model") / "slow.onnx")
