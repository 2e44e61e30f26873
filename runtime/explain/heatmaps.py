"""Grad-CAM heatmaps from the runtime alone: where the model sees anime.

Which score: the difference of the pre-softmax logits, ``z_anime - z_not_anime``. With
two classes ``p_anime = sigmoid(z_anime - z_not_anime)``, so this is exactly the
quantity the decision depends on; a single logit also carries a part common to both
classes that changes no decision (and whose gradient would colour the map with it).

How: ``anime-detector export`` adds two outputs to the model (see
:mod:`anime_detector.graphs.explain_head`): ``feature_map`` ``A`` (N, H, W, C), the tensor
global average pooling reduces (``block5_pool``, 7 x 7 x 512 for VGG19), and
``cam_weights`` ``w`` (N, C), the score's gradient with respect to ``A`` averaged over
positions, computed in the graph by explicit back-propagation through the dense head.
One ``session.run`` fetches ``output``, ``feature_map`` and ``cam_weights``, so the
forward pass is shared with the prediction; numpy then forms
``relu(sum_c w_c A[..., c])`` and scales it to [0, 1] (all zeros when nothing in the
picture argues for anime). A plain ``predict`` fetches only ``output``.

Only the onnxruntime engine can explain (it reads those outputs from the ``.onnx``).
``Detector.predict_iter(..., explain=True)`` and ``predict_files(..., explain_dir=...)``
(``predict --explain``, ``explain``) use this module; the batching is the Detector's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.contract import CAM_WEIGHTS, FEATURE_MAP
from anime_detector.errors import AnimeDetectorError, ModelError

__all__ = ["EXPLAIN_ENGINES", "check_engine", "explain_batch", "gradcam",
           "require_explain_outputs"]

EXPLAIN_ENGINES = ("onnxruntime",)


def gradcam(feature_map: NDArray[np.floating], cam_weights: NDArray[np.floating]
            ) -> NDArray[np.float32]:
    """``relu(sum_c w_c A[..., c])`` per image, divided by its maximum: (N, H, W) in [0, 1]."""
    cam = np.einsum("nhwc,nc->nhw", np.asarray(feature_map, np.float64),
                    np.asarray(cam_weights, np.float64))
    cam = np.maximum(cam, 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    scaled: NDArray[np.float64] = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)
    return scaled.astype(np.float32)


def require_explain_outputs(session: Any, path: str | os.PathLike[str]) -> None:
    """Raise a one-line :class:`ModelError` unless the model has the Grad-CAM outputs."""
    names = {o.name for o in session.get_outputs()}
    if not {FEATURE_MAP, CAM_WEIGHTS} <= names:
        backbone = session.get_modelmeta().custom_metadata_map.get("anime_detector.backbone", "")
        if str(backbone).startswith("file:"):  # trained on an encoder file (export says so)
            raise ModelError(path, "this model has no spatial feature map (its encoder gives "
                             "a vector), so it cannot be explained")
        raise ModelError(path, f"has no Grad-CAM outputs ({FEATURE_MAP}, {CAM_WEIGHTS}); it "
                         "was exported before `explain` existed: re-export it with "
                         "`anime-detector export`")


def explain_batch(session: Any, batch: NDArray[np.float32], input_name: str = "input",
                  output_name: str = "output") -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Probabilities (N, classes) and heatmaps (N, H, W) from ONE ``session.run``."""
    probs, feature_map, weights = session.run([output_name, FEATURE_MAP, CAM_WEIGHTS],
                                              {input_name: batch})
    return np.asarray(probs, dtype=np.float32), gradcam(feature_map, weights)


def check_engine(engine: str, model: str | os.PathLike[str] | None = None) -> None:
    """Refuse an engine (or a model file) that cannot explain, naming those that can."""
    can = ", ".join(EXPLAIN_ENGINES)
    if engine.lower() not in EXPLAIN_ENGINES:
        raise AnimeDetectorError(f"engine {engine!r} cannot explain; engines that can: {can} "
                                 "(Grad-CAM reads extra outputs of the exported .onnx)")
    if model is not None and Path(model).suffix.lower() != ".onnx":
        raise ModelError(model, f"explain needs an exported .onnx model (engines that can "
                         f"explain: {can}); export it with `anime-detector export`")

