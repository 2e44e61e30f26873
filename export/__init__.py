"""Keras -> ONNX export with verification, metadata and optional fp16/int8 (``[train]`` extra).

``to_onnx`` is the whole job; the command ``anime-detector export`` only calls it.
"""

from __future__ import annotations

from anime_detector.export.convert import ExportError, ExportReport, to_onnx

__all__ = ["ExportError", "ExportReport", "to_onnx"]
