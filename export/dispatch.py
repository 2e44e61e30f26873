"""What ``anime-detector export`` does: the route by format and input, and what it needs.

``--format onnx`` converts a Keras model (:func:`~anime_detector.export.to_onnx`);
``--format ncnn`` converts an ``.onnx`` file directly, or a Keras model through a
temporary verified fp32 ``.onnx`` (:mod:`anime_detector.export.ncnn`).
:func:`export_requirements` names, before any work, the modules a route imports and the
install line to print when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from anime_detector.choices import ExportFormat, ExportPrecision
from anime_detector.errors import TRAIN_HINT

__all__ = ["EXPORT_MODULES", "NCNN_HINT", "VERIFY_HINT", "export_model", "export_requirements"]

EXPORT_MODULES = ("tensorflow", "keras", "tf2onnx", "onnx")
NCNN_HINT = ("ncnn export needs the ncnn extra and the pnnx converter: pip install "
             "'anime-detector[cpu,ncnn]' && pip install --no-deps pnnx")
VERIFY_HINT = ("export verification and fp16/int8 need onnxruntime: pip install "
               "'anime-detector[cpu,train]' (or --no-verify for fp32)")


def _from_onnx(model: Path) -> bool:
    return model.suffix.lower() == ".onnx"


def export_requirements(model: Path, fmt: str = "onnx", *, verify: bool = True,
                        precision: str = "fp32") -> list[tuple[tuple[str, ...], str]]:
    """``(modules, install hint)`` pairs, in the order to check them, for this export."""
    needs: list[tuple[tuple[str, ...], str]]
    if ExportFormat(fmt) is ExportFormat.ncnn:
        needs = [(("ncnn", "onnxruntime"), NCNN_HINT)]
        return needs if _from_onnx(model) else [*needs, (EXPORT_MODULES, TRAIN_HINT)]
    needs = [(EXPORT_MODULES, TRAIN_HINT)]
    if verify or ExportPrecision(precision) is not ExportPrecision.fp32:
        needs.append((("onnxruntime",), VERIFY_HINT))
    return needs


def export_model(model: Path, out: Path, *, fmt: str = "onnx", verify_dir: Path | None = None,
                 atol: float = 1e-4, log: Callable[[str], None] = print,
                 **onnx_options: Any) -> Any:
    """Export ``model`` to ``out`` as ``fmt``; the report has ``lines()``.

    ``onnx_options`` are :func:`~anime_detector.export.to_onnx`'s (for ncnn from a Keras
    model only ``opset``, ``unsafe`` and ``threshold`` apply).
    """
    if ExportFormat(fmt) is ExportFormat.ncnn:
        from anime_detector.export.ncnn import keras_to_ncnn, to_ncnn

        if _from_onnx(model):
            return to_ncnn(model, out, verify_dir=verify_dir, atol=atol, log=log)
        ncnn_options = {k: onnx_options[k] for k in ("opset", "unsafe", "threshold")
                        if k in onnx_options}
        return keras_to_ncnn(model, out, verify_dir=verify_dir, atol=atol, log=log,
                             **ncnn_options)
    from anime_detector.export.convert import to_onnx

    return to_onnx(model, out, verify_dir=verify_dir, atol=atol, log=log, **onnx_options)
