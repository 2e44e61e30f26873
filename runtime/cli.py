"""The ``anime-detector`` command line: thin commands over library functions.

``predict``, ``eval`` (ONNX) and ``bench`` need only the runtime; ``train``,
``export`` and Keras models need the ``[train]`` extra, imported inside the
command. ``--help`` and ``--version`` load no onnxruntime.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from anime_detector._version import __version__
from anime_detector.errors import AnimeDetectorError

__all__ = ["app", "main"]

app = typer.Typer(
    name="anime-detector",
    help="Tell anime character art from photos and western cartoons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
TRAIN_HINT = "this command needs the training extra: pip install 'anime-detector[cpu,train]'"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one ``error:`` line on stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the toolkit's own errors into one line and exit code 2."""
    try:
        yield
    except AnimeDetectorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)


def import_train_extra(module: str) -> Any:
    """Import a ``[train]``-only module, or exit 2 with the install hint."""
    import importlib
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        fail(f"{TRAIN_HINT} ({exc})")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"anime-detector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Tell anime character art from photos and western cartoons."""


DeviceOpt = Annotated[Device, typer.Option(help="auto: CUDA if it really runs, else CPU.")]
ThreadsOpt = Annotated[
    int | None, typer.Option(min=1, help="CPU threads (default: the CPUs this process may use).")
]


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model.")],
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
    = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
    = OutputFormat.table,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per inference call.")] = 8,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="P(anime) needed for 'anime' "
                                      "(default: the model's, 0.5).")
    ] = None,
    device: DeviceOpt = Device.auto,
    threads: ThreadsOpt = None,
    annotate: Annotated[
        Path | None, typer.Option(help="Also write a labelled copy of each image here.")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated labels for a model without metadata.")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar on stderr "
                                     "(default: on a terminal, for 8+ images).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Report providers on stderr.")]
    = False,
) -> None:
    """Classify images with an exported model. Exit 1 if any input failed."""
    from anime_detector.detector import Detector
    from anime_detector.output import make_writer
    from anime_detector.predict_files import predict_files

    with user_errors():
        label_list = [s.strip() for s in labels.split(",")] if labels else None
        detector = Detector.load(model, device=device.value, threads=threads, labels=label_list)
        if verbose:
            typer.echo(f"model {model}: providers {detector.providers}", err=True)
        writer = make_writer(fmt.value, sys.stdout, detector.labels)
        summary = predict_files(
            detector, inputs, writer.write, recursive=recursive, batch_size=batch_size,
            threshold=threshold, annotate_dir=annotate, progress=progress,
        )
        writer.close()
    if verbose or (fmt is OutputFormat.table and summary.total > 1):
        typer.echo(f"{summary.total - summary.failed}/{summary.total} predicted, "
                   f"{summary.failed} failed", err=True)
    raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)


@app.command()
def train(
    data_dir: Annotated[Path, typer.Argument(help="Folder with anime/ and not_anime/ inside.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create.")],
    weights: Annotated[str, typer.Option(help="imagenet (download), a local notop .h5 path, "
                                         "or none (random backbone: smoke runs only).")]
    = "imagenet",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    val_split: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.15,
    val_dir: Annotated[Path | None, typer.Option(help="Explicit validation folder.")] = None,
    seed: int = 0,
    augment: Annotated[int, typer.Option(min=0, help="K random views (flip, crop) per image.")]
    = 0,
    feature_cache: Annotated[bool, typer.Option("--feature-cache/--no-feature-cache",
                                                help="Fit the head on cached pooled features.")]
    = True,
    cache_dir: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    backbone: Annotated[str, typer.Option(hidden=True)] = "vgg19",
) -> None:
    """Fit the VGG19-head classifier on an image folder (needs the [train] extra)."""
    fit = import_train_extra("anime_detector.train.fit")
    config = fit.TrainConfig(
        data_dir=data_dir, out_dir=out, weights=None if weights.lower() == "none" else weights,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, val_split=val_split,
        val_dir=val_dir, seed=seed, augment=augment, feature_cache=feature_cache,
        cache_dir=cache_dir, overwrite=overwrite, backbone=backbone,
    )
    with user_errors():
        result = fit.train(config, log=lambda line: typer.echo(line, err=True))
    from anime_detector.summary import format_train_summary

    typer.echo(format_train_summary(result))


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help=".keras, legacy .h5 or a SavedModel folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .onnx file to write.")],
    precision: Annotated[Precision, typer.Option(help="fp32, fp16 or int8 (static QDQ).")]
    = Precision.fp32,
    opset: Annotated[int, typer.Option(min=13)] = 17,
    verify: Annotated[bool, typer.Option("--verify/--no-verify",
                                         help="Compare Keras and onnxruntime outputs.")] = True,
    verify_dir: Annotated[Path | None, typer.Option(help="Images to verify on "
                                                       "(default: 16 generated).")] = None,
    calibration_dir: Annotated[Path | None, typer.Option(help="Real images for int8.")]
    = None,
    atol: Annotated[float, typer.Option(help="Max |dp| allowed for fp32.")] = 1e-4,
    max_delta: Annotated[float, typer.Option(help="Max |dp| vs fp32 for fp16/int8 before "
                                             "warning.")] = 0.05,
    strict: Annotated[bool, typer.Option(help="Fail instead of warning for fp16/int8.")]
    = False,
    unsafe: Annotated[bool, typer.Option(help="Allow Lambda-layer code (trusted files only).")]
    = False,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Decision threshold "
                                             "stored in the file.")] = 0.5,
) -> None:
    """Convert a trained Keras model to a verified, self-describing ONNX file."""
    exporter = import_train_extra("anime_detector.export")
    with user_errors():
        report = exporter.to_onnx(
            model, out, precision=precision.value, opset=opset, verify=verify,
            verify_dir=verify_dir, calibration_dir=calibration_dir, atol=atol,
            max_delta=max_delta, strict=strict, unsafe=unsafe, threshold=threshold,
            log=lambda line: typer.echo(line, err=True),
        )
    typer.echo("\n".join(report.lines()))


def load_any_detector(model: Path, device: str = "auto", threads: int | None = None) -> Any:
    """A ``Detector`` for an ``.onnx`` file, or (with the train extra) a ``.keras``/``.h5`` one."""
    if model.suffix.lower() in (".keras", ".h5", ".hdf5"):
        keras_detector = import_train_extra("anime_detector.train.keras_detector")
        return keras_detector.KerasDetector.load_keras(model)
    from anime_detector.detector import Detector

    return Detector.load(model, device=device, threads=threads)


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


@app.command("eval")
def eval_command(
    model: Annotated[Path, typer.Argument(help=".onnx (runtime only) or .keras (train extra).")],
    data_dir: Annotated[Path, typer.Argument(help="Folder with anime/ and not_anime/.")],
    compare: Annotated[Path | None, typer.Option(help="A second model on the same "
                                                    "images.")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", "-f")] = TableOrJson.table,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    device: DeviceOpt = Device.auto,
) -> None:
    """Accuracy, per-class P/R/F1, confusion matrix, ROC-AUC and mistakes on a labelled folder."""
    import json

    from anime_detector.evaluate import compare_models, evaluate
    from anime_detector.summary import format_eval

    with user_errors():
        reports = [evaluate(load_any_detector(m, device.value), data_dir, threshold, batch_size)
                   for m in ([model, compare] if compare else [model])]
    comparison = compare_models(*reports) if compare else None
    if fmt is TableOrJson.json:
        payload: dict[str, Any] = {"report": reports[0]}
        if comparison:
            payload.update(compare_report=reports[1], comparison=comparison)
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo(format_eval(reports, comparison))


@app.command()
def bench(
    models: Annotated[list[Path] | None, typer.Argument(
        help=".onnx files (default: a cached random-weight VGG19-head reference graph).")] = None,
    keras_model: Annotated[Path | None, typer.Option("--keras", help="Also time this "
                                                        ".keras model (predict, tf.function).")]
    = None,
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,8",
    warmup: Annotated[int, typer.Option(min=0)] = 3,
    runs: Annotated[int, typer.Option(min=1)] = 20,
    threads: ThreadsOpt = None,
    device: DeviceOpt = Device.auto,
    fmt: Annotated[TableOrJson, typer.Option("--format", "-f")] = TableOrJson.table,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")]
    = None,
    cold_start: Annotated[bool, typer.Option("--cold-start/--no-cold-start",
                                             help="Measure cold start and peak RSS in a "
                                             "fresh process per engine.")] = True,
) -> None:
    """Latency (p50/p90/p99), throughput, cold start and memory per engine and batch size."""
    import json

    from anime_detector.bench import EngineSpec, format_table, run_bench
    from anime_detector.fsutil import atomic_write_text
    from anime_detector.reference_graph import cached_reference_model

    with user_errors():
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
        paths = [str(m) for m in models] if models else [str(cached_reference_model())]
        specs = [EngineSpec("onnx", p, device.value, threads) for p in paths]
        if keras_model is not None:
            import_train_extra("anime_detector.train.keras_engines")
            specs = [EngineSpec(k, str(keras_model), "cpu", threads)
                     for k in ("keras-predict", "keras-function")] + specs
        report = run_bench(specs, sizes, warmup, runs, cold_start=cold_start)
    text = json.dumps(report, indent=2)
    if output:
        atomic_write_text(output, text + "\n")
    typer.echo(text if fmt is TableOrJson.json else format_table(report))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for every artifact.")]
    = Path("demo-run"),
    data: Annotated[Path, typer.Option(help="Labelled folder (anime/, not_anime/).")]
    = Path("examples/sample"),
    weights: Annotated[str, typer.Option(help="imagenet (falls back to none when offline), "
                                         "a local .h5, or none.")] = "imagenet",
) -> None:
    """The whole pipeline on the sample set: train, export, predict, eval, bench."""
    pipeline = import_train_extra("anime_detector.train.demo")
    with user_errors():
        summary = pipeline.run_demo(data, out, None if weights.lower() == "none" else weights,
                                    log=lambda line: typer.echo(line, err=True))
    lines = [f"artifacts in {summary['out']}/ (train/, model.onnx, annotated/, "
             "predictions.jsonl, eval.json, bench.json)",
             f"backbone weights: {summary['weights']}"
             + ("  <- random backbone: SMOKE RUN, accuracy is meaningless"
                if summary["weights"] == "None" else ""),
             f"validation accuracy (train split): {summary['val_accuracy']:.3f}",
             *summary["export"],
             f"eval on {summary['keras_vs_onnx']['images']} images: onnx accuracy "
             f"{summary['eval_onnx_accuracy']:.3f}; keras vs onnx label agreement "
             f"{summary['keras_vs_onnx']['label_agreement']:.1%}, max |dp| "
             f"{summary['keras_vs_onnx']['max_abs_diff']:.2e}",
             summary["bench"]]
    for p in summary["predictions"]:
        lines.insert(-1, f"  {p.get('label', 'ERROR'):<10} {p.get('score', 0):.3f}  {p['path']}")
    typer.echo("\n".join(lines))


def main() -> None:
    """Console-script entry point."""
    app()


