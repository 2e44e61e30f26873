"""CUDA 'fp32' with TF32 on (onnxruntime's default) vs off, and fp16: speed + max |dp| vs CPU fp32.

usage: tf32.py DEVICE MODELS_DIR OUT_DIR [IMAGES_DIR]   (DEVICE cpu = local dry run)
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from anime_detector.bench.runner import sample_images
from anime_detector.preprocess import DEFAULT_SPEC

device, models, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
images = Path(sys.argv[4]) if len(sys.argv) > 4 else None
fp32, fp16 = models / "vgg19-head-tempered-fp32.onnx", models / "vgg19-head-tempered-fp16.onnx"
CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def session(path: Path, providers: list) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 2
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)


def dev(options: dict) -> list:
    return [(CUDA, options), CPU] if device == "cuda" else [CPU]


ref = session(fp32, [CPU])
rows = {"cuda fp32 (TF32 on, default)": session(fp32, dev({})),
        "cuda fp32 (use_tf32=0)": session(fp32, dev({"use_tf32": "0"})),
        "cuda fp16": session(fp16, dev({}))}
info = {}
for name, s in rows.items():
    opts = s.get_provider_options().get(CUDA, {})
    info[name] = {"providers": s.get_providers(), "use_tf32": opts.get("use_tf32"),
                  "cudnn_conv_algo_search": opts.get("cudnn_conv_algo_search")}
    print(name, info[name], flush=True)

sets = {"random inputs (8, seed 1)":
        np.random.default_rng(1).uniform(-120, 130, (8, 224, 224, 3)).astype(np.float32)}
if images is not None and images.is_dir():
    arr, label = sample_images(images, DEFAULT_SPEC)
    sets[label] = arr


def run(s: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return np.concatenate([s.run(None, {"input": x[i:i + 8]})[0] for i in range(0, len(x), 8)])


fidelity = {}
for label, x in sets.items():
    p_ref = run(ref, x).astype(np.float64)
    fidelity[label] = {name: {"max_abs_dp": float(np.abs(run(s, x) - p_ref).max()),
                              "label_agreement": float((run(s, x).argmax(1) ==
                                                        p_ref.argmax(1)).mean())}
                       for name, s in rows.items()}
    print(label, json.dumps(fidelity[label]), flush=True)

rng = np.random.default_rng(0)
timing = []
for bs in [int(b) for b in (sys.argv[5] if len(sys.argv) > 5 else "1,8,32").split(",")]:
    batch = rng.uniform(-120, 130, (bs, 224, 224, 3)).astype(np.float32)
    times = {name: [] for name in rows}
    for r in range(5 + 30):
        for name, s in rows.items():
            t = time.perf_counter()
            s.run(None, {"input": batch})
            if r >= 5:
                times[name].append((time.perf_counter() - t) * 1e3)
    for name in rows:
        p50, p90 = np.percentile(times[name], 50), np.percentile(times[name], 90)
        timing.append({"row": name, "batch_size": bs, "p50_ms": float(p50), "p90_ms": float(p90),
                       "images_per_s": bs * 1e3 / float(p50)})
        print(f"| {name} | {bs} | {p50:.2f} | {p90:.2f} | {bs * 1e3 / p50:.0f} |", flush=True)
(out / "tf32.json").write_text(json.dumps(
    {"onnxruntime": ort.__version__, "sessions": info, "fidelity_vs_cpu_fp32": fidelity,
     "timing_interleaved_warmup5_runs30": timing}, indent=2) + "\n")
