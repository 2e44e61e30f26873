"""``anime-detector export``: a trained Keras model to a verified, self-describing ONNX file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import (
    EXPORT_MODULES,
    import_train_extra,
    require_modules,
    user_errors,
)

__all__ = ["export"]


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


def export(
    model: Annotated[Path, typer.Argument(help=".keras, legacy .h5 or a SavedModel folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    precision: Annotated[Precision, typer.Option(help="fp32, fp16 or int8 (static QDQ).")]
    = Precision.fp32,
    opset: Annotated[int, typer.Option(min=13)] = 17,
    verify: Annotated[bool, typer.Option("--verify/--no-verify",
                                         help="Compare Keras and onnxruntime outputs.")] = True,
    verify_dir: Annotated[Path | None, typer.Option(help="Images to verify on "
                                                       "(default: 16 generated).")] = None,
    calibration_dir: Annotated[Path | None, typer.Option(help="Real images for int8.")]
    = None,
    atol: Annotated[float, typer.Option(help="Max |dp| allowed for fp32.")] = 1e-4,
    max_delta: Annotated[float, typer.Option(help="Max |dp| vs fp32 for fp16/int8 before "
                                             "warning.")] = 0.05,
    strict: Annotated[bool, typer.Option(help="Fail instead of warning for fp16/int8.")]
    = False,
    unsafe: Annotated[bool, typer.Option(help="Allow Lambda-layer code (trusted files only).")]
    = False,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Decision threshold "
                                             "stored in the file.")] = 0.5,
) -> None:
    """Convert a trained Keras model to a verified, self-describing ONNX file."""
    exporter = import_train_extra("anime_detector.export", EXPORT_MODULES)
    if verify or precision is not Precision.fp32:
        require_modules(("onnxruntime",), "export verification and fp16/int8 need onnxruntime: "
                        "pip install 'anime-detector[cpu,train]' (or --no-verify for fp32)")
    with user_errors():
        report = exporter.to_onnx(
            model, out, precision=precision.value, opset=opset, verify=verify,
            verify_dir=verify_dir, calibration_dir=calibration_dir, atol=atol,
            max_delta=max_delta, strict=strict, unsafe=unsafe, threshold=threshold,
            log=lambda line: typer.echo(line, err=True),
        )
    typer.echo("\n".join(report.lines()))
