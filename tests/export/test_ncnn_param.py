"""Per-layer ncnn options: which lines ``gemm_for_thin_inputs`` changes, and how."""

from __future__ import annotations

from pathlib import Path

import pytest

from anime_detector.export.ncnn_param import (
    ParamLayer,
    gemm_for_thin_inputs,
    read_layers,
)

PARAM = """7767517
8 8
Input                    in0                      0 1 in0
Convolution  stem  1 1 in0 1 0=64 1=3 11=3 12=1 13=1 14=1 2=1 3=1 4=1 5=1 6=1728 9=1
Convolution              wide                     1 1 1 2 0=64 1=3 11=3 2=1 3=1 4=1 5=1 6=36864 9=1
Convolution              strided                  1 1 2 3 0=16 1=3 3=2 4=1 5=1 6=432
Convolution              masked                   1 1 3 4 0=16 1=3 4=1 5=1 6=1152 31=1
Convolution              thin                     1 1 4 4b 0=8 1=3 4=1 5=1 6=576
ConvolutionDepthWise     dw                       1 1 4b 5 0=16 1=3 4=1 5=1 6=144 7=16
Reshape                  reshape                  1 1 5 out0 6="1,1,//(512,0n),0n"
"""


def _write(tmp_path: Path, text: str = PARAM) -> Path:
    path = tmp_path / "model.ncnn.param"
    path.write_text(text)
    return path


def test_only_thin_3x3_stride_1_convolutions_change(tmp_path: Path) -> None:
    path = _write(tmp_path)
    changed = gemm_for_thin_inputs(path)
    assert changed == {"stem": "Winograd off (featmask 64): 3 input channels",
                       "masked": "Winograd off (featmask 64): 8 input channels"}
    # "strided" (stride 2) and "dw" (depthwise) are no Winograd layers, "wide" has 64
    # inputs, and "thin" (8 to 8) is a layer ncnn keeps off Winograd itself
    before, after = PARAM.splitlines(), path.read_text().splitlines()
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        name = old.split()[1] if len(old.split()) > 1 else ""
        if name == "stem":
            assert new == old + " 31=64"
        elif name == "masked":  # an existing mask keeps its bits
            assert new.split()[-1] == "31=65" and new.split()[:-1] == old.split()[:-1]
        else:
            assert new == old


def test_nothing_to_change_leaves_the_file_alone(tmp_path: Path) -> None:
    text = PARAM.replace("6=1728", "6=36864").replace("6=1152", "6=4608")  # 64, 32 inputs
    path = _write(tmp_path, text)
    mtime = path.stat().st_mtime_ns
    assert gemm_for_thin_inputs(path) == {}
    assert path.read_text() == text and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(("line", "channels"), [
    ("Convolution a 1 1 x y 0=64 1=3 6=1728", 3),           # kernel_h defaults to kernel_w
    ("Convolution a 1 1 x y 0=64 1=3 11=1 6=576", None),     # 3x1
    ("Convolution a 1 1 x y 0=64 1=3 2=2 6=1728", None),     # dilated
    ("Convolution a 1 1 x y 0=64 1=3 13=2 6=1728", None),    # stride 2 vertically
    ("Convolution a 1 1 x y 0=64 1=1 6=192", None),          # 1x1
    ("Pooling a 1 1 x y 0=0 1=2", None),
])
def test_winograd_candidates(line: str, channels: int | None) -> None:
    layer = ParamLayer.parse(line)
    assert layer is not None and layer.winograd_input_channels() == channels


def test_read_layers_keeps_blobs_and_params(tmp_path: Path) -> None:
    layers = read_layers(_write(tmp_path))
    assert [layer.name for layer in layers] == [
        "in0", "stem", "wide", "strided", "masked", "thin", "dw", "reshape"]
    assert (layers[1].bottoms, layers[1].tops, layers[1].params["6"]) == (["in0"], ["1"], "1728")
    assert layers[-1].params["6"] == '"1,1,//(512,0n),0n"'
