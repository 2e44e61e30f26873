"""Backbones: head sizes, preprocessing parity with Keras, cache separation, the spec in ONNX.

The end-to-end run uses the smallest backbone (MobileNetV3Small, random weights).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.cli import run_cli
from helpers.images import write_class_folder

pytestmark = [pytest.mark.tf]
keras = pytest.importorskip("keras")

from anime_detector.contract import ModelContract  # noqa: E402
from anime_detector.preprocessing import DEFAULT_SPEC, preprocess  # noqa: E402
from anime_detector.train.backbones import (  # noqa: E402
    BACKBONES,
    UnknownBackboneError,
    get_backbone,
)

# (all parameters, trainable = the head only: 256*C + 256 + 256*128 + 128 + 128*2 + 2)
EXPECTED_PARAMS = {
    "vgg19": (20_188_866, 164_482),
    "mobilenetv3small": (1_119_986, 180_866),
    "mobilenetv3large": (3_275_522, 279_170),
    "efficientnetv2b0": (6_280_402, 361_090),
}


def test_registry_names_and_lookup() -> None:
    assert set(BACKBONES) == set(EXPECTED_PARAMS)
    assert get_backbone("MobileNetV3Small").key == "mobilenetv3small"
    assert get_backbone("efficientnet_v2_b0").key == "efficientnetv2b0"
    with pytest.raises(UnknownBackboneError, match="choose one of vgg19, mobilenetv3small"):
        get_backbone("resnet50")


@pytest.mark.parametrize("key", sorted(EXPECTED_PARAMS))
def test_parameter_counts_and_frozen_backbone(key: str) -> None:
    from anime_detector.train.model import build_parts

    with pytest.warns(UserWarning, match=f"the {BACKBONES[key].display} backbone is random"):
        parts = build_parts(weights=None, backbone=key)
    trainable = sum(int(np.prod(w.shape)) for w in parts.model.trainable_weights)
    assert (parts.model.count_params(), trainable) == EXPECTED_PARAMS[key]
    channels = BACKBONES[key].channels
    assert parts.extractor.output.shape[-1] == channels
    assert trainable == 256 * channels + 256 + 256 * 128 + 128 + 128 * 2 + 2
    head_weights = {id(w) for w in parts.head.weights}
    assert all(id(w) in head_weights for w in parts.model.trainable_weights)
    if key != "vgg19":  # 0-255 RGB spec because the network's first layer rescales
        assert isinstance(parts.model.layers[1], keras.layers.Rescaling)
        spec = BACKBONES[key].spec
        assert (spec.channel_order, spec.mean, spec.scale) == ("RGB", (0.0, 0.0, 0.0), 1.0)


@pytest.mark.parametrize("key", sorted(EXPECTED_PARAMS))
def test_preprocess_matches_the_backbones_keras_preprocessing(key: str) -> None:
    backbone = BACKBONES[key]
    module = importlib.import_module(f"keras.applications.{backbone.module}")
    rgb = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3)).astype(np.uint8)
    ours = np.stack([preprocess(x, backbone.spec) for x in rgb])
    theirs = np.asarray(module.preprocess_input(rgb.astype(np.float32)))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)


@pytest.mark.parametrize("key", sorted(EXPECTED_PARAMS))
def test_spec_round_trips_through_model_metadata(key: str) -> None:
    spec = BACKBONES[key].spec
    assert ModelContract.from_metadata(ModelContract(spec=spec).to_metadata()).spec == spec
    assert (spec == DEFAULT_SPEC) is (key == "vgg19")


def test_vgg19_cache_key_is_unchanged_and_backbones_never_share_entries(tmp_path: Path) -> None:
    import hashlib

    from anime_detector.train.data import discover
    from anime_detector.train.features import FeatureCache, backbone_fingerprint, extract_features
    from anime_detector.train.model import build_parts

    extractor = build_parts(weights=None, backbone="tiny").extractor
    legacy = hashlib.sha256(DEFAULT_SPEC.to_json().encode())  # caches on disk use this key
    for weight in extractor.weights:
        value = np.ascontiguousarray(weight.numpy())
        legacy.update(str(value.shape).encode())
        legacy.update(value.tobytes())
    assert backbone_fingerprint(extractor, DEFAULT_SPEC) == legacy.hexdigest()
    samples = discover(write_class_folder(tmp_path / "data", per_class=2))
    folders = []
    for key in ("vgg19", "mobilenetv3small", "mobilenetv3large"):
        cache = FeatureCache(tmp_path / "cache", backbone_fingerprint(extractor, DEFAULT_SPEC, key))
        extract_features(extractor, samples, cache, DEFAULT_SPEC, warn=lambda _: None)
        assert (cache.hits, cache.misses) == (0, 4)  # same weights, same images: still no hits
        folders.append(cache.folder)
    assert len(set(folders)) == 3
    files = [{p.name for p in f.rglob("*.npy")} for f in folders]  # type: ignore[union-attr]
    assert all(len(names) == 4 for names in files)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``train --backbone MobileNetV3Small --weights none`` then ``export``."""
    root = tmp_path_factory.mktemp("small")
    data = write_class_folder(root / "data", per_class=6)
    run, onnx_path = root / "run", root / "small.onnx"
    trained = run_cli("train", data, "--out", run, "--backbone", "MobileNetV3Small",
                      "--weights", "none", "--epochs", "2", "--batch-size", "4",
                      "--cache-dir", root / "cache")
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = run_cli("export", run / "model.keras", "--out", onnx_path, "--verify-dir", data)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "Traceback" not in exported.stderr
    return {"root": root, "data": data, "run": run, "onnx": onnx_path,
            "export_log": exported.stdout + exported.stderr}  # type: ignore[dict-item]


@pytest.mark.slow
def test_small_backbone_train_export_predict_eval_agree(small_run: dict[str, Path]) -> None:
    from anime_detector import Detector

    spec = BACKBONES["mobilenetv3small"].spec
    metrics = json.loads((small_run["run"] / "metrics.json").read_text())
    config = json.loads((small_run["run"] / "config.json").read_text())
    assert metrics["backbone"] == config["backbone"] == "mobilenetv3small"
    assert "backbone mobilenetv3small" in str(small_run["export_log"])
    det = Detector.load(small_run["onnx"], device="cpu")
    assert det.contract.spec == spec and det.contract.extra["backbone"] == "mobilenetv3small"
    images = sorted(small_run["data"].rglob("*.png"))
    model = keras.models.load_model(small_run["run"] / "model.keras")
    expected = np.asarray(model(np.stack([preprocess(p, spec) for p in images]), training=False))
    got = np.array([[p.probabilities["anime"], p.probabilities["not_anime"]]
                    for p in det.predict(images)])
    assert np.abs(got - expected).max() < 1e-5
    assert expected[:, 0].std() > 0.01  # scores differ between images: the check means something
    predicted = run_cli("predict", small_run["onnx"], small_run["data"], "-r", "-f", "json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines() if line.strip()]
    scores = {Path(r["path"]).name: r["score"] for r in rows}
    assert np.allclose([scores[p.name] for p in images], expected[:, 0], atol=1e-5)
    evaluated = run_cli("eval", small_run["run"] / "model.keras", small_run["data"],
                        "--compare", small_run["onnx"], "--format", "json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    payload = json.loads(evaluated.stdout)
    assert payload["report"]["confusion_matrix"] == payload["compare_report"]["confusion_matrix"]
    assert payload["comparison"]["max_abs_diff"] < 1e-5
