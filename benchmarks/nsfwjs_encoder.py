"""Real pretrained image encoders for benchmarks: nsfwjs's two Keras models, as Keras and ONNX.

The npm package ``nsfwjs`` (MIT licence) bundles TensorFlow.js Keras 2.2.4 models, each
ImageNet-initialised and fine-tuned on about 60k images, each with a 5-class head
(Drawing, Hentai, Neutral, Porn, Sexy):

- ``mobilenet_v2``: ``MobileNetV2`` (alpha 1.0, 224x224), standard layer names, one shard;
- ``inception_v3``: ``InceptionV3`` (299x299), six shards, Keras 2 auto-names
  (``conv2d_N``, ``batch_normalization_N``) that Keras 3 numbers differently.

This helper, one example of "bring your own encoder" (``train DATA --backbone PATH``), does
what a user would:

1. ``npm pack nsfwjs@4.4.0`` in a temporary folder, unpack the model's UMD modules from
   ``dist/models/<model>/`` and ``require`` them with node: the model JSON
   (``modelTopology``, ``weightsManifest``) and a base64 string of each weight shard;
2. dequantize the uint8 weights, per tensor: value = min + scale * q;
3. build the ``keras.applications`` model up to its feature map (MobileNetV2's 7x7x1280
   ``out_relu``, InceptionV3's 8x8x2048 ``mixed10``) and load every manifest weight into
   it: by name for MobileNetV2, by position in the graph for InceptionV3 (both graphs are
   walked from the feature layer back through each layer's inputs, in order, so layer k of
   one meets layer k of the other whatever either is called); check nothing is left over;
4. write the ``.keras`` encoder, its ONNX (tf2onnx, explicit input signature) and an
   ``.npz`` of nsfwjs's own Dense head, for the sanity check below.

The files are cached under ``user_cache_dir()/encoders/nsfwjs-<version>/``. nsfwjs feeds
RGB / 255, bilinear-resized to the model's size: ``train --preprocess unit``.

    python benchmarks/nsfwjs_encoder.py                        # MobileNetV2: build, print paths
    python benchmarks/nsfwjs_encoder.py --model inception_v3   # InceptionV3
    python benchmarks/nsfwjs_encoder.py --check    # + nsfwjs's own head on examples/sample

Where node or npm is missing, :class:`NodeMissing` says so in one line; benchmarks and
tests that need the encoder skip.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VERSION = "4.4.0"
PACKAGE = f"nsfwjs@{VERSION}"
CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
LAYOUT_VERSION = "v1"  # bump when the files written here change

_DUMP = """
const model = require(process.argv[2]);
const shards = process.argv.slice(4).map(path => require(path));
require("fs").writeFileSync(process.argv[3], JSON.stringify({model: model, weights: shards}));
"""


@dataclass(frozen=True)
class NsfwjsModel:
    """One of nsfwjs's bundled Keras models, and where its encoder ends."""

    name: str  # the folder under dist/models/
    stem: str  # file names written here
    size: int  # square input side, pixels
    shards: int
    feature_layer: str  # the map nsfwjs's head pools
    by_name: bool  # weights match Keras 3's layer names (else: by position in the graph)

    @property
    def folder(self) -> str:
        return f"package/dist/models/{self.name}/"

    def shard_files(self) -> list[str]:
        if self.shards == 1:
            return ["group1-shard1of1.min.js"]
        return [f"group1-shard{i}of{self.shards}.min.js" for i in range(1, self.shards + 1)]


MODELS = {
    "mobilenet_v2": NsfwjsModel("mobilenet_v2", "nsfwjs-mnv2", 224, 1, "out_relu", True),
    "inception_v3": NsfwjsModel("inception_v3", "nsfwjs-inception-v3", 299, 6, "mixed10",
                                False),
}


class NodeMissing(RuntimeError):
    """node or npm is not on PATH: the encoder cannot be built here."""


@dataclass(frozen=True)
class EncoderFiles:
    """What :func:`nsfwjs_encoder` writes."""

    keras: Path
    onnx: Path
    head: Path  # nsfwjs's Dense head (npz: dense_1..3 kernel/bias), for the sanity check
    size: int  # the encoder's square input side


def cache_folder() -> Path:
    from anime_detector.file_io import user_cache_dir

    return user_cache_dir() / "encoders" / f"nsfwjs-{VERSION}-{LAYOUT_VERSION}"


def require_node() -> None:
    """Raise :class:`NodeMissing` (one line) unless node and npm are on PATH."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise NodeMissing(f"the nsfwjs encoder needs {' and '.join(missing)} on PATH "
                          "(https://nodejs.org); benchmarks that need it skip")


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(cmd)} failed: {tail[0]}")


def fetch_model(workdir: Path, model: NsfwjsModel) -> tuple[dict[str, Any], bytes]:
    """``npm pack`` nsfwjs, ``require`` one model's modules: (model JSON, weight bytes)."""
    require_node()
    _run(["npm", "pack", PACKAGE, "--silent"], workdir)
    (tgz,) = workdir.glob("nsfwjs-*.tgz")
    modules = ["model.min.js", *model.shard_files()]
    with tarfile.open(tgz) as tar:
        wanted = [m for m in tar.getmembers() if m.name in {model.folder + f for f in modules}]
        tar.extractall(workdir, members=wanted, filter="data")
    folder, dump = workdir / model.folder, workdir / "model.json"
    script = workdir / "dump.js"
    script.write_text(_DUMP, encoding="utf-8")
    _run(["node", str(script), str(folder / modules[0]), str(dump),
          *(str(folder / f) for f in modules[1:])], workdir)
    data = json.loads(dump.read_text(encoding="utf-8"))
    return data["model"], b"".join(base64.b64decode(shard) for shard in data["weights"])


def dequantize(manifest: list[dict[str, Any]], data: bytes) -> dict[str, np.ndarray]:
    """Every weight of the manifest, in order: ``min + scale * q`` for uint8-quantized ones."""
    sizes = {"uint8": 1, "uint16": 2, "float32": 4}
    weights, offset = {}, 0
    for group in manifest:
        for entry in group["weights"]:
            shape = [int(d) for d in entry["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = entry.get("quantization")
            dtype = quant["dtype"] if quant else entry["dtype"]
            raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            offset += count * sizes[dtype]
            value = (np.float32(quant["min"]) + np.float32(quant["scale"]) * raw.astype(np.float32)
                     if quant else raw.astype(np.float32))
            weights[entry["name"]] = value.reshape(shape).astype(np.float32)
    if offset != len(data):
        raise ValueError(f"weights manifest covers {offset} bytes of {len(data)}")
    return weights


def _inbound(layer_config: dict[str, Any]) -> list[str]:
    """The names of the layers a functional-model layer config reads, in argument order
    (Keras 2's ``[[name, node, tensor, kwargs], ...]`` and Keras 3's ``keras_history``)."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "keras_history" in value:
                names.append(value["keras_history"][0])
            else:
                for item in value.values():
                    walk(item)
        elif isinstance(value, (list, tuple)):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])  # Keras 2: [layer name, node index, tensor index, ...]
            else:
                for item in value:
                    walk(item)

    walk(layer_config.get("inbound_nodes", []))
    return names


def match_layers(ours: dict[str, Any], theirs: dict[str, Any], our_end: str,
                 their_end: str) -> dict[str, str]:
    """Pair the layers of two functional-model configs of one architecture by position.

    Both graphs are walked from ``our_end``/``their_end`` back through each layer's inputs
    in argument order; each pair must have the same class. Returns {our name: their name}.
    """
    our_layers = {layer["name"]: layer for layer in ours["layers"]}
    their_layers = {layer["name"]: layer for layer in theirs["layers"]}
    pairs: dict[str, str] = {}
    stack = [(our_end, their_end)]
    while stack:
        mine, other = stack.pop()
        if mine in pairs:
            if pairs[mine] != other:
                raise ValueError(f"graphs differ: {mine} meets {pairs[mine]} and {other}")
            continue
        a, b = our_layers[mine], their_layers[other]
        if a["class_name"] != b["class_name"]:
            raise ValueError(f"graphs differ: {mine} is a {a['class_name']}, "
                             f"{other} a {b['class_name']}")
        pairs[mine] = other
        ins_a, ins_b = _inbound(a), _inbound(b)
        if len(ins_a) != len(ins_b):
            raise ValueError(f"graphs differ: {mine} reads {len(ins_a)} inputs, "
                             f"{other} {len(ins_b)}")
        stack.extend(zip(ins_a, ins_b, strict=True))
    return pairs


def _keras_base(model: NsfwjsModel) -> Any:
    import keras

    shape = (model.size, model.size, 3)
    if model.name == "mobilenet_v2":
        return keras.applications.MobileNetV2(include_top=False, weights=None,
                                              input_shape=shape, alpha=1.0)
    return keras.applications.InceptionV3(include_top=False, weights=None, input_shape=shape)


def build_encoder(weights: dict[str, np.ndarray], model: NsfwjsModel,
                  topology: dict[str, Any] | None = None) -> Any:
    """The Keras encoder up to ``model.feature_layer``, every manifest weight loaded into it.

    ``topology`` (nsfwjs's ``modelTopology``) is needed where weights are matched by
    position (:func:`match_layers`) rather than by name.
    """
    import keras

    base = _keras_base(model)
    source = {layer.name: layer.name for layer in base.layers}  # Keras 3 name -> nsfwjs name
    if not model.by_name:
        if topology is None:
            raise ValueError(f"{model.name}: matching weights by position needs the topology")
        source = match_layers(base.get_config(), topology["model_config"]["config"],
                              model.feature_layer, model.feature_layer)
    used = set()
    for layer in base.layers:
        values = []
        for variable in layer.weights:
            key = f"{source.get(layer.name, layer.name)}/{variable.name}"
            if isinstance(layer, keras.layers.DepthwiseConv2D) and variable.name == "kernel":
                key = key.rsplit("/", 1)[0] + "/depthwise_kernel"  # Keras 2's name for it
            if key not in weights:
                raise ValueError(f"no nsfwjs weight for {key} (layer {layer.name})")
            if tuple(weights[key].shape) != tuple(variable.shape):
                raise ValueError(f"{key}: nsfwjs {weights[key].shape} vs Keras {variable.shape}")
            values.append(weights[key])
            used.add(key)
        if values:
            layer.set_weights(values)
    unused = sorted(k for k in weights if k not in used and not k.startswith("dense_"))
    if unused:
        raise ValueError(f"nsfwjs weights the encoder did not use: {', '.join(unused[:5])}")
    return keras.Model(base.input, base.get_layer(model.feature_layer).output,
                       name=model.stem.replace("-", "_"))


def _to_onnx(model: Any, path: Path, size: int) -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, size, size, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
    onnx.save(proto, str(path))


def nsfwjs_encoder(folder: Path | None = None, log: Any = print,
                   model: str = "mobilenet_v2") -> EncoderFiles:
    """The cached encoder files of one of :data:`MODELS`, built on first use.

    Raises:
        NodeMissing: node or npm is not installed.
    """
    spec = MODELS[model]
    folder = folder or cache_folder()
    head = "nsfwjs-head.npz" if model == "mobilenet_v2" else f"{spec.stem}-head.npz"
    files = EncoderFiles(folder / f"{spec.stem}.keras", folder / f"{spec.stem}.onnx",
                         folder / head, spec.size)
    if all(p.exists() for p in (files.keras, files.onnx, files.head)):
        return files
    require_node()
    log(f"building the nsfwjs {VERSION} {model} encoder into {folder}")
    with tempfile.TemporaryDirectory() as tmp:
        model_json, data = fetch_model(Path(tmp), spec)
        weights = dequantize(model_json["weightsManifest"], data)
        encoder = build_encoder(weights, spec, model_json["modelTopology"])
        staging = Path(tmp) / "out"
        staging.mkdir()
        encoder.save(staging / files.keras.name)
        _to_onnx(encoder, staging / files.onnx.name, spec.size)
        np.savez(staging / files.head.name, **{k.replace("/", "."): v for k, v in weights.items()
                                               if k.startswith("dense_")})
        folder.mkdir(parents=True, exist_ok=True)
        for path in (files.keras, files.onnx, files.head):  # the head last: it marks "done"
            (staging / path.name).replace(path)
    return files


def nsfwjs_scores(pooled: np.ndarray, head_path: Path) -> np.ndarray:
    """nsfwjs's own 5-class probabilities from pooled features (numpy Dense stack)."""
    head = np.load(head_path)
    x = pooled
    for i, act in ((1, "relu"), (2, "relu"), (3, "softmax")):
        x = x @ head[f"dense_{i}.kernel"] + head[f"dense_{i}.bias"]
        if act == "relu":
            x = np.maximum(x, 0)
    x = np.exp(x - x.max(axis=1, keepdims=True))
    return np.asarray(x / x.sum(axis=1, keepdims=True))


def sanity_check(files: EncoderFiles, sample: Path) -> tuple[float, int]:
    """nsfwjs's zero-shot Drawing+Hentai score on ``sample``'s anime/ and not_anime/ images,
    through the ONNX encoder: (accuracy at 0.5, images)."""
    import onnxruntime as ort

    from anime_detector.dataset import discover
    from anime_detector.preprocessing import PreprocessSpec, preprocess

    spec = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0), scale=1 / 255,
                          height=files.size, width=files.size)
    session = ort.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    samples = discover(sample)
    batch = np.stack([preprocess(s.path, spec) for s in samples])
    fmap = session.run(None, {session.get_inputs()[0].name: batch})[0]
    probs = nsfwjs_scores(fmap.mean(axis=(1, 2)), files.head)
    drawing = probs[:, 0] + probs[:, 1]
    labels = np.array([s.label for s in samples])  # 0 = anime
    return float(((drawing >= 0.5) == (labels == 0)).mean()), len(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="mobilenet_v2")
    parser.add_argument("--check", action="store_true",
                        help="score examples/sample with nsfwjs's own head (Drawing+Hentai)")
    args = parser.parse_args(argv)
    try:
        files = nsfwjs_encoder(log=lambda line: print(line, file=sys.stderr), model=args.model)
    except NodeMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"keras: {files.keras}\nonnx: {files.onnx}\nhead: {files.head}")
    if args.check:
        sample = Path(__file__).resolve().parent.parent / "examples" / "sample"
        accuracy, n = sanity_check(files, sample)
        print(f"nsfwjs zero-shot (Drawing+Hentai >= 0.5) on {n} images of {sample.name}: "
              f"accuracy {accuracy:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
