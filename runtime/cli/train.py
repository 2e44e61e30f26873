"""``anime-detector train``: fit the classifier on an image folder (``[train]`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import import_train_extra, user_errors

__all__ = ["train"]


def train(
    data_dir: Annotated[Path, typer.Argument(help="Folder with anime/ and not_anime/ inside.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to create.")],
    weights: Annotated[str, typer.Option(help="imagenet (download), a local no-top .h5 path "
                                         "for the chosen backbone, or none (random backbone: "
                                         "smoke runs only).")]
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
    backbone: Annotated[str, typer.Option(
        help="vgg19 (default, the original), mobilenetv3small, mobilenetv3large or "
             "efficientnetv2b0. The model file records it; predict/eval/bench need no flag.")]
    = "vgg19",
) -> None:
    """Fit the classifier (a frozen backbone + the dense head) on an image folder."""
    fit = import_train_extra("anime_detector.train.fit")
    from anime_detector.jobs.summaries import format_train_summary

    config = fit.TrainConfig(
        data_dir=data_dir, out_dir=out, weights=weights, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, val_split=val_split, val_dir=val_dir, seed=seed,
        augment=augment, feature_cache=feature_cache, cache_dir=cache_dir, overwrite=overwrite,
        backbone=backbone,
    )
    with user_errors():
        result = fit.train(config, log=lambda line: typer.echo(line, err=True))
    typer.echo(format_train_summary(result))
