"""Compute cost of an ONNX model: multiply-accumulates of its convolutions and matrix products.

``count_flops`` reports FLOPs as 2 x MACs of every ``Conv``, ``Gemm`` and ``MatMul`` at
a given batch size (1 by default), the convention of the GFLOPs figures quoted for
ImageNet networks. Element-wise ops, pooling and activations are left out (a few
percent at most). Needs ``onnx`` (the ``[bench]`` extra), imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FlopCount", "count_flops"]


@dataclass(frozen=True)
class FlopCount:
    """MACs per op type and the total in GFLOPs (2 x MACs / 1e9)."""

    macs: dict[str, int]

    @property
    def gflops(self) -> float:
        return 2.0 * sum(self.macs.values()) / 1e9


def _with_batch(model: Any, batch: int) -> Any:
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param or not dim.dim_value:
                dim.dim_value = batch  # every free axis of these models is the batch
    return onnx.shape_inference.infer_shapes(fixed)


def _shapes(model: Any) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        t.name: tuple(int(d) for d in t.dims) for t in model.graph.initializer}
    graph = model.graph
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.dim_value > 0 for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _node_macs(node: Any, shapes: dict[str, tuple[int, ...]]) -> int:
    out = shapes.get(node.output[0])
    if out is None:
        raise ValueError(f"no inferred shape for {node.op_type} output {node.output[0]!r}")
    if node.op_type == "Conv":
        kernel = shapes[node.input[1]]  # (M, C/group, kh, kw)
        return int(np.prod(out)) * int(np.prod(kernel[1:]))
    a = shapes[node.input[0]]
    trans_a = any(att.name == "transA" and att.i for att in node.attribute)
    inner = a[0] if node.op_type == "Gemm" and trans_a else a[-1]
    return int(np.prod(out)) * inner


def count_flops(model: Any | str | os.PathLike[str], batch: int = 1) -> FlopCount:
    """FLOPs of one forward pass of ``model`` (a path or ``onnx.ModelProto``) at ``batch``."""
    import onnx

    proto = onnx.load(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model
    inferred = _with_batch(proto, batch)
    shapes = _shapes(inferred)
    macs: dict[str, int] = {}
    for node in inferred.graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul"):
            macs[node.op_type] = macs.get(node.op_type, 0) + _node_macs(node, shapes)
    return FlopCount(macs)
