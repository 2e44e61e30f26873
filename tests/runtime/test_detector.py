"""Detector and session: loading, metadata, devices, threads, thread safety."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest

from anime_detector import Detector, DeviceError, ModelError
from anime_detector.contract import ModelContract
from anime_detector.engines.onnxruntime import open_session, resolve_device
from anime_detector.system import available_cpus

from helpers.onnx_models import save_tiny_model


def test_predicts_by_colour(tiny_model: Path, colour_images: dict[str, Path]) -> None:
    det = Detector.load(tiny_model, device="cpu")
    blue, red = det.predict([colour_images["blue"], colour_images["red"]])
    assert (blue.label, red.label) == ("anime", "not_anime")
    assert blue.score == blue.probabilities["anime"] > 0.99
    assert red.score < 0.01 and set(red.probabilities) == {"anime", "not_anime"}
    assert det.providers == ["CPUExecutionProvider"]


def test_threshold_moves_the_decision(tiny_model: Path, colour_images: dict[str, Path]) -> None:
    det = Detector.load(tiny_model, device="cpu")
    (red,) = det.predict([colour_images["red"]], threshold=0.0)
    assert red.label == "anime"


def test_batching_does_not_change_results(tiny_model: Path, class_folder: Path) -> None:
    det = Detector.load(tiny_model, device="cpu")
    paths = sorted(class_folder.rglob("*.png"))
    one = [p.score for p in det.predict(paths, batch_size=1)]
    many = [p.score for p in det.predict(paths, batch_size=7)]
    np.testing.assert_allclose(one, many, rtol=0, atol=1e-6)


def test_concurrent_predict_from_threads(tiny_model: Path, class_folder: Path) -> None:
    det = Detector.load(tiny_model, device="cpu")
    paths = sorted(class_folder.rglob("*.png"))
    expected = [p.score for p in det.predict(paths)]
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: [p.score for p in det.predict(paths)], range(8)))
    for run in runs:
        np.testing.assert_allclose(run, expected, rtol=0, atol=1e-6)


def test_model_without_metadata_needs_labels(tmp_path: Path,
                                             colour_images: dict[str, Path]) -> None:
    bare = save_tiny_model(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ModelError, match="no anime-detector metadata"):
        Detector.load(bare, device="cpu")
    det = Detector.load(bare, device="cpu", labels=["anime", "not_anime"])
    assert det.predict([colour_images["blue"]])[0].label == "anime"


def test_metadata_contract_round_trip(tiny_model: Path) -> None:
    props = {p.key: p.value for p in onnx.load(str(tiny_model)).metadata_props}
    assert ModelContract.from_metadata(props) == ModelContract()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "empty model file"), (b"definitely not protobuf \xff\xfe", "not an ONNX model")],
)
def test_bad_model_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=fragment):
        Detector.load(path, device="cpu")


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        Detector.load(tmp_path / "nope.onnx")


def test_model_of_another_shape_is_refused(tmp_path: Path) -> None:
    wrong = save_tiny_model(tmp_path / "wrong.onnx", height=100, width=100, n_out=5)
    with pytest.raises(ModelError, match=r"expected \(batch, 224, 224, 3\)"):
        Detector.load(wrong, device="cpu")


def test_cuda_request_is_an_error_not_a_fallback(tiny_model: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        session = open_session(tiny_model, device="cuda")
        assert session.get_providers()[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(DeviceError, match="no CUDA provider"):
            Detector.load(tiny_model, device="cuda")


def test_auto_reports_what_it_really_uses(tiny_model: Path) -> None:
    import onnxruntime as ort

    det = Detector.load(tiny_model, device="auto")
    wanted = "CUDAExecutionProvider" in ort.get_available_providers()
    assert det.providers[0] == ("CUDAExecutionProvider" if wanted else "CPUExecutionProvider")


def test_device_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIME_DETECTOR_DEVICE", "cpu")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda") == "cuda"
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")


def test_threads_follow_cpu_affinity(tiny_model: Path) -> None:
    assert available_cpus() == len(os.sched_getaffinity(0))
    session = open_session(tiny_model, device="cpu", threads=1)
    assert session.get_session_options().intra_op_num_threads == 1
    default = open_session(tiny_model, device="cpu")
    assert default.get_session_options().intra_op_num_threads == available_cpus()


def test_spin_off_is_passed_to_onnxruntime(tiny_model: Path) -> None:
    quiet = open_session(tiny_model, device="cpu", spin=False).get_session_options()
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    default = open_session(tiny_model, device="cpu").get_session_options()
    with pytest.raises(RuntimeError, match="does not have configuration"):
        default.get_session_config_entry("session.intra_op.allow_spinning")  # default: spins


def test_tf32_is_a_cuda_only_precision(tiny_model: Path) -> None:
    with pytest.raises(DeviceError, match="tf32.*CUDA option"):
        Detector.load(tiny_model, device="cpu", precision="tf32")
