"""``train``: fit the head (on cached features, or end to end) and write a run folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from anime_detector.choices import DEFAULT_BACKBONE
from anime_detector.classification_metrics import classification_report
from anime_detector.contract import DEFAULT_LABELS
from anime_detector.errors import SourceError
from anime_detector.file_io import atomic_dir
from anime_detector.preprocessing import PreprocessSpec
from anime_detector.train.backbones import get_backbone, spec_for
from anime_detector.train.data import Sample, discover, stratified_split
from anime_detector.train.encoder_file import (
    encoder_fingerprint,
    is_encoder_path,
    write_sidecar,
)
from anime_detector.train.encoder_options import EncoderOptions, resolve_encoder
from anime_detector.train.features import (
    FeatureCache,
    backbone_fingerprint,
    default_cache_dir,
    extract_features,
)
from anime_detector.train.model import build_encoder_parts, build_parts, compile_for_training
from anime_detector.train.report import plot_history, write_json
from anime_detector.train.sequence import ImageBatches

__all__ = ["TrainConfig", "TrainResult", "train"]


@dataclass
class TrainConfig:
    """Everything ``train`` needs; defaults follow the original project."""

    data_dir: Path
    out_dir: Path
    weights: str | None = "imagenet"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    val_split: float = 0.15
    val_dir: Path | None = None
    seed: int = 0
    augment: int = 0
    feature_cache: bool = True
    cache_dir: Path | None = None
    overwrite: bool = False
    backbone: str = DEFAULT_BACKBONE  # a key of anime_detector.train.backbones.BACKBONES, or a file
    head: str = "seed"  # or "linear"
    backbone_output: str | None = None  # encoder files: the output (layer) the head reads
    pixels: EncoderOptions = field(default_factory=EncoderOptions)  # encoder files only
    resolved_spec: PreprocessSpec | None = None  # an encoder file's, set by train()

    @property
    def spec(self) -> PreprocessSpec:
        """The backbone's preprocessing: what training feeds it and export records."""
        return self.resolved_spec or spec_for(self.backbone)


@dataclass
class TrainResult:
    """What a run produced (paths inside ``out_dir``) and its headline numbers."""

    out_dir: Path
    metrics: dict[str, Any]
    best_epoch: int
    seconds: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0


class KeepBest(keras.callbacks.Callback):  # type: ignore[misc]
    """Remember the weights of the epoch with the lowest monitored loss, restore at the end."""

    def __init__(self, monitor: str) -> None:
        super().__init__()
        self.monitor, self.best, self.best_epoch, self.weights = monitor, np.inf, 0, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = (logs or {}).get(self.monitor, np.inf)
        if value < self.best:
            self.best, self.best_epoch, self.weights = value, epoch + 1, self.model.get_weights()

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)


def _split(config: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    samples = discover(config.data_dir)
    if config.val_dir is not None:
        return samples, discover(config.val_dir)
    return stratified_split(samples, config.val_split, config.seed)


def _one_hot(labels: np.ndarray) -> np.ndarray:
    one_hot: np.ndarray = np.eye(len(DEFAULT_LABELS), dtype=np.float32)[labels]
    return one_hot


def train(config: TrainConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Fit the model on ``config.data_dir`` and write ``config.out_dir`` atomically."""
    if config.out_dir.exists() and not config.overwrite:
        raise SourceError(config.out_dir, "run folder exists; pass --overwrite to replace it")
    encoder = None
    if is_encoder_path(config.backbone):  # refused here, before any work, if unusable
        encoder, spec = resolve_encoder(config.backbone, config.backbone_output, config.pixels)
        config = replace(config, resolved_spec=spec)
        log(f"encoder {encoder.describe()}; preprocessing {spec.to_json()}")
    else:
        config.pixels.refuse_for_named(config.backbone)
        if config.backbone != "tiny":  # "tiny": the test stand-in, not in the registry
            config = replace(config, backbone=get_backbone(config.backbone).key)
    keras.utils.set_random_seed(config.seed)
    train_set, val_set = _split(config)
    parts = (build_encoder_parts(encoder, config.head) if encoder
             else build_parts(config.weights, config.backbone, config.head))
    fingerprint = (encoder_fingerprint(encoder, config.spec) if encoder
                   else backbone_fingerprint(parts.extractor, config.spec, config.backbone))
    seconds: dict[str, float] = {}
    with atomic_dir(config.out_dir, overwrite=config.overwrite) as tmp:
        if config.feature_cache or (encoder and encoder.kind == "onnx"):
            fit = _fit_on_features(parts, config, train_set, val_set, seconds, log,
                                   fingerprint)
        else:
            fit = _fit_end_to_end(parts, config, train_set, val_set, seconds, log)
        history, best_epoch, skipped = fit.history, fit.best_epoch, fit.skipped
        probs = fit.val_probs
        metrics = classification_report(fit.val_labels, probs.argmax(axis=1), DEFAULT_LABELS,
                                         scores=probs[:, 0], positive_index=0)
        metrics.update(
            images_used=len(train_set) + len(val_set) - len(skipped), images_skipped=len(skipped),
            skipped=[{"path": p, "error": e} for p, e in skipped], train_images=len(train_set),
            val_images=len(val_set), best_epoch=best_epoch,
            weights="encoder file" if encoder else str(config.weights),
            evaluated_on="validation" if fit.on_validation else "training",
            backbone=encoder.describe() if encoder else config.backbone, head=config.head,
            seconds=seconds,
        )
        started = time.perf_counter()
        parts.model.save(tmp / "model.keras")
        seconds["save"] = time.perf_counter() - started
        if encoder:
            write_sidecar(tmp, encoder, config.spec, config.head)
        write_json(tmp / "history.json", {"best_epoch": best_epoch, **history})
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "labels.json", list(DEFAULT_LABELS))
        write_json(tmp / "config.json", {k: str(v) if isinstance(v, Path) else v
                                         for k, v in asdict(config).items()})
        plot_history(history, tmp / "training_curves.png", best_epoch)
    hits, misses = (fit.cache.hits, fit.cache.misses) if fit.cache else (0, 0)
    return TrainResult(config.out_dir, metrics, best_epoch, seconds, hits, misses)


@dataclass
class FitOutput:
    """What either fitting path hands back: curves, best epoch, validation outputs."""

    history: dict[str, list[float]]
    best_epoch: int
    val_probs: np.ndarray  # probabilities of the restored best model on the validation set
    val_labels: np.ndarray
    skipped: list[tuple[str, str]]
    cache: FeatureCache | None = None
    on_validation: bool = True  # False: no validation images, the figures are training ones


def _fit_on_features(parts: Any, config: TrainConfig, train_set: list[Sample],
                     val_set: list[Sample], seconds: dict[str, float],
                     log: Callable[[str], None], fingerprint: str) -> FitOutput:
    started = time.perf_counter()
    root = config.cache_dir or default_cache_dir()
    cache = FeatureCache(root if config.feature_cache else None, fingerprint)
    common = dict(extractor=parts.extractor, cache=cache, spec=config.spec,
                  seed=config.seed, batch_size=config.batch_size, warn=log)
    tr = extract_features(samples=train_set, views=1 + config.augment, **common)
    va = extract_features(samples=val_set, views=1, **common)
    seconds["features"] = time.perf_counter() - started
    if len(tr.labels) == 0:
        raise SourceError(config.data_dir, "no readable training images")
    started = time.perf_counter()
    compile_for_training(parts.head, config.learning_rate)
    has_val = len(va.labels) > 0
    keep = KeepBest("val_loss" if has_val else "loss")
    fit = parts.head.fit(
        tr.features, _one_hot(tr.labels), batch_size=config.batch_size, epochs=config.epochs,
        validation_data=(va.features, _one_hot(va.labels)) if has_val else None,
        shuffle=True, verbose=0, callbacks=[keep],
    )
    seconds["fit"] = time.perf_counter() - started
    val_x, val_y = (va.features, va.labels) if has_val else (tr.features, tr.labels)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    probs = np.asarray(parts.head.predict_on_batch(val_x))
    return FitOutput(history, keep.best_epoch, probs, val_y, tr.skipped + va.skipped, cache,
                     on_validation=has_val)


def _readable(samples: list[Sample], log: Callable[[str], None]) -> tuple[list[Sample],
                                                                           list[tuple[str, str]]]:
    from anime_detector.preprocessing import load_image

    good, bad = [], []
    for sample in samples:
        try:
            load_image(sample.path)
            good.append(sample)
        except SourceError as exc:
            log(f"skipped {exc}")
            bad.append((str(sample.path), exc.reason))
    return good, bad


def _fit_end_to_end(parts: Any, config: TrainConfig, train_set: list[Sample],
                    val_set: list[Sample], seconds: dict[str, float],
                    log: Callable[[str], None]) -> FitOutput:
    train_set, bad_tr = _readable(train_set, log)
    val_set, bad_va = _readable(val_set, log)
    started = time.perf_counter()
    compile_for_training(parts.model, config.learning_rate)
    batches = ImageBatches(train_set, config.batch_size, config.spec, seed=config.seed)
    val_batches = ImageBatches(val_set, config.batch_size, config.spec, shuffle=False)
    keep = KeepBest("val_loss" if val_set else "loss")
    fit = parts.model.fit(batches, validation_data=val_batches if val_set else None,
                          epochs=config.epochs, verbose=0, callbacks=[keep])
    seconds["fit"] = time.perf_counter() - started
    eval_set = val_set or train_set
    probs = np.asarray(parts.model.predict(ImageBatches(eval_set, config.batch_size, config.spec,
                                                        shuffle=False), verbose=0))
    labels = np.array([s.label for s in eval_set], dtype=np.int64)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return FitOutput(history, keep.best_epoch, probs, labels, bad_tr + bad_va,
                     on_validation=bool(val_set))
