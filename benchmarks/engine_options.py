"""Prototype: every engine x precision on the VGG19 reference graph, batch 1, interleaved.

Usage:

    python benchmarks/engine_options.py [--rounds 10] [--images examples/sample]

Builds the random-weight VGG19-head reference graph with its last dense layer scaled
down so the softmax is not saturated (otherwise every engine's max |dp| would read ~0),
quantizes it to int8 QDQ twice (``reduce_range`` on = ``--int8-target avx2``, off =
``vnni``) on half of ``--images``, converts it to ncnn, then times batch 1 round-robin
(the order rotates each round) and measures max |dp| vs onnxruntime fp32 on the other
half. onnxruntime runs with spinning off (idle spinning threads slow whatever runs next).
Fidelity on a random-weight model is only indicative; use ``bench`` on a trained model.
Writes ``results/engine_options.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import matmul_gflops, median, save, timed  # noqa: E402

Runner = Callable[[np.ndarray], np.ndarray]


def reference_model(folder: Path, head_scale: float) -> Path:
    import onnx

    try:
        from anime_detector.bench import reference_graph as ref  # after the runtime split
    except ImportError:
        from anime_detector import reference_graph as ref  # type: ignore[no-redef]
    weights = ref._random_weights(0)
    weights[-2] = weights[-2] * head_scale  # last dense kernel: logits of order 1
    path = folder / "vgg19-head.onnx"
    onnx.save(ref.build_reference_graph(weights), str(path))
    return path


def ort_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: np.asarray(session.run(["output"], {"input": x})[0])


def ncnn_without_winograd(folder: Path, threads: int) -> Any:
    import ncnn

    from anime_detector.engines import ncnn as ncnn_engine

    reference = ncnn_engine.load(folder, threads=threads)
    net = ncnn.Net()
    ncnn_engine._configure(net.opt, threads, "fp32")
    net.opt.use_winograd_convolution = False
    net.load_param(str(folder / "model.ncnn.param"))
    net.load_model(str(folder / "model.ncnn.bin"))
    return ncnn_engine.NcnnEngine(net, reference.contract, folder, ("in0", "out0"),
                                  reference.info)


def build_variants(folder: Path, fp32: Path, calibration: np.ndarray, threads: int,
                   ncnn_dir: Path | None) -> dict[str, Runner]:
    import onnx

    from anime_detector.engines import ncnn as ncnn_engine
    from anime_detector.engines import openvino as ov_engine
    from anime_detector.export.precision import to_int8

    variants = {"onnxruntime fp32": ort_runner(fp32, threads)}
    for target, label in (("avx2", "reduce_range on"), ("vnni", "reduce_range off")):
        path = folder / f"int8-{target}.onnx"
        onnx.save(to_int8(onnx.load(str(fp32)), calibration, target), str(path))
        variants[f"onnxruntime int8 ({label})"] = ort_runner(path, threads)
        variants[f"openvino int8 QDQ ({label})"] = ov_engine.load(path, threads=threads).run
    for precision in ("fp32", "bf16"):
        engine = ov_engine.load(fp32, threads=threads, precision=precision)
        variants[f"openvino {engine.info.precision} hint"] = engine.run
    if ncnn_dir is not None:
        for precision in ("fp32", "fp16"):
            engine = ncnn_engine.load(ncnn_dir, threads=threads, precision=precision)
            variants[f"ncnn {engine.info.precision}"] = engine.run
        variants["ncnn fp32, Winograd off"] = ncnn_without_winograd(ncnn_dir, threads).run
    return variants


def time_interleaved(variants: dict[str, Runner], image: np.ndarray, rounds: int,
                     warmup: int) -> dict[str, list[float]]:
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name](image)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(timed(partial(variants[name], image)) * 1000)
    return times


def ncnn_defaults() -> dict[str, Any]:
    import ncnn

    opt = ncnn.Option()
    return {k: getattr(opt, k) for k in dir(opt) if k.startswith("use_winograd")
            or k.startswith("use_fp16") or k in ("num_threads", "lightmode")}


def main() -> None:
    from anime_detector.export.ncnn import to_ncnn
    from anime_detector.export.verify import compare, verification_batch
    from anime_detector.system import available_cpus, cpu_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--images", type=Path, default=Path("examples/sample"))
    parser.add_argument("--head-scale", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=available_cpus())
    parser.add_argument("--no-ncnn", action="store_true")
    args = parser.parse_args()

    batch, described = verification_batch(args.images, limit=32)
    calibration, check = batch[0::2], batch[1::2]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = reference_model(folder, args.head_scale)
        ncnn_dir = None
        if not args.no_ncnn:
            ncnn_dir = folder / "ncnn"
            to_ncnn(fp32, ncnn_dir, verify_dir=args.images, threads=args.threads)
        variants = build_variants(folder, fp32, calibration, args.threads, ncnn_dir)
        reference = variants["onnxruntime fp32"](check)
        fidelity = {name: compare(reference, np.concatenate([run(check[i:i + 1])
                                                            for i in range(len(check))]),
                                  "onnxruntime fp32", name)
                    for name, run in variants.items()}
        before = matmul_gflops()
        times = time_interleaved(variants, check[:1], args.rounds, args.warmup)
        after = matmul_gflops()
    base = median(times["onnxruntime fp32"])
    rows = [{"engine": name, "p50_ms": median(t), "speedup": base / median(t),
             "max_abs_dp": fidelity[name].max_abs_diff,
             "label_agreement": fidelity[name].label_agreement} for name, t in times.items()]
    report = {"cpu": cpu_summary(), "threads": args.threads, "rounds": args.rounds,
              "fidelity_images": f"{len(check)} of {described}",
              "reference_probabilities": reference[:, 0].round(3).tolist(),
              "ncnn_option_defaults": ncnn_defaults(),
              "matmul_gflops": {"before": before, "after": after}, "rows": rows,
              "times_ms": times}
    lines = [f"CPU: {report['cpu']}, {args.threads} threads, batch 1, {args.rounds} rounds "
             f"interleaved; matmul probe {before:.0f} -> {after:.0f} GFLOP/s",
             f"fidelity: {report['fidelity_images']} (random-weight VGG19 head)", "",
             "| engine | p50 ms | vs onnxruntime fp32 | max abs dp | label agreement |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['engine']} | {r['p50_ms']:.0f} | {r['speedup']:.2f}x | "
              f"{r['max_abs_dp']:.1e} | {r['label_agreement']:.0%} |" for r in rows]
    save("engine_options", report, "\n".join(lines))


if __name__ == "__main__":
    main()
