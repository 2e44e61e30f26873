"""``anime-detector bench``: which engine should I deploy? Speed, memory and fidelity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import (
    Device,
    DeviceOpt,
    TableOrJson,
    ThreadsOpt,
    import_train_extra,
    user_errors,
)

__all__ = ["bench"]

KERAS_LOADER = "anime_detector.train.keras_engine:load_bench_engine"


def bench(
    models: Annotated[list[Path] | None, typer.Argument(
        help=".onnx files or ncnn folders (default: a cached random-weight VGG19-head "
             "reference graph).")] = None,
    backbone: Annotated[str, typer.Option(
        help="Backbone of the reference graph timed when no model is given: vgg19, "
             "mobilenetv3small, mobilenetv3large, efficientnetv2b0.")] = "vgg19",
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
    fmt: Annotated[TableOrJson, typer.Option("--format", "-f")] = TableOrJson.table,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")]
    = None,
    cold_start: Annotated[bool, typer.Option("--cold-start/--no-cold-start",
                                             help="Measure cold start and peak RSS in a "
                                             "fresh process per engine.")] = True,
) -> None:
    """Latency, throughput, cold start, memory and fidelity per engine, precision and batch."""
    from anime_detector.bench.plan import ncnn_note, plan_specs
    from anime_detector.bench.report import format_table
    from anime_detector.bench.runner import EngineSpec, run_bench
    from anime_detector.export.reference_models import reference_model
    from anime_detector.fsutil import atomic_write_text

    with user_errors():
        sizes = _batch_sizes(batch_sizes)
        paths = [str(m) for m in models] if models else [str(reference_model(
            backbone, log=lambda line: typer.echo(line, err=True)))]
        specs = plan_specs(paths, engines, device.value, threads)
        note = ncnn_note(specs, engines) if models else None
        if note:
            typer.echo(note, err=True)
        if keras_model is not None:
            import_train_extra("anime_detector.train.keras_engine")
            specs += [EngineSpec(k, str(keras_model), "cpu", threads, loader=KERAS_LOADER)
                      for k in ("keras-predict", "keras-function")]
        report = run_bench(specs, sizes, warmup, runs, cold_start=cold_start, images_dir=images,
                           max_dp=max_dp)
    text = json.dumps(report, indent=2)
    if output:
        atomic_write_text(output, text + "\n")
    typer.echo(text if fmt is TableOrJson.json else format_table(report))


def _batch_sizes(text: str) -> list[int]:
    from anime_detector.errors import AnimeDetectorError

    try:
        sizes = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise AnimeDetectorError(f"--batch-sizes {text!r}: expected comma-separated "
                                 "positive integers, e.g. 1,8") from None
    if not sizes or min(sizes) < 1:
        raise AnimeDetectorError(f"--batch-sizes {text!r}: expected comma-separated "
                                 "positive integers, e.g. 1,8")
    return sizes
