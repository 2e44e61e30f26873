"""Loading the model to export: ``.keras``, legacy ``.h5`` or a SavedModel folder.

Keras files load in safe mode (no code from Lambda layers) unless ``unsafe``.
The result is a :class:`SourceModel`: a callable from a preprocessed batch to
probabilities, plus whatever tf2onnx needs to convert it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.errors import ModelError, one_line
from anime_detector.preprocessing import DEFAULT_SPEC

__all__ = ["SourceModel", "load_source_model"]


@dataclass
class SourceModel:
    """A loaded model: ``predict`` maps an (N, 224, 224, 3) batch to (N, 2) probabilities."""

    path: Path
    kind: str  # "keras" | "h5" | "saved_model"
    predict: Callable[[np.ndarray], np.ndarray]
    keras_model: Any = None
    function: Any = None  # a tf.function for SavedModel folders
    owner: Any = None  # keeps a loaded SavedModel (and so its variables) alive


def _load_keras(path: Path, unsafe: bool) -> Any:
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as exc:
        text = one_line(exc, 10_000)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ModelError(path, "refused to load a Lambda layer's code in safe mode; "
                             "pass --unsafe only if you trust this file") from None
        raise ModelError(path, f"cannot load Keras model: {one_line(text)}") from None
    except Exception as exc:
        raise ModelError(path, f"cannot load Keras model: {one_line(exc)}") from None


def _load_saved_model(path: Path) -> SourceModel:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ModelError(path, f"cannot load SavedModel: {one_line(exc)}") from None
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise ModelError(path, "SavedModel has no serving_default signature")
    fn = signatures["serving_default"]
    (input_name,) = fn.structured_input_signature[1].keys()

    size = (None, DEFAULT_SPEC.height, DEFAULT_SPEC.width, 3)

    def first_output(x: Any) -> Any:
        out = fn(**{input_name: x})
        return next(iter(out.values()))

    call = tf.function(first_output,
                       input_signature=[tf.TensorSpec(size, tf.float32, name="input")])

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(call(tf.constant(batch, tf.float32)))

    return SourceModel(path, "saved_model", predict, function=call, owner=loaded)


def load_source_model(path: str | Path, unsafe: bool = False) -> SourceModel:
    """Load ``path`` for export; raises :class:`ModelError` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise ModelError(path, "no such model file or folder")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelError(path, "folder is not a SavedModel (no saved_model.pb)")
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(path, "expected a .keras file, a legacy .h5 file or a SavedModel folder")
    from anime_detector.train.model import load_saved_model_run

    model = load_saved_model_run(path) or _load_keras(path, unsafe)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(batch, training=False))

    return SourceModel(path, "keras" if suffix == ".keras" else "h5", predict, keras_model=model)
