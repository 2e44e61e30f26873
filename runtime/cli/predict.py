"""``anime-detector predict``: classify image files, folders and globs; runtime only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    Device,
    DeviceOpt,
    EngineName,
    EngineOpt,
    OutputFormat,
    SortMode,
    ThreadsOpt,
    user_errors,
)

__all__ = ["predict"]


def predict(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model (or an ncnn folder).")],
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
    = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
    = OutputFormat.table,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per inference call.")] = 8,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="P(anime) needed for 'anime' "
                                      "(default: the model's, 0.5).")
    ] = None,
    device: DeviceOpt = Device.auto,
    threads: ThreadsOpt = None,
    engine: EngineOpt = EngineName.auto,
    precision: Annotated[str | None, typer.Option(
        help="Engine precision: openvino fp32|bf16, ncnn fp32|fp16 (default: the model's).")]
    = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Also write a labelled copy of each image here.")
    ] = None,
    explain: Annotated[
        Path | None, typer.Option(help="Also write a Grad-CAM heatmap PNG of each image here "
                                  "(json output adds the heatmap grid).")
    ] = None,
    sort_into: Annotated[Path | None, typer.Option(
        help="Also put each predicted image into DIR/<label>/ (sub-folders kept).")] = None,
    sort_mode: Annotated[SortMode, typer.Option(
        help="copy, link (hard, else symbolic) or move (never loses a file).")] = SortMode.copy,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated labels for a model without metadata.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar on stderr "
                                     "(default: on a terminal, for 8+ images).")
    ] = None,
    max_pixels: Annotated[int | None, typer.Option(
        min=1, help="Refuse larger images before decoding (default 89478485).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Report what runs on stderr.")]
    = False,
) -> None:
    """Classify images with an exported model. Exit 1 if any input failed."""
    from anime_detector.detector import Detector
    from anime_detector.jobs.predict_files import predict_files
    from anime_detector.jobs.writers import make_writer

    with user_errors():
        label_list = [s.strip() for s in labels.split(",")] if labels else None
        detector = Detector.load(model, device=device.value, threads=threads, labels=label_list,
                                 engine=engine.value, precision=precision)
        detector.max_pixels = max_pixels
        if verbose:
            typer.echo(f"model {model}: {detector.info.engine} {detector.info.version}, "
                       f"providers {detector.providers}, {detector.info.precision}", err=True)
        writer = make_writer(fmt.value, sys.stdout, detector.labels)
        summary = predict_files(
            detector, inputs, writer.write, recursive=recursive, batch_size=batch_size,
            threshold=threshold, annotate_dir=annotate, explain_dir=explain,
            sort_into=sort_into, sort_mode=sort_mode.value, progress=progress,
        )
        writer.close()
    if verbose or (fmt is OutputFormat.table and summary.total > 1):
        typer.echo(f"{summary.total - summary.failed}/{summary.total} predicted, "
                   f"{summary.failed} failed", err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
