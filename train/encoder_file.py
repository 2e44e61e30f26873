"""Bring your own encoder: what ``train --backbone PATH`` learns from the file, before any work.

PATH is a Keras model (``.keras``, ``.h5``, a SavedModel folder) or an ONNX model from any
framework. :func:`inspect_encoder` reads its input (NHWC or NCHW, fixed or dynamic size)
and the output the head will read (a feature map or a vector), and refuses, in one line,
a file it cannot use: not a model, not an image input, a dynamic size without
``--input-size``, several outputs without ``--backbone-output``, an output that is
neither a map nor a vector. Feature extraction from an ONNX encoder runs on onnxruntime
(:class:`OnnxFeatures`); a Keras encoder is put under the head inside Keras
(:mod:`anime_detector.train.model`).

The run folder records the encoder in ``backbone.json`` (:func:`write_sidecar`), which
``export`` and the Keras engine read back: the preprocessing, the encoder file, its
SHA-256 and the output used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.errors import ModelError, one_line
from anime_detector.file_io import sha256_path
from anime_detector.preprocessing import PreprocessSpec

__all__ = ["SIDECAR", "EncoderInfo", "OnnxFeatures", "encoder_fingerprint", "inspect_encoder",
           "is_encoder_path", "read_sidecar", "write_sidecar"]

SIDECAR = "backbone.json"
CUSTOM_KEY = "custom"  # the full model's name suffix: anime_detector_custom
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass(frozen=True)
class EncoderInfo:
    """An encoder file as the head sees it."""

    path: Path
    kind: str  # "keras" | "onnx" | "saved_model"
    input_name: str
    output: str  # the output (ONNX) or layer (Keras) the head reads; "" = the only output
    output_kind: str  # "map" | "vector"
    channels: int
    layout: str  # the input's: "NHWC" | "NCHW"
    map_layout: str  # a map's: "NHWC" | "NCHW"; "" for a vector
    size: tuple[int, int]  # (height, width) fed to it
    sha256: str

    def describe(self) -> str:
        out = f"{self.output_kind} of {self.channels}" + (f" from {self.output}"
                                                          if self.output else "")
        return (f"{self.path.name} ({self.kind}, {self.layout} {self.size[0]}x{self.size[1]}, "
                f"{out})")


def is_encoder_path(backbone: str) -> bool:
    """``--backbone`` names a file or folder (an encoder) rather than a registry key (a
    registry name wins over a folder of that name)."""
    from anime_detector.train.backbones import UnknownBackboneError, get_backbone

    try:
        get_backbone(backbone)
        return False
    except UnknownBackboneError:
        pass
    path = Path(backbone)
    return (path.suffix.lower() in (*KERAS_SUFFIXES, ".onnx") or "/" in backbone
            or "\\" in backbone or path.exists())


def _digest(path: Path) -> str:
    if path.is_file():
        return sha256_path(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path)}\n{sha256_path(item)}\n".encode())
    return digest.hexdigest()


def _spatial(path: Path, dims: list[Any], input_size: tuple[int, int] | None
             ) -> tuple[int, int]:
    """The (H, W) to feed: the model's fixed size, or ``--input-size`` for a dynamic one."""
    fixed = all(isinstance(d, int) and d > 0 for d in dims)
    if fixed:
        size = (int(dims[0]), int(dims[1]))
        if input_size is not None and input_size != size:
            raise ModelError(path, f"takes {size[0]}x{size[1]} images; --input-size "
                             f"{input_size[0]}x{input_size[1]} does not fit it")
        return size
    if input_size is None:
        raise ModelError(path, f"input has a dynamic size ({dims[0]} x {dims[1]}); say which "
                         "with --input-size H or HxW (for example --input-size 224)")
    return input_size


def _layout(path: Path, name: str, shape: list[Any]) -> str:
    if len(shape) != 4:
        raise ModelError(path, f"input {name!r} has rank {len(shape)} (shape {shape}); an image "
                         "encoder takes (N, 3, H, W) or (N, H, W, 3)")
    if shape[3] == 3:
        return "NHWC"
    if shape[1] == 3:
        return "NCHW"
    raise ModelError(path, f"input {name!r} has shape {shape}: no axis of 3 colour channels "
                     "at position 1 (NCHW) or 3 (NHWC)")


def _output_kind(path: Path, name: str, shape: tuple[int, ...], layout: str
                 ) -> tuple[str, int, str]:
    """(kind, channels, map layout) of an output, from its shape on a real input."""
    if len(shape) == 2:
        return "vector", int(shape[1]), ""
    if len(shape) == 4:
        return "map", int(shape[1] if layout == "NCHW" else shape[3]), layout
    raise ModelError(path, f"output {name!r} has shape {list(shape)}: neither a feature map "
                     "(N, C, H, W) / (N, H, W, C) nor a vector (N, D)")


def _pick(path: Path, names: list[str], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in names:
            raise ModelError(path, f"has no output {wanted!r}; its outputs: {', '.join(names)}")
        return wanted
    if len(names) != 1:
        raise ModelError(path, f"has {len(names)} outputs ({', '.join(names)}); pick the "
                         "features with --backbone-output NAME")
    return names[0]


def _onnx_session(path: Path) -> Any:
    from anime_detector.engines.onnxruntime import open_session

    return open_session(path, device="cpu")


def _inspect_onnx(path: Path, output: str | None, input_size: tuple[int, int] | None
                  ) -> EncoderInfo:
    session = _onnx_session(path)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(path, f"has {len(inputs)} inputs; an image encoder takes one")
    shape = list(inputs[0].shape)
    layout = _layout(path, inputs[0].name, shape)
    size = _spatial(path, shape[2:] if layout == "NCHW" else shape[1:3], input_size)
    if "float" not in inputs[0].type:
        raise ModelError(path, f"input {inputs[0].name!r} is {inputs[0].type}, not float")
    name = _pick(path, [o.name for o in session.get_outputs()], output)
    probe = np.zeros((1, 3, *size) if layout == "NCHW" else (1, *size, 3), np.float32)
    try:
        (value,) = session.run([name], {inputs[0].name: probe})
    except Exception as exc:
        raise ModelError(path, f"cannot run it on a {list(probe.shape)} input: "
                         f"{one_line(exc)}") from None
    kind, channels, map_layout = _output_kind(path, name, tuple(np.shape(value)), layout)
    return EncoderInfo(path, "onnx", inputs[0].name, name, kind, channels, layout, map_layout,
                       size, _digest(path))


def load_keras_encoder(path: Path) -> Any:
    """The Keras model in ``path`` (safe mode), or a one-line :class:`ModelError`."""
    import keras

    try:
        if path.is_dir():
            return _saved_model(path)
        return keras.models.load_model(path, compile=False)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(path, f"not a model: Keras cannot load it ({one_line(exc)})") from None


def _saved_model(path: Path) -> Any:
    """A SavedModel folder's ``serving_default`` as a Keras model (first output)."""
    import keras
    import tensorflow as tf

    if not (path / "saved_model.pb").exists():
        raise ModelError(path, "not a model: a folder without saved_model.pb")
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    inp = keras.Input(tuple(spec.shape[1:]), name="input")
    out = layer(inp)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    return keras.Model(inp, out, name="saved_model")


def keras_output(model: Any, output: str | None) -> Any:
    """The Keras tensor the head reads: a named layer's output or the model's only one."""
    path = Path(str(getattr(model, "name", "model")))
    if output is not None:
        try:
            return model.get_layer(output).output
        except ValueError:
            raise ModelError(path, f"has no layer {output!r}") from None
    if len(model.outputs) != 1:
        names = [str(getattr(o, "name", "?")) for o in model.outputs]
        raise ModelError(path, f"has {len(names)} outputs ({', '.join(names)}); pick the "
                         "features with --backbone-output LAYER")
    return model.outputs[0]


def _inspect_keras(path: Path, output: str | None, input_size: tuple[int, int] | None
                   ) -> EncoderInfo:
    model = load_keras_encoder(path)
    if len(model.inputs) != 1:
        raise ModelError(path, f"has {len(model.inputs)} inputs; an image encoder takes one")
    shape = [d if d is None else int(d) for d in model.inputs[0].shape]
    name = str(getattr(model.inputs[0], "name", "input"))
    if _layout(path, name, shape) != "NHWC":
        raise ModelError(path, f"Keras input {shape} is channels-first; use channels_last")
    size = _spatial(path, shape[1:3], input_size)
    try:
        tensor = keras_output(model, output)
    except ModelError as exc:
        raise ModelError(path, exc.reason) from None
    out_shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    kind, channels, map_layout = _output_kind(path, output or "output", out_shape, "NHWC")
    return EncoderInfo(path, "saved_model" if path.is_dir() else "keras", name, output or "",
                       kind, channels, "NHWC", map_layout, size, _digest(path))


def inspect_encoder(path: str | Path, output: str | None = None,
                    input_size: tuple[int, int] | None = None) -> EncoderInfo:
    """What the head needs to know about an encoder file; one-line :class:`ModelError` if
    it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise ModelError(path, "no such encoder file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelError(path, "not a model: empty file (0 bytes)")
    if path.is_file() and path.suffix.lower() == ".onnx":
        return _inspect_onnx(path, output, input_size)
    if path.is_dir() or path.suffix.lower() in KERAS_SUFFIXES:
        return _inspect_keras(path, output, input_size)
    raise ModelError(path, "not a model: expected .onnx, .keras, .h5 or a SavedModel folder")


def encoder_fingerprint(info: EncoderInfo, spec: PreprocessSpec) -> str:
    """The feature cache key: the file's content, the output read and the preprocessing."""
    digest = hashlib.sha256(f"encoder-file={info.sha256}\noutput={info.output}\n".encode())
    digest.update(spec.to_json().encode())
    return digest.hexdigest()


def pool(features: NDArray[np.float32], map_layout: str) -> NDArray[np.float32]:
    """Global average pooling of a map (``map_layout``), or the vector as it is."""
    if not map_layout:
        return features
    axes = (2, 3) if map_layout == "NCHW" else (1, 2)
    return np.asarray(features.mean(axis=axes), dtype=np.float32)


class OnnxFeatures:
    """An ONNX encoder on onnxruntime: ``predict_on_batch`` gives pooled feature vectors."""

    def __init__(self, info: EncoderInfo) -> None:
        self.info = info
        self.session = _onnx_session(info.path)

    def predict_on_batch(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        (out,) = self.session.run([self.info.output], {self.info.input_name: batch})
        return pool(np.asarray(out, dtype=np.float32), self.info.map_layout)


def write_sidecar(folder: Path, info: EncoderInfo, spec: PreprocessSpec, head: str) -> None:
    """``backbone.json``: the encoder a run was trained on and its preprocessing."""
    data = {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in asdict(info).items()}
    data.update(spec=json.loads(spec.to_json()), head=head)
    (folder / SIDECAR).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_sidecar(model_path: Path) -> tuple[EncoderInfo, PreprocessSpec, str] | None:
    """The encoder beside a trained ``model.keras`` (``None`` when it has no sidecar).

    Raises:
        ModelError: the sidecar is unreadable.
    """
    sidecar = Path(model_path).parent / SIDECAR
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        spec = PreprocessSpec.from_json(json.dumps(data.pop("spec")))
        head = str(data.pop("head"))
        data["path"], data["size"] = Path(data["path"]), tuple(data["size"])
        return EncoderInfo(**data), spec, head
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(sidecar, f"unreadable encoder record: {one_line(exc)}") from None
