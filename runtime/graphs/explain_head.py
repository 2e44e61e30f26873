"""The graph half of ``explain``: Grad-CAM weights computed inside the ONNX model.

onnxruntime has no gradient op at inference, but the gradient Grad-CAM needs only
crosses the small dense head, so it can be written as ordinary forward ops. Given
the tensor that global average pooling reduces (``A``, NHWC, the *feature map*) and
the head's dense layers (kernel, bias, ReLU or not; dropout is the identity at
inference), :func:`append_explain` adds to a model:

- ``feature_map`` (N, H, W, C): ``A`` itself, as a graph output;
- ``cam_weights`` (N, C): ``d(z_anime - z_not_anime) / dA`` averaged over the H x W
  positions, where ``z`` are the pre-softmax logits. For two classes
  ``p_anime = sigmoid(z_anime - z_not_anime)``, so this difference is exactly the
  quantity the decision depends on; one logit alone also carries a part common to
  both classes that changes no decision.

The backward pass: the head is re-run from ``ReduceMean(A)`` (a few small Gemms) to get
the ReLU masks, then ``g = w_anime - w_not_anime`` (the last kernel's column difference)
goes back through each layer as ``g = (g * mask) @ W^T``. Since ``f = mean_hw(A)``,
``dS/dA[h, w, c] = dS/df[c] / (H * W)`` for every position, so the average over
positions is ``dS/df / (H * W)``. The runtime then forms ``relu(sum_c w_c A[..., c])``.

Export (``anime_detector.export``) and the bench reference graph both call this; it
needs ``onnx`` and numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import CAM_WEIGHTS, FEATURE_MAP

__all__ = ["SCORE", "DenseLayer", "append_explain",
           "explain_metadata"]

SCORE = "z_anime - z_not_anime (pre-softmax logits)"


@dataclass(frozen=True)
class DenseLayer:
    """One dense layer of the head: ``y = x @ kernel + bias``, then ReLU if ``relu``."""

    kernel: NDArray[np.float32]  # (inputs, units)
    bias: NDArray[np.float32]  # (units,)
    relu: bool


def explain_metadata(grid: tuple[int, int], channels: int, layer: str) -> dict[str, Any]:
    """The ``anime_detector.explain`` metadata value describing the extra outputs."""
    return {
        "method": "grad-cam",
        "score": SCORE,
        "outputs": {FEATURE_MAP: f"(N, {grid[0]}, {grid[1]}, {channels}) the tensor global "
                                 f"average pooling reduces (layer {layer})",
                    CAM_WEIGHTS: f"(N, {channels}) d(score)/d{FEATURE_MAP} averaged over "
                                 "positions"},
        "grid": list(grid),
        "layer": layer,
    }


def _opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)


def _forward(h: Any, pooled: str, head: Sequence[DenseLayer]) -> tuple[list[Any], list[str]]:
    """Nodes re-running the hidden layers; returns them and each layer's ReLU mask (or "")."""
    nodes, masks, x = [], [], pooled
    for i, layer in enumerate(head[:-1]):
        pre = f"explain/pre{i}"
        nodes.append(h.make_node("Gemm", [x, f"explain/W{i}", f"explain/b{i}"], [pre]))
        if layer.relu:
            nodes += [h.make_node("Greater", [pre, "explain/zero"], [f"explain/pos{i}"]),
                      h.make_node("Cast", [f"explain/pos{i}"], [f"explain/mask{i}"], to=1),
                      h.make_node("Relu", [pre], [f"explain/act{i}"])]
            masks.append(f"explain/mask{i}")
            x = f"explain/act{i}"
        else:
            masks.append("")
            x = pre
    return nodes, masks


def _backward(h: Any, head: Sequence[DenseLayer], masks: list[str]) -> tuple[list[Any], str]:
    """Nodes carrying ``dS/d(last hidden)`` back to ``dS/d(pooled)``; returns them and the name."""
    nodes, g = [], "explain/g_top"
    for i in reversed(range(len(head) - 1)):
        if masks[i]:
            nodes.append(h.make_node("Mul", [g, masks[i]], [f"explain/gm{i}"]))
            g = f"explain/gm{i}"
        nodes.append(h.make_node("Gemm", [g, f"explain/W{i}"], [f"explain/g{i}"], transB=1))
        g = f"explain/g{i}"
    return nodes, g


def append_explain(model: Any, feature_map: str, head: Sequence[DenseLayer],
                   positive: int = 0) -> None:
    """Add the ``feature_map`` and ``cam_weights`` outputs to ``model`` (in place).

    Args:
        model: an ``onnx.ModelProto``; its existing outputs keep their place and values.
        feature_map: name of the NHWC tensor global average pooling reduces.
        head: the dense layers after pooling, the last one giving the two logits.
        positive: index of the explained class (``anime``) among the two logits.
    """
    from onnx import TensorProto, helper, numpy_helper

    last = head[-1]
    if last.kernel.shape[1] != 2 or last.relu:
        raise ValueError("explain needs a last dense layer with two linear logits")
    graph = model.graph
    nodes = []
    if feature_map != FEATURE_MAP:
        nodes.append(helper.make_node("Identity", [feature_map], [FEATURE_MAP]))
    g_top = (last.kernel[:, positive] - last.kernel[:, 1 - positive]).astype(np.float32)
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "explain/zero"),
             numpy_helper.from_array(g_top[None, :], "explain/g_top")]
    for i, layer in enumerate(head[:-1]):
        inits += [numpy_helper.from_array(layer.kernel.astype(np.float32), f"explain/W{i}"),
                  numpy_helper.from_array(layer.bias.astype(np.float32), f"explain/b{i}")]
    if _opset(model) >= 18:
        inits.append(numpy_helper.from_array(np.array([1, 2], np.int64), "explain/hw_axes"))
        nodes.append(helper.make_node("ReduceMean", [FEATURE_MAP, "explain/hw_axes"],
                                      ["explain/pooled"], keepdims=0))
    else:
        nodes.append(helper.make_node("ReduceMean", [FEATURE_MAP], ["explain/pooled"],
                                      axes=[1, 2], keepdims=0))
    forward, masks = _forward(helper, "explain/pooled", head)
    backward, grad = _backward(helper, head, masks)
    if len(head) == 1:  # no hidden layer: the same gradient for every image, (N, C)
        backward = [helper.make_node("Mul", ["explain/pooled", "explain/zero"], ["explain/z0"]),
                    helper.make_node("Add", ["explain/z0", "explain/g_top"], ["explain/g0"])]
        grad = "explain/g0"
    nodes += [*forward, *backward, *_average(helper, numpy_helper, inits, grad)]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    if FEATURE_MAP not in (o.name for o in graph.output):
        graph.output.append(helper.make_tensor_value_info(FEATURE_MAP, TensorProto.FLOAT,
                                                          ["N", None, None, None]))
    graph.output.append(helper.make_tensor_value_info(CAM_WEIGHTS, TensorProto.FLOAT,
                                                      ["N", None]))


def _average(helper: Any, numpy_helper: Any, inits: list[Any], grad: str) -> list[Any]:
    """``cam_weights = grad / (H * W)``, H and W read from the feature map's shape."""
    inits += [numpy_helper.from_array(np.array([1], np.int64), "explain/hw_start"),
              numpy_helper.from_array(np.array([3], np.int64), "explain/hw_end")]
    return [
        helper.make_node("Shape", [FEATURE_MAP], ["explain/shape"]),
        helper.make_node("Slice", ["explain/shape", "explain/hw_start", "explain/hw_end"],
                         ["explain/hw"]),
        helper.make_node("ReduceProd", ["explain/hw"], ["explain/positions_i"], keepdims=0),
        helper.make_node("Cast", ["explain/positions_i"], ["explain/positions"], to=1),
        helper.make_node("Div", [grad, "explain/positions"], [CAM_WEIGHTS]),
    ]
