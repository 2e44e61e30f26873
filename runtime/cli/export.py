"""``anime-detector export``: a trained Keras model to a verified, self-describing ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from anime_detector.choices import ExportFormat, ExportPrecision, Int8Target
from anime_detector.cli.common import (
    require_modules,
    user_errors,
)

__all__ = ["export"]


def export(
    model: Annotated[Path, typer.Argument(help=".keras, legacy .h5 or a SavedModel folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file (or, with --format "
                                      "ncnn, the model folder) to write.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="onnx, or ncnn (a param+bin folder "
                                        "converted from the fp32 .onnx; MODEL may be an .onnx)")]
    = ExportFormat.onnx,
    precision: Annotated[ExportPrecision, typer.Option(help="fp32, fp16 or int8 (static QDQ).")]
    = ExportPrecision.fp32,
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
    int8_tolerance: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="int8: the least label agreement with fp32 to accept "
        "(on --verify-dir, or on a held-out half of the calibration images); recipes are "
        "tried until it holds, else nothing is written.")] = 0.98,
    int8_max_mean_dp: Annotated[float, typer.Option(
        min=0.0, help="int8: the largest mean |dp| against fp32 to accept.")] = 0.02,
    int8_max_seconds: Annotated[float, typer.Option(
        min=1.0, help="int8: stop trying recipes after this long.")] = 600.0,
    explain_output: Annotated[str | None, typer.Option(
        help="An ONNX encoder whose output is a vector: the 4-D tensor it is the average "
             "of, for explain (found by itself through GlobalAveragePool or ReduceMean; "
             "checked on images).")] = None,
) -> None:
    """Convert a trained Keras model to a verified, self-describing ONNX file (or ncnn folder)."""
    from anime_detector.export.dispatch import export_model, export_requirements

    for modules, hint in export_requirements(model, fmt.value, verify=verify,
                                             precision=precision.value):
        require_modules(modules, hint)
    with user_errors():
        report = export_model(
            model, out, fmt=fmt.value, verify_dir=verify_dir, atol=atol,
            log=lambda line: typer.echo(line, err=True), precision=precision.value,
            opset=opset, verify=verify, calibration_dir=calibration_dir, max_delta=max_delta,
            strict=strict, unsafe=unsafe, threshold=threshold, int8_target=int8_target.value,
            explain_output=explain_output,
            **_int8_options(precision, int8_tolerance, int8_max_mean_dp, int8_max_seconds))
    typer.echo("\n".join(report.lines()))


def _int8_options(precision: ExportPrecision, agreement: float, mean_dp: float,
                  seconds: float) -> dict[str, Any]:
    """The tuning options ``to_onnx`` takes for int8 (none for other precisions)."""
    if precision is not ExportPrecision.int8:
        return {}
    from anime_detector.export.int8_tuning import Int8Tolerance

    return {"int8_tolerance": Int8Tolerance(agreement, mean_dp), "int8_max_seconds": seconds}
