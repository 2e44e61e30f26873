"""int8 files vs the CPU that runs them: the one-line warning and the target to re-export for."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from anime_detector import Detector, EngineInfo
from anime_detector.contract import ModelContract
from anime_detector.int8_support import Int8Warning, cpu_int8_target, int8_notes
from anime_detector.system import parse_flags

from helpers.cli import invoke
from helpers.onnx_models import build_small_vgg, sample_batch

HASWELL = parse_flags("flags\t\t: fpu sse4_2 avx avx2 fma\n")
ZEN4 = parse_flags("flags\t\t: fpu avx2 avx512f avx512_vnni\n")
ORT = EngineInfo("onnxruntime", "1.0", "CPUExecutionProvider", "int8")


def _int8(target: str) -> ModelContract:
    return ModelContract(precision="int8", extra={"int8_target": target})


@pytest.mark.parametrize("flags, arch, expected", [
    (HASWELL, "x86_64", "avx2"), (ZEN4, "x86_64", "vnni"),
    (frozenset({"asimd", "asimddp"}), "aarch64", "arm64"), (frozenset(), "arm64", "arm64"),
])
def test_cpu_target(flags: frozenset[str], arch: str, expected: str) -> None:
    assert cpu_int8_target(flags, arch) == expected


@pytest.mark.parametrize("target, flags, arch, fits", [
    ("arm64", HASWELL, "x86_64", False),  # 8-bit weights, 16-bit saturating sums
    ("vnni", HASWELL, "x86_64", False),
    ("avx2", HASWELL, "x86_64", True),
    ("arm64", ZEN4, "x86_64", True),  # the same full-range weights
    ("avx2", ZEN4, "x86_64", False),  # 7-bit weights where 8 would do
    ("avx2", frozenset({"asimd"}), "aarch64", False),
    ("vnni", frozenset({"asimd"}), "aarch64", True),
])
def test_target_mismatch_is_one_line_naming_the_target(target: str, flags: frozenset[str],
                                                       arch: str, fits: bool) -> None:
    notes = int8_notes(_int8(target), ORT, "m.onnx", flags, arch)
    if fits:
        assert notes == []
        return
    (note,) = notes
    here = cpu_int8_target(flags, arch)
    assert "\n" not in note and f"m.onnx was quantized for {target}" in note
    assert note.endswith(f"re-export with --int8-target {here}")


def test_fp32_files_and_unrecorded_targets_get_no_word() -> None:
    assert int8_notes(ModelContract(), ORT, "m.onnx", HASWELL, "x86_64") == []
    assert int8_notes(ModelContract(precision="int8"), ORT, "m.onnx", HASWELL, "x86_64") == []


def test_an_engine_that_runs_int8_in_fp32_says_so() -> None:
    fp32 = EngineInfo("openvino", "2026.4", "cpu", "fp32")
    (note,) = int8_notes(_int8("arm64"), fp32, "m.onnx", frozenset({"asimd"}), "aarch64")
    assert note == ("m.onnx is int8, but openvino runs it in fp32 on aarch64 "
                    "(OpenVINO's CPU plugin computes int8 on x86-64 only)")


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real int8 QDQ file whose recorded target does not suit this machine's CPU."""
    import onnx
    from onnx import helper

    from anime_detector.export.precision import to_int8
    from anime_detector.onnx_metadata import read_contract

    fp32 = build_small_vgg()
    path = tmp_path_factory.mktemp("int8") / "small-int8.onnx"
    onnx.save(fp32, str(path))
    spec = read_contract(path).spec
    other = "avx2" if cpu_int8_target() != "avx2" else "vnni"
    model = to_int8(fp32, sample_batch(spec), other)
    del model.metadata_props[:]
    contract = ModelContract(spec=spec, precision="int8", extra={"int8_target": other})
    helper.set_model_props(model, contract.to_metadata())
    onnx.save(model, str(path))
    return path


def test_python_api_warns_once_and_keeps_the_note(mismatched: Path) -> None:
    pytest.importorskip("onnxruntime")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector = Detector.load(mismatched)
    assert [w.category for w in caught] == [Int8Warning]
    assert str(caught[0].message) == detector.notes[0]
    assert f"--int8-target {cpu_int8_target()}" in detector.notes[0]
    spec = detector.contract.spec
    assert detector.run(np.zeros((1, spec.height, spec.width, 3), np.float32)).shape == (1, 2)


def test_predict_and_bench_print_it(mismatched: Path, colour_images: dict[str, Path]) -> None:
    pytest.importorskip("onnxruntime")
    predicted = invoke("predict", mismatched, colour_images["blue"])
    assert predicted.returncode == 0
    (line,) = [x for x in predicted.stderr.splitlines() if x.startswith("warning:")]
    assert f"re-export with --int8-target {cpu_int8_target()}" in line
    assert "Int8Warning" not in predicted.stderr  # said once, as a sentence
    benched = invoke("bench", mismatched, "--runs", "1", "--warmup", "0", "--batch-sizes", "1",
                     "--no-cold-start", "--format", "json")
    assert benched.returncode == 0
    assert [n.split(" was ")[0] for n in json.loads(benched.stdout)["notes"]] == [mismatched.name]
