"""Accuracy-aware int8: try quantization recipes, fastest first, until a tolerance holds.

``to_int8`` quantizes with one recipe. On a real encoder one recipe can cost answers (a
MobileNet's depthwise convolutions and ReLU6 ranges quantize badly), so export asks
:func:`tune_int8` instead, as Intel Neural Compressor's ``accuracy_criterion`` and Optimum
do: quantize with a recipe, measure the result against fp32 on held-out images (label
agreement, mean |dp|), and stop at the first recipe that meets the tolerance. The recipes,
in the order tried:

1. per-channel weights with MinMax, then Percentile activation ranges (not Entropy:
   :data:`CALIBRATION_METHODS` says why);
2. the most sensitive convolutions kept in fp32, 1, 2, 4, ... of them. Sensitivity is
   measured once, on the calibration images: how many dB of signal-to-quantization-noise
   ratio (SQNR, against fp32) each convolution's output loses over its input;
3. every depthwise convolution kept in fp32; then the first and last ones too.

Each try costs one calibration pass and one run over the check images; ``max_seconds``
bounds the whole search. What was chosen, the nodes left in fp32, the fidelity reached
and the speed against fp32 on this CPU go into the exported file's contract.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.export.precision import prepare_for_int8, quantize_prepared
from anime_detector.export.verify import Comparison, compare, cpu_session, onnx_predict

__all__ = ["DEFAULT_TOLERANCE", "Int8Recipe", "Int8Tolerance", "Int8Tuning", "Int8TuningError",
           "first_recipes", "node_sensitivity", "speed_vs_fp32", "speeds_vs_fp32", "tune_int8"]

# onnxruntime's Entropy calibration, as quantize_static runs it (128 histogram bins into 128
# quantized bins), has one threshold to choose from unless a later image widens the
# histogram, and clips it to the tensor's min and max: MinMax's range, for another full
# calibration pass (docs/engines-and-precisions.md has the files it made);
# tests/export/test_int8_tuning.py fails if an onnxruntime upgrade changes that.
CALIBRATION_METHODS = ("MinMax", "Percentile")
EXCLUDE_STEPS = (1, 2, 4, 8, 16)
MAX_FP32_SHARE = 0.5  # of the convolutions: a recipe keeping more in fp32 is not tried
SQNR_CAP_DB = 80.0  # an input that fp32 and int8 share exactly (the image itself)


class Int8TuningError(RuntimeError):
    """No recipe met the tolerance (or the time ran out): nothing is to be written."""


@dataclass(frozen=True)
class Int8Tolerance:
    """How close to fp32 an int8 file must stay on the check images."""

    min_agreement: float = 0.98
    max_mean_delta: float = 0.02

    def met_by(self, check: Comparison) -> bool:
        return (check.label_agreement >= self.min_agreement
                and check.mean_abs_diff <= self.max_mean_delta)

    def line(self) -> str:
        return (f"label agreement >= {self.min_agreement:.0%}, "
                f"mean |dp| <= {self.max_mean_delta:g}")


@dataclass(frozen=True)
class Int8Recipe:
    """One way to quantize: the calibration method and the nodes kept in fp32."""

    name: str
    calibrate: str = "MinMax"
    keep_fp32: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "calibrate": self.calibrate,
                "keep_fp32": list(self.keep_fp32)}


@dataclass
class Int8Tuning:
    """What :func:`tune_int8` tried and chose."""

    model: Any
    recipe: Int8Recipe
    check: Comparison
    tolerance: Int8Tolerance
    tried: list[tuple[Int8Recipe, Comparison]] = field(default_factory=list)
    sensitivity: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    speedup: float | None = None
    bf16_speedup: float | None = None  # OpenVINO bf16 on the fp32 file, where measured

    def summary(self) -> dict[str, Any]:
        """The record written into the contract (``anime_detector.int8``)."""
        return {
            "recipe": self.recipe.to_dict(),
            "tolerance": asdict(self.tolerance),
            "fidelity": {"images": self.check.images,
                         "label_agreement": round(self.check.label_agreement, 4),
                         "mean_abs_diff": float(f"{self.check.mean_abs_diff:.3g}"),
                         "max_abs_diff": float(f"{self.check.max_abs_diff:.3g}")},
            "tried": len(self.tried),
            "tuning_seconds": round(self.seconds, 1),
            "speedup_vs_fp32": None if self.speedup is None else round(self.speedup, 2),
            "openvino_bf16_speedup_vs_fp32": (None if self.bf16_speedup is None
                                              else round(self.bf16_speedup, 2)),
        }

    def line(self) -> str:
        kept = (f", {len(self.recipe.keep_fp32)} node(s) kept in fp32: "
                f"{', '.join(self.recipe.keep_fp32[:4])}"
                f"{' ...' if len(self.recipe.keep_fp32) > 4 else ''}"
                if self.recipe.keep_fp32 else "")
        speed = "" if self.speedup is None else f"; {self.speedup:.2f}x fp32 speed on this CPU"
        if self.bf16_speedup is not None:
            speed += f" (OpenVINO bf16: {self.bf16_speedup:.2f}x)"
        return (f"int8 recipe {self.recipe.name!r} (try {len(self.tried)}, "
                f"{self.seconds:.0f} s){kept}: {self.check.line()}{speed}")


def first_recipes() -> list[Int8Recipe]:
    """The recipes that keep every node quantized: one per calibration method."""
    return [Int8Recipe(f"all nodes, {method}", method) for method in CALIBRATION_METHODS]


def _convs(model: Any) -> list[Any]:
    return [node for node in model.graph.node if node.op_type == "Conv"]


def _is_depthwise(node: Any) -> bool:
    return any(a.name == "group" and a.i > 1 for a in node.attribute)


def _with_outputs(model: Any, names: list[str]) -> bytes:
    """``model`` with ``names`` added as float outputs (to read intermediate tensors)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    have = {o.name for o in copy.graph.output}
    for name in names:
        if name not in have:
            copy.graph.output.append(onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, None))
    serialized: bytes = copy.SerializeToString()
    return serialized


def _sqnr_db(signal: float, noise: float) -> float:
    """Signal-to-noise ratio in dB from the summed squares, capped at :data:`SQNR_CAP_DB`."""
    if noise == 0.0 or signal == 0.0:
        return SQNR_CAP_DB
    return min(SQNR_CAP_DB, 10.0 * float(np.log10(signal / noise)))


def node_sensitivity(fp32: Any, int8: Any, batch: np.ndarray) -> list[tuple[str, float]]:
    """Convolutions, most sensitive first: the dB of SQNR (int8 vs fp32) each one loses
    between its input and its output on ``batch``. Both models run an image at a time and
    only the sums of squares are kept, so memory is one image's activations, not the batch's."""
    convs = [node for node in _convs(fp32) if node.name]
    names = sorted({t for node in convs for t in (node.input[0], node.output[0])})
    graph_inputs = {i.name for i in fp32.graph.input}
    tensor_names = [n for n in names if n not in graph_inputs]
    reference, quantized = (cpu_session(_with_outputs(model, tensor_names))
                            for model in (fp32, int8))
    signal = dict.fromkeys(tensor_names, 0.0)
    noise = dict.fromkeys(tensor_names, 0.0)
    for i in range(len(batch)):
        feed = {"input": batch[i : i + 1]}
        for name, ref, got in zip(tensor_names, reference.run(tensor_names, feed),
                                  quantized.run(tensor_names, feed), strict=True):
            ref64 = np.asarray(ref, dtype=np.float64)
            signal[name] += float(np.sum(ref64 ** 2))
            noise[name] += float(np.sum((ref64 - got) ** 2))
    sqnr = {n: _sqnr_db(signal[n], noise[n]) for n in tensor_names}
    drops = [(node.name, sqnr.get(node.input[0], SQNR_CAP_DB) - sqnr[node.output[0]])
             for node in convs]
    return sorted(drops, key=lambda item: -item[1])


def _later_recipes(fp32: Any, calibrate: str,
                   sensitivity: list[tuple[str, float]]) -> Iterator[Int8Recipe]:
    """The recipes that keep some convolutions in fp32, fewest first; never more than
    :data:`MAX_FP32_SHARE` of them (past that the file is not int8 in any useful sense)."""
    convs = _convs(fp32)
    ranked = [name for name, _ in sensitivity]
    depthwise = tuple(node.name for node in convs if _is_depthwise(node))
    candidates = [
        *(Int8Recipe(f"{count} most sensitive conv(s) in fp32, {calibrate}", calibrate,
                     tuple(ranked[:count])) for count in EXCLUDE_STEPS if count < len(ranked)),
        Int8Recipe(f"depthwise convs in fp32, {calibrate}", calibrate, depthwise),
        Int8Recipe(f"depthwise, first and last convs in fp32, {calibrate}", calibrate,
                   tuple(dict.fromkeys((*depthwise, convs[0].name, convs[-1].name)))
                   if convs else ()),
    ]
    seen: set[tuple[str, ...]] = set()
    for recipe in candidates:
        kept = recipe.keep_fp32
        if kept and kept not in seen and len(kept) <= MAX_FP32_SHARE * len(convs):
            seen.add(kept)
            yield recipe


DEFAULT_TOLERANCE = Int8Tolerance()


def tune_int8(fp32: Any, calibration: np.ndarray, check_batch: np.ndarray, target: str,
              tolerance: Int8Tolerance = DEFAULT_TOLERANCE, *, max_seconds: float = 600.0,
              log: Callable[[str], None] = print) -> Int8Tuning:
    """The first recipe whose int8 model meets ``tolerance`` against fp32 on ``check_batch``.

    Raises:
        Int8TuningError: no recipe met it within ``max_seconds``; the message names the
            best fidelity reached.
    """
    start = time.perf_counter()
    fp32 = prepare_for_int8(fp32)  # the node names that recipes keep in fp32
    reference = onnx_predict(fp32.SerializeToString(), check_batch)
    tried: list[tuple[Int8Recipe, Comparison]] = []
    sensitivity: list[tuple[str, float]] = []
    all_int8: dict[str, Any] = {}  # the every-conv model of each calibration method

    def attempt(recipe: Int8Recipe) -> Int8Tuning | None:
        model = quantize_prepared(fp32, calibration, target, calibrate=recipe.calibrate,
                                  keep_fp32=recipe.keep_fp32)
        if not recipe.keep_fp32:
            all_int8[recipe.calibrate] = model
        check = compare(reference, onnx_predict(model.SerializeToString(), check_batch),
                        "onnx fp32", f"int8 [{recipe.name}]")
        tried.append((recipe, check))
        log(f"int8 try {len(tried)}: {check.line()}")
        if tolerance.met_by(check):
            return Int8Tuning(model, recipe, check, tolerance, tried, sensitivity,
                              time.perf_counter() - start)
        return None

    def out_of_time() -> bool:
        return time.perf_counter() - start > max_seconds

    for recipe in first_recipes():
        found = attempt(recipe)
        if found is not None:
            return found
        if out_of_time():
            raise _failure(tried, tolerance, max_seconds)
    calibrate = max(tried, key=lambda item: _score(item[1]))[0].calibrate
    sensitivity[:] = node_sensitivity(fp32, all_int8[calibrate],
                                      calibration[: min(16, len(calibration))])
    log("int8 sensitivity (dB of SQNR lost): " + ", ".join(
        f"{name} {drop:.1f}" for name, drop in sensitivity[:5]))
    for recipe in _later_recipes(fp32, calibrate, sensitivity):
        if out_of_time():
            break
        found = attempt(recipe)
        if found is not None:
            return found
    raise _failure(tried, tolerance, max_seconds)


def _score(check: Comparison) -> tuple[float, float]:
    return (check.label_agreement, -check.mean_abs_diff)


def _failure(tried: list[tuple[Int8Recipe, Comparison]], tolerance: Int8Tolerance,
             max_seconds: float) -> Int8TuningError:
    recipe, best = max(tried, key=lambda item: _score(item[1]))
    return Int8TuningError(
        f"no int8 recipe met the tolerance ({tolerance.line()}) in {len(tried)} tries "
        f"(at most {max_seconds:.0f} s); best: {recipe.name!r}, label agreement "
        f"{best.label_agreement:.1%}, mean |dp| {best.mean_abs_diff:.3f}; nothing written. "
        "Try --precision fp16, or ncnn's fp16 weights (--format ncnn)")


def speed_vs_fp32(fp32: Any, int8: Any, image: np.ndarray, rounds: int = 5,
                  runs: int = 10) -> float:
    """fp32 time / int8 time at batch 1 on this CPU, interleaved rounds, median of each."""
    return speeds_vs_fp32(fp32, int8, image, rounds, runs, bf16=False)["int8"]


def speeds_vs_fp32(fp32: Any, int8: Any, image: np.ndarray, rounds: int = 5,
                   runs: int = 10, bf16: bool = True, round_s: float = 0.1
                   ) -> dict[str, float]:
    """fp32 time over each other's at batch 1 on this CPU, interleaved rounds, medians:
    ``int8`` (onnxruntime), and with ``bf16`` also ``openvino bf16`` (the fp32 file) where
    the CPU computes bf16 natively and openvino is installed. Each engine runs ``runs``
    times a round, fewer where fp32 would take over ``round_s`` (one run of a VGG19 takes
    about that), so the check stays about a second whatever the network."""
    def session(model: bytes) -> Callable[[dict[str, np.ndarray]], Any]:
        s = cpu_session(model, spin=False)
        return lambda feed: s.run(["output"], feed)

    fp32_bytes = fp32.SerializeToString()  # both fp32 engines read it
    runners = {"fp32": session(fp32_bytes), "int8": session(int8.SerializeToString())}
    with tempfile.TemporaryDirectory() as tmp:
        openvino = _openvino_bf16(fp32_bytes, Path(tmp)) if bf16 else None
        if openvino is not None:
            runners["openvino bf16"] = openvino
        feed = {"input": image[None] if image.ndim == 3 else image[:1]}
        times: dict[str, list[float]] = {name: [] for name in runners}
        for warm in runners.values():
            warm(feed)
        runs = max(1, min(runs, int(round_s / max(1e-6, _seconds(runners["fp32"], feed)))))
        for _ in range(rounds):
            for name, run in runners.items():
                began = time.perf_counter()
                for _ in range(runs):
                    run(feed)
                times[name].append((time.perf_counter() - began) / runs)
    fp32_time = float(np.median(times.pop("fp32")))
    return {name: fp32_time / float(np.median(t)) for name, t in times.items()}


def _seconds(run: Callable[[dict[str, np.ndarray]], Any], feed: dict[str, np.ndarray]
             ) -> float:
    began = time.perf_counter()
    run(feed)
    return time.perf_counter() - began


def _openvino_bf16(fp32: bytes, folder: Path) -> Callable[[dict[str, np.ndarray]], Any] | None:
    """OpenVINO running the serialized ``fp32`` model in bf16, or None where the CPU lacks
    native bf16 or openvino is not installed."""
    from anime_detector.engines.base import EngineUnavailable
    from anime_detector.engines.cpu import import_engine
    from anime_detector.engines.openvino import compile_for_cpu, has_bf16
    from anime_detector.system import cpu_flags

    if not has_bf16(cpu_flags()):
        return None
    try:
        ov = import_engine("openvino")
    except EngineUnavailable:
        return None
    path = folder / "fp32.onnx"
    path.write_bytes(fp32)
    core = ov.Core()
    request = compile_for_cpu(core, core.read_model(str(path)), "bf16").create_infer_request()
    return lambda feed: request.infer({0: feed["input"]})
