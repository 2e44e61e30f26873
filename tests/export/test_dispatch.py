"""What ``export`` checks before any work, per route (no TensorFlow needed to ask)."""

from __future__ import annotations

from pathlib import Path

from anime_detector.errors import TRAIN_HINT
from anime_detector.export.dispatch import (
    EXPORT_MODULES,
    NCNN_HINT,
    VERIFY_HINT,
    export_requirements,
)


def test_onnx_from_keras_needs_the_train_extra_then_onnxruntime_to_verify() -> None:
    keras = Path("run/model.keras")
    assert export_requirements(keras) == [(EXPORT_MODULES, TRAIN_HINT),
                                          (("onnxruntime",), VERIFY_HINT)]
    assert export_requirements(keras, verify=False) == [(EXPORT_MODULES, TRAIN_HINT)]
    assert export_requirements(keras, verify=False, precision="int8")[-1][1] == VERIFY_HINT


def test_ncnn_from_onnx_needs_no_tensorflow() -> None:
    assert export_requirements(Path("m.ONNX"), "ncnn") == [(("ncnn", "onnxruntime"), NCNN_HINT)]
    assert export_requirements(Path("m.keras"), "ncnn")[1] == (EXPORT_MODULES, TRAIN_HINT)
