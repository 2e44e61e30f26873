"""int8 recipes on a real pretrained encoder: what each costs in answers, and what it buys.

The model: nsfwjs's MobileNetV2 encoder, or with ``--encoder inception_v3`` its InceptionV3
(``benchmarks/nsfwjs_encoder.py``), global average
pooling and a linear head (logistic regression on the pooled features), composed into one
ONNX graph with ``input``/``output`` as export writes them. k-fold over the shipped sample
set (``examples/sample``): in each fold the head is fitted on the other folds, the int8
file is calibrated on them, and every number is measured on the held-out fold, images
neither the head nor the calibration saw.

For each recipe of ``export.int8_tuning`` (and what ``tune_int8`` chooses): accuracy,
label agreement with fp32, mean and max |dp| against fp32, and speed against fp32
(batch 1, onnxruntime, interleaved rounds, this CPU).

    python benchmarks/int8_recipes.py [--folds 5] [--encoder inception_v3] [--out DIR]

Prints a Markdown table and writes ``int8_recipes.json`` / ``.md`` beside the others
(``int8_recipes-inception_v3.*`` for that encoder).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine_line
from nsfwjs_encoder import MODELS, NodeMissing, nsfwjs_encoder

ROOT = Path(__file__).resolve().parents[1]


def labelled_images(folder: Path) -> tuple[list[Path], np.ndarray]:
    from anime_detector.dataset import discover

    samples = discover(folder)
    return [s.path for s in samples], np.array([s.label for s in samples])


def pixels(paths: list[Path], size: int = 224) -> np.ndarray:
    from anime_detector.encoder_spec import encoder_spec
    from anime_detector.preprocessing import load_image, preprocess

    spec = encoder_spec("unit", (size, size))
    return np.stack([preprocess(load_image(p), spec) for p in paths])


def with_linear_head(encoder: Any, weights: np.ndarray, bias: float) -> Any:
    """encoder -> ReduceMean over H, W -> [z, 0] -> Softmax: p(anime) = sigmoid(z)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(encoder)
    graph = model.graph
    feature = graph.output[0].name
    del graph.output[:]
    w = np.zeros((weights.size, 2), np.float32)
    w[:, 0] = weights
    b = np.array([bias, 0.0], np.float32)
    graph.initializer.extend([numpy_helper.from_array(w, "head_w"),
                              numpy_helper.from_array(b, "head_b")])
    graph.node.extend([  # opset 13: ReduceMean takes its axes as an attribute
        helper.make_node("ReduceMean", [feature], ["pooled"], axes=[1, 2], keepdims=0,
                         name="head_pool"),
        helper.make_node("MatMul", ["pooled", "head_w"], ["logits0"], name="head_matmul"),
        helper.make_node("Add", ["logits0", "head_b"], ["logits"], name="head_add"),
        helper.make_node("Softmax", ["logits"], ["output"], axis=1, name="head_softmax"),
    ])
    graph.output.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 2]))
    onnx.checker.check_model(model)
    return model


def pooled_features(encoder: Any, batch: np.ndarray) -> np.ndarray:
    return _run(encoder, batch).mean(axis=(1, 2))


def _run(model: Any, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    name = session.get_outputs()[0].name
    return np.concatenate([session.run([name], {"input": batch[i : i + 8]})[0]
                           for i in range(0, len(batch), 8)])


def fit_head(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression for p(anime); label 0 is anime (the contract's first label)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000, C=1.0).fit(features, (labels == 0).astype(int))
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


def folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def run(folds_k: int, out: Path, encoder_name: str = "mobilenet_v2") -> dict[str, Any]:
    import onnx

    from anime_detector.export.int8_tuning import (
        Int8Recipe,
        Int8Tolerance,
        Int8TuningError,
        first_recipes,
        node_sensitivity,
        speed_vs_fp32,
        tune_int8,
    )
    from anime_detector.export.precision import prepare_for_int8, resolve_int8_target, to_int8
    from anime_detector.export.verify import compare

    files = nsfwjs_encoder(log=lambda line: print(line, file=sys.stderr), model=encoder_name)
    encoder = onnx.load(str(files.onnx))
    paths, labels = labelled_images(ROOT / "examples" / "sample")
    batch = pixels(paths, files.size)
    features = pooled_features(encoder, batch)
    target = resolve_int8_target("auto")
    rows: dict[str, dict[str, list[float]]] = {}
    chosen: list[str] = []
    for fold, held in enumerate(folds(len(paths), folds_k)):
        train = np.setdiff1d(np.arange(len(paths)), held)
        w, b = fit_head(features[train], labels[train])
        fp32 = prepare_for_int8(with_linear_head(encoder, w, b))
        ref = _run(fp32, batch[held])
        truth = labels[held]

        def record(name: str, probs: np.ndarray, speed: float | None,
                   ref: np.ndarray = ref, truth: np.ndarray = truth) -> None:
            add_row(rows.setdefault(name, {}), compare(ref, probs, "fp32", name),
                    probs, truth, speed)

        record("fp32", ref, 1.0)
        calib = batch[train]
        quantized = to_int8(fp32, calib, target)
        sensitivity = node_sensitivity(fp32, quantized, calib[:16])
        recipes = [*first_recipes(),
                   Int8Recipe("all nodes, Entropy", "Entropy"),  # export skips it: is it MinMax?
                   *(Int8Recipe(f"{k} most sensitive conv(s) in fp32, MinMax", "MinMax",
                                tuple(n for n, _ in sensitivity[:k])) for k in (1, 2, 4, 8))]
        for recipe in recipes:
            model = to_int8(fp32, calib, target, calibrate=recipe.calibrate,
                            keep_fp32=recipe.keep_fp32)
            speed = speed_vs_fp32(fp32, model, batch[held[0]]) if fold == 0 else None
            record(recipe.name, _run(model, batch[held]), speed)
        # what export does: tune on a held-out part of the calibration images
        cut = len(calib) // 2  # as export does without --verify-dir
        try:
            tuned = tune_int8(fp32, calib[cut:], calib[:cut], target, Int8Tolerance(),
                              log=lambda line: None)
            chosen.append(tuned.recipe.name)
            speed = speed_vs_fp32(fp32, tuned.model, batch[held[0]]) if fold == 0 else None
            record("tune_int8 (export's choice)", _run(tuned.model, batch[held]), speed)
        except Int8TuningError as exc:
            chosen.append(f"none: {exc}")
        print(f"fold {fold + 1}/{folds_k} done", file=sys.stderr)
    report = {"encoder": f"nsfwjs {encoder_name}", "machine": machine_line(),
              "target": target, "images": len(paths),
              "folds": folds_k, "chosen": chosen,
              "rows": {name: summarise(row) for name, row in rows.items()},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    write(report, out)
    return report


def add_row(row: dict[str, list[float]], check: Any, probs: np.ndarray, truth: np.ndarray,
            speed: float | None) -> None:
    for key in ("correct", "images", "agree", "mean_dp", "max_dp", "speed"):
        row.setdefault(key, [])
    row["correct"].append(float((probs.argmax(1) == truth).sum()))
    row["images"].append(float(len(truth)))
    row["agree"].append(check.label_agreement * len(truth))
    row["mean_dp"].append(check.mean_abs_diff)
    row["max_dp"].append(check.max_abs_diff)
    if speed is not None:
        row["speed"].append(speed)


def summarise(row: dict[str, list[float]]) -> dict[str, Any]:
    images = sum(row["images"])
    return {"correct": int(sum(row["correct"])), "images": int(images),
            "accuracy": sum(row["correct"]) / images,
            "label_agreement": sum(row["agree"]) / images,
            "mean_abs_dp": float(np.mean(row["mean_dp"])),
            "max_abs_dp": float(np.max(row["max_dp"])),
            "speed_vs_fp32": float(np.median(row["speed"])) if row["speed"] else None}


def table(report: dict[str, Any]) -> str:
    lines = ["| recipe | correct | accuracy | labels = fp32 | mean \\|dp\\| | max \\|dp\\| "
             "| speed vs fp32 |", "|---|---|---|---|---|---|---|"]
    for name, r in report["rows"].items():
        speed = "-" if r["speed_vs_fp32"] is None else f"{r['speed_vs_fp32']:.2f}x"
        lines.append(f"| {name} | {r['correct']}/{r['images']} | {r['accuracy']:.1%} | "
                     f"{r['label_agreement']:.1%} | {r['mean_abs_dp']:.3f} | "
                     f"{r['max_abs_dp']:.3f} | {speed} |")
    lines += ["", f"{report.get('encoder', 'nsfwjs mobilenet_v2')}; "
              f"{report['machine']}; int8 target {report['target']}; "
              f"{report['folds']}-fold over {report['images']} images; {report['date']}",
              "tune_int8 chose, per fold: " + "; ".join(report["chosen"])]
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    encoder = report.get("encoder", "nsfwjs mobilenet_v2").split()[-1]
    stem = "int8_recipes" if encoder == "mobilenet_v2" else f"int8_recipes-{encoder}"
    for name, text in ((f"{stem}.json", json.dumps(report, indent=1)),
                       (f"{stem}.md", table(report) + "\n")):
        tmp = out / (name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--encoder", choices=sorted(MODELS), default="mobilenet_v2")
    args = parser.parse_args(argv)
    try:
        report = run(args.folds, args.out, args.encoder)
    except NodeMissing as exc:
        print(f"int8_recipes: skipped: {exc}")
        return 0
    print(table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
