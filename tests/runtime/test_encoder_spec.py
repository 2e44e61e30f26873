"""Encoder preprocessing: presets, explicit values, layout and resize mode, and the contract."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from anime_detector.contract import ModelContract
from anime_detector.encoder_spec import PRESETS, encoder_spec
from anime_detector.preprocessing import DEFAULT_SPEC, PreprocessSpec, normalize, preprocess

# A contract's spec exactly as files exported before std/layout/resize existed carry it.
OLD_SPEC_JSON = ('{"alpha_background": [255, 255, 255], "channel_order": "BGR", "height": 224, '
                 '"mean": [103.939, 116.779, 123.68], "resample": "bilinear", "scale": 1.0, '
                 '"width": 224}')


def _pixels(seed: int = 0, shape: tuple[int, int] = (224, 224)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_an_old_contract_reads_and_preprocesses_exactly_as_before() -> None:
    spec = PreprocessSpec.from_json(OLD_SPEC_JSON)
    assert spec == DEFAULT_SPEC
    assert spec.to_json() == OLD_SPEC_JSON  # feature-cache keys unchanged too
    pixels = _pixels()
    before = pixels.astype(np.float32)[..., ::-1] - np.array([103.939, 116.779, 123.68],
                                                             np.float32)
    np.testing.assert_array_equal(normalize(pixels, spec), before)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_the_contract(name: str) -> None:
    spec = encoder_spec(name, (160, 192), layout="NCHW")
    props = ModelContract(spec=spec).to_metadata()
    assert ModelContract.from_metadata(props).spec == spec


def test_presets_compute_the_usual_formulas() -> None:
    pixels = _pixels(1)
    x = pixels.astype(np.float64)
    expected = {
        "unit": x / 255,
        "tf": x / 127.5 - 1,
        "imagenet": (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
        "caffe": x[..., ::-1] - [103.939, 116.779, 123.68],
        "clip": (x / 255 - [0.48145466, 0.4578275, 0.40821073])
        / [0.26862954, 0.26130258, 0.27577711],
    }
    for name, want in expected.items():
        got = normalize(pixels, encoder_spec(name, (224, 224)))
        np.testing.assert_allclose(got, want, atol=2e-4, err_msg=name)


def test_explicit_values_override_the_preset() -> None:
    spec = encoder_spec("imagenet", (224, 224), mean=[0.5], std=[0.5, 0.25, 0.5],
                        channel_order="bgr", resize="center-crop")
    assert spec.channel_order == "BGR" and spec.resize == "center-crop"
    assert spec.mean == (127.5, 127.5, 127.5) and spec.std == (0.5, 0.25, 0.5)
    pixels = _pixels(2)
    want = (pixels[..., ::-1].astype(np.float64) / 255 - 0.5) / [0.5, 0.25, 0.5]
    np.testing.assert_allclose(normalize(pixels, spec), want, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"mean": [1, 2]}, "--mean takes one or three"),
    ({"scale": 0.0}, "--scale must be positive"),
    ({"std": [0, 1, 1]}, "std must be three positive"),
    ({"channel_order": "rgbx"}, "--channel-order must be RGB or BGR"),
    ({"resize": "fit"}, "--resize must be one of squash, center-crop"),
])
def test_impossible_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encoder_spec("unit", (224, 224), **kwargs)  # type: ignore[arg-type]


def test_an_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown --preprocess 'vit'; choose one of unit, tf"):
        encoder_spec("vit", (224, 224))


def test_nchw_is_the_nhwc_array_transposed() -> None:
    image = Image.fromarray(_pixels(3, (300, 200)))
    nhwc = preprocess(image, encoder_spec("imagenet", (64, 96)))
    nchw = preprocess(image, encoder_spec("imagenet", (64, 96), layout="NCHW"))
    assert nhwc.shape == (64, 96, 3) and nchw.shape == (3, 64, 96)
    np.testing.assert_array_equal(nchw, nhwc.transpose(2, 0, 1))


def test_center_crop_keeps_the_middle_and_squash_keeps_everything() -> None:
    # 300 wide, 100 high: red left third, green middle, blue right third.
    arr = np.zeros((100, 300, 3), np.uint8)
    arr[:, :100, 0], arr[:, 100:200, 1], arr[:, 200:, 2] = 255, 255, 255
    unit = encoder_spec("unit", (50, 50))
    crop = preprocess(Image.fromarray(arr), encoder_spec("unit", (50, 50), resize="center-crop"))
    squash = preprocess(Image.fromarray(arr), unit)
    inner = crop[:, 4:-4]  # (bilinear blends the band edges)
    assert inner[..., 1].min() > 0.99 and inner[..., [0, 2]].max() < 0.01  # only the middle
    assert squash[:, 2, 0].min() > 0.99 and squash[:, -3, 2].min() > 0.99  # all three bands
