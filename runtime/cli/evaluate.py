"""``anime-detector eval``: accuracy and mistakes of a model on a labelled folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anime_detector.cli.common import (
    Device,
    DeviceOpt,
    EngineName,
    EngineOpt,
    MaxDecodeOpt,
    MaxPixelsOpt,
    ReportFormat,
    decode_bytes,
    user_errors,
)

__all__ = ["eval_command"]


def eval_command(
    model: Annotated[Path, typer.Argument(help=".onnx (runtime only) or .keras (train extra).")],
    data_dir: Annotated[Path, typer.Argument(help="Folder with anime/ and not_anime/.")],
    compare: Annotated[Path | None, typer.Option(help="A second model on the same "
                                                    "images.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.table,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    device: DeviceOpt = Device.auto,
    engine: EngineOpt = EngineName.auto,
    max_pixels: MaxPixelsOpt = None,
    max_decode_mb: MaxDecodeOpt = None,
) -> None:
    """Accuracy, per-class P/R/F1, confusion matrix, ROC-AUC and mistakes on a labelled folder."""
    from anime_detector.detector import Detector
    from anime_detector.evaluate import compare_models, evaluate
    from anime_detector.jobs.summaries import format_eval

    def load(path: Path) -> Detector:
        detector = Detector.load(path, device=device.value, engine=engine.value)
        detector.max_pixels = max_pixels
        detector.max_decode_bytes = decode_bytes(max_decode_mb)
        return detector

    with user_errors():  # a .keras model opens on the Keras engine (the [train] extra)
        reports = [evaluate(load(m), data_dir, threshold, batch_size)
                   for m in ([model, compare] if compare else [model])]
    comparison = compare_models(*reports) if compare else None
    if fmt is ReportFormat.json:
        payload: dict[str, Any] = {"report": reports[0]}
        if comparison:
            payload.update(compare_report=reports[1], comparison=comparison)
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo(format_eval(reports, comparison))
