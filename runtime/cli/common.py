"""What every command shares: the one-line error exit, the extra-import guard, options.

The choice lists are :mod:`anime_detector.choices`' Enums, used as the options' types.

Commands print ``error: <one line>`` on stderr and exit 2 for usage errors (a missing
model, a missing extra), 1 when some inputs failed, 130 on Ctrl-C. Nothing here imports
onnxruntime, TensorFlow or an optional engine.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from anime_detector.choices import (
    ENGINE_PRECISIONS,
    RUN_PRECISIONS,
    Device,
    EngineName,
    OutputFormat,
    ReportFormat,
    SortMode,
)
from anime_detector.decode_budget import MB
from anime_detector.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    TRAIN_HINT,
    AnimeDetectorError,
    describe_error,
)

__all__ = [
    "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "TRAIN_HINT", "Device",
    "DeviceOpt",
    "EngineName", "EngineOpt", "OutputFormat", "SortMode", "InputsArg", "RecursiveOpt",
    "BatchSizeOpt", "ThresholdOpt", "MaxPixelsOpt", "MaxDecodeOpt", "PrecisionOpt",
    "SortIntoOpt", "SortModeOpt", "ReportFormat", "ThreadsOpt", "fail",
    "train_extra", "require_modules", "user_errors",
]

DeviceOpt = Annotated[Device, typer.Option(help="auto: CUDA if it really runs, else CPU.")]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="CPU threads (default: the CPUs this process may use).")
]
EngineOpt = Annotated[EngineName, typer.Option(
    help="auto follows the model: an ncnn folder runs on ncnn, an .onnx on onnxruntime.")]
InputsArg = Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Images per inference call.")]
ThresholdOpt = Annotated[float | None, typer.Option(
    min=0.0, max=1.0, help="P(anime) needed for 'anime' (default: the model's, 0.5).")]
MaxPixelsOpt = Annotated[int | None, typer.Option(
    min=1, help="Refuse larger images before decoding (default 89478485).")]
MaxDecodeOpt = Annotated[float | None, typer.Option(
    min=0.001, help="Memory the images being decoded at once may take: each is charged what "
                    "its header says decoding takes (4 bytes a pixel for most, 16 for WebP) "
                    "before decoding; one over it is refused (default: one RGB image at "
                    "--max-pixels, 341 MB).")]


def _run_precision(value: str | None) -> str | None:
    """``--precision``'s value in lower case, or a one-line usage error naming the choices."""
    if value is None or value.lower() in RUN_PRECISIONS:
        return value.lower() if value else None
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(RUN_PRECISIONS)}")


PrecisionOpt = Annotated[str | None, typer.Option(
    parser=_run_precision, metavar="|".join(RUN_PRECISIONS),
    help="Engine precision: " + ", ".join(f"{engine} {'|'.join(options)}" for engine, options
                                          in ENGINE_PRECISIONS.items())
         + " (tf32 on CUDA only; default: the model's).")]
SortIntoOpt = Annotated[Path | None, typer.Option(
    help="Also put each predicted image into DIR/<label>/ (sub-folders kept).")]
SortModeOpt = Annotated[SortMode, typer.Option(
    help="copy, link (hard, else symbolic) or move (never loses a file).")]


def decode_bytes(max_decode_mb: float | None) -> int | None:
    """``--max-decode-mb`` in bytes (None: the default, one RGB image at ``--max-pixels``)."""
    return None if max_decode_mb is None else max(1, int(max_decode_mb * MB))


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
    except OSError as exc:  # a folder we cannot write (run folder, cache, --out), a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or describe_error(exc)}")
    except KeyboardInterrupt:  # Ctrl-C outside ``main`` (a script calling the app)
        fail("interrupted", EXIT_INTERRUPTED)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block: C++ libraries (TensorFlow's absl
    logging) write there directly, past Python's ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


TRAIN_MODULES = ("tensorflow", "keras")


def require_modules(modules: tuple[str, ...], hint: str) -> None:
    """Import each of ``modules`` now, before any work starts; exit 2 with ``hint`` naming
    the missing ones. (A subpackage that imports lazily would otherwise pass the check and
    fail half way with a traceback.)"""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr
    missing = []
    for name in modules:
        try:
            with native_stderr_silenced():  # absl logs at import, whatever the level says
                importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        fail(f"{hint} (missing: {', '.join(missing)})")


@contextmanager
def train_extra(needs: tuple[str, ...] = TRAIN_MODULES) -> Iterator[None]:
    """Guard the imports of a ``[train]`` command: ``with train_extra(): from ... import``.

    Checks that ``needs`` are importable first (one line with the install hint, exit 2),
    then turns an ``ImportError`` inside the block into the same line. The imports stay
    plain statements, so mypy types them and import-linter sees them.
    """
    require_modules(needs, TRAIN_HINT)
    try:
        yield
    except ImportError as exc:
        fail(f"{TRAIN_HINT} ({exc})")

