"""The contract stored in an exported ONNX file's ``metadata_props``.

Export writes it (``anime_detector.export``); the runtime reads it back so a
model file is all a user needs: labels, preprocessing, threshold, precision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from anime_detector.preprocess import PreprocessSpec

__all__ = ["KEYS", "ModelContract", "DEFAULT_LABELS", "POSITIVE_LABEL"]

FORMAT_VERSION = "1"
DEFAULT_LABELS: tuple[str, ...] = ("anime", "not_anime")
POSITIVE_LABEL = "anime"
PREFIX = "anime_detector."


class KEYS:
    """Metadata key names (all prefixed ``anime_detector.``)."""

    format_version = PREFIX + "format_version"
    labels = PREFIX + "labels"
    preprocess = PREFIX + "preprocess"
    threshold = PREFIX + "threshold"
    precision = PREFIX + "precision"
    source_sha256 = PREFIX + "source_sha256"
    versions = PREFIX + "versions"
    verification = PREFIX + "verification"


@dataclass(frozen=True)
class ModelContract:
    """What a model promises: its labels, its input spec and how to decide."""

    labels: tuple[str, ...] = DEFAULT_LABELS
    spec: PreprocessSpec = field(default_factory=PreprocessSpec)
    threshold: float = 0.5
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def positive_index(self) -> int:
        """Index of the ``anime`` class (the score is its probability)."""
        return self.labels.index(POSITIVE_LABEL) if POSITIVE_LABEL in self.labels else 0

    def to_metadata(self) -> dict[str, str]:
        """Serialise to string key/value pairs for ``metadata_props``."""
        props = {
            KEYS.format_version: FORMAT_VERSION,
            KEYS.labels: json.dumps(list(self.labels)),
            KEYS.preprocess: self.spec.to_json(),
            KEYS.threshold: repr(float(self.threshold)),
            KEYS.precision: self.precision,
        }
        for key, value in self.extra.items():
            props[PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
        return props

    @classmethod
    def from_metadata(cls, props: dict[str, str]) -> ModelContract:
        """Parse ``metadata_props``; raises ``ValueError`` naming what is missing."""
        missing = [k for k in (KEYS.labels, KEYS.preprocess) if k not in props]
        if missing:
            raise ValueError(
                "has no anime-detector metadata (missing "
                + ", ".join(missing)
                + "); export it with `anime-detector export` or pass --labels"
            )
        labels = tuple(str(v) for v in json.loads(props[KEYS.labels]))
        known = {KEYS.labels, KEYS.preprocess, KEYS.threshold, KEYS.precision, KEYS.format_version}
        extra: dict[str, Any] = {}
        for key, value in props.items():
            if key.startswith(PREFIX) and key not in known:
                try:
                    extra[key[len(PREFIX) :]] = json.loads(value)
                except ValueError:
                    extra[key[len(PREFIX) :]] = value
        return cls(
            labels=labels,
            spec=PreprocessSpec.from_json(props[KEYS.preprocess]),
            threshold=float(props.get(KEYS.threshold, "0.5")),
            precision=props.get(KEYS.precision, "fp32"),
            extra=extra,
        )
