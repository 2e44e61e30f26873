"""The ``explain`` command: Grad-CAM heatmap PNGs (and grids in JSON) for each image.

The work is ``predict_files(..., explain_dir=OUT)``, as for ``predict --explain``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    BatchSizeOpt,
    Device,
    DeviceOpt,
    InputsArg,
    MaxDecodeOpt,
    MaxPixelsOpt,
    RecursiveOpt,
    ReportFormat,
    ThreadsOpt,
    decode_bytes,
    user_errors,
)

__all__ = ["explain"]


def explain(
    model: Annotated[Path, typer.Argument(help="An .onnx model exported by `anime-detector "
                                          "export`.")],
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the heatmap PNGs.")],
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="table, or json with "
                                               "the heatmap grid.")] = ReportFormat.table,
    recursive: RecursiveOpt = False,
    batch_size: BatchSizeOpt = 8,
    device: DeviceOpt = Device.auto,
    threads: ThreadsOpt = None,
    engine: Annotated[str, typer.Option(help="Inference engine (only onnxruntime can "
                                        "explain).")] = "onnxruntime",
    max_pixels: MaxPixelsOpt = None,
    max_decode_mb: MaxDecodeOpt = None,
) -> None:
    """Where the model sees anime: Grad-CAM heatmaps over each image. Exit 1 if any failed."""
    from anime_detector.detector import load_explainer
    from anime_detector.jobs.predict_files import predict_files
    from anime_detector.jobs.writers import make_writer

    with user_errors():
        detector = load_explainer(model, device=device.value, threads=threads, engine=engine)
        detector.max_pixels = max_pixels
        detector.max_decode_bytes = decode_bytes(max_decode_mb)
        writer = make_writer(fmt.value, sys.stdout, detector.labels)
        summary = predict_files(detector, inputs, writer.write, explain_dir=out,
                                recursive=recursive, batch_size=batch_size)
        writer.close()
    typer.echo(f"{summary.explained}/{summary.total} explained, {summary.failed} failed; "
               f"heatmaps in {out}", err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)

