"""Reading an ncnn ``.param`` file and setting per-layer options in it.

A ``.param`` file is a magic line, a ``layer_count blob_count`` line, then one layer a
line: ``Type name n_bottoms n_tops bottoms... tops... key=value...``. ncnn reads a
per-layer option mask from key 31 (``featmask``); bit 6 turns Winograd off for that
layer, which then runs as an im2col GEMM (ncnn ``src/net.cpp``, ``get_masked_option``).

Only lines that change are rewritten; every other line is kept byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FEATMASK", "NO_WINOGRAD", "THIN_INPUT_CHANNELS", "ParamLayer", "gemm_for_thin_inputs",
           "read_layers"]

FEATMASK = "31"
NO_WINOGRAD = 1 << 6
# A 3x3 convolution over this few input channels (an RGB stem) gains nothing from
# Winograd: its GEMM has K = channels, while the output transform still costs a pass
# over every output channel. ncnn picks Winograd anyway when the layer has more than 8
# outputs; with VGG19's first layer as a GEMM the whole network runs about 5% faster
# (benchmarks/ncnn_layer_options.py, README "Layer options").
THIN_INPUT_CHANNELS = 8


@dataclass
class ParamLayer:
    """One layer line of a ``.param`` file."""

    kind: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[str, str]

    @classmethod
    def parse(cls, line: str) -> ParamLayer | None:
        fields = line.split()
        if len(fields) < 4 or not fields[2].isdigit() or not fields[3].isdigit():
            return None
        n_in, n_out = int(fields[2]), int(fields[3])
        rest = fields[4 + n_in + n_out:]
        params = dict(item.split("=", 1) for item in rest if "=" in item)
        return cls(fields[0], fields[1], fields[4:4 + n_in], fields[4 + n_in:4 + n_in + n_out],
                   params)

    def int_param(self, key: str, default: int) -> int:
        value = self.params.get(key)
        return default if value is None else int(float(value))

    def winograd_input_channels(self) -> int | None:
        """Input channels of a plain 3x3, stride-1, dilation-1 convolution (the layers ncnn
        may run with Winograd); ``None`` for every other layer."""
        if self.kind != "Convolution":
            return None
        kernel_w = self.int_param("1", 0)
        kernel_h = self.int_param("11", kernel_w)
        dilation_w = self.int_param("2", 1)
        stride_w = self.int_param("3", 1)
        shape = (kernel_w, kernel_h, dilation_w, self.int_param("12", dilation_w), stride_w,
                 self.int_param("13", stride_w))
        outputs = self.int_param("0", 0)
        if shape != (3, 3, 1, 1, 1, 1) or outputs <= 0:
            return None
        return self.int_param("6", 0) // (9 * outputs)


def read_layers(param: Path) -> list[ParamLayer]:
    """The layers of an ncnn ``.param`` file, in file order."""
    lines = param.read_text(encoding="utf-8").splitlines()[2:]
    return [layer for layer in map(ParamLayer.parse, lines) if layer is not None]


def _with_featmask(line: str, bits: int) -> str:
    fields = line.split()
    for i, item in enumerate(fields):
        if item.startswith(f"{FEATMASK}="):
            fields[i] = f"{FEATMASK}={int(item.split('=', 1)[1]) | bits}"
            return " ".join(fields)
    return f"{line.rstrip()} {FEATMASK}={bits}"


def gemm_for_thin_inputs(param: Path) -> dict[str, str]:
    """Turn Winograd off for 3x3 stride-1 convolutions from at most
    :data:`THIN_INPUT_CHANNELS` input channels to more output channels (where ncnn would
    pick Winograd), rewriting ``param`` in place; returns
    ``{layer name: why}`` for the layers changed (the caller records it)."""
    text = param.read_text(encoding="utf-8")
    lines = text.splitlines()
    changed: dict[str, str] = {}
    for i, line in enumerate(lines[2:], start=2):
        layer = ParamLayer.parse(line)
        channels = layer.winograd_input_channels() if layer else None
        if layer is None or channels is None or channels > THIN_INPUT_CHANNELS \
                or layer.int_param("0", 0) <= THIN_INPUT_CHANNELS:
            continue  # ncnn itself keeps Winograd off where both sides are thin
        lines[i] = _with_featmask(line, NO_WINOGRAD)
        changed[layer.name] = f"Winograd off (featmask {NO_WINOGRAD}): {channels} input channels"
    if changed:
        param.write_text("\n".join(lines) + ("\n" if text.endswith("\n") else ""),
                         encoding="utf-8")
    return changed
