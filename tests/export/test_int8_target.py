"""int8 target: 7-bit weights only for AVX2 without VNNI; the choice lands in the metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from anime_detector.export.precision import resolve_int8_target, to_int8
from anime_detector.preprocessing import PreprocessSpec
from anime_detector.system import parse_flags

from helpers.onnx_models import SAMPLE, build_small_vgg, sample_batch

ZEN4 = "flags\t\t: fpu sse4_2 avx2 avx512f avx512_bf16 avx512_vnni\n"
ALDER_LAKE = "flags\t\t: fpu avx2 avx_vnni\n"
HASWELL = "flags\t\t: fpu sse4_2 avx avx2 fma\n"


@pytest.mark.parametrize("target, text, machine, expected", [
    ("auto", ZEN4, "x86_64", "vnni"),
    ("auto", ALDER_LAKE, "x86_64", "vnni"),
    ("auto", HASWELL, "x86_64", "avx2"),
    ("auto", "Features\t: fp asimd asimddp\n", "aarch64", "arm64"),
    ("avx2", ZEN4, "x86_64", "avx2"),
    ("vnni", HASWELL, "x86_64", "vnni"),
])
def test_target_resolution(target: str, text: str, machine: str, expected: str) -> None:
    assert resolve_int8_target(target, parse_flags(text), machine) == expected


def test_unknown_target() -> None:
    with pytest.raises(ValueError, match="unknown int8 target 'avx512'; choose one of auto"):
        resolve_int8_target("avx512")


def _weight_extremes(model: onnx.ModelProto) -> int:
    """Largest |q| over the int8 weight initializers."""
    return max(int(np.abs(numpy_helper.to_array(t).astype(np.int32)).max())
               for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8)


def test_reduce_range_only_for_avx2() -> None:
    pytest.importorskip("onnxruntime")
    model = build_small_vgg()
    calibration = sample_batch(PreprocessSpec(height=32, width=32))  # build_small_vgg's size
    assert _weight_extremes(to_int8(model, calibration, "avx2")) <= 64  # 7 bits
    assert _weight_extremes(to_int8(model, calibration, "vnni")) > 64  # full 8 bits
    assert _weight_extremes(to_int8(model, calibration, "arm64")) > 64


@pytest.fixture
def tiny_keras(tmp_path: Path) -> Path:
    """The small stand-in network (random weights) saved as a .keras file."""
    pytest.importorskip("keras")
    from anime_detector.train.model import build_model

    source = tmp_path / "tiny.keras"
    build_model(weights=None, backbone="tiny").save(source)
    return source


@pytest.mark.tf
def test_export_records_the_target(tiny_keras: Path, tmp_path: Path) -> None:
    from anime_detector.export import to_onnx
    from anime_detector.onnx_metadata import read_metadata

    source = tiny_keras
    out = tmp_path / "int8.onnx"
    to_onnx(source, out, precision="int8", calibration_dir=SAMPLE, int8_target="vnni",
            verify_dir=SAMPLE, log=lambda _: None)
    props = read_metadata(out)
    assert props["anime_detector.int8_target"] == "vnni"
    assert props["anime_detector.precision"] == "int8"
    assert _weight_extremes(onnx.load(str(out))) > 64
    # the file's verification on --verify-dir is the int8 search's own check there
    import json

    checks = json.loads(props["anime_detector.verification"])["checks"]
    (int8,) = [c for c in checks if c["candidate"] == "onnx int8"]
    fidelity = json.loads(props["anime_detector.int8"])["fidelity"]
    assert int8["images"] == fidelity["images"] == 50
    assert round(int8["label_agreement"], 4) == fidelity["label_agreement"]


@pytest.mark.tf
def test_the_int8_recipe_round_trips_through_the_contract(tiny_keras: Path,
                                                          tmp_path: Path) -> None:
    from anime_detector.contract import int8_line
    from anime_detector.detector import Detector
    from anime_detector.export import to_onnx

    source = tiny_keras
    out = tmp_path / "int8.onnx"
    lines: list[str] = []
    to_onnx(source, out, precision="int8", calibration_dir=SAMPLE, int8_target="vnni",
            log=lines.append)  # no --verify-dir: half the calibration images are held out
    record = Detector.load(out).contract.extra["int8"]
    assert record["recipe"]["name"] == "all nodes, MinMax"  # the tiny model quantizes well
    assert record["fidelity"]["images"] == 25  # half of the 50 sample images
    assert record["fidelity"]["label_agreement"] >= record["tolerance"]["min_agreement"]
    assert record["speedup_vs_fp32"] > 0
    bf16 = record["openvino_bf16_speedup_vs_fp32"]  # measured where the CPU has bf16
    assert (bf16 is not None and bf16 > 0) == _bf16_here(), bf16
    line = int8_line(Detector.load(out).contract)
    assert line is not None and "all nodes, MinMax" in line
    assert any(entry.startswith("int8 recipe 'all nodes, MinMax'") for entry in lines)


@pytest.mark.tf
def test_an_unreachable_int8_tolerance_writes_nothing_and_says_one_line(
        tiny_keras: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tiny_keras
    out = tmp_path / "int8.onnx"
    done = subprocess.run(
        [sys.executable, "-m", "anime_detector", "export", str(source), "--out", str(out),
         "--precision", "int8", "--calibration-dir", str(SAMPLE), "--int8-tolerance", "1",
         "--int8-max-mean-dp", "0", "--int8-max-seconds", "120"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "no int8 recipe met the tolerance" in errors[0] and "nothing written" in errors[0]
    assert "Traceback" not in done.stderr
    assert not out.exists() and not list(tmp_path.glob("int8*"))


def _bf16_here() -> bool:
    import importlib.util

    from anime_detector.engines.openvino import has_bf16
    from anime_detector.system import cpu_flags

    return has_bf16(cpu_flags()) and importlib.util.find_spec("openvino") is not None


@pytest.mark.parametrize(("int8", "bf16", "says"), [
    (0.8, None, "not faster than fp32"),
    (0.8, 2.0, "not faster than fp32"),
    (1.8, 2.9, "not faster than OpenVINO bf16"),
    (1.8, 1.2, None),
    (1.8, None, None),
])
def test_export_says_when_int8_buys_nothing_here(int8: float, bf16: float | None,
                                                 says: str | None) -> None:
    from anime_detector.export.convert import _int8_speed_warning

    warning = _int8_speed_warning(int8, bf16)
    assert (warning is None) if says is None else (says in str(warning))
    assert warning is None or "\n" not in warning
