"""``anime-detector train``: fit the classifier on an image folder (``[train]`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from anime_detector.choices import BACKBONE_NAMES, DEFAULT_BACKBONE, preset_help
from anime_detector.cli.common import fail, train_extra, user_errors

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
        help=f"{', '.join(BACKBONE_NAMES)}, or PATH to an image encoder: "
             ".keras/.h5/SavedModel or .onnx (frozen; give --preprocess). The model file "
             "records it; predict/eval/bench need no flag.")]
    = DEFAULT_BACKBONE,
    head: Annotated[str, typer.Option(help="seed (pool, dropout, dense 256/128/2) or linear "
                                      "(one dense layer, for strong encoders).")] = "seed",
    backbone_output: Annotated[str | None, typer.Option(
        help="Encoder file: the output (ONNX) or layer (Keras) the head reads.")] = None,
    preprocess: Annotated[str | None, typer.Option(
        help=f"Encoder file: how it wants its pixels: {preset_help()}.")] = None,
    mean: Annotated[str | None, typer.Option(
        help="Encoder file: per-channel mean in scaled units, e.g. 0.485,0.456,0.406.")] = None,
    std: Annotated[str | None, typer.Option(
        help="Encoder file: per-channel std in scaled units, e.g. 0.229,0.224,0.225.")] = None,
    scale: Annotated[str | None, typer.Option(help="Encoder file: pixel scale, e.g. 1/255.")]
    = None,
    channel_order: Annotated[str | None, typer.Option(help="Encoder file: RGB or BGR.")]
    = None,
    input_size: Annotated[str | None, typer.Option(
        help="Encoder file: H or HxW; required when its input size is dynamic.")] = None,
    resize: Annotated[str | None, typer.Option(
        help="Encoder file: squash (default) or center-crop (shorter side, then crop).")]
    = None,
) -> None:
    """Fit the classifier (a frozen backbone + the dense head) on an image folder."""
    from anime_detector.encoder_spec import parse_numbers, parse_size

    if head not in ("seed", "linear"):
        fail(f"unknown --head {head!r}; choose seed or linear")
    try:
        scales = parse_numbers("scale", scale)
        size = parse_size(input_size)
        means, stds = parse_numbers("mean", mean), parse_numbers("std", std)
    except ValueError as exc:
        fail(str(exc))
    if scales is not None and len(scales) != 1:
        fail(f"--scale {scale!r}: expected one number")
    with train_extra():
        from anime_detector.train import fit
    from anime_detector.jobs.summaries import format_train_summary
    from anime_detector.train.encoder_options import EncoderOptions

    pixels = EncoderOptions(preprocess=preprocess, mean=means, std=stds,
                            scale=scales[0] if scales else None, channel_order=channel_order,
                            input_size=size, resize=resize)
    config = fit.TrainConfig(
        data_dir=data_dir, out_dir=out, weights=weights, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, val_split=val_split, val_dir=val_dir, seed=seed,
        augment=augment, feature_cache=feature_cache, cache_dir=cache_dir, overwrite=overwrite,
        backbone=backbone, head=head, backbone_output=backbone_output, pixels=pixels,
    )
    with user_errors():
        result = fit.train(config, log=lambda line: typer.echo(line, err=True))
    typer.echo(format_train_summary(result))
