"""The ``batch`` command: ``predict`` at dataset scale on Ray Data (the ``[ray]`` extra).

The command only parses
options, calls :func:`anime_detector.batch.run_batch` and prints its summary;
Ray is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anime_detector.choices import ResultFormat
from anime_detector.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    BatchSizeOpt,
    Device,
    DeviceOpt,
    EngineName,
    EngineOpt,
    MaxDecodeOpt,
    MaxPixelsOpt,
    PrecisionOpt,
    RecursiveOpt,
    SortIntoOpt,
    SortMode,
    SortModeOpt,
    ThresholdOpt,
    decode_bytes,
    fail,
    user_errors,
)

__all__ = ["batch"]

MAX_SORT_ERRORS_SHOWN = 20


def batch(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model or an ncnn model "
                                          "folder (read by the driver and shipped to the "
                                          "workers).")],
    inputs: Annotated[list[str], typer.Argument(
        help="Image files, folders, globs, URIs (s3://..., file://...) or .txt/.lst files "
             "listing them, one per line.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="RESULTS file to write (replaced "
                                      "unless --resume).")],
    fmt: Annotated[ResultFormat | None, typer.Option(
        "--format", "-f", help="parquet, or json (JSON Lines); default from --out's suffix "
                               "(.jsonl/.json: json, else parquet).")] = None,
    recursive: RecursiveOpt = False,
    address: Annotated[str | None, typer.Option(help="Attach to this Ray cluster (e.g. auto, "
                                                "ray://head:10001); default: start a local one "
                                                "with this process's CPUs.")] = None,
    actors: Annotated[int | None, typer.Option(min=1, help="Inference actors (default: as "
                                               "many as the cluster's CPUs allow).")] = None,
    cpus_per_actor: Annotated[float, typer.Option(min=0.5, help="CPUs per actor; also its "
                                                  "engine threads.")] = 2.0,
    gpus_per_actor: Annotated[float, typer.Option(min=0.0, help="GPUs per actor (use with "
                                                  "--device cuda).")] = 0.0,
    decode_cpus: Annotated[float, typer.Option(min=0.0, help="CPUs reserved per decode task "
                                               "(0: decoding shares the actors' CPUs).")] = 0.0,
    decode_tasks: Annotated[int | None, typer.Option(min=1, help="Decode tasks running at "
                                                     "once (default: one per actor).")] = None,
    batch_size: BatchSizeOpt = 16,
    threshold: ThresholdOpt = None,
    device: DeviceOpt = Device.auto,
    engine: EngineOpt = EngineName.auto,
    precision: PrecisionOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip inputs that already have a "
                                         "row in RESULTS (or its .partial/ checkpoints).")]
    = False,
    sort_into: SortIntoOpt = None,
    sort_mode: SortModeOpt = SortMode.copy,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Ray Data's "
                                           "progress on stderr.")] = True,
    max_pixels: MaxPixelsOpt = None,
    max_decode_mb: MaxDecodeOpt = None,
) -> None:
    """Predict a whole collection on Ray Data; rows as in predict --format json."""
    from anime_detector.batch import BatchInterrupted, PipelineConfig, run_batch

    config = PipelineConfig(actors=actors, cpus_per_actor=cpus_per_actor,
                            gpus_per_actor=gpus_per_actor, batch_size=batch_size,
                            threshold=threshold, device=device.value, engine=engine.value,
                            precision=precision, decode_cpus=decode_cpus,
                            decode_tasks=decode_tasks, max_pixels=max_pixels,
                            max_decode_bytes=decode_bytes(max_decode_mb))
    with user_errors():  # the toolkit's errors and OSError: exit 2; Ctrl-C: 130
        try:
            summary = run_batch(model, inputs, out, fmt=fmt.value if fmt else None,
                                recursive=recursive, config=config, address=address,
                                resume=resume, sort_into=sort_into, sort_mode=sort_mode.value,
                                progress=progress)
        except BatchInterrupted as exc:  # says how many rows were checkpointed
            fail(str(exc), EXIT_INTERRUPTED)
    for line in summary.sort_errors[:MAX_SORT_ERRORS_SHOWN]:
        typer.echo(f"error: {line}", err=True)
    if len(summary.sort_errors) > MAX_SORT_ERRORS_SHOWN:
        typer.echo(f"error: ... and {len(summary.sort_errors) - MAX_SORT_ERRORS_SHOWN} more",
                   err=True)
    typer.echo("\n".join(summary.lines()))
    failed = summary.failed or summary.sort_errors
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)

