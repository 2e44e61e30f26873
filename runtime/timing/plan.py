"""Which engine x precision rows ``bench`` times for the models it is given.

An ``.onnx`` file runs on onnxruntime at its own precision and, when installed, on
OpenVINO in fp32 and (on CPUs with bf16) bf16; an ncnn model folder runs on ncnn in
fp32 and fp16 storage; a Keras model given as ``keras_model`` adds two Keras rows.
:func:`plan_bench` is what the ``bench`` command calls before
:func:`~anime_detector.timing.runner.run_bench`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

from anime_detector.choices import ENGINE_PRECISIONS
from anime_detector.engines import ENGINES, KERAS_BENCH_ROWS, require_engine, resolve_engine
from anime_detector.engines.openvino import has_bf16
from anime_detector.errors import AnimeDetectorError
from anime_detector.system import cpu_flags
from anime_detector.timing.runner import EngineSpec

__all__ = ["NCNN_HINT", "BenchPlan", "engine_precisions", "installed_engines",
           "ncnn_note", "parse_batch_sizes", "plan_bench", "plan_specs"]

NCNN_HINT = ("ncnn runs converted folders: anime-detector export MODEL.onnx --format ncnn "
             "--out MODEL-ncnn, then bench MODEL.onnx MODEL-ncnn")


def installed_engines() -> list[str]:
    """Engines whose Python package can be imported here (none is imported to find out)."""
    return [name for name in ENGINES if importlib.util.find_spec(name) is not None]  # = package


def engine_precisions(engine: str, device: str = "cpu") -> list[str | None]:
    """Run-time precisions worth timing here (``None``: the model file's own). onnxruntime
    on CUDA adds ``tf32`` (TF32 convolutions; fp32 files only)."""
    if engine == "onnxruntime":
        return [None, "tf32"] if device != "cpu" and _has_cuda() else [None]
    if engine in ENGINE_PRECISIONS:
        return [p for p in ENGINE_PRECISIONS[engine] if p != "bf16" or has_bf16(cpu_flags())]
    return [None]


def _has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _is_fp32_onnx(model: str) -> bool:
    """TF32 is a run-time option for fp32 ``.onnx`` files only."""
    from anime_detector.errors import ModelError
    from anime_detector.onnx_metadata import read_contract

    try:
        return read_contract(model).precision == "fp32"
    except ModelError:
        return False


def plan_specs(models: Sequence[str], engines: str = "all", device: str = "auto",
               threads: int | None = None) -> list[EngineSpec]:
    """One spec per (model, engine that can read it, precision); ``engines`` is ``all`` or a
    comma-separated list (an engine named but not installed is an error)."""
    installed = installed_engines()
    wanted = installed if engines == "all" else [e.strip() for e in engines.split(",")]
    for name in wanted:
        if name not in ENGINES:
            raise AnimeDetectorError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
        if name not in installed:
            raise AnimeDetectorError(f"engine {name!r} is not installed: pip install "
                                     f"'anime-detector[{name}]'")
    specs = []
    for model in models:
        native = resolve_engine(model, "auto")
        readers = ["ncnn"] if native == "ncnn" else [e for e in wanted if e != "ncnn"]
        for engine in (e for e in readers if e in wanted):
            where = device if engine == "onnxruntime" else "cpu"
            specs += [EngineSpec(engine, model, where, threads, precision)
                      for precision in engine_precisions(engine, where)
                      if precision != "tf32" or _is_fp32_onnx(model)]
    unused = [name for name in wanted if engines != "all" and
              not any(spec.engine == name for spec in specs)]
    if unused:
        raise AnimeDetectorError(f"no model given runs on {unused[0]}" + (
            f"; {NCNN_HINT}" if unused[0] == "ncnn" else ""))
    return specs


def ncnn_note(specs: Sequence[EngineSpec], engines: str = "all") -> str | None:
    """A hint when ncnn is installed but no ncnn folder is among the models timed (often the
    fastest near-lossless engine on x86: see README "Which should I deploy?")."""
    if engines != "all" or "ncnn" not in installed_engines():
        return None
    if any(spec.engine == "ncnn" for spec in specs):
        return None
    return f"note: ncnn is installed but not timed; {NCNN_HINT}"



@dataclass(frozen=True)
class BenchPlan:
    """The rows to time, the batch sizes, and a note for stderr (or ``None``)."""

    specs: list[EngineSpec]
    batch_sizes: list[int]
    note: str | None


def plan_bench(models: Sequence[str], *, engines: str = "all", device: str = "auto",
               threads: int | None = None, keras_model: str | None = None,
               batch_sizes: str = "1,8", hint_ncnn: bool = True) -> BenchPlan:
    """The rows ``bench`` times: :func:`plan_specs` for ``models``, then ``keras_model``'s
    ``KERAS_BENCH_ROWS`` (on the CPU). ``hint_ncnn``: add :func:`ncnn_note`'s hint.

    Raises:
        AnimeDetectorError: bad ``batch_sizes`` or ``engines``.
        EngineUnavailable: ``keras_model`` without the ``[train]`` extra (checked first).
    """
    sizes = parse_batch_sizes(batch_sizes)
    if keras_model is not None:
        require_engine(KERAS_BENCH_ROWS[0])  # the install hint before any work
    specs = plan_specs(models, engines, device, threads)
    note = ncnn_note(specs, engines) if hint_ncnn else None
    if keras_model is not None:
        specs += [EngineSpec(kind, keras_model, "cpu", threads) for kind in KERAS_BENCH_ROWS]
    return BenchPlan(specs, sizes, note)


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,8"`` -> ``[1, 8]``; anything but positive integers is a one-line error."""
    try:
        sizes = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise AnimeDetectorError(f"--batch-sizes {text!r}: expected comma-separated "
                                 "positive integers, e.g. 1,8")
    return sizes
