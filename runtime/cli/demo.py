"""``anime-detector demo``: the whole pipeline on the sample set, into one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anime_detector.choices import DEFAULT_BACKBONE, preset_help
from anime_detector.cli.common import train_extra, user_errors

__all__ = ["demo"]


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for every artifact.")]
    = Path("demo-run"),
    data: Annotated[Path | None, typer.Option(
        help="Labelled folder (anime/, not_anime/); default: the shipped sample set.")] = None,
    weights: Annotated[str, typer.Option(help="imagenet (falls back to none when offline), "
                                         "a local .h5, or none.")] = "imagenet",
    run: Annotated[Path | None, typer.Option(help="Reuse this train run folder instead of "
                                             "training.")] = None,
    backbone: Annotated[str, typer.Option(
        help="As train's: a backbone name or an encoder file (.keras/.h5/SavedModel/.onnx).")]
    = DEFAULT_BACKBONE,
    preprocess: Annotated[str | None, typer.Option(
        help=f"An encoder file's pixels: {preset_help()}.")] = None,
) -> None:
    """The whole pipeline on the sample set: train, export, predict, eval, bench."""
    with train_extra():
        from anime_detector import demo as pipeline
    from anime_detector.jobs.summaries import format_demo_summary

    with user_errors():
        summary = pipeline.run_demo(data, out, weights,
                                    log=lambda line: typer.echo(line, err=True), run_dir=run,
                                    backbone=backbone, preprocess=preprocess)
    typer.echo(format_demo_summary(summary))
