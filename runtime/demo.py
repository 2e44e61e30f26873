"""``demo``: the whole pipeline on a folder (the shipped sample set by default).

The one runtime module that uses ``train`` and ``export`` (it needs the ``[train]``
extra): a layer of its own between them and the command line.

train -> export (verified) -> predict a few images (with annotated copies) ->
eval the .keras and the .onnx side by side -> bench, all in one run folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anime_detector.choices import DEFAULT_BACKBONE
from anime_detector.detector import Detector
from anime_detector.errors import SourceError
from anime_detector.evaluate import compare_models, evaluate
from anime_detector.file_io import atomic_write_text
from anime_detector.image_paths import walk_images
from anime_detector.jobs.predict_files import predict_files
from anime_detector.train.encoder_options import EncoderOptions
from anime_detector.train.fit import TrainConfig, train
from anime_detector.train.model import WeightsError

__all__ = ["run_demo"]


def _train(data: Path, out: Path, weights: str | None, log: Callable[[str], None],
           backbone: str = DEFAULT_BACKBONE, preprocess: str | None = None) -> Any:
    config = TrainConfig(data_dir=data, out_dir=out / "train", weights=weights, overwrite=True,
                         backbone=backbone, pixels=EncoderOptions(preprocess=preprocess))
    try:
        return train(config, log=log)
    except WeightsError as exc:
        log(f"ImageNet weights unavailable: {exc}")
        log("FALLING BACK to --weights none: a random backbone. This is a smoke run; its "
            "accuracy says nothing about the method.")
        config.weights = None
        return train(config, log=log)


def _spread(folder: Path, count: int) -> list[Path]:
    """``count`` images spread evenly through ``folder``'s sorted listing."""
    files = [Path(p) for p in walk_images(folder)]
    step = max(1, len(files) // count)
    return files[::step][:count]


def _reuse(run_dir: Path, log: Callable[[str], None]) -> tuple[Path, dict[str, Any]]:
    """An existing ``train`` run folder's model and metrics (``demo --run``)."""
    keras_path = run_dir / "model.keras"
    if not keras_path.is_file() or not (run_dir / "metrics.json").is_file():
        raise SourceError(run_dir, "not a train run folder (no model.keras and metrics.json)")
    log(f"1/5 train: reusing {run_dir}")
    return keras_path, json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


SAMPLE_SET = Path("examples") / "sample"


def sample_set(checkout: Path | None = None) -> Path:
    """The shipped sample set: in the source checkout this package was installed from
    (editable installs), else in the current folder; a clear error where neither has it
    (a wheel install ships no images)."""
    roots = [checkout or Path(__file__).resolve().parents[1], Path.cwd()]
    for root in roots:
        if (root / SAMPLE_SET / "anime").is_dir():
            return root / SAMPLE_SET
    raise SourceError(SAMPLE_SET, "the sample set ships with the source checkout, not the "
                      "wheel: clone the repository, or pass --data DIR (anime/, not_anime/)")


def run_demo(data: Path | None, out: Path, weights: str | None = "imagenet",
             log: Callable[[str], None] = print, run_dir: Path | None = None,
             backbone: str = DEFAULT_BACKBONE, preprocess: str | None = None) -> dict[str, Any]:
    """Run every step, write its outputs under ``out``, return a summary dict.

    With ``run_dir`` (an existing ``train`` run folder) training is skipped and that
    run's model is exported, predicted, evaluated and benchmarked. ``backbone`` and
    ``preprocess`` are ``train``'s (an encoder file needs ``preprocess``).
    """
    from anime_detector.export import to_onnx
    from anime_detector.timing.report import format_table
    from anime_detector.timing.runner import EngineSpec, run_bench

    out.mkdir(parents=True, exist_ok=True)
    data = data or sample_set()
    if run_dir is not None:
        keras_path, metrics = _reuse(run_dir, log)
    else:
        log("1/5 train")
        metrics = _train(data, out, weights, log, backbone, preprocess).metrics
        keras_path = out / "train" / "model.keras"
    onnx_path = out / "model.onnx"
    log("2/5 export")
    export = to_onnx(keras_path, onnx_path, verify_dir=data, log=log)
    log("3/5 predict")
    detector = Detector.load(onnx_path)
    rows: list[str] = []
    examples = [p for label in ("anime", "not_anime") for p in _spread(data / label, 3)]
    predict_files(detector, [str(p) for p in examples],
                  lambda r: rows.append(json.dumps(r.to_dict(), ensure_ascii=False)),
                  annotate_dir=out / "annotated")
    atomic_write_text(out / "predictions.jsonl", "\n".join(rows) + "\n")
    log("4/5 eval (.keras and .onnx on the same images)")
    reports = [evaluate(Detector.load(keras_path), data), evaluate(detector, data)]
    comparison = compare_models(*reports)
    atomic_write_text(out / "eval.json", json.dumps(
        {"keras": reports[0], "onnx": reports[1], "comparison": comparison}, indent=2))
    log("5/5 bench (batch 1)")
    bench = run_bench([EngineSpec("onnxruntime", str(onnx_path), "auto"),
                       EngineSpec("keras-predict", str(keras_path), "cpu")],
                      [1], warmup=2, runs=5,
                      cold_start=False)
    atomic_write_text(out / "bench.json", json.dumps(bench, indent=2))
    return {
        "out": str(out), "weights": str(metrics["weights"]),
        "random_backbone": metrics["weights"] in (None, "None", "none"),
        "val_accuracy": metrics["accuracy"], "export": export.lines(),
        "predictions": [json.loads(r) for r in rows], "eval_onnx_accuracy": reports[1]["accuracy"],
        "keras_vs_onnx": comparison, "bench": format_table(bench),
    }
