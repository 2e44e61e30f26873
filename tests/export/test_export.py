"""Export: parity, metadata round trip, .h5 and SavedModel input, fp16/int8, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from helpers.cli import invoke, run_cli
from helpers.images import write_class_folder

pytestmark = [pytest.mark.tf]
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same head on the small stand-in backbone, for plumbing tests."""
    from anime_detector.train.model import build_model

    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    build_model(weights=None, backbone="tiny").save(path)
    return path


@pytest.mark.slow
def test_vgg19_export_is_faithful(vgg_export: dict[str, object],
                                  trained_run: dict[str, Path]) -> None:
    from anime_detector import Detector
    from anime_detector.preprocessing import preprocess

    assert "onnx fp32 vs keras" in str(vgg_export["stdout"])
    images = sorted(trained_run["data"].rglob("*.png"))
    batch = np.stack([preprocess(p) for p in images])
    model = keras.models.load_model(trained_run["run"] / "model.keras")
    expected = np.asarray(model(batch, training=False))
    det = Detector.load(vgg_export["path"], device="cpu")  # type: ignore[arg-type]
    got = np.array([[p.probabilities["anime"], p.probabilities["not_anime"]]
                    for p in det.predict(images)])
    assert np.abs(got - expected).max() < 1e-5
    assert expected[:, 0].std() > 0.1  # scores spread: the check means something


@pytest.mark.slow
def test_metadata_is_complete_and_runtime_needs_nothing_else(
        vgg_export: dict[str, object], trained_run: dict[str, Path]) -> None:
    model = onnx.load(str(vgg_export["path"]))
    props = {p.key: p.value for p in model.metadata_props}
    for key in ("labels", "preprocess", "threshold", "precision", "source_sha256",
                "versions", "verification"):
        assert f"anime_detector.{key}" in props
    assert json.loads(props["anime_detector.labels"]) == ["anime", "not_anime"]
    assert "tf2onnx" in json.loads(props["anime_detector.versions"])
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["output", "feature_map", "cam_weights"]
    assert json.loads(props["anime_detector.explain"])["layer"] == "block5_pool"
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # dynamic batch axis
    result = run_cli("predict", vgg_export["path"], trained_run["data"] / "anime", "-f", "json")
    assert result.returncode == 1  # broken.jpg is in there
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    labels = [r["label"] for r in rows if "label" in r]
    assert len(labels) == 16 and labels.count("anime") >= 12


def test_fp16_and_int8_plumbing_on_the_tiny_backbone(tiny_keras: Path, tmp_path: Path) -> None:
    data = write_class_folder(tmp_path / "data", per_class=4)
    refused = invoke("export", tiny_keras, "--out", tmp_path / "q.onnx", "--precision", "int8")
    assert refused.returncode == 2 and "--calibration-dir" in refused.stderr
    for precision, extra in (("int8", ["--calibration-dir", data]), ("fp16", [])):
        out = tmp_path / f"{precision}.onnx"
        result = invoke("export", tiny_keras, "--out", out, "--precision", precision,
                        "--verify-dir", data, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"onnx {precision} vs onnx fp32" in result.stdout
        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert props["anime_detector.precision"] == precision
        predicted = invoke("predict", out, data / "not_anime", "-f", "json")
        assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 4
    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


@pytest.mark.slow
def test_vgg19_int8_stays_close_to_fp32(trained_run: dict[str, Path], vgg_export: dict[str, object],
                                        tmp_path: Path) -> None:
    """The one real-network precision test: int8 VGG19 against its fp32 export."""
    from anime_detector import Detector

    out = tmp_path / "int8.onnx"
    result = invoke("export", trained_run["run"] / "model.keras", "--out", out, "--precision",
                    "int8", "--calibration-dir", trained_run["data"], "--no-verify")
    assert result.returncode == 0, result.stderr[-2000:]
    images = sorted((trained_run["data"] / "not_anime").glob("*.png"))
    fp32 = Detector.load(vgg_export["path"]).predict(images)  # type: ignore[arg-type]
    int8 = Detector.load(out).predict(images)
    assert Detector.load(out).info.precision == "int8"
    assert max(abs(a.score - b.score) for a, b in zip(fp32, int8, strict=True)) < 0.2


def test_tf2_keras_h5_exports_and_matches_tf215(tmp_path: Path) -> None:
    """A real tf.keras 2.15 ``.h5`` (tests/fixtures/make_tf2_h5.py) exports, and the ONNX
    file reproduces TensorFlow 2.15's own outputs."""
    import onnxruntime as ort
    from fixtures.make_tf2_h5 import HERE, probe_batch

    out = tmp_path / "from_h5.onnx"
    result = invoke("export", HERE / "tf2_keras215_tiny_head.h5", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(h5)" in result.stderr
    expected = np.load(HERE / "tf2_keras215_expected.npz")
    assert str(expected["tensorflow"]).startswith("2.15")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": probe_batch()})[0]
    assert np.abs(got - expected["probabilities"]).max() < 1e-5


def test_saved_model_folder_exports(tiny_keras: Path, tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    keras.models.load_model(tiny_keras).export(folder)
    out = tmp_path / "from_sm.onnx"
    result = invoke("export", folder, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "onnx fp32 vs keras" in result.stdout


def test_safe_mode_refuses_a_lambda_layer(tmp_path: Path) -> None:
    inp = keras.Input((224, 224, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x)).save(path)
    result = invoke("export", path, "--out", tmp_path / "x.onnx")
    assert result.returncode == 2 and "safe mode" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.onnx").exists()


def test_failed_verification_leaves_nothing_and_keeps_the_old_file(
        tiny_keras: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")
    result = invoke("export", tiny_keras, "--out", out, "--atol", "-1")
    assert result.returncode == 2 and "nothing written" in result.stderr
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_interrupt_mid_write_leaves_no_partial_file(tiny_keras: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from anime_detector.export import to_onnx

    def interrupted(*args: object, **kwargs: object) -> None:
        Path(str(args[1])).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        to_onnx(tiny_keras, tmp_path / "m.onnx", log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_not_a_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.keras"
    bad.write_text("hello")
    result = invoke("export", bad, "--out", tmp_path / "x.onnx")
    assert result.returncode == 2 and "cannot load Keras model" in result.stderr
