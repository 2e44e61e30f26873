"""``train --backbone PATH`` on generated encoders: train, export, predict, explain; and the
encoder files that are refused, in one line with exit code 2, before any work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers.cli import invoke
from helpers.encoders import (
    keras_encoder,
    onnx_cumsum_encoder,
    onnx_encoder,
    onnx_rank3_input,
    onnx_token_output,
)

pytestmark = [pytest.mark.tf]
tf = pytest.importorskip("tensorflow")

COMMON = ("--epochs", "3", "--batch-size", "8", "--val-split", "0.25")


def _train(data: Path, out: Path, encoder: Path, *extra: str | Path) -> Any:
    return invoke("train", data, "--out", out, "--backbone", encoder, *COMMON, *extra)


@pytest.mark.parametrize("case, build, extra, reason", [
    ("not a model", lambda p: (p.write_text("not a model"), p)[1], ("--preprocess", "unit"),
     "not an ONNX model (cannot parse protobuf)"),
    ("rank-3 input", onnx_rank3_input, ("--preprocess", "unit"), "has rank 3"),
    ("dynamic size", lambda p: onnx_encoder(p, size=None), ("--preprocess", "unit"),
     "dynamic size (H x W); say which with --input-size"),
    ("two outputs", lambda p: onnx_encoder(p, outputs=("map", "vector")),
     ("--preprocess", "unit"), "has 2 outputs (map, vector); pick the features with "
                               "--backbone-output"),
    ("tokens", onnx_token_output, ("--preprocess", "unit"),
     "output 'tokens' has shape [1, 8, 64]: neither a feature map"),
    ("unknown preset", onnx_encoder, ("--preprocess", "vit"),
     "unknown --preprocess 'vit'; choose one of unit, tf, imagenet, caffe, clip"),
    ("no preset", onnx_encoder, (), "does not say how it wants its pixels: pass --preprocess"),
    ("not a keras model", lambda p: (p.with_suffix(".keras").write_text("x"),
                                     p.with_suffix(".keras"))[1],
     ("--preprocess", "unit"), "not a model: Keras cannot load it"),
])
def test_bad_encoder_files_fail_in_one_line_before_any_work(
        case: str, build: Any, extra: tuple[str, ...], reason: str, class_folder: Path,
        tmp_path: Path) -> None:
    encoder = build(tmp_path / "encoder.onnx")
    result = _train(class_folder, tmp_path / "run", encoder, *extra)
    assert result.returncode == 2, case
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert reason in lines[0], lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_pixel_options_are_refused_for_a_named_backbone(class_folder: Path,
                                                        tmp_path: Path) -> None:
    result = invoke("train", class_folder, "--out", tmp_path / "run", "--backbone", "tiny",
                    "--weights", "none", "--preprocess", "unit")
    assert result.returncode == 2
    assert "--preprocess: only for an encoder file" in result.stderr


ENCODERS = {
    "keras-map": (lambda p: keras_encoder(p.with_suffix(".keras")), ()),
    "keras-vector": (lambda p: keras_encoder(p.with_suffix(".keras"), output="vector"), ()),
    "keras-saved-model": (lambda p: keras_encoder(p.with_suffix("")), ()),
    "onnx-nchw": (lambda p: onnx_encoder(p), ()),
    "onnx-nhwc": (lambda p: onnx_encoder(p, layout="NHWC"), ("--head", "linear")),
    "onnx-opset21": (lambda p: onnx_encoder(p, opset=21), ()),  # newer than tf2onnx writes
    "onnx-dynamic": (lambda p: onnx_encoder(p, size=None), ("--input-size", "40")),
    "onnx-two-outputs": (lambda p: onnx_encoder(p, outputs=("map", "vector")),
                         ("--backbone-output", "vector")),
}


@pytest.fixture(scope="module", params=sorted(ENCODERS))
def encoder_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Any]:
    """Each generated encoder trained on and exported (fp32, verified on its images)."""
    from helpers.images import write_class_folder

    root = tmp_path_factory.mktemp(request.param)
    data = write_class_folder(root / "data", per_class=12)
    build, extra = ENCODERS[request.param]
    encoder = build(root / "encoder.onnx")
    trained = _train(data, root / "run", encoder, "--preprocess", "imagenet",
                     "--cache-dir", root / "cache", *extra)
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = invoke("export", root / "run" / "model.keras", "--out", root / "m.onnx",
                      "--verify-dir", data)
    assert exported.returncode == 0, exported.stderr[-3000:]
    return {"name": request.param, "data": data, "run": root / "run", "onnx": root / "m.onnx",
            "export": exported.stdout + exported.stderr, "root": root}


def test_export_equals_training_and_carries_the_spec(encoder_run: dict[str, Any]) -> None:
    from anime_detector.detector import Detector
    from anime_detector.preprocessing import PreprocessSpec

    images = sorted(encoder_run["data"].rglob("*.png"))[::3]
    exported = Detector.load(encoder_run["onnx"], device="cpu")
    trained = Detector.load(encoder_run["run"] / "model.keras", engine="keras")
    p_onnx = np.array([p.probabilities["anime"] for p in exported.predict(images)])
    p_keras = np.array([p.probabilities["anime"] for p in trained.predict(images)])
    assert np.abs(p_onnx - p_keras).max() < 1e-4
    recorded = json.loads((encoder_run["run"] / "backbone.json").read_text())["spec"]
    spec = PreprocessSpec.from_json(json.dumps(recorded))
    assert exported.contract.spec.std == spec.std == (0.229, 0.224, 0.225)
    size = 40 if encoder_run["name"] == "onnx-dynamic" else 32
    assert (exported.contract.spec.height, exported.contract.spec.width) == (size, size)
    assert exported.contract.spec.layout == "NHWC"  # every engine here feeds NHWC
    assert "max |dp|" in encoder_run["export"]


def test_predict_command_on_the_export(encoder_run: dict[str, Any]) -> None:
    image = next((encoder_run["data"] / "anime").glob("*.png"))
    result = invoke("predict", encoder_run["onnx"], image, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "anime" in result.stdout


def _reference_weights(run: dict[str, Any], batch: np.ndarray) -> np.ndarray:
    """d(z_anime - z_not_anime)/d(map) averaged over positions, by GradientTape."""
    import keras

    from anime_detector.train.encoder_file import OnnxFeatures, read_sidecar
    from anime_detector.train.model import load_saved_model_run

    path = run["run"] / "model.keras"
    model = load_saved_model_run(path) or keras.models.load_model(path, compile=False)
    info, _, _ = read_sidecar(run["run"] / "model.keras")  # type: ignore[misc]
    if info.kind == "onnx":
        session = OnnxFeatures(info).session
        fed = batch.transpose(0, 3, 1, 2) if info.layout == "NCHW" else batch
        (fmap,) = session.run(["map"], {info.input_name: fed})  # helpers.encoders' map
        fmap = fmap.transpose(0, 2, 3, 1) if info.layout == "NCHW" else fmap
        head_layers = model.layers[1:]
    else:
        pool = [x for x in model.layers if isinstance(x, keras.layers.GlobalAveragePooling2D)][-1]
        fmap = keras.Model(model.inputs, pool.input)(batch).numpy()
        head_layers = model.layers[model.layers.index(pool) + 1:]
    fmap = tf.constant(fmap)
    with tf.GradientTape() as tape:
        tape.watch(fmap)
        x = tf.reduce_mean(fmap, axis=(1, 2))
        for layer in head_layers[:-1]:
            x = layer(x, training=False)
        last = head_layers[-1]
        logits = tf.matmul(x, last.kernel) + last.bias
        score = logits[:, 0] - logits[:, 1]
    return tape.gradient(score, fmap).numpy().mean(axis=(1, 2))


def test_explain_matches_the_gradient_tape(encoder_run: dict[str, Any]) -> None:
    """Every encoder here has a map: an output, or the one its vector averages (a Keras
    pooling layer in the same graph, an ONNX GlobalAveragePool)."""
    from anime_detector.detector import load_explainer
    from anime_detector.preprocessing import preprocess

    images = sorted(encoder_run["data"].rglob("*.png"))[::4]
    assert "no explain outputs" not in encoder_run["export"]
    detector = load_explainer(encoder_run["onnx"], device="cpu")
    batch = np.stack([preprocess(p, detector.contract.spec) for p in images])
    (weights,) = detector.engine.session.run(["cam_weights"], {"input": batch})
    reference = _reference_weights(encoder_run, batch)
    r = np.corrcoef(weights.ravel(), reference.ravel())[0, 1]
    assert r >= 0.999 and np.allclose(weights, reference, rtol=1e-3,
                                      atol=1e-5 * np.abs(reference).max())


def test_int8_and_fp16_exports_run(encoder_run: dict[str, Any]) -> None:
    if encoder_run["name"] != "onnx-nchw":
        pytest.skip("one encoder is enough for reduced precision")
    for precision in ("fp16", "int8"):
        out = encoder_run["root"] / f"m-{precision}.onnx"
        result = invoke("export", encoder_run["run"] / "model.keras", "--out", out,
                        "--precision", precision, "--calibration-dir", encoder_run["data"],
                        "--verify-dir", encoder_run["data"])
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"onnx {precision} vs onnx fp32" in result.stdout + result.stderr


def test_a_vector_with_no_map_behind_it_cannot_be_explained(class_folder: Path,
                                                            tmp_path: Path) -> None:
    encoder = onnx_encoder(tmp_path / "flat.onnx", outputs=("flat",))
    trained = _train(class_folder, tmp_path / "run", encoder, "--preprocess", "unit",
                     "--head", "linear")
    assert trained.returncode == 0, trained.stderr[-2000:]
    exported = invoke("export", tmp_path / "run" / "model.keras", "--out", tmp_path / "m.onnx")
    assert exported.returncode == 0 and "no explain outputs" in exported.stdout
    image = next((class_folder / "anime").glob("*.png"))
    explained = invoke("explain", tmp_path / "m.onnx", image, "--out", tmp_path / "cam")
    assert explained.returncode == 2
    assert "this model has no spatial feature map" in explained.stderr


def test_eval_and_bench_on_the_export(encoder_run: dict[str, Any]) -> None:
    if encoder_run["name"] not in ("onnx-nchw", "keras-map"):
        pytest.skip("eval and bench read the contract the same way for every encoder")
    evaluated = invoke("eval", encoder_run["onnx"], encoder_run["data"], "--format", "json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["report"]["n"] == 24
    bench = invoke("bench", encoder_run["onnx"], "--engines", "onnxruntime", "--runs", "2",
                   "--warmup", "1", "--batch-sizes", "1", "--no-cold-start", "--images",
                   encoder_run["data"])
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "onnxruntime" in bench.stdout


def test_an_op_ncnn_lacks_is_named_in_one_line(class_folder: Path, tmp_path: Path) -> None:
    from anime_detector.export.convert import ExportError
    from anime_detector.export.ncnn import find_pnnx

    try:
        find_pnnx()
    except ExportError as exc:
        pytest.skip(str(exc))
    trained = _train(class_folder, tmp_path / "run", onnx_cumsum_encoder(tmp_path / "c.onnx"),
                     "--preprocess", "unit")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert invoke("export", tmp_path / "run" / "model.keras", "--out",
                  tmp_path / "m.onnx").returncode == 0
    result = invoke("export", tmp_path / "m.onnx", "--format", "ncnn", "--out", tmp_path / "n")
    assert result.returncode == 2 and not (tmp_path / "n").exists()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ncnn has no layer for CumSum" in errors[0], result.stderr


def test_explain_output_names_the_map_an_average_pool_reads(class_folder: Path,
                                                            tmp_path: Path) -> None:
    """An AveragePool over the whole map hides the map from export; --explain-output names
    it, export checks the vector is its average, and explain then works. A tensor that is
    not what the vector averages is one line, exit 2, nothing written."""
    encoder = onnx_encoder(tmp_path / "avg.onnx", outputs=("avgpool",))
    trained = _train(class_folder, tmp_path / "run", encoder, "--preprocess", "unit",
                     "--head", "linear")
    assert trained.returncode == 0, trained.stderr[-2000:]
    model = tmp_path / "run" / "model.keras"
    plain = invoke("export", model, "--out", tmp_path / "plain.onnx")
    assert plain.returncode == 0 and "no explain outputs" in plain.stdout
    named = invoke("export", model, "--out", tmp_path / "m.onnx", "--explain-output", "map_nchw")
    assert named.returncode == 0, named.stderr[-2000:]
    assert "no explain outputs" not in named.stdout
    image = next((class_folder / "anime").glob("*.png"))
    explained = invoke("explain", tmp_path / "m.onnx", image, "--out", tmp_path / "cam")
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert list((tmp_path / "cam").rglob("*.png"))
    wrong = invoke("export", model, "--out", tmp_path / "w.onnx", "--explain-output", "conv")
    assert wrong.returncode == 2
    assert wrong.stderr.count("error:") == 1 and "is not its average" in wrong.stderr
    assert not (tmp_path / "w.onnx").exists()
