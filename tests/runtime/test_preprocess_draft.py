"""Reduced-scale JPEG decode (``spec.jpeg_draft``): same function for train and serve, small
pixel change, and the VGG19 spec (and its JSON, the feature-cache key) unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, load_image, preprocess
from anime_detector.train.data import decode

LIGHT = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0), scale=1.0, jpeg_draft=2)
LEGACY_JSON = json.dumps({"alpha_background": [255, 255, 255], "channel_order": "BGR",
                          "height": 224, "mean": [103.939, 116.779, 123.68],
                          "resample": "bilinear", "scale": 1.0, "width": 224}, sort_keys=True)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1600x1200 smooth photo-like JPEG (gradients, mild noise)."""
    yy, xx = np.mgrid[0:1200, 0:1600].astype(np.float32)
    arr = np.stack([xx / 8, yy / 6, (xx + yy) / 12], axis=-1) % 256
    arr += np.random.default_rng(0).normal(0, 6, arr.shape)
    path = tmp_path_factory.mktemp("jpeg") / "photo.jpg"
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_draft_decodes_at_a_reduced_scale_still_twice_the_target(photo: Path) -> None:
    assert load_image(photo, LIGHT, for_model=True).size == (800, 600)  # 1/2: >= 448 a side
    assert load_image(photo, LIGHT).size == (1600, 1200)  # display/annotate: full size
    assert load_image(photo, DEFAULT_SPEC, for_model=True).size == (1600, 1200)  # VGG19: off


def test_draft_changes_model_input_only_slightly(photo: Path) -> None:
    full = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0), scale=1.0)
    diff = np.abs(preprocess(photo, LIGHT) - preprocess(photo, full))
    assert diff.max() <= 8.0 and diff.mean() <= 1.0  # 0-255 pixel units


def test_training_decode_sees_the_same_pixels_as_the_runtime(photo: Path) -> None:
    np.testing.assert_array_equal(decode(photo, 0, 0, LIGHT), preprocess(photo, LIGHT))
    np.testing.assert_array_equal(decode(photo, 0, 0, DEFAULT_SPEC), preprocess(photo))


def test_vgg19_spec_json_is_unchanged_and_old_files_still_parse() -> None:
    assert DEFAULT_SPEC.to_json() == LEGACY_JSON
    assert PreprocessSpec.from_json(LEGACY_JSON) == DEFAULT_SPEC
    assert PreprocessSpec.from_json(LIGHT.to_json()) == LIGHT
    with pytest.raises(ValueError, match="jpeg_draft"):
        PreprocessSpec(jpeg_draft=-1)
