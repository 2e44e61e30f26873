"""OpenVINO engine: parity with onnxruntime fp32, honest precision, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anime_detector.engines.base import Engine
from anime_detector.errors import DeviceError, ModelError
from anime_detector.onnx_metadata import read_contract
from anime_detector.system import cpu_flags, is_arm64, parse_flags

from helpers.onnx_models import onnxruntime_fp32, sample_batch, save_small_vgg, save_tiny_model

pytest.importorskip("openvino")
from anime_detector.engines import openvino as ov_engine  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_small_vgg(tmp_path_factory.mktemp("ov") / "small.onnx")


@pytest.fixture(scope="module")
def batch(small: Path) -> np.ndarray:
    return sample_batch(read_contract(small).spec)


def test_fp32_matches_onnxruntime(small: Path, batch: np.ndarray) -> None:
    engine = ov_engine.load(small, threads=1)
    assert isinstance(engine, Engine)
    assert engine.info.engine == "openvino" and engine.info.precision == "fp32"
    assert engine.contract == read_contract(small)
    out = engine.run(batch)
    assert out.dtype == np.float32 and out.shape == (len(batch), 2)
    np.testing.assert_allclose(out, onnxruntime_fp32(small, batch), atol=1e-5)
    np.testing.assert_allclose(engine.run(batch[:1])[0], out[0], atol=1e-6)


def test_bf16_runs_where_the_cpu_has_it(small: Path, batch: np.ndarray) -> None:
    if not ov_engine.has_bf16(cpu_flags()):
        with pytest.raises(DeviceError, match="lacks native bf16"):
            ov_engine.load(small, precision="bf16")
        return
    engine = ov_engine.load(small, precision="bf16", threads=1)
    assert engine.info.precision == "bf16"
    diff = np.abs(engine.run(batch) - onnxruntime_fp32(small, batch)).max()
    assert 0 < diff < 0.05  # bf16 keeps 8 mantissa bits: close, but not bit-equal


def test_bf16_is_refused_on_a_cpu_without_it(small: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ov_engine, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    with pytest.raises(DeviceError, match="lacks native bf16 .*use --precision fp32"):
        ov_engine.load(small, precision="bf16")


@pytest.mark.parametrize("text, expected", [
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n", True),
    ("flags\t\t: fpu avx2 amx_tile amx_bf16 amx_int8\n", True),
    ("flags\t\t: fpu sse4_2 avx2 fma\n", False),
    ("Features\t: fp asimd asimdhp bf16 i8mm\n", False),  # Arm bf16 is not OpenVINO's path
    ("", False),
])
def test_bf16_flag_reading(text: str, expected: bool) -> None:
    assert ov_engine.has_bf16(parse_flags(text)) is expected


def test_int8_qdq_model_runs_in_int8(small: Path, batch: np.ndarray, tmp_path: Path) -> None:
    import onnx

    from anime_detector.export.precision import to_int8

    int8 = to_int8(onnx.load(str(small)), batch)
    path = tmp_path / "int8.onnx"
    onnx.save(int8, str(path))
    engine = ov_engine.load(path, threads=1)
    assert np.abs(engine.run(batch) - onnxruntime_fp32(small, batch)).max() < 0.05
    if is_arm64():  # checked, then skipped: the name says what x86-64 does
        assert engine.info.precision in ("fp32", "fp16")
        pytest.skip(f"OpenVINO's CPU plugin computes int8 on x86-64 only; on this aarch64 CPU "
                    f"the int8 file ran in {engine.info.precision} (reported as such)")
    assert engine.info.precision == "int8"


def test_refusals(small: Path, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="CPU only"):
        ov_engine.load(small, device="cuda")
    with pytest.raises(DeviceError, match="no precision 'int4'"):
        ov_engine.load(small, precision="int4")
    mismatched = save_tiny_model(tmp_path / "tiny32.onnx", height=32, width=32)
    with pytest.raises(ModelError, match="tiny32.onnx: model takes"):
        ov_engine.load(mismatched)
    with pytest.raises(ModelError, match="no such model file"):
        ov_engine.load(tmp_path / "missing.onnx")


def test_labels_stand_in_for_missing_metadata(tmp_path: Path) -> None:
    bare = save_tiny_model(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ModelError, match="has no anime-detector metadata"):
        ov_engine.load(bare)
    assert ov_engine.load(bare, labels=["x", "y"]).contract.labels == ("x", "y")
