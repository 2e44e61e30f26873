"""``to_onnx``: load, convert, verify, optionally reduce precision, write atomically."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from anime_detector._version import __version__
from anime_detector.choices import EXPORT_PRECISIONS
from anime_detector.contract import DEFAULT_LABELS, ModelContract
from anime_detector.errors import AnimeDetectorError
from anime_detector.export.int8_tuning import (
    DEFAULT_TOLERANCE,
    Int8Tolerance,
    Int8Tuning,
    Int8TuningError,
    speeds_vs_fp32,
    tune_int8,
)
from anime_detector.export.keras_explain import convert_explainable
from anime_detector.export.keras_to_onnx import DEFAULT_OPSET
from anime_detector.export.loading import SourceModel, load_source_model
from anime_detector.export.precision import resolve_int8_target, to_fp16
from anime_detector.export.verify import Comparison, compare, onnx_predict, verification_batch
from anime_detector.file_io import atomic_path, sha256_path
from anime_detector.preprocessing import PreprocessSpec

__all__ = ["ExportError", "ExportReport", "source_backbone", "to_onnx"]


class ExportError(AnimeDetectorError):
    """The export ran but failed its checks; no file was written."""


@dataclass
class ExportReport:
    """What ``to_onnx`` wrote and how faithful it is."""

    out_path: Path
    precision: str
    verification: list[Comparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size_mb: float = 0.0

    def lines(self) -> list[str]:
        return [f"wrote {self.out_path} ({self.precision}, {self.size_mb:.1f} MB)",
                *(c.line() for c in self.verification), *(f"warning: {w}" for w in self.warnings)]


def _versions() -> dict[str, str]:
    import importlib.metadata

    versions = {"anime_detector": __version__, "python": platform.python_version()}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
                 "onnxruntime-gpu"):
        try:
            versions[dist.replace("-cpu", "")] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def source_backbone(source: SourceModel) -> tuple[str, PreprocessSpec]:
    """The backbone a source model was trained on and its preprocessing spec.

    Read from the run's ``backbone.json`` for an encoder file, else from the Keras model's
    name (see ``anime_detector.train.backbones``); a SavedModel folder or an unsuffixed
    name is VGG19.
    """
    from anime_detector.train.backbones import backbone_of_model, spec_for
    from anime_detector.train.encoder_file import read_sidecar

    encoder = read_sidecar(source.path) if source.keras_model is not None else None
    if encoder is not None:
        info, spec, _ = encoder
        return f"file:{info.path.name}", replace(spec, layout="NHWC")
    key = backbone_of_model(source.keras_model) if source.keras_model is not None else "vgg19"
    return key, spec_for(key)


def _convert(source: SourceModel, spec: PreprocessSpec, opset: int,
             warn: Callable[[str], None], explain_output: str | None = None
             ) -> tuple[SourceModel, Any, dict[str, Any] | None]:
    """The fp32 graph (and explain metadata), and the source to verify it against."""
    from anime_detector.train.encoder_file import read_sidecar

    encoder = read_sidecar(source.path) if source.keras_model is not None else None
    if encoder is not None and encoder[0].kind == "onnx":
        from anime_detector.export.compose import compose_onnx, encoder_reference

        info = _checked_encoder(encoder[0])
        proto, explain = compose_onnx(source, info, opset, warn, explain_output)
        return encoder_reference(source, info), proto, explain
    if explain_output:
        raise ExportError("--explain-output names a map in an ONNX encoder file; a Keras "
                          "model's map is its last 4-D tensor, found by itself")
    proto, explain = convert_explainable(source, opset, warn, size=(spec.height, spec.width))
    return source, proto, explain


def _checked_encoder(info: Any) -> Any:
    """The run's encoder file, refused if it is gone or changed since training."""
    from anime_detector.errors import ModelError

    if not info.path.is_file():
        raise ModelError(info.path, "the encoder this model was trained on is gone (the run's "
                         "backbone.json names it); put it back to export")
    if sha256_path(info.path) != info.sha256:
        raise ModelError(info.path, "the encoder file changed since training (SHA-256 differs "
                         "from the run's backbone.json); retrain the head on it")
    return info


def _write_metadata(model: Any, contract: ModelContract) -> None:
    del model.metadata_props[:]
    for key, value in contract.to_metadata().items():
        model.metadata_props.add(key=key, value=value)


def _checked_target(precision: str, calibration_dir: Path | None, int8_target: str) -> str:
    """Refuse impossible options before any work; the resolved int8 target."""
    if precision not in EXPORT_PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}; choose one of {EXPORT_PRECISIONS}")
    if precision == "int8" and calibration_dir is None:
        raise ExportError("int8 needs --calibration-dir DIR of real images (representative of "
                          "what you will predict on)")
    try:
        return resolve_int8_target(int8_target)
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def _verify_fp32(source: SourceModel, fp32: Any, batch: Any, described: str, atol: float,
                 report: ExportReport, log: Callable[[str], None]) -> Any:
    """Keras vs onnxruntime on the batch; beyond ``atol`` nothing is written."""
    fp32_probs = onnx_predict(fp32.SerializeToString(), batch)
    check = compare(source.predict(batch), fp32_probs, "keras", "onnx fp32")
    report.verification.append(check)
    log(f"verification on {described}: {check.line()}")
    if check.max_abs_diff > atol:
        raise ExportError(f"fp32 export differs from Keras by {check.max_abs_diff:.2e} > "
                          f"--atol {atol:g}; nothing written")
    return fp32_probs


def _check_reduced(final: Any, fp32_probs: Any, batch: Any, precision: str,
                   limits: tuple[float, float], strict: bool, report: ExportReport,
                   log: Callable[[str], None], known: Comparison | None = None) -> None:
    """fp16/int8 vs fp32: warn (or with ``strict`` fail) beyond ``limits``. ``known``: the
    same file already compared on the same ``batch`` (the int8 search's check on
    ``--verify-dir``), so it is not run again."""
    max_delta, min_agreement = limits
    check = (replace(known, reference="onnx fp32", candidate=f"onnx {precision}") if known
             else compare(fp32_probs, onnx_predict(final.SerializeToString(), batch),
                          "onnx fp32", f"onnx {precision}"))
    report.verification.append(check)
    log(check.line())
    problems = []
    if check.label_agreement < min_agreement:
        problems.append(f"label agreement {check.label_agreement:.1%} < {min_agreement:.0%}")
    if check.max_abs_diff > max_delta:
        problems.append(f"max |dp| {check.max_abs_diff:.3f} > --max-delta {max_delta}")
    if problems and strict:
        raise ExportError(f"{precision} export: {'; '.join(problems)} (--strict); "
                          "nothing written")
    report.warnings.extend(f"{precision}: {p}" for p in problems)


def _tuned_int8(fp32: Any, calibration: Any, check: Any, target: str,
                limits: tuple[Int8Tolerance, float], report: ExportReport,
                log: Callable[[str], None]) -> Int8Tuning:
    """The accuracy-aware int8 model, its speed against fp32 measured; a one-line
    ``ExportError`` when no recipe meets the tolerance (nothing is written then)."""
    tolerance, max_seconds = limits
    if check is None:  # hold half the calibration images out: a few flipped answers
        # hide easily in a small check set
        if len(calibration) < 16:
            raise ExportError(f"int8 needs at least 16 calibration images (found "
                              f"{len(calibration)}) to hold half out for checking, or "
                              "--verify-dir")
        cut = len(calibration) // 2
        check, calibration = calibration[:cut], calibration[cut:]
    try:
        tuning = tune_int8(fp32, calibration, check, target, tolerance,
                           max_seconds=max_seconds, log=log)
    except Int8TuningError as exc:
        raise ExportError(str(exc)) from None
    speeds = speeds_vs_fp32(fp32, tuning.model, check[0])
    tuning.speedup, tuning.bf16_speedup = speeds["int8"], speeds.get("openvino bf16")
    log(tuning.line())
    warning = _int8_speed_warning(tuning.speedup, tuning.bf16_speedup)
    if warning:
        report.warnings.append(warning)
    return tuning


def _int8_speed_warning(int8: float, bf16: float | None) -> str | None:
    """One line where int8 buys nothing on this CPU: not faster than fp32, or than
    OpenVINO bf16 where the CPU has it."""
    if int8 < 1.0:
        return (f"int8 is not faster than fp32 on this CPU ({int8:.2f}x fp32 at batch 1): "
                "keep fp32, or try fp16 / OpenVINO bf16 (anime-detector bench compares them)")
    if bf16 is not None and bf16 >= int8:
        return (f"int8 is not faster than OpenVINO bf16 on this CPU ({int8:.2f}x fp32 "
                f"against bf16's {bf16:.2f}x at batch 1): deploy the fp32 file with "
                "--engine openvino --precision bf16 (anime-detector bench compares them)")
    return None


def to_onnx(
    model_path: str | Path,
    out_path: str | Path,
    *,
    precision: str = "fp32",
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    verify_dir: Path | None = None,
    calibration_dir: Path | None = None,
    int8_target: str = "auto",
    atol: float = 1e-4,
    max_delta: float = 0.05,
    min_agreement: float = 0.99,
    strict: bool = False,
    unsafe: bool = False,
    threshold: float = 0.5,
    int8_tolerance: Int8Tolerance = DEFAULT_TOLERANCE,
    int8_max_seconds: float = 600.0,
    explain_output: str | None = None,
    log: Callable[[str], None] = print,
) -> ExportReport:
    """Export a Keras model to a self-describing ONNX file; see ``anime-detector export``.

    int8 is accuracy-aware (:func:`~anime_detector.export.int8_tuning.tune_int8`): recipes
    are tried until ``int8_tolerance`` holds against fp32 on the ``verify_dir`` images, or,
    without them, on a half of the calibration images held out from calibration.

    Raises:
        ModelError: the source cannot be loaded or converted.
        ExportError: verification failed (fp32 beyond ``atol``; fp16/int8 with ``strict``).
    """
    import onnx

    target = _checked_target(precision, calibration_dir, int8_target)
    model_path, out_path = Path(model_path), Path(out_path)
    source = load_source_model(model_path, unsafe=unsafe)
    backbone, spec = source_backbone(source)
    calibration = (verification_batch(calibration_dir, limit=64, spec=spec)[0]
                   if calibration_dir else None)
    log(f"converting {model_path} ({source.kind}) with tf2onnx, opset {opset}; "
        f"backbone {backbone}")
    report = ExportReport(out_path, precision)
    source, fp32, explain = _convert(source, spec, opset, report.warnings.append,
                                     explain_output)
    batch, described = verification_batch(verify_dir, spec=spec) if verify else (None, "")
    fp32_probs = None if batch is None else _verify_fp32(source, fp32, batch, described, atol,
                                                         report, log)
    final, int8_record, known = fp32, {}, None
    if precision != "fp32":
        if precision == "fp16":
            final = to_fp16(fp32)
        else:  # _checked_target has made sure int8 has its calibration images
            assert calibration is not None
            tuning = _tuned_int8(fp32, calibration, batch if verify_dir else None, target,
                                 (int8_tolerance, int8_max_seconds), report, log)
            final, int8_record = tuning.model, {"int8": json.dumps(tuning.summary())}
            known = tuning.check if verify_dir else None  # checked on ``batch`` already
        if batch is not None:
            _check_reduced(final, fp32_probs, batch, precision, (max_delta, min_agreement),
                           strict, report, log, known)
    contract = ModelContract(
        labels=DEFAULT_LABELS, spec=spec, threshold=threshold, precision=precision,
        extra={"backbone": backbone, "source_sha256": sha256_path(model_path),
               "source_file": model_path.name, "versions": _versions(), "opset": str(opset),
               **({"explain": json.dumps(explain)} if explain else {}),
               "verification": json.dumps({"images": described,
                                           "checks": [c.to_dict() for c in report.verification]}),
               **({"int8_target": target} if precision == "int8" else {}), **int8_record},
    )
    _write_metadata(final, contract)
    with atomic_path(out_path) as tmp:
        onnx.save(final, str(tmp))
    report.size_mb = out_path.stat().st_size / 1e6
    return report

