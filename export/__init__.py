"""Keras -> ONNX export with verification, metadata and optional fp16/int8 (``[train]`` extra).

``to_onnx`` is the whole job for ``.onnx``; :mod:`anime_detector.export.ncnn` converts to
ncnn. The command ``anime-detector export`` calls
:func:`anime_detector.export.dispatch.export_model`, which picks between them.
"""

from __future__ import annotations

from anime_detector.export.convert import ExportError, ExportReport, to_onnx

__all__ = ["ExportError", "ExportReport", "to_onnx"]
