"""``anime-detector export``: a trained Keras model to a verified, self-describing ONNX file."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

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


class Format(str, Enum):
    onnx = "onnx"
    ncnn = "ncnn"


class Int8Target(str, Enum):
    auto = "auto"
    avx2 = "avx2"
    vnni = "vnni"
    arm64 = "arm64"


NCNN_HINT = ("ncnn export needs the ncnn extra and the pnnx converter: pip install "
             "'anime-detector[cpu,ncnn]' && pip install --no-deps pnnx")


def export(
    model: Annotated[Path, typer.Argument(help=".keras, legacy .h5 or a SavedModel folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file (or, with --format "
                                      "ncnn, the model folder) to write.")],
    fmt: Annotated[Format, typer.Option("--format", help="onnx, or ncnn (a param+bin folder "
                                        "converted from the fp32 .onnx; MODEL may be an .onnx)")]
    = Format.onnx,
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
    int8_target: Annotated[Int8Target, typer.Option(
        help="CPU the int8 file is for: avx2 (7-bit weights: no VNNI), vnni, arm64; auto = "
             "this CPU.")] = Int8Target.auto,
) -> None:
    """Convert a trained Keras model to a verified, self-describing ONNX file (or ncnn folder)."""
    log = lambda line: typer.echo(line, err=True)  # noqa: E731
    if fmt is Format.ncnn:
        _export_ncnn(model, out, verify_dir, atol, log, opset=opset, unsafe=unsafe,
                     threshold=threshold)
        return
    exporter = import_train_extra("anime_detector.export", EXPORT_MODULES)
    if verify or precision is not Precision.fp32:
        require_modules(("onnxruntime",), "export verification and fp16/int8 need onnxruntime: "
                        "pip install 'anime-detector[cpu,train]' (or --no-verify for fp32)")
    with user_errors():
        report = exporter.to_onnx(
            model, out, precision=precision.value, opset=opset, verify=verify,
            verify_dir=verify_dir, calibration_dir=calibration_dir, atol=atol,
            max_delta=max_delta, strict=strict, unsafe=unsafe, threshold=threshold,
            int8_target=int8_target.value, log=log,
        )
    typer.echo("\n".join(report.lines()))


def _export_ncnn(model: Path, out: Path, verify_dir: Path | None, atol: float,
                 log: Callable[[str], None], **onnx_options: Any) -> None:
    """``--format ncnn``: an ``.onnx`` converts without TensorFlow; a Keras model goes
    through a temporary verified fp32 ``.onnx`` first."""
    require_modules(("ncnn", "onnxruntime"), NCNN_HINT)
    if model.suffix.lower() == ".onnx":
        from anime_detector.export.ncnn import to_ncnn

        with user_errors():
            report = to_ncnn(model, out, verify_dir=verify_dir, atol=atol, log=log)
    else:
        ncnn = import_train_extra("anime_detector.export.ncnn", EXPORT_MODULES)
        with user_errors():
            report = ncnn.keras_to_ncnn(model, out, verify_dir=verify_dir, atol=atol, log=log,
                                        **onnx_options)
    typer.echo("\n".join(report.lines()))
