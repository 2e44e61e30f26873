"""tf2onnx conversion to the fixed I/O contract: ``input`` (N, 224, 224, 3) -> ``output``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from anime_detector.errors import ModelError, one_line
from anime_detector.export.loading import SourceModel
from anime_detector.preprocessing import DEFAULT_SPEC

__all__ = ["DEFAULT_OPSET", "convert_to_onnx", "rename_io"]

DEFAULT_OPSET = 17


def rename_io(model: Any, input_name: str = "input", output_name: str = "output") -> Any:
    """Rename the single graph input and output (and every reference to them)."""
    graph = model.graph
    renames = {graph.input[0].name: input_name, graph.output[0].name: output_name}
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    graph.input[0].name, graph.output[0].name = input_name, output_name
    return model


class _OneLineOptimizerFailures(logging.Filter):
    """tf2onnx logs a skipped optimizer with a full traceback; keep only the one line.

    MobileNetV3 (a scalar add after a bias-free convolution in hard-sigmoid) trips
    tf2onnx 1.17's transpose optimizer; the export is still correct, and onnxruntime
    removes the leftover NHWC/NCHW transposes itself when it loads the model.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Failed to apply"):
            record.exc_info, record.exc_text = None, None
            record.msg = str(record.msg) + " (tf2onnx skipped this graph optimization)"
        return True


@contextlib.contextmanager
def _quiet_optimizer_failures() -> Iterator[None]:
    logger, quiet = logging.getLogger("tf2onnx.optimizer"), _OneLineOptimizerFailures()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def convert_to_onnx(source: SourceModel, opset: int = DEFAULT_OPSET,
                    extra_outputs: Sequence[Any] = (), size: tuple[int, int] | None = None
                    ) -> Any:
    """Convert with tf2onnx (explicit input signature, as Keras 3 needs).

    ``extra_outputs`` (Keras tensors of the model) become graph outputs after ``output``,
    keeping the names tf2onnx gives them. ``size``: the input's (height, width), 224x224
    unless the model was trained on an encoder file of another size.
    """
    import keras
    import tensorflow as tf
    import tf2onnx

    height, width = size or (DEFAULT_SPEC.height, DEFAULT_SPEC.width)
    shape_in = (height, width, 3)
    signature = (tf.TensorSpec((None, *shape_in), tf.float32, name="input"),)
    with _quiet_optimizer_failures():
        try:
            if source.keras_model is not None:
                shape = tuple(source.keras_model.inputs[0].shape[1:])
                if shape != shape_in or len(source.keras_model.outputs) != 1:
                    raise ModelError(source.path, f"model takes {shape}, expected {shape_in} "
                                     "with one output")
                model = source.keras_model
                if extra_outputs:
                    model = keras.Model(model.inputs, [*model.outputs, *extra_outputs])
                proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature,
                                                      opset=opset)
            else:
                proto, _ = tf2onnx.convert.from_function(source.function,
                                                         input_signature=signature, opset=opset)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(source.path, f"tf2onnx conversion failed: {one_line(exc)}") from None
    return rename_io(proto)
