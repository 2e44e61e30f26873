"""Each 3x3 stride-1 convolution of an ncnn folder timed alone, per algorithm, interleaved.

    python benchmarks/ncnn_layers.py --ncnn RUN/model-ncnn [--runs 9]

For every such layer: a two-layer net (Input with the real input shape as a shape hint,
then the layer with its own weights sliced from the folder's ``.bin``) is loaded once per
algorithm and the four are timed round-robin on the layer's real input:

- ``ncnn``: ncnn's own pick (Winograd F(4,3) for VGG's layers; see ``layer_options``);
- ``f63``: Winograd F(6,3) forced (F(4,3) turned off, F(2,3) kept where ncnn prefers it);
- ``f23``: Winograd F(2,3) wherever the shape allows;
- ``gemm``: Winograd off (``featmask`` 64): im2col + GEMM, what the conversion's layer
  options choose for thin inputs.

The ``.bin`` is read layer by layer, so only folders whose weighted layers are
Convolution and InnerProduct (VGG19's) are supported; anything else is refused. The
layer option of the folder itself is ignored here: every layer starts from ncnn's
defaults. Writes ``results/ncnn_layers.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_line, save

# name -> (featmask, use F(4,3), use F(2,3))
ALGORITHMS = {"ncnn": (0, True, True), "f63": (0, False, True), "f23": (0, False, True),
              "gemm": (64, True, True)}
WEIGHTED = {"Convolution", "InnerProduct"}


def _weights_size(layer: Any) -> int:
    """Bytes of a Convolution/InnerProduct in the ``.bin``: a 4-byte tag and the fp32
    weights, then the raw bias (ncnn ``ModelBinFromDataReader``)."""
    count = layer.int_param("6" if layer.kind == "Convolution" else "2", 0)
    bias_key = "5" if layer.kind == "Convolution" else "1"
    bias = layer.int_param("0", 0) if layer.int_param(bias_key, 0) else 0
    return 4 + 4 * count + 4 * bias


def _load(ncnn: Any, param: str, weights: bytes, where: Path, algorithm: str) -> Any:
    mask, f43, f23 = ALGORITHMS[algorithm]
    (where / "p").write_text(param.replace("MASK", str(mask)))
    (where / "b").write_bytes(weights)
    net = ncnn.Net()
    net.opt.num_threads, net.opt.lightmode = 2, True
    net.opt.use_winograd43_convolution = f43
    net.opt.use_winograd23_convolution = f23
    if algorithm == "f23":
        net.opt.use_winograd63_convolution = False
    if net.load_param(str(where / "p")) != 0 or net.load_model(str(where / "b")) != 0:
        raise SystemExit(f"ncnn cannot load the {algorithm} net in {where}")
    return net


def _time(ncnn: Any, net: Any, x: np.ndarray) -> float:
    extractor = net.create_extractor()
    extractor.input("in", ncnn.Mat(x).clone())
    started = time.perf_counter()
    extractor.extract("out")
    return time.perf_counter() - started


def main() -> None:
    import ncnn

    from anime_detector.export.ncnn_param import read_layers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ncnn", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    manifest = json.loads((args.ncnn / "anime_detector.json").read_text())
    layers = read_layers(args.ncnn / manifest["param"])
    blob = (args.ncnn / manifest["bin"]).read_bytes()
    other = {layer.kind for layer in layers} & {"ConvolutionDepthWise", "BatchNorm", "Scale",
                                                "MemoryData", "Deconvolution", "PReLU"}
    if other:
        raise SystemExit(f"{args.ncnn}: weighted layers other than Convolution/InnerProduct "
                         f"({', '.join(sorted(other))}): not supported")

    full = ncnn.Net()
    full.opt.num_threads, full.opt.lightmode = 2, False
    full.load_param(str(args.ncnn / manifest["param"]))
    full.load_model(str(args.ncnn / manifest["bin"]))
    h, w, _ = manifest["input_shape"]
    image = np.random.default_rng(0).uniform(-120, 130, (h, w, 3)).astype(np.float32)
    whole = full.create_extractor()
    whole.input(manifest["input"], ncnn.Mat(image).clone())

    rows: list[dict[str, Any]] = []
    offset = 0
    with tempfile.TemporaryDirectory(prefix="ncnn-layers-") as tmp:
        for layer in layers:
            if layer.kind not in WEIGHTED:
                continue
            size = _weights_size(layer)
            weights, offset = blob[offset:offset + size], offset + size
            if layer.winograd_input_channels() is None:
                continue
            _, mat = whole.extract(layer.bottoms[0])
            x = np.array(mat)
            c, hh, ww = x.shape
            body = " ".join(f"{k}={v}" for k, v in layer.params.items() if k != "31")
            param = (f"7767517\n2 2\nInput in 0 1 in -23330=5,3,{ww},{hh},1,{c}\n"
                     f"Convolution conv 1 1 in out {body} 31=MASK\n")
            nets = {}
            for name in ALGORITHMS:
                where = Path(tmp, f"{layer.name}-{name}")
                where.mkdir()
                nets[name] = _load(ncnn, param, weights, where, name)
            times: dict[str, list[float]] = {name: [] for name in nets}
            for net in nets.values():
                _time(ncnn, net, x)
            for _ in range(args.runs):
                for name, net in nets.items():
                    times[name].append(_time(ncnn, net, x))
            ms = {name: 1e3 * statistics.median(v) for name, v in times.items()}
            rows.append({"layer": layer.name, "input": [c, hh, ww],
                         "outputs": layer.int_param("0", 0), "p50_ms": ms,
                         "fastest": min(ms, key=lambda k: ms[k])})
            print(f"{layer.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in ms.items()),
                  flush=True)
    if offset != len(blob):
        raise SystemExit(f"{args.ncnn}: read {offset} of {len(blob)} weight bytes: the .bin "
                         "holds layers this script does not know")
    totals = {name: sum(r["p50_ms"][name] for r in rows) for name in ALGORITHMS}
    lines = ["| layer | input (C, H, W) | out | " + " | ".join(ALGORITHMS) + " | fastest |",
             "|---|---|---|" + "---|" * (len(ALGORITHMS) + 1)]
    lines += [f"| {r['layer']} | {tuple(r['input'])} | {r['outputs']} | " + " | ".join(
        f"{r['p50_ms'][name]:.2f}" for name in ALGORITHMS) + f" | {r['fastest']} |"
        for r in rows]
    lines += ["| sum | | | " + " | ".join(f"{totals[name]:.1f}" for name in ALGORITHMS)
              + " | |", "", f"p50 ms of {args.runs} interleaved rounds per layer, 2 threads, "
              f"each layer alone; {machine_line()}"]
    save("ncnn_layers", {"runs": args.runs, "layers": rows, "totals_ms": totals},
         "\n".join(lines))


if __name__ == "__main__":
    main()
