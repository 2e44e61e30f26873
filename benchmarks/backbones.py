"""Backbones side by side: size, compute, batch-1 latency, cold start, end-to-end predict.

    python benchmarks/backbones.py [--rounds 30] [--iters 5] [--images 400] [--quick]

Needs the [train] extra once (each light backbone's random-weight reference model is
exported through ``anime_detector.export`` and cached; VGG19's is the onnx.helper graph).
Per backbone: Keras parameters (total / trainable head), GFLOPs counted from the ONNX
graph (2 x MACs of Conv/Gemm/MatMul, ``anime_detector.graphs.flops``), file size, batch-1
latency on onnxruntime fp32 (all models loaded, timed in interleaved rounds, idle
threads not spinning). Then a one-image ``anime-detector predict`` in a fresh process
for the smallest backbone vs VGG19, and ``predict`` over a folder of real images
(examples/sample replicated) vs the raw session on the same batches for the fastest
backbone, with where the preprocessing time goes. Writes results/backbones.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    SAMPLE,
    fresh_process_seconds,
    make_images,
    matmul_gflops,
    median,
    predict_command,
    raw_vs_predict,
    save,
    timed,
)


def keras_params(key: str) -> tuple[int, int]:
    """(all, trainable) parameters of the Keras model on ``key``."""
    from anime_detector.train.model import build_parts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_parts(weights=None, backbone=key).model
    return model.count_params(), sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def interleaved_latency(models: dict[str, Path], rounds: int, iters: int,
                        threads: int) -> dict[str, list[float]]:
    """Batch-1 ms per call for every model, round-robin so machine noise hits all alike."""
    from anime_detector import Detector

    dets = {k: Detector.load(p, device="cpu", threads=threads, spin=False)
            for k, p in models.items()}
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    times: dict[str, list[float]] = {k: [] for k in dets}
    for round_index in range(rounds + 2):  # two warm-up rounds
        for key, det in dets.items():
            for _ in range(iters):
                elapsed = timed(lambda d=det: d.run(x)) * 1000.0
                if round_index >= 2:
                    times[key].append(elapsed)
    return times


def stage_profile(files: list[Path], spec: Any) -> dict[str, float]:
    """CPU ms per image for each preprocessing stage (one thread)."""
    from PIL import Image

    from anime_detector.preprocessing import _RESAMPLE, load_image, normalize, preprocess

    size = (spec.width, spec.height)
    for f in files:  # a warm pass: files in the page cache, allocator settled
        preprocess(f, spec)

    def cpu_ms(fn: Any, items: list[Any]) -> tuple[float, list[Any]]:
        started = time.process_time()
        values = [fn(item) for item in items]
        return (time.process_time() - started) * 1000.0 / len(items), values

    decode_ms, images = cpu_ms(lambda f: load_image(f, spec, for_model=True), files)
    resize_ms, resized = cpu_ms(lambda im: im.resize(size, _RESAMPLE[spec.resample])
                                if im.size != size else im, images)
    normalize_ms, _ = cpu_ms(lambda im: normalize(np.asarray(im, dtype=np.uint8), spec), resized)
    full_decode_ms, _ = cpu_ms(lambda f: Image.open(f).convert("RGB"), files)
    total_ms, _ = cpu_ms(lambda f: preprocess(f, spec), files)
    return {"decode_ms": decode_ms, "resize_ms": resize_ms, "normalize_ms": normalize_ms,
            "preprocess_ms": total_ms, "plain_pil_decode_ms": full_decode_ms}


def end_to_end(model: Path, files: list[str], batch_size: int, threads: int,
               rounds: int) -> dict[str, Any]:
    """``raw_vs_predict`` on ``model``, and where the preprocessing time goes."""
    from anime_detector import Detector

    det = Detector.load(model, device="cpu", threads=threads)
    return {"model": str(model), **raw_vs_predict(det, files, batch_size, rounds),
            "stages_cpu_ms_per_image": stage_profile(files[:200], det.contract.spec)}


def markdown(report: dict[str, Any]) -> str:
    lines = ["| backbone | params (all / trainable) | GFLOPs | ONNX MB | batch-1 p50 ms | "
             "p90 ms | vs VGG19 |", "|---|---|---|---|---|---|---|"]
    vgg = report["rows"].get("vgg19", {}).get("p50_ms")
    for r in report["rows"].values():
        params = f"{r['params']:,} / {r['trainable']:,}" if r.get("params") else "-"
        speed = f"{vgg / r['p50_ms']:.1f}x" if vgg else "-"
        lines.append(f"| {r['display']} | {params} | {r['gflops']:.2f} | {r['size_mb']:.1f} | "
                     f"{r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {speed} |")
    cold = report.get("cold_start_s", {})
    if cold:
        lines += ["", "| fresh `anime-detector predict`, one image | median s |", "|---|---|"]
        lines += [f"| {k} | {median(v):.2f} |" for k, v in cold.items()]
    e2e = report.get("end_to_end")
    if e2e:
        s = e2e["stages_cpu_ms_per_image"]
        lines += ["", f"End to end, {Path(e2e['model']).name}, batch {e2e['batch_size']}, "
                  f"{e2e['images']} real images: predict "
                  f"{e2e['end_to_end_images_per_s']:.0f} img/s vs raw session "
                  f"{e2e['raw_images_per_s']:.0f} img/s = {e2e['ratio']:.0%} "
                  "(target >= 75%)",
                  f"Preprocessing CPU ms/image: decode {s['decode_ms']:.2f}, resize "
                  f"{s['resize_ms']:.2f}, normalize {s['normalize_ms']:.2f} (total "
                  f"{s['preprocess_ms']:.2f}; plain PIL open+convert "
                  f"{s['plain_pil_decode_ms']:.2f})"]
    m = report["machine"]
    load = ", ".join(f"{v:.1f}" for v in m["loadavg"])
    lines += ["", f"machine: {m['cpu']}, {m['threads']} onnxruntime threads, "
              f"numpy matmul probe {m['matmul_gflops']:.0f} GFLOP/s, load average {load}"
              + (" (--quick smoke run: not figures to publish)"
                 if report["settings"]["quick"] else "")]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+",
                        default=["vgg19", "mobilenetv3small", "mobilenetv3large",
                                 "efficientnetv2b0"])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds")
    parser.add_argument("--iters", type=int, default=5, help="calls per model per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=400, help="real images for end to end")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--e2e-rounds", type=int, default=5, help="end-to-end rounds")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few iterations")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.iters, args.cold_rounds, args.images, args.e2e_rounds = 3, 2, 1, 48, 1
    return args


def main() -> None:
    from anime_detector.export.reference_models import reference_model
    from anime_detector.graphs.flops import count_flops
    from anime_detector.timing.report import machine_info
    from anime_detector.train.backbones import get_backbone

    args = parse_args()
    keys = [get_backbone(b).key for b in args.backbones]
    models = {k: reference_model(k, log=lambda line: print(line, file=sys.stderr)) for k in keys}
    rows: dict[str, dict[str, Any]] = {}
    for key, path in models.items():
        params, trainable = keras_params(key)
        rows[key] = {"display": get_backbone(key).display, "model": str(path), "params": params,
                     "trainable": trainable, "gflops": count_flops(path).gflops,
                     "size_mb": path.stat().st_size / 1e6}
    for key, values in interleaved_latency(models, args.rounds, args.iters, args.threads).items():
        rows[key].update(p50_ms=float(np.percentile(values, 50)),
                         p90_ms=float(np.percentile(values, 90)), samples=len(values))
    fastest = min(rows, key=lambda k: rows[k]["p50_ms"])
    smallest = min(rows, key=lambda k: rows[k]["params"])
    image = next(p for p in sorted(SAMPLE.rglob("*.jpg")))
    cold = fresh_process_seconds({k: predict_command(models[k], image) for k in
                                  dict.fromkeys([smallest, "vgg19"]) if k in models},
                                 args.cold_rounds)
    with tempfile.TemporaryDirectory() as tmp:
        e2e = end_to_end(models[fastest], make_images(args.images, SAMPLE, Path(tmp)),
                         args.batch_size, args.threads, args.e2e_rounds)
    report = {"machine": {**machine_info(args.threads), "matmul_gflops": matmul_gflops(),
                          "loadavg": os.getloadavg()},
              "settings": vars(args), "rows": rows, "fastest": fastest, "smallest": smallest,
              "cold_start_s": cold, "end_to_end": e2e}
    save("backbones", report, markdown(report))


if __name__ == "__main__":
    main()
