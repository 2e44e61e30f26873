"""Every choice list the library accepts and the command line offers, defined once.

Each is a ``str`` Enum: the library checks its arguments against the values (and keeps a
tuple of them where it names them in messages), and ``anime_detector.cli`` uses the Enums
as its options' types, so ``--help`` lists exactly what the library takes. This module
imports nothing of the toolkit, so the command line's ``--help`` stays cheap.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "BACKBONE_NAMES", "DEFAULT_BACKBONE", "DEVICES", "ENGINES", "ENGINE_PRECISIONS",
    "EXPORT_PRECISIONS", "INT8_CPU_FAMILIES", "INT8_TARGETS", "PREPROCESS_PRESETS",
    "RUN_PRECISIONS", "Device", "EngineName", "ExportFormat", "ExportPrecision", "Int8Target",
    "LogFormat", "OutputFormat", "ReportFormat", "ResultFormat", "SortMode", "preset_help",
]


class Device(str, Enum):
    """Where a model runs: ``auto`` is CUDA when it really runs, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class EngineName(str, Enum):
    """The inference engines; ``auto`` follows the model's format."""

    auto = "auto"
    onnxruntime = "onnxruntime"
    openvino = "openvino"
    ncnn = "ncnn"


class OutputFormat(str, Enum):
    """Per-image rows of ``predict`` and ``explain``."""

    table = "table"
    json = "json"
    csv = "csv"


class ReportFormat(str, Enum):
    """One report (``eval``, ``bench``; ``explain``'s rows): a table or JSON."""

    table = "table"
    json = "json"


class ResultFormat(str, Enum):
    """``batch``'s RESULTS file."""

    parquet = "parquet"
    json = "json"


class SortMode(str, Enum):
    """How ``--sort-into`` places an image: copy, link (hard, else symbolic) or move."""

    copy = "copy"
    link = "link"
    move = "move"


class LogFormat(str, Enum):
    """``serve``'s log lines: plain text, or one JSON object a line for log collectors."""

    text = "text"
    json = "json"


class ExportFormat(str, Enum):
    """What ``export`` writes: an ``.onnx`` file or an ncnn model folder."""

    onnx = "onnx"
    ncnn = "ncnn"


class ExportPrecision(str, Enum):
    """The precision of an exported ``.onnx`` file."""

    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


ENGINE_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("tf32",),
    "openvino": ("fp32", "bf16"),
    "ncnn": ("fp32", "fp16"),
}
"""The run-time precisions each engine offers beside the model file's own (``--precision``):
onnxruntime runs a file at its own precision, or an fp32 file with TF32 convolutions on
CUDA; OpenVINO compiles in fp32 or (where the CPU computes it) bf16; ncnn stores fp32 or
fp16 weights."""

RUN_PRECISIONS = tuple(dict.fromkeys([*(p.value for p in ExportPrecision),
                                      *(p for ps in ENGINE_PRECISIONS.values() for p in ps)]))
"""Every value ``--precision`` takes: a file's own precision or an engine's option."""


class Int8Target(str, Enum):
    """The CPU an int8 file is for; ``auto`` is this CPU."""

    auto = "auto"
    avx2 = "avx2"
    vnni = "vnni"
    arm64 = "arm64"


BACKBONE_NAMES = ("vgg19", "mobilenetv3small", "mobilenetv3large", "efficientnetv2b0")
"""The names ``train --backbone`` and ``bench --backbone`` take: the keys of
``anime_detector.train.backbones.BACKBONES``, written here so that ``--help`` imports no
training code (a test keeps the two equal)."""
DEFAULT_BACKBONE = "vgg19"
PREPROCESS_PRESETS = {
    "unit": "RGB/255",
    "tf": "-1..1",
    "imagenet": "/255, ImageNet mean and std",
    "caffe": "BGR minus means",
    "clip": "/255, CLIP mean and std, center crop",
}
"""The presets ``--preprocess`` takes for an encoder file, each with what it computes: the
keys of ``anime_detector.encoder_spec.PRESETS`` (a test keeps the two equal)."""


def preset_help() -> str:
    """The presets for ``--help``: ``unit (RGB/255), tf (-1..1), ...``."""
    return ", ".join(f"{name} ({what})" for name, what in PREPROCESS_PRESETS.items())


DEVICES = tuple(d.value for d in Device)
ENGINES = tuple(e.value for e in EngineName if e is not EngineName.auto)
EXPORT_PRECISIONS = tuple(p.value for p in ExportPrecision)
INT8_TARGETS = tuple(t.value for t in Int8Target)
INT8_CPU_FAMILIES = tuple(t for t in INT8_TARGETS if t != Int8Target.auto.value)
"""The CPU families an int8 file can be quantized for: the targets but ``auto``."""
