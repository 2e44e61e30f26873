"""The contract stored in an exported ONNX file's ``metadata_props``.

Export writes it (``anime_detector.export``); the runtime reads it back so a
model file is all a user needs: labels, preprocessing, threshold, precision.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from anime_detector.errors import ModelError
from anime_detector.preprocessing import PreprocessSpec
from anime_detector.preprocessing import input_shape as input_shape_of

__all__ = [
    "CAM_WEIGHTS",
    "DEFAULT_LABELS",
    "FEATURE_MAP",
    "KEYS",
    "POSITIVE_LABEL",
    "ModelContract",
    "check_io_shapes",
    "contract_from_props",
    "int8_line",
]

FORMAT_VERSION = "1"
DEFAULT_LABELS: tuple[str, ...] = ("anime", "not_anime")
POSITIVE_LABEL = "anime"
PREFIX = "anime_detector."
# The two extra outputs export adds for Grad-CAM (see anime_detector.graphs.explain_head,
# which writes them, and anime_detector.explain, which reads them).
FEATURE_MAP = "feature_map"
CAM_WEIGHTS = "cam_weights"


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


def contract_from_props(
    path: str | os.PathLike[str], props: dict[str, str], labels: Sequence[str] | None = None
) -> ModelContract:
    """The contract a model file carries; ``labels`` (``--labels``) overrides or stands in.

    Raises:
        ModelError: the file carries no contract and no ``labels`` were given.
    """
    try:
        contract = ModelContract.from_metadata(props)
    except ValueError as exc:
        if not labels:
            raise ModelError(path, str(exc)) from None
        contract = ModelContract()  # default VGG19 preprocessing
    return replace(contract, labels=tuple(labels)) if labels else contract


def check_io_shapes(
    path: str | os.PathLike[str], contract: ModelContract, input_shape: Sequence[object],
    output_shape: Sequence[object], input_is_float: bool = True,
) -> None:
    """Refuse a model whose I/O does not match ``(N, H, W, 3) -> (N, classes)`` (or
    ``(N, 3, H, W)`` for an NCHW spec)."""
    spec = contract.spec
    image = list(input_shape_of(spec))
    want = f"(batch, {', '.join(map(str, image))}) -> (batch, {len(contract.labels)})"
    shape_in, shape_out = list(input_shape), list(output_shape)
    ok_in = len(shape_in) == 4 and shape_in[1:] == image
    ok_out = len(shape_out) == 2 and shape_out[1] == len(contract.labels)
    if not (ok_in and ok_out and input_is_float):
        kind = "" if input_is_float else "non-float "
        raise ModelError(path, f"model takes {kind}{shape_in} -> {shape_out}, expected {want}")


def int8_line(contract: ModelContract) -> str | None:
    """One line on how an accuracy-aware int8 export was tuned (``export --precision
    int8`` records it): the recipe, the nodes kept in fp32, the fidelity against fp32 and
    the speed against fp32 where it was exported. ``None`` for other files."""
    record = contract.extra.get("int8")
    if not isinstance(record, dict):
        return None
    recipe, fidelity = record.get("recipe", {}), record.get("fidelity", {})
    kept = len(recipe.get("keep_fp32", []))
    speed, bf16 = record.get("speedup_vs_fp32"), record.get("openvino_bf16_speedup_vs_fp32")
    return (f"int8 recipe {recipe.get('name')!r}, {kept} node(s) kept in fp32; at export: "
            f"label agreement {fidelity.get('label_agreement', 0):.1%}, mean |dp| "
            f"{fidelity.get('mean_abs_diff')} on {fidelity.get('images')} images"
            + ("" if speed is None else f", {speed}x fp32 speed on the exporting CPU")
            + ("" if bf16 is None else f" (OpenVINO bf16 {bf16}x)"))
