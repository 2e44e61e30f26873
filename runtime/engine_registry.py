"""Engines found by name: the function that loads a model on each, and the extra it needs.

The runtime's own engines (onnxruntime, OpenVINO, ncnn) are ``anime_detector.engines``'s.
Engines that live above the runtime register here from there, with a plain import
statement inside the function they register: the Keras engines
(:mod:`anime_detector.extra_engines`, which ``import anime_detector`` imports) import
``anime_detector.train`` only when one of them is asked for. The runtime never imports
upwards, and the import-linter contracts see every edge. Standard library only: importing
this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["KERAS", "KERAS_BENCH_ROWS", "KERAS_ENGINES", "Registered", "find", "register"]

KERAS = "keras"  # a Keras model called directly
KERAS_BENCH_ROWS = ("keras-predict", "keras-function")  # model.predict; a tf.function
KERAS_ENGINES = (KERAS, *KERAS_BENCH_ROWS)


@dataclass(frozen=True)
class Registered:
    """An engine registered from above: ``loader()`` imports its module and returns its
    ``load(path, *, device, threads, precision, spin, labels)``, or raises ImportError
    without ``extra`` (the pip extra that brings its packages)."""

    loader: Callable[[], Callable[..., Any]]
    extra: str


_REGISTERED: dict[str, Registered] = {}


def register(name: str, loader: Callable[[], Callable[..., Any]], extra: str) -> None:
    """Make engine ``name`` loadable by name (``--engine``, ``Detector.load``)."""
    _REGISTERED[name] = Registered(loader, extra)


def find(name: str) -> Registered | None:
    """Engine ``name``'s registration, or None."""
    return _REGISTERED.get(name)
