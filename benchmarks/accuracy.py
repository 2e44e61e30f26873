"""Accuracy on a real pretrained encoder, and what each engine and precision costs in it.

The encoder is nsfwjs's MobileNetV2, or with ``--encoder inception_v3`` its InceptionV3
(``nsfwjs_encoder.py``; needs node and npm once).
For each of ``--folds`` stratified folds of ``examples/sample`` the head is trained
(``train --backbone nsfwjs-mnv2.onnx --preprocess unit``) on the other folds and exported
as fp32, fp16, int8 for each target (avx2, vnni, arm64) and ncnn; every engine and
precision then scores the held-out fold. Over all folds, per row: accuracy, ROC-AUC, and
against onnxruntime fp32 the max and mean |dp| and the label agreement.

    python benchmarks/accuracy.py                 # 5 folds, the seed's head
    python benchmarks/accuracy.py --folds 2 --head linear
    python benchmarks/accuracy.py --encoder inception_v3   # writes accuracy-inception_v3.*

Writes ``results/accuracy.json`` and ``.md`` with the CPU and its flags. Times nothing.
The int8 arm64 file runs here on x86 (its numbers are onnxruntime's x86 kernels'); the
OpenVINO int8 row runs the vnni file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import SAMPLE, machine_line, save
from nsfwjs_encoder import MODELS, NodeMissing, nsfwjs_encoder

from anime_detector.choices import INT8_CPU_FAMILIES

from helpers.folds import fold_folders


def _train(encoder: Path, train: Path, folder: Path, head: str, epochs: int) -> Path:
    from anime_detector.train.encoder_options import EncoderOptions
    from anime_detector.train.fit import TrainConfig
    from anime_detector.train.fit import train as fit

    run = folder / "run"
    fit(TrainConfig(data_dir=train, out_dir=run, epochs=epochs, batch_size=8, val_split=0.0,
                    cache_dir=folder.parent / "cache", backbone=str(encoder), head=head,
                    pixels=EncoderOptions(preprocess="unit")), log=lambda _: None)
    return run / "model.keras"


def _exports(model: Path, train: Path, folder: Path) -> dict[str, Path | str]:
    """Every file to score; a failed export is its one-line reason instead."""
    from anime_detector.errors import describe_error
    from anime_detector.export import to_onnx
    from anime_detector.export.dispatch import export_model

    quiet: Callable[[str], None] = lambda _: None  # noqa: E731
    jobs: dict[str, Callable[[Path], Any]] = {
        "fp32": lambda out: to_onnx(model, out, verify_dir=train, log=quiet),
        "fp16": lambda out: to_onnx(model, out, precision="fp16", log=quiet),
        **{f"int8-{t}": (lambda out, t=t: to_onnx(model, out, precision="int8",
                                                   calibration_dir=train, int8_target=t,
                                                   log=quiet)) for t in INT8_CPU_FAMILIES},
        "ncnn": lambda out: export_model(folder / "fp32.onnx", out, fmt="ncnn", log=quiet),
    }
    files: dict[str, Path | str] = {}
    for name, job in jobs.items():
        out = folder / (name if name == "ncnn" else f"{name}.onnx")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                job(out)
            files[name] = out
        except Exception as exc:  # one line per failing export, the rest go on
            files[name] = describe_error(exc)
    return files


def rows(bf16: bool) -> list[tuple[str, str, str, str | None]]:
    """(row, file, engine, engine precision) to score."""
    table = [("onnxruntime fp32", "fp32", "onnxruntime", None),
             ("onnxruntime fp16", "fp16", "onnxruntime", None),
             *((f"onnxruntime int8 ({t})", f"int8-{t}", "onnxruntime", None)
               for t in INT8_CPU_FAMILIES),
             ("openvino fp32", "fp32", "openvino", "fp32")]
    if bf16:
        table.append(("openvino bf16", "fp32", "openvino", "bf16"))
    table += [("openvino int8 (vnni file)", "int8-vnni", "openvino", None),
              ("ncnn fp32", "ncnn", "ncnn", "fp32"), ("ncnn fp16", "ncnn", "ncnn", "fp16")]
    return table


def _scores(path: Path, engine: str, precision: str | None, images: list[Path]) -> list[float]:
    from anime_detector import Detector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # int8 target notes: the rows name the target
        detector = Detector.load(path, device="cpu", engine=engine, precision=precision)
    return [p.score for p in detector.predict(images, batch_size=8)]


def summary(scores: dict[str, list[float]], labels: np.ndarray) -> list[dict[str, Any]]:
    """Per row: accuracy, ROC-AUC, and vs onnxruntime fp32 max/mean |dp| and agreement."""
    from anime_detector.classification_metrics import roc_auc

    reference = np.array(scores["onnxruntime fp32"])
    out = []
    for row, values in scores.items():
        s = np.array(values)
        dp = np.abs(s - reference)
        out.append({"row": row, "images": len(s),
                     "accuracy": float(((s >= 0.5) == labels).mean()),
                     "roc_auc": roc_auc(labels, s), "max_dp": float(dp.max()),
                     "mean_dp": float(dp.mean()),
                     "label_agreement": float(((s >= 0.5) == (reference >= 0.5)).mean())})
    return out


def markdown(table: list[dict[str, Any]], errors: dict[str, str], args: Any) -> str:
    encoder = {"mobilenet_v2": "MobileNetV2", "inception_v3": "InceptionV3"}[args.encoder]
    lines = [f"Accuracy of the nsfwjs {encoder} encoder + the {args.head} head, "
             f"{args.folds}-fold on examples/sample ({table[0]['images']} held-out "
             "predictions)", "", machine_line(), "",
             "| engine, precision | accuracy | ROC-AUC | max \\|dp\\| vs fp32 | "
             "mean \\|dp\\| | label agreement |", "|---|---|---|---|---|---|"]
    for r in table:
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
        lines.append(f"| {r['row']} | {r['accuracy']:.1%} | {auc} | {r['max_dp']:.2e} | "
                     f"{r['mean_dp']:.2e} | {r['label_agreement']:.1%} |")
    lines += [f"| {row} | failed: {why} | | | | |" for row, why in errors.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--head", choices=("seed", "linear"), default="seed")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--encoder", choices=sorted(MODELS), default="mobilenet_v2")
    args = parser.parse_args(argv)
    try:
        encoder = nsfwjs_encoder(log=lambda line: print(line, file=sys.stderr),
                                 model=args.encoder).onnx
    except NodeMissing as exc:
        print(f"skipped: {exc}")
        return 0
    from anime_detector.engines.openvino import BF16_FLAGS
    from anime_detector.system import cpu_flags

    table = rows(bool(set(BF16_FLAGS) & cpu_flags()))
    scores: dict[str, list[float]] = {row: [] for row, *_ in table}
    errors: dict[str, str] = {}
    labels: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fold in range(args.folds):
            folder = Path(tmp) / f"fold{fold}"
            train, val = fold_folders(SAMPLE, folder, fold, args.folds)
            files = _exports(_train(encoder, train, folder, args.head, args.epochs), train,
                             folder)
            images = sorted(p for p in val.rglob("*") if p.is_file())
            labels += [p.parent.name == "anime" for p in images]
            for row, name, engine, precision in table:
                target = files[name]
                if isinstance(target, str):
                    errors[row] = f"export {name}: {target}"
                    continue
                try:
                    scores[row] += _scores(target, engine, precision, images)
                except Exception as exc:
                    errors[row] = f"{engine}: {' '.join(str(exc).split())[:200]}"
            print(f"fold {fold + 1}/{args.folds} done", file=sys.stderr)
    complete = {row: s for row, s in scores.items() if row not in errors}
    result = summary(complete, np.array(labels))
    name = "accuracy" if args.encoder == "mobilenet_v2" else f"accuracy-{args.encoder}"
    save(name, {"encoder": f"nsfwjs 4.4.0 {args.encoder}", "head": args.head,
                      "folds": args.folds, "rows": result, "errors": errors},
         markdown(result, errors, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
