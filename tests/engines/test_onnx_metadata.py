"""``read_metadata`` parses ``metadata_props`` from the wire format, as onnx itself reads it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from anime_detector.contract import KEYS, ModelContract
from anime_detector.errors import ModelError
from anime_detector.onnx_metadata import read_contract, read_metadata

from helpers.onnx_models import build_tiny_model


def _big_model(megabytes: int, props: dict[str, str]) -> onnx.ModelProto:
    weight = np.ones(megabytes * 2**18, np.float32)  # 4 bytes each
    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "W"], ["output"])], "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [len(weight)])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [len(weight)])],
        initializer=[numpy_helper.from_array(weight, "W")])
    model = helper.make_model(graph, producer_name="test", doc_string="a doc string")
    helper.set_model_props(model, props)
    return model


def test_matches_onnx_on_a_tiny_model(tmp_path: Path) -> None:
    model = build_tiny_model()
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    expected = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert read_metadata(path) == expected
    assert read_contract(path) == ModelContract.from_metadata(expected)


def test_unicode_empty_values_and_a_large_graph_read_fast(tmp_path: Path) -> None:
    props = {"anime_detector.labels": '["アニメ", "not_anime"]', "empty": "", "k" * 300: "v" * 5000}
    path = tmp_path / "big.onnx"
    onnx.save(_big_model(40, props), str(path))
    start = time.perf_counter()
    assert read_metadata(path) == props
    assert time.perf_counter() - start < 0.5  # the 40 MB initializer is skipped, not read


def test_no_metadata_and_label_override(tmp_path: Path) -> None:
    path = tmp_path / "bare.onnx"
    onnx.save(build_tiny_model(metadata=False), str(path))
    assert read_metadata(path) == {}
    with pytest.raises(ModelError, match="bare.onnx: has no anime-detector metadata"):
        read_contract(path)
    assert read_contract(path, labels=["a", "b"]).labels == ("a", "b")


@pytest.mark.parametrize("content, reason", [
    (b"", "empty model file"),
    (b"\x0a\xff\xff\xff\x7f", "not an ONNX model"),  # field 1 LEN, length past the end
    (b"\x0f", "not an ONNX model"),  # wire type 7
])
def test_bad_files_name_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=f"bad.onnx: {reason}"):
        read_metadata(path)


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.onnx"
    data = build_tiny_model().SerializeToString()
    path.write_bytes(data[: len(data) - 7])
    with pytest.raises(ModelError, match="cut.onnx: not an ONNX model"):
        read_metadata(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        read_metadata(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="is a directory"):
        read_metadata(tmp_path)


def test_reads_the_keys_export_writes(tmp_path: Path) -> None:
    contract = ModelContract(threshold=0.7, precision="int8", extra={"int8_target": "vnni"})
    model = build_tiny_model(metadata=False)
    helper.set_model_props(model, contract.to_metadata())
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    props = read_metadata(path)
    assert props[KEYS.threshold] == "0.7"
    assert read_contract(path).extra["int8_target"] == "vnni"
