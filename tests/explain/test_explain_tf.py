"""Grad-CAM from the runtime vs TensorFlow, and on a model trained to see a texture.

A real training run (the ``tiny`` stand-in backbone, flat drawings = anime, noisy
photo-alikes = not anime), exported by ``anime_detector.export.to_onnx``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from PIL import Image

from helpers.images import draw_flat, draw_noisy, write_class_folder

pytestmark = [pytest.mark.tf]
tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def texture_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train the tiny-backbone head on flat vs noisy images and export it (fp32)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from anime_detector.export import to_onnx
    from anime_detector.train import TrainConfig, train

    root = tmp_path_factory.mktemp("texture")
    data = write_class_folder(root / "data", per_class=16)
    train(TrainConfig(data_dir=data, out_dir=root / "run", weights=None, epochs=30,
                      batch_size=8, learning_rate=0.003, val_split=0.25,
                      cache_dir=root / "cache", backbone="tiny"), log=lambda _: None)
    to_onnx(root / "run" / "model.keras", root / "model.onnx", log=lambda _: None)
    return {"root": root, "data": data, "keras": root / "run" / "model.keras",
            "onnx": root / "model.onnx"}


def composite(seed: int, anime_left: bool) -> Image.Image:
    """224 x 224: one half a flat drawing (anime), the other a noisy photo-alike."""
    anime, other = draw_flat(seed, (112, 224)), draw_noisy(seed, (112, 224))
    image = Image.new("RGB", (224, 224))
    image.paste(anime if anime_left else other, (0, 0))
    image.paste(other if anime_left else anime, (112, 0))
    return image


def reference_gradcam(model: Any, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM of z_anime - z_not_anime with GradientTape: (weights (N, C), maps (N, H, W))."""
    import keras

    pool = model.get_layer("global_pool")  # the head's, by name: not the export's search
    last = model.layers[-1]
    probe = keras.Model(model.inputs, [pool.input, last.input])
    with tf.GradientTape() as tape:
        feature_map, penultimate = probe(tf.constant(batch), training=False)
        logits = tf.matmul(penultimate, last.kernel) + last.bias
        score = logits[:, 0] - logits[:, 1]
    grads = tape.gradient(score, feature_map).numpy()
    weights = grads.mean(axis=(1, 2))
    cam = np.maximum(np.einsum("nhwc,nc->nhw", feature_map.numpy(), weights), 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return weights, np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def test_runtime_gradcam_equals_tensorflow_gradient_tape(texture_run: dict[str, Path]) -> None:
    import keras

    from anime_detector.detector import load_explainer
    from anime_detector.explain.heatmaps import explain_batch
    from anime_detector.preprocessing import preprocess

    images = [composite(s, s % 2 == 0) for s in range(4)]
    images += [draw_flat(7), draw_noisy(7), draw_flat(8)]
    batch = np.stack([preprocess(img) for img in images])
    model = keras.models.load_model(texture_run["keras"], compile=False)
    ref_weights, ref_maps = reference_gradcam(model, batch)
    detector = load_explainer(texture_run["onnx"], device="cpu")
    probs, maps = explain_batch(detector.engine.session, batch)
    raw = detector.engine.session.run(["cam_weights"], {"input": batch})[0]
    assert np.allclose(raw, ref_weights, rtol=1e-4, atol=1e-6 * np.abs(ref_weights).max())
    assert maps.shape == ref_maps.shape == (len(images), 6, 6)
    assert np.abs(maps - ref_maps).max() < 1e-4
    assert np.abs(probs - np.asarray(model(batch, training=False))).max() < 1e-5
    busy = [(m > 0.05).sum() for m in ref_maps]
    assert sum(b >= 3 for b in busy) >= 3, busy  # the maps are not trivial


def test_anime_heat_lies_on_the_anime_half(texture_run: dict[str, Path],
                                           tmp_path: Path) -> None:
    from anime_detector.detector import load_explainer

    detector = load_explainer(texture_run["onnx"], device="cpu")
    shares = []
    for seed in range(100, 104):
        for anime_left in (True, False):
            path = tmp_path / f"composite-{seed}-{'left' if anime_left else 'right'}.png"
            composite(seed, anime_left).save(path)
            (result,) = detector.predict_iter([str(path)], explain=True)
            heat = result.heatmap  # type: ignore[union-attr]
            half = heat.shape[1] // 2
            on_anime = heat[:, :half] if anime_left else heat[:, half:]
            shares.append(float(on_anime.sum() / heat.sum()))
    assert np.mean(shares) > 0.7 and min(shares) > 0.5, shares


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_exports_keep_explain(texture_run: dict[str, Path], tmp_path: Path,
                                                precision: str) -> None:
    from anime_detector.detector import load_explainer
    from anime_detector.explain.heatmaps import explain_batch
    from anime_detector.export import to_onnx
    from anime_detector.preprocessing import preprocess

    out = tmp_path / f"{precision}.onnx"
    to_onnx(texture_run["keras"], out, precision=precision, log=lambda _: None,
            calibration_dir=texture_run["data"] if precision == "int8" else None)
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == ["output", "feature_map", "cam_weights"]
    assert any(p.key == "anime_detector.explain" for p in model.metadata_props)
    batch = np.stack([preprocess(composite(s, True)) for s in range(3)])
    _, maps = explain_batch(load_explainer(out, device="cpu").engine.session, batch)
    _, full = explain_batch(load_explainer(texture_run["onnx"], device="cpu").engine.session, batch)
    assert maps.shape == full.shape
    assert np.corrcoef(maps.ravel(), full.ravel())[0, 1] > 0.9


def test_light_backbone_explains_like_tensorflow(tmp_path: Path) -> None:
    """MobileNetV3's squeeze-and-excite blocks pool too: the head's pooling is still found,
    and the runtime's Grad-CAM equals GradientTape's on that backbone."""

    from anime_detector.detector import load_explainer
    from anime_detector.explain.heatmaps import explain_batch
    from anime_detector.export import to_onnx
    from anime_detector.preprocessing import preprocess
    from anime_detector.train.backbones import spec_for
    from anime_detector.train.model import build_model

    model = build_model(weights=None, backbone="mobilenetv3small")
    model.save(tmp_path / "m.keras")
    to_onnx(tmp_path / "m.keras", tmp_path / "m.onnx", log=lambda _: None)
    spec = spec_for("mobilenetv3small")
    batch = np.stack([preprocess(draw_flat(s), spec) for s in range(3)]
                     + [preprocess(draw_noisy(s), spec) for s in range(3)])
    ref_weights, ref_maps = reference_gradcam(model, batch)
    session = load_explainer(tmp_path / "m.onnx", device="cpu").engine.session
    raw = session.run(["cam_weights"], {"input": batch})[0]
    assert raw.shape == ref_weights.shape == (6, 576)
    assert np.allclose(raw, ref_weights, rtol=1e-3, atol=1e-5 * np.abs(ref_weights).max())
    _, maps = explain_batch(session, batch)
    assert maps.shape == ref_maps.shape == (6, 7, 7) and maps.max() > 0
    assert np.abs(maps - ref_maps).max() < 1e-3
