"""ONNX Runtime vs LiteRT (XNNPACK) on the same Keras model, fp32 and int8, batch 1.

    pip install ai-edge-litert        # optional benchmark dependency
    python benchmarks/litert.py --run RUN --calibration-dir DATA [--rounds 20]

Converts RUN/model.keras to TFLite (fp32, and full-integer int8 calibrated on the
same images the ONNX int8 model used), then times LiteRT and onnxruntime
interleaved, both with this process's CPUs. Needs RUN/model-fp32.onnx and
RUN/model-int8-TARGET.onnx for this CPU's int8 target (``benchmarks/engines.py`` makes
them). Target: ONNX int8 >= 1.5x LiteRT int8.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_line, matmul_gflops, median, save


def to_tflite(keras_path: Path, calibration: np.ndarray | None) -> bytes:
    import tempfile

    import keras
    import tensorflow as tf

    model = keras.models.load_model(keras_path, compile=False)
    saved = Path(tempfile.mkdtemp(prefix="litert-"))
    model.export(saved / "model", verbose=False)  # SavedModel: variables become constants
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved / "model"))
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calibration[i : i + 1]]
                                                    for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return bytes(converter.convert())


def litert_runner(content: bytes, threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=threads)
    inp = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(inp, [1, 224, 224, 3])
    interpreter.allocate_tensors()
    out = interpreter.get_output_details()[0]["index"]

    def run(batch: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp, batch)
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(out))

    return run


def main() -> None:
    from anime_detector import Detector
    from anime_detector.export.precision import resolve_int8_target
    from anime_detector.export.verify import verification_batch
    from anime_detector.system import available_cpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--calibration-dir", type=Path, required=True)
    parser.add_argument("--verify-dir", type=Path, default=Path("examples/sample"))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    threads = available_cpus()
    calibration = verification_batch(args.calibration_dir, limit=64)[0]
    engines = {
        "litert fp32": litert_runner(to_tflite(args.run / "model.keras", None), threads),
        "litert int8": litert_runner(to_tflite(args.run / "model.keras", calibration), threads),
    }
    int8 = f"int8-{resolve_int8_target('auto')}"
    for precision, name in (("fp32", "fp32"), ("int8", int8)):
        det = Detector.load(args.run / f"model-{name}.onnx", device="cpu", spin=False)
        engines[f"onnxruntime {precision}"] = det.run
    real = verification_batch(args.verify_dir, limit=64)[0]
    outputs = {name: np.concatenate([run(real[i : i + 1]) for i in range(len(real))])
               for name, run in engines.items()}
    probe = np.random.default_rng(0).uniform(-120, 130, (1, 224, 224, 3)).astype(np.float32)
    times: dict[str, list[float]] = {name: [] for name in engines}
    before = matmul_gflops()
    for _ in range(args.rounds):
        for name, run in engines.items():
            started = time.perf_counter()
            run(probe)
            times[name].append((time.perf_counter() - started) * 1000.0)
    after = matmul_gflops()
    p50 = {name: median(values) for name, values in times.items()}
    reference = outputs["onnxruntime fp32"]
    fidelity = {name: {"max_abs_diff_vs_onnx_fp32": float(np.abs(out - reference).max()),
                       "label_agreement_vs_onnx_fp32":
                           float((out.argmax(1) == reference.argmax(1)).mean())}
                for name, out in outputs.items()}
    ratio = p50["litert int8"] / p50["onnxruntime int8"]
    report = {"threads": threads, "p50_ms": p50, "times_ms": times, "fidelity": fidelity,
              "images_for_fidelity": len(real), "onnx_int8_vs_litert_int8": ratio,
              "matmul_gflops": {"before": before, "after": after}}
    lines = ["| engine, batch 1 | p50 ms | max dp vs ONNX fp32 | label agreement |",
             "|---|---|---|---|"]
    lines += [f"| {n} | {p50[n]:.1f} | {fidelity[n]['max_abs_diff_vs_onnx_fp32']:.2e} | "
              f"{fidelity[n]['label_agreement_vs_onnx_fp32']:.1%} |" for n in engines]
    lines += ["", f"ONNX int8 / LiteRT int8 speed = {ratio:.2f}x (target >= 1.5x); "
              f"{threads} threads; matmul probe {before:.0f} -> {after:.0f} GFLOP/s; "
              f"fidelity on {len(real)} images from {args.verify_dir}; {machine_line()}"]
    save("litert", report, "\n".join(lines))


if __name__ == "__main__":
    main()
