"""ncnn: conversion keeps the contract, is verified and atomic; parity with onnxruntime fp32."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from anime_detector.engines.base import Engine
from anime_detector.errors import DeviceError, ModelError
from anime_detector.onnx_metadata import read_contract, read_metadata

from helpers.onnx_models import (
    SAMPLE,
    classifier,
    onnxruntime_fp32,
    sample_batch,
    save,
    save_small_vgg,
)

pytest.importorskip("ncnn")
from anime_detector.engines import ncnn as ncnn_engine  # noqa: E402
from anime_detector.export.convert import ExportError  # noqa: E402
from anime_detector.export.ncnn import find_pnnx, to_ncnn  # noqa: E402


def _need_pnnx() -> None:
    try:
        find_pnnx()
    except ExportError:
        pytest.skip("pnnx is not installed (pip install --no-deps pnnx)")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_small_vgg(tmp_path_factory.mktemp("onnx") / "small.onnx")


@pytest.fixture(scope="module")
def converted(small: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    _need_pnnx()
    out = tmp_path_factory.mktemp("ncnn") / "small-ncnn"
    logged: list[str] = []
    to_ncnn(small, out, verify_dir=SAMPLE, threads=1, log=logged.append)
    return out, logged


def test_folder_carries_the_onnx_contract(small: Path, converted: tuple[Path, list[str]]
                                          ) -> None:
    folder, logged = converted
    assert sorted(p.name for p in folder.iterdir()) == [
        "anime_detector.json", "model.ncnn.bin", "model.ncnn.param"]
    manifest = json.loads((folder / "anime_detector.json").read_text())
    assert (manifest["input"], manifest["output"], manifest["input_layout"]) == (
        "in0", "out0", "NHWC")
    onnx_props, props = read_metadata(small), manifest["metadata"]
    for key, value in onnx_props.items():
        if not key.endswith(".versions"):
            assert props[key] == value, key
    assert set(json.loads(props["anime_detector.versions"])) >= {"test", "pnnx", "ncnn"}
    checks = json.loads(props["anime_detector.ncnn_verification"])
    assert checks["images"] == f"50 images from {SAMPLE} (25 anime, 25 not_anime)"
    assert checks["checks"][0]["candidate"] == "ncnn fp32"
    assert checks["checks"][0]["max_abs_diff"] <= 1e-5
    engine = ncnn_engine.load(folder)
    original = read_contract(small)
    assert (engine.contract.labels, engine.contract.spec, engine.contract.threshold) == (
        original.labels, original.spec, original.threshold)
    assert engine.contract.extra["source_sha256"] == original.extra["source_sha256"]
    assert any("ncnn fp32 vs onnx fp32 on 50 images" in line for line in logged)


def test_thin_input_convolutions_run_as_gemm(converted: tuple[Path, list[str]]) -> None:
    """The 3x3 convolution from 8 to 16 channels carries featmask 64 (Winograd off) and is
    listed in the manifest; the others keep ncnn's choice. Parity is checked below."""
    folder, _ = converted
    manifest = json.loads((folder / "anime_detector.json").read_text())
    assert list(manifest["layer_options"].values()) == [
        "Winograd off (featmask 64): 8 input channels"]
    convs = [line.split() for line in (folder / "model.ncnn.param").read_text().splitlines()
             if line.startswith("Convolution")]
    outputs = [int(c[6].removeprefix("0=")) for c in convs]
    assert outputs == [8, 8, 16, 16]
    assert [c[1] for c in convs if "31=64" in c] == list(manifest["layer_options"]) == [
        convs[2][1]]
    assert f"layer option: {convs[2][1]}: Winograd off (featmask 64): 8 input channels" in \
        converted[1]


def test_parity_with_onnxruntime(small: Path, converted: tuple[Path, list[str]]) -> None:
    folder, _ = converted
    batch = sample_batch(read_contract(small).spec)
    reference = onnxruntime_fp32(small, batch)
    fp32 = ncnn_engine.load(folder / "anime_detector.json", threads=1)
    assert isinstance(fp32, Engine) and fp32.info.precision == "fp32"
    out = fp32.run(batch)
    assert out.dtype == np.float32 and out.shape == (len(batch), 2)
    np.testing.assert_allclose(out, reference, atol=1e-5)
    fp16 = ncnn_engine.load(folder, precision="fp16", threads=1)
    assert fp16.info.precision == _fp16_on_this_cpu()
    assert np.abs(fp16.run(batch) - reference).max() < 1e-2
    with pytest.raises(ValueError, match=r"expected a \(N, 32, 32, 3\) batch"):
        fp32.run(batch[:, :16])


def test_concurrent_runs_agree(converted: tuple[Path, list[str]]) -> None:
    folder, _ = converted
    engine = ncnn_engine.load(folder, threads=1)
    batch = sample_batch(engine.contract.spec, per_class=2)
    expected = engine.run(batch)
    results: list[np.ndarray] = []
    workers = [threading.Thread(target=lambda: results.append(engine.run(batch)))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == 3 and all(np.array_equal(r, expected) for r in results)


def test_failed_verification_leaves_nothing(small: Path, tmp_path: Path) -> None:
    _need_pnnx()
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="ncnn fp32 differs .* > --atol 0; nothing written"):
        to_ncnn(small, out, atol=0.0, threads=1, log=lambda _: None)  # 16 generated images
    assert list(tmp_path.iterdir()) == []


def test_destination_rules(small: Path, converted: tuple[Path, list[str]],
                           tmp_path: Path) -> None:
    _need_pnnx()
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(ExportError, match="photos: exists and is not an ncnn model folder"):
        to_ncnn(small, other, threads=1, log=lambda _: None)
    assert (other / "keep.jpg").exists()
    again = tmp_path / "again"
    shutil.copytree(converted[0], again)
    (again / "model.ncnn.param").write_text("7767517\n0 0\n")  # spoil, then replace
    with pytest.raises(ModelError, match="ncnn cannot load"):
        ncnn_engine.load(again)
    to_ncnn(small, again, threads=1, log=lambda _: None)
    ncnn_engine.load(again)


def test_only_fp32_exports_are_converted(tmp_path: Path) -> None:
    import onnx

    from anime_detector.contract import KEYS

    from helpers.onnx_models import build_small_vgg

    model = build_small_vgg()
    next(p for p in model.metadata_props if p.key == KEYS.precision).value = "fp16"
    path = tmp_path / "fp16.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match="fp16.onnx: is a fp16 export; convert the fp32"):
        to_ncnn(path, tmp_path / "out", threads=1, log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_loading_errors(tmp_path: Path, converted: tuple[Path, list[str]]) -> None:
    with pytest.raises(ModelError, match="no such model folder"):
        ncnn_engine.load(tmp_path / "nope")
    with pytest.raises(ModelError, match="not an ncnn model folder"):
        ncnn_engine.load(tmp_path)
    (tmp_path / "anime_detector.json").write_text("{\"format\": \"other\"}")
    with pytest.raises(ModelError, match="not an anime-detector-ncnn manifest"):
        ncnn_engine.load(tmp_path)
    manifest = json.loads((converted[0] / "anime_detector.json").read_text())
    (tmp_path / "anime_detector.json").write_text(json.dumps({**manifest, "bin": "../x.bin"}))
    with pytest.raises(ModelError, match="bin must name a file in the folder, got '../x.bin'"):
        ncnn_engine.folder_files(tmp_path)  # what batch ships: never a path outside
    assert ncnn_engine.is_ncnn_model(converted[0]) and not ncnn_engine.is_ncnn_model(tmp_path
                                                                                     / "x")
    with pytest.raises(DeviceError, match="CPU only"):
        ncnn_engine.load(converted[0], device="cuda")
    with pytest.raises(DeviceError, match="no precision 'bf16'"):
        ncnn_engine.load(converted[0], precision="bf16")


def test_cli_export_format_ncnn_then_predict_and_bench_pick_ncnn(small: Path,
                                                                 tmp_path: Path) -> None:
    """`export --format ncnn` from an .onnx, then `predict` (engine auto) and `bench` on it."""
    from helpers.cli import invoke

    _need_pnnx()
    out = tmp_path / "cli-ncnn"
    result = invoke("export", small, "--format", "ncnn", "--out", out, "--verify-dir", SAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out} (ncnn")
    image = sorted((SAMPLE / "anime").iterdir())[0]
    ncnn_rows = invoke("predict", out, image, "-f", "json", "-v")
    ort_rows = invoke("predict", small, image, "-f", "json")
    assert ncnn_rows.returncode == 0 and "model " in ncnn_rows.stderr and "ncnn" in ncnn_rows.stderr
    a, b = json.loads(ncnn_rows.stdout), json.loads(ort_rows.stdout)
    assert abs(a["score"] - b["score"]) < 1e-5
    bench = invoke("bench", small, out, "--batch-sizes", "1", "--runs", "2", "--warmup", "0",
                   "--no-cold-start", "--format", "json", "--images", SAMPLE / "anime")
    rows = json.loads(bench.stdout)["results"]
    ncnn = [r for r in rows if r["engine"] == "ncnn"]
    assert [r["precision"] for r in ncnn][:1] == ["fp32"] and len(ncnn) == 2
    assert all(r["max_abs_dp"] < 1e-3 for r in ncnn)


def test_explain_capable_export_converts_and_keeps_its_probabilities(tmp_path: Path) -> None:
    """An export with the Grad-CAM outputs (output, feature_map, cam_weights) converts: ncnn
    serves ``output``; the extra outputs stay unextracted."""
    from helpers.onnx_models import save_explain_model

    _need_pnnx()
    model = save_explain_model(tmp_path / "explain.onnx")
    out = tmp_path / "explain-ncnn"
    to_ncnn(model, out, verify_dir=SAMPLE, threads=1, log=lambda _: None)
    manifest = json.loads((out / "anime_detector.json").read_text())
    assert manifest["output"] == "out0"
    batch = sample_batch(read_contract(model).spec)
    got = ncnn_engine.load(out, threads=1).run(batch)
    assert np.abs(got - onnxruntime_fp32(model, batch)).max() < 1e-4


def _rescale_pad_model(path: Path) -> Path:
    """Like a MobileNetV3 export's start: rescaling in place on the input (x/127.5 - 1) and an
    explicit Pad before a strided convolution (Keras ZeroPadding2D)."""
    from onnx import helper, numpy_helper

    from anime_detector.contract import ModelContract
    from anime_detector.preprocessing import PreprocessSpec

    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(np.array(1 / 127.5, np.float32), "scale"),
            numpy_helper.from_array(np.array(-1.0, np.float32), "shift"),
            numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"),
            numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.normal(0, 0.3, (8, 2)).astype(np.float32), "D")]
    nodes = [helper.make_node("Mul", ["input", "scale"], ["m"]),
             helper.make_node("Add", ["m", "shift"], ["a"]),
             helper.make_node("Transpose", ["a"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Pad", ["t", "pads"], ["p"]),
             helper.make_node("Conv", ["p", "W"], ["c"], kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "D"], ["l"]),
             helper.make_node("Softmax", ["l"], ["output"], axis=-1)]
    spec = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0))
    return save(classifier(nodes, init, "rescale_pad", contract=ModelContract(spec=spec)), path)


def test_in_place_rescaling_and_explicit_pad_convert_and_run(tmp_path: Path) -> None:
    """MobileNetV3/EfficientNetV2 exports: ncnn has no Pad layer (folded before pnnx), and
    the first layer rescales its input in place (ncnn must own that input)."""
    _need_pnnx()
    model = _rescale_pad_model(tmp_path / "rescale.onnx")
    out = tmp_path / "rescale-ncnn"
    to_ncnn(model, out, verify_dir=SAMPLE, threads=1, log=lambda _: None)
    assert "Pad " not in (out / "model.ncnn.param").read_text()
    batch = sample_batch(read_contract(model).spec)
    got = ncnn_engine.load(out, threads=1).run(batch)
    assert np.abs(got - onnxruntime_fp32(model, batch)).max() < 1e-4


def test_bench_without_an_ncnn_folder_says_how_to_make_one(small: Path) -> None:
    from helpers.cli import invoke

    refused = invoke("bench", small, "--engines", "ncnn", "--no-cold-start")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "error: no model given runs on ncnn; ncnn runs converted folders: anime-detector "
        "export MODEL.onnx --format ncnn --out MODEL-ncnn, then bench MODEL.onnx MODEL-ncnn")
    timed = invoke("bench", small, "--batch-sizes", "1", "--runs", "1", "--warmup", "0",
                   "--no-cold-start", "--format", "json")
    assert timed.returncode == 0, timed.stderr
    assert "note: ncnn is installed but not timed; ncnn runs converted folders" in timed.stderr
    assert "ncnn" not in {r["engine"] for r in json.loads(timed.stdout)["results"]}


def _fp16_on_this_cpu() -> str:
    """What ncnn's fp16 means here, from /proc/cpuinfo's flags (not from ncnn): fp16
    arithmetic on ARMv8.2 (asimdhp), fp16 weight storage on x86 with AVX, else fp32."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags.update(line.split(":", 1)[1].split())
    if "asimdhp" in flags:
        return "fp16"
    return "fp16-weights" if "avx" in flags else "fp32"
