"""Export side of ``explain``: find the feature map and the dense head in the Keras model.

The feature map is the input of the model's last ``GlobalAveragePooling2D`` layer (the
head's; pools that keep their dims, as squeeze-and-excite blocks do, are skipped), found
by type (``block5_pool`` for VGG19, whatever the backbone). The head is what follows it:
``Dropout`` (the identity at inference), ``Dense`` layers with ReLU or no activation and
a last ``Dense`` giving the two class scores (softmax or linear). tf2onnx converts the
model with the feature map as a second output, then
:func:`anime_detector.graphs.explain_head.append_explain` writes the backward pass
through the head with onnx.helper. A model this does not recognise (a SavedModel folder, another
head) is exported without the explain outputs, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from anime_detector.contract import DEFAULT_LABELS, FEATURE_MAP, POSITIVE_LABEL
from anime_detector.export.keras_to_onnx import convert_to_onnx
from anime_detector.export.loading import SourceModel
from anime_detector.graphs.explain_head import DenseLayer, append_explain, explain_metadata

__all__ = ["ExplainHead", "NotExplainable", "convert_explainable", "dense_head",
           "find_explain_head"]


class NotExplainable(Exception):
    """The model's shape after pooling is not one ``explain`` knows; says why."""


@dataclass
class ExplainHead:
    """What the explain outputs are built from."""

    feature: Any  # the KerasTensor global average pooling reduces (NHWC)
    layer: str  # name of the layer producing it
    grid: tuple[int, int]
    channels: int
    dense: list[DenseLayer]


def _flat_layers(model: Any) -> Iterator[Any]:
    """Layers in order, with nested functional models (a backbone) expanded in place."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.__class__.__name__ in ("Functional", "Model"):
            yield from _flat_layers(layer)
        else:
            yield layer


def _dense(layer: Any, last: bool) -> DenseLayer:
    activation = getattr(layer.activation, "__name__", str(layer.activation))
    allowed = ("softmax", "linear") if last else ("relu", "linear")
    if activation not in allowed:
        raise NotExplainable(f"dense layer {layer.name!r} has activation {activation!r}")
    kernel = np.asarray(layer.kernel.numpy(), dtype=np.float32)
    bias = (np.asarray(layer.bias.numpy(), dtype=np.float32) if layer.use_bias
            else np.zeros(kernel.shape[1], np.float32))
    return DenseLayer(kernel, bias, relu=activation == "relu")


def dense_head(model: Any) -> list[DenseLayer]:
    """The dense layers of a head-only model (features in, two classes out)."""
    import keras

    denses = [x for x in _flat_layers(model) if isinstance(x, keras.layers.Dense)]
    if not denses or int(denses[-1].units) != 2:
        raise NotExplainable("the head does not end in a dense layer with two classes")
    return [_dense(x, i == len(denses) - 1) for i, x in enumerate(denses)]


def find_explain_head(model: Any) -> ExplainHead:
    """The feature map and dense head of ``model``; raises :class:`NotExplainable`."""
    import keras

    layers = list(_flat_layers(model))
    # The head's pooling is the last one that drops the spatial axes: squeeze-and-excite
    # blocks inside MobileNetV3 / EfficientNetV2 pool too, but keep their dims.
    pools = [i for i, layer in enumerate(layers)
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)
             and not getattr(layer, "keepdims", False)]
    if not pools:
        raise NotExplainable("no GlobalAveragePooling2D layer feeding the head")
    pool = layers[pools[-1]]
    if not any(layer is pool for layer in model.layers):
        raise NotExplainable("the global pooling is inside a nested model (the encoder's own)")
    if getattr(pool, "data_format", "channels_last") != "channels_last":
        raise NotExplainable("global pooling is not channels_last")
    after = layers[pools[-1] + 1:]
    unknown = [x.name for x in after if not isinstance(x, (keras.layers.Dense,
                                                           keras.layers.Dropout))]
    if unknown:
        raise NotExplainable(f"layers after global pooling that explain cannot follow: "
                             f"{', '.join(unknown)}")
    denses = [x for x in after if isinstance(x, keras.layers.Dense)]
    if not denses or int(denses[-1].units) != 2:
        raise NotExplainable("the head does not end in a dense layer with two classes")
    feature = pool.input
    shape = tuple(feature.shape)
    if len(shape) != 4 or None in shape[1:]:
        raise NotExplainable(f"feature map shape {shape} is not (batch, H, W, C)")
    history = getattr(feature, "_keras_history", None)
    layer = getattr(history[0], "name", "?") if history else "?"
    dense = [_dense(x, i == len(denses) - 1) for i, x in enumerate(denses)]
    return ExplainHead(feature, layer, (int(shape[1]), int(shape[2])), int(shape[3]), dense)


def _rename_output(model: Any, index: int, name: str) -> None:
    old = model.graph.output[index].name
    for node in model.graph.node:
        node.input[:] = [name if n == old else n for n in node.input]
        node.output[:] = [name if n == old else n for n in node.output]
    model.graph.output[index].name = name


def convert_explainable(source: SourceModel, opset: int, warn: Callable[[str], None],
                        size: tuple[int, int] | None = None
                        ) -> tuple[Any, dict[str, Any] | None]:
    """Convert ``source``; with the explain outputs and their metadata where possible."""
    reason = "a SavedModel folder has no Keras layers to follow"
    if source.keras_model is not None:
        try:
            head = find_explain_head(source.keras_model)
        except NotExplainable as exc:
            reason = str(exc)
        else:
            proto = convert_to_onnx(source, opset, extra_outputs=[head.feature], size=size)
            _rename_output(proto, 1, FEATURE_MAP)
            append_explain(proto, FEATURE_MAP, head.dense, DEFAULT_LABELS.index(POSITIVE_LABEL))
            return proto, explain_metadata(head.grid, head.channels, head.layer)
    warn(f"no explain outputs ({reason}); `anime-detector explain` will refuse this model")
    return convert_to_onnx(source, opset, size=size), None
