"""Accuracy-aware int8: a node that breaks under int8 is found and kept in fp32.

The model is built with onnx.helper: conv1 -> Relu -> conv2, whose output has one channel
a thousand times wider than the others, -> conv3, which reads only the narrow channels ->
pooling -> a dense layer -> softmax. Quantizing conv3's input to 8 bits per tensor wipes out
the narrow channels (their values fall inside one step of the wide range), so every
all-quantized recipe flips answers; keeping conv3 in fp32 restores them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from anime_detector.export.int8_tuning import (  # noqa: E402
    CALIBRATION_METHODS,
    Int8Tolerance,
    Int8TuningError,
    first_recipes,
    node_sensitivity,
    tune_int8,
)
from anime_detector.export.precision import prepare_for_int8, to_int8  # noqa: E402

SIZE = 8


def fragile_model(seed: int = 0) -> Any:
    """The fragile network, its decision bias set so that half of :func:`images` are
    each class (an answer near the boundary is what int8 noise can flip)."""
    unbiased = _fragile(seed, np.zeros(2, np.float32))
    logits = np.log(run(unbiased, images(64, 99)))
    margin = np.median(logits[:, 0] - logits[:, 1])
    return _fragile(seed, np.array([-margin / 2, margin / 2], np.float32))


def _fragile(seed: int, bias: np.ndarray) -> Any:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32)
    b2 = np.zeros(8, np.float32)
    w2[0] = np.abs(w2[0]) * 1000.0  # channel 0: a thousand times wider than the rest
    b2[0] = 500.0
    w3 = rng.normal(0, 0.5, (8, 8, 3, 3)).astype(np.float32)
    w3[:, 0] = 0.0  # conv3 ignores the wide channel: its answer lives in the narrow ones
    dense = rng.normal(0, 2.0, (8, 2)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w1, "w1"), (w2, "w2"), (b2, "b2"), (w3, "w3"), (dense, "dense"),
              (bias, "bias"))]
    nodes = [
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["nchw", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["wide"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Conv", ["wide", "w3"], ["c3"], pads=[1, 1, 1, 1], name="conv3"),
        helper.make_node("GlobalAveragePool", ["c3"], ["pooled4"], name="pool"),
        helper.make_node("Flatten", ["pooled4"], ["pooled"], name="flatten"),
        helper.make_node("MatMul", ["pooled", "dense"], ["scores"], name="dense"),
        helper.make_node("Add", ["scores", "bias"], ["logits"], name="bias"),
        helper.make_node("Softmax", ["logits"], ["output"], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes, "fragile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def images(n: int, seed: int) -> np.ndarray:
    """Noise with a brightness and a colour cast of its own per image."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 1, (n, SIZE, SIZE, 3))
    cast = rng.uniform(0, 1, (n, 1, 1, 3))
    return (0.3 * noise + 0.7 * cast).astype(np.float32)


def run(model: Any, batch: np.ndarray) -> np.ndarray:
    from anime_detector.export.verify import onnx_predict

    return onnx_predict(model.SerializeToString(), batch)


def test_plain_int8_breaks_the_fragile_model() -> None:
    model, calib, check = fragile_model(), images(32, 1), images(32, 2)
    agree = (run(model, check).argmax(1) == run(to_int8(model, calib, "vnni"),
                                                check).argmax(1)).mean()
    assert agree < 0.9  # the premise: one recipe alone costs answers


def test_sensitivity_ranks_the_node_that_reads_the_wide_tensor_first() -> None:
    model = prepare_for_int8(fragile_model())
    calib = images(16, 1)
    ranking = node_sensitivity(model, to_int8(model, calib, "vnni"), calib)
    assert ranking[0][0] == "conv3", ranking


def test_tuning_keeps_the_fragile_node_in_fp32_and_meets_the_tolerance() -> None:
    lines: list[str] = []
    tuning = tune_int8(fragile_model(), images(32, 1), images(32, 2), "vnni",
                       Int8Tolerance(min_agreement=0.98, max_mean_delta=0.02), log=lines.append)
    assert "conv3" in tuning.recipe.keep_fp32
    assert tuning.check.label_agreement >= 0.98 and tuning.check.mean_abs_diff <= 0.02
    first = [recipe.name for recipe in first_recipes()]  # all quantized: tried first, failed
    assert [recipe.name for recipe, _ in tuning.tried[:len(first)]] == first
    assert len(tuning.tried) > len(first)
    assert any("sensitivity" in line and "conv3" in line for line in lines)
    summary = tuning.summary()
    assert "conv3" in summary["recipe"]["keep_fp32"]
    assert "conv3" in tuning.line()
    # what was kept in fp32 really is float: no QDQ pair feeds conv3 any more
    conv3 = next(n for n in tuning.model.graph.node if n.name == "conv3")
    producers = {o: n.op_type for n in tuning.model.graph.node for o in n.output}
    assert producers.get(conv3.input[0]) != "DequantizeLinear"


def test_an_unreachable_tolerance_is_one_line_naming_the_best() -> None:
    with pytest.raises(Int8TuningError) as caught:
        tune_int8(fragile_model(), images(16, 1), images(16, 2), "vnni",
                  Int8Tolerance(min_agreement=1.0, max_mean_delta=0.0), max_seconds=60,
                  log=lambda line: None)
    message = str(caught.value)
    assert "\n" not in message
    assert "no int8 recipe met the tolerance" in message and "best:" in message
    assert "nothing written" in message and "fp16" in message


def test_every_node_has_a_name_a_recipe_can_keep() -> None:
    """An unnamed node would be kept in fp32 by an empty name, with every other unnamed one."""
    from helpers.onnx_models import build_small_vgg

    prepared = prepare_for_int8(build_small_vgg())
    names = [node.name for node in prepared.graph.node]
    assert all(names) and len(set(names)) == len(names)


def test_onnxruntimes_entropy_calibration_is_minmax_so_the_search_skips_it() -> None:
    """Why :data:`CALIBRATION_METHODS` leaves Entropy out: quantize_static's Entropy ranges
    are MinMax's, on real images through a VGG-shaped network. If an onnxruntime upgrade
    makes them differ, this fails: then Entropy is a recipe worth trying again."""
    from anime_detector.preprocessing import PreprocessSpec

    from helpers.onnx_models import build_small_vgg, sample_batch

    model = build_small_vgg()
    calibration = sample_batch(PreprocessSpec(height=32, width=32))  # build_small_vgg's size

    def quantization_params(method: str) -> dict[str, np.ndarray]:
        quantized = to_int8(model, calibration, "vnni", calibrate=method)
        return {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer
                if t.name.endswith(("_scale", "_zero_point"))}

    minmax, entropy = quantization_params("MinMax"), quantization_params("Entropy")
    assert minmax and minmax.keys() == entropy.keys()
    assert all(np.array_equal(minmax[name], entropy[name]) for name in minmax)
    assert "Entropy" not in CALIBRATION_METHODS
    percentile = quantization_params("Percentile")  # the comparison can tell methods apart
    assert any(not np.array_equal(minmax[name], percentile[name]) for name in minmax)


def test_the_quantizer_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """onnxruntime's histogram calibrators print() their progress; export's stdout is its
    own (the lines it reports), so they are kept off it."""
    to_int8(fragile_model(), images(8, 1), "vnni", calibrate="Percentile")
    assert capsys.readouterr().out == ""
