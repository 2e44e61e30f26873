"""``anime-detector predict``: classify image files, folders and globs; runtime only."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from anime_detector.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    BatchSizeOpt,
    Device,
    DeviceOpt,
    EngineName,
    EngineOpt,
    MaxDecodeOpt,
    MaxPixelsOpt,
    OutputFormat,
    PrecisionOpt,
    RecursiveOpt,
    SortIntoOpt,
    SortMode,
    SortModeOpt,
    ThreadsOpt,
    ThresholdOpt,
    decode_bytes,
    fail,
    user_errors,
)
from anime_detector.contract import int8_line
from anime_detector.system import cpu_summary, machine

if TYPE_CHECKING:
    from anime_detector.jobs.predict_files import PredictSummary

__all__ = ["predict"]



def predict(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model (or an ncnn folder); "
                                          "with --server, the first input.")],
    inputs: Annotated[list[str] | None, typer.Argument(
        help="Image files, folders or glob patterns.")] = None,
    recursive: RecursiveOpt = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
    = OutputFormat.table,
    batch_size: BatchSizeOpt = 8,
    threshold: ThresholdOpt = None,
    device: DeviceOpt = Device.auto,
    threads: ThreadsOpt = None,
    engine: EngineOpt = EngineName.auto,
    precision: PrecisionOpt = None,
    annotate: Annotated[Path | None, typer.Option(help="Also write a labelled copy of each image "
                                              "here.")] = None,
    explain: Annotated[Path | None, typer.Option(help="Also write a Grad-CAM heatmap PNG of each "
                                             "image here (json adds the grid).")] = None,
    sort_into: SortIntoOpt = None,
    sort_mode: SortModeOpt = SortMode.copy,
    labels: Annotated[str | None, typer.Option(help="Comma-separated labels for a model "
                                               "without metadata.")] = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bar on stderr (default: on a terminal, "
                                         "for 8+ images).")] = None,
    max_pixels: MaxPixelsOpt = None,
    max_decode_mb: MaxDecodeOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Report what runs on stderr.")]
    = False,
    server: Annotated[str | None, typer.Option(
        help="Send the images to a running `anime-detector serve` at this URL instead of "
             "loading a model (no MODEL argument then); a URL ending in /v2/models/NAME "
             "uses the Open Inference Protocol's routes.")] = None,
    api_key: Annotated[str | None, typer.Option(
        envvar="ANIME_DETECTOR_API_KEY", help="The server's API key, with --server.")] = None,
) -> None:
    """Classify images with an exported model. Exit 1 if any input failed."""
    if server is not None:
        if annotate or explain or sort_into or labels:
            fail("--annotate, --explain, --sort-into and --labels work on a local model, "
                 "not with --server")
        predict_remote(server, [str(model), *(inputs or [])], fmt, recursive=recursive,
                       batch_size=batch_size, api_key=api_key, verbose=verbose)
    if not inputs:
        fail("missing argument INPUTS: the images to classify")
    from anime_detector.detector import Detector
    from anime_detector.int8_support import Int8Warning
    from anime_detector.jobs.predict_files import predict_files
    from anime_detector.jobs.writers import make_writer

    with user_errors():
        label_list = [s.strip() for s in labels.split(",")] if labels else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Int8Warning)  # said below, one line each
            detector = Detector.load(model, device=device.value, threads=threads,
                                     labels=label_list, engine=engine.value,
                                     precision=precision)
        detector.max_pixels = max_pixels
        detector.max_decode_bytes = decode_bytes(max_decode_mb)
        if explain is not None:
            detector.require_explain()  # before the table header: one error line, no output
        if verbose:
            info = detector.info
            typer.echo(f"model {model}: {info.engine} {info.version}, providers "
                       f"{detector.providers}, {info.precision}", err=True)
            typer.echo(f"cpu: {machine()}, {cpu_summary()}", err=True)
            tuned = int8_line(detector.contract)
            if tuned is not None:
                typer.echo(tuned, err=True)
        for note in detector.notes:
            typer.echo(f"warning: {note}", err=True)
        writer = make_writer(fmt.value, sys.stdout, detector.labels)
        summary = predict_files(
            detector, inputs, writer.write, recursive=recursive, batch_size=batch_size,
            threshold=threshold, annotate_dir=annotate, explain_dir=explain,
            sort_into=sort_into, sort_mode=sort_mode.value, progress=progress)
        writer.close()
    _finish(summary, fmt, verbose)


def predict_remote(url: str, inputs: list[str], fmt: OutputFormat, *, recursive: bool,
                   batch_size: int, api_key: str | None, verbose: bool) -> NoReturn:
    """``predict --server``: the same rows and exit codes, computed by a running service."""
    from anime_detector.jobs.writers import make_writer
    from anime_detector.serve.client import RemoteDetector

    with user_errors():
        remote = RemoteDetector(url, api_key=api_key)
        if verbose:
            model = remote.model
            typer.echo(f"server {url}: model {model.get('model')}, {model.get('engine')} "
                       f"{model.get('precision')} on {model.get('device')}", err=True)
        writer = make_writer(fmt.value, sys.stdout, remote.labels)
        summary = remote.predict_files(inputs, writer.write, recursive=recursive,
                                       batch_size=batch_size)
        writer.close()
    _finish(summary, fmt, verbose)


def _finish(summary: PredictSummary, fmt: OutputFormat, verbose: bool) -> NoReturn:
    """The count line (a table of several images, or ``--verbose``) and the exit code."""
    if verbose or (fmt is OutputFormat.table and summary.total > 1):
        typer.echo(f"{summary.total - summary.failed}/{summary.total} predicted, "
                   f"{summary.failed} failed", err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
