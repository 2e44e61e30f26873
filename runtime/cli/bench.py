"""``anime-detector bench``: which engine should I deploy? Speed, memory and fidelity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.choices import BACKBONE_NAMES, DEFAULT_BACKBONE
from anime_detector.cli.common import (
    Device,
    DeviceOpt,
    ReportFormat,
    ThreadsOpt,
    user_errors,
)

__all__ = ["bench"]


def bench(
    models: Annotated[list[Path] | None, typer.Argument(
        help=".onnx files or ncnn folders (default: a cached random-weight VGG19-head "
             "reference graph).")] = None,
    backbone: Annotated[str, typer.Option(
        help="Backbone of the reference graph timed when no model is given: "
             f"{', '.join(BACKBONE_NAMES)}.")] = DEFAULT_BACKBONE,
    engines: Annotated[str, typer.Option(
        help="all (every installed engine that reads the model) or e.g. onnxruntime,openvino.")]
    = "all",
    images: Annotated[Path | None, typer.Option(
        help="Real images for the fidelity column (default: random inputs).")] = None,
    max_dp: Annotated[float, typer.Option(help="Fidelity bound for the recommendation.")]
    = 1e-3,
    keras_model: Annotated[Path | None, typer.Option("--keras", help="Also time this "
                                                        ".keras model (predict, tf.function).")]
    = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,8",
    warmup: Annotated[int, typer.Option(min=0)] = 3,
    runs: Annotated[int, typer.Option(min=1)] = 20,
    threads: ThreadsOpt = None,
    device: DeviceOpt = Device.auto,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")]
    = None,
    cold_start: Annotated[bool, typer.Option("--cold-start/--no-cold-start",
                                             help="Measure cold start and peak RSS in a "
                                             "fresh process per engine.")] = True,
) -> None:
    """Latency, throughput, cold start, memory and fidelity per engine, precision and batch."""
    from anime_detector.file_io import atomic_write_text
    from anime_detector.timing.plan import plan_bench
    from anime_detector.timing.report import format_table
    from anime_detector.timing.runner import run_bench

    with user_errors():
        if models:
            paths = [str(m) for m in models]
        else:  # no model: the cached random-weight reference model of ``backbone``
            from anime_detector.export.reference_models import reference_model

            paths = [str(reference_model(backbone, log=lambda line: typer.echo(line, err=True)))]
        plan = plan_bench(paths, engines=engines, device=device.value, threads=threads,
                          keras_model=str(keras_model) if keras_model else None,
                          batch_sizes=batch_sizes, hint_ncnn=bool(models))
        if plan.note:
            typer.echo(plan.note, err=True)
        report = run_bench(plan.specs, plan.batch_sizes, warmup, runs, cold_start=cold_start,
                           images_dir=images, max_dp=max_dp)
    text = json.dumps(report, indent=2)
    if output:
        atomic_write_text(output, text + "\n")
    typer.echo(text if fmt is ReportFormat.json else format_table(report))
