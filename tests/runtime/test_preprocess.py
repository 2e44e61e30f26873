"""Preprocessing: pixel semantics, image modes, orientation and the spec round trip."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anime_detector.preprocessing import (
    DEFAULT_SPEC,
    PreprocessSpec,
    load_image,
    normalize,
    preprocess,
    preprocess_batch,
)

MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def test_solid_colour_matches_caffe_formula() -> None:
    out = preprocess(Image.new("RGB", (50, 30), (10, 20, 30)))
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], np.array([30, 20, 10]) - MEAN_BGR, rtol=0, atol=1e-4)


def test_every_source_kind_gives_the_same_array(tmp_path: Path) -> None:
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    path = tmp_path / "a.png"
    img.save(path)
    raw = path.read_bytes()
    expected = preprocess(path)
    for source in (str(path), raw, io.BytesIO(raw), img, np.asarray(img)):
        np.testing.assert_array_equal(preprocess(source), expected)


def test_resize_uses_antialiased_pillow_bilinear() -> None:
    img = Image.fromarray(np.random.default_rng(2).integers(0, 256, (500, 700, 3), dtype=np.uint8))
    manual = np.asarray(img.resize((224, 224), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(preprocess(img), normalize(manual))


def test_matches_keras_vgg19_preprocess_input() -> None:
    pytest.importorskip("tensorflow")
    from keras.applications.vgg19 import preprocess_input

    rgb = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3)).astype(np.uint8)
    ours = np.stack([preprocess(x) for x in rgb])
    theirs = np.asarray(preprocess_input(rgb.astype(np.float32)))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)


def test_spec_round_trips_through_json() -> None:
    spec = PreprocessSpec(height=128, width=96, resample="bicubic", channel_order="RGB",
                          mean=(1.0, 2.0, 3.0), scale=0.5)
    assert PreprocessSpec.from_json(spec.to_json()) == spec
    assert PreprocessSpec.from_json(DEFAULT_SPEC.to_json()) == DEFAULT_SPEC


def test_spec_rejects_unknown_filter() -> None:
    with pytest.raises(ValueError, match="resample"):
        PreprocessSpec(resample="magic")


def test_custom_spec_controls_size_and_order() -> None:
    spec = PreprocessSpec(height=32, width=16, channel_order="RGB", mean=(0, 0, 0), scale=2.0)
    out = preprocess(Image.new("RGB", (8, 8), (1, 2, 3)), spec)
    assert out.shape == (32, 16, 3)
    np.testing.assert_allclose(out[0, 0], [2, 4, 6])


def test_batch_stacks_and_handles_empty() -> None:
    imgs = [Image.new("RGB", (10, 10), (i, i, i)) for i in range(3)]
    assert preprocess_batch(imgs).shape == (3, 224, 224, 3)
    assert preprocess_batch([]).shape == (0, 224, 224, 3)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # A 40x20 image, left half red, stored with orientation 6 (rotate 90 clockwise to view).
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.size == (20, 40)
    top, bottom = np.asarray(upright)[2, 10], np.asarray(upright)[-3, 10]
    assert top[0] > 200 and bottom[0] < 60  # the red half is now on top


def test_alpha_is_composited_on_white() -> None:
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert np.asarray(load_image(img))[0, 0].tolist() == [255, 255, 255]


def test_sixteen_bit_grey_is_rescaled() -> None:
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I")
    assert np.asarray(load_image(img))[0, 0].tolist() == [255, 255, 255]


def test_cmyk_converts_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path)
    rgb = np.asarray(load_image(path))[8, 8]
    assert rgb[0] > 200 and rgb[1] < 60 and rgb[2] < 60
