"""What every command shares: the one-line error exit, the extra-import guard, options.

Commands print ``error: <one line>`` on stderr and exit 2 for usage errors (a missing
model, a missing extra), 1 when some inputs failed, 130 on Ctrl-C. Nothing here imports
onnxruntime, TensorFlow or an optional engine.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, NoReturn

import typer

from anime_detector.errors import AnimeDetectorError

__all__ = [
    "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "TRAIN_HINT", "Device", "DeviceOpt",
    "EngineName", "EngineOpt", "OutputFormat", "TableOrJson", "ThreadsOpt", "fail",
    "import_train_extra", "user_errors",
]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TRAIN_HINT = "this command needs the training extra: pip install 'anime-detector[cpu,train]'"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class EngineName(str, Enum):
    auto = "auto"
    onnxruntime = "onnxruntime"
    openvino = "openvino"
    ncnn = "ncnn"


DeviceOpt = Annotated[Device, typer.Option(help="auto: CUDA if it really runs, else CPU.")]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="CPU threads (default: the CPUs this process may use).")
]
EngineOpt = Annotated[EngineName, typer.Option(
    help="auto follows the model: an ncnn folder runs on ncnn, an .onnx on onnxruntime.")]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one ``error:`` line on stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the toolkit's own errors into one line and exit code 2; Ctrl-C into 130."""
    try:
        yield
    except AnimeDetectorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def import_train_extra(module: str) -> Any:
    """Import a ``[train]``-only module, or exit 2 with the install hint."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        fail(f"{TRAIN_HINT} ({exc})")

