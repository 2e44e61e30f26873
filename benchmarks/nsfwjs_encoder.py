"""A real pretrained image encoder for benchmarks: nsfwjs's MobileNetV2, as Keras and ONNX.

The npm package ``nsfwjs`` (MIT licence) bundles a TensorFlow.js Keras 2.2.4 ``MobileNetV2``
(alpha 1.0, 224x224, ImageNet-initialised and fine-tuned on about 60k images) with a
5-class head (Drawing, Hentai, Neutral, Porn, Sexy). This helper, one example of "bring
your own encoder" (``train DATA --backbone PATH``), does what a user would:

1. ``npm pack nsfwjs@4.4.0`` in a temporary folder, unpack the two UMD modules of
   ``dist/models/mobilenet_v2/`` and ``require`` them with node: the model JSON
   (``modelTopology``, ``weightsManifest``) and a base64 string of the weights;
2. dequantize the uint8 weights, per tensor: value = min + scale * q;
3. build ``keras.applications.MobileNetV2`` up to its 7x7x1280 feature map (``out_relu``)
   with every manifest weight loaded by name, and check nothing is left over;
4. write ``nsfwjs-mnv2.keras``, its ONNX (tf2onnx, explicit input signature) and
   ``nsfwjs-head.npz`` (nsfwjs's own Dense head, for the sanity check below).

The files are cached under ``user_cache_dir()/encoders/nsfwjs-<version>/``. nsfwjs feeds
RGB / 255, bilinear-resized to 224x224: ``train --preprocess unit``.

    python benchmarks/nsfwjs_encoder.py            # build (once) and print the paths
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
MODEL_DIR = "package/dist/models/mobilenet_v2/"
CLASSES = ("Drawing", "Hentai", "Neutral", "Porn", "Sexy")
FEATURE_LAYER = "out_relu"  # the 7x7x1280 map nsfwjs's head pools
LAYOUT_VERSION = "v1"  # bump when the files written here change

_DUMP = """
const model = require(process.argv[2]);
const shard = require(process.argv[3]);
require("fs").writeFileSync(process.argv[4], JSON.stringify({model: model, weights: shard}));
"""


class NodeMissing(RuntimeError):
    """node or npm is not on PATH: the encoder cannot be built here."""


@dataclass(frozen=True)
class EncoderFiles:
    """What :func:`nsfwjs_encoder` writes."""

    keras: Path
    onnx: Path
    head: Path  # nsfwjs's Dense head (npz: dense_1..3 kernel/bias), for the sanity check


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


def fetch_model(workdir: Path) -> tuple[dict[str, Any], bytes]:
    """``npm pack`` nsfwjs, ``require`` its MobileNetV2 modules: (model JSON, weight bytes)."""
    require_node()
    _run(["npm", "pack", PACKAGE, "--silent"], workdir)
    (tgz,) = workdir.glob("nsfwjs-*.tgz")
    with tarfile.open(tgz) as tar:
        wanted = [m for m in tar.getmembers()
                  if m.name in (MODEL_DIR + "model.min.js", MODEL_DIR + "group1-shard1of1.min.js")]
        tar.extractall(workdir, members=wanted, filter="data")
    folder, dump = workdir / MODEL_DIR, workdir / "model.json"
    script = workdir / "dump.js"
    script.write_text(_DUMP, encoding="utf-8")
    _run(["node", str(script), str(folder / "model.min.js"),
          str(folder / "group1-shard1of1.min.js"), str(dump)], workdir)
    data = json.loads(dump.read_text(encoding="utf-8"))
    return data["model"], base64.b64decode(data["weights"])


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


def build_encoder(weights: dict[str, np.ndarray]) -> Any:
    """MobileNetV2 (alpha 1.0, 224x224) up to ``out_relu``, every weight loaded by name."""
    import keras

    base = keras.applications.MobileNetV2(include_top=False, weights=None,
                                          input_shape=(224, 224, 3), alpha=1.0)
    used = set()
    for layer in base.layers:
        values = []
        for variable in layer.weights:
            key = f"{layer.name}/{variable.name}"
            if isinstance(layer, keras.layers.DepthwiseConv2D) and variable.name == "kernel":
                key = f"{layer.name}/depthwise_kernel"  # Keras 2's name for it
            if key not in weights:
                raise ValueError(f"no nsfwjs weight for {key}")
            if tuple(weights[key].shape) != tuple(variable.shape):
                raise ValueError(f"{key}: nsfwjs {weights[key].shape} vs Keras {variable.shape}")
            values.append(weights[key])
            used.add(key)
        if values:
            layer.set_weights(values)
    unused = sorted(k for k in weights if k not in used and not k.startswith("dense_"))
    if unused:
        raise ValueError(f"nsfwjs weights the encoder did not use: {', '.join(unused[:5])}")
    return keras.Model(base.input, base.get_layer(FEATURE_LAYER).output, name="nsfwjs_mnv2")


def _to_onnx(model: Any, path: Path) -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, 224, 224, 3), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=17)
    onnx.save(proto, str(path))


def nsfwjs_encoder(folder: Path | None = None, log: Any = print) -> EncoderFiles:
    """The cached encoder files, built on first use.

    Raises:
        NodeMissing: node or npm is not installed.
    """
    folder = folder or cache_folder()
    files = EncoderFiles(folder / "nsfwjs-mnv2.keras", folder / "nsfwjs-mnv2.onnx",
                         folder / "nsfwjs-head.npz")
    if all(p.exists() for p in (files.keras, files.onnx, files.head)):
        return files
    require_node()
    log(f"building the nsfwjs {VERSION} MobileNetV2 encoder into {folder}")
    with tempfile.TemporaryDirectory() as tmp:
        model_json, data = fetch_model(Path(tmp))
        weights = dequantize(model_json["weightsManifest"], data)
        encoder = build_encoder(weights)
        staging = Path(tmp) / "out"
        staging.mkdir()
        encoder.save(staging / files.keras.name)
        _to_onnx(encoder, staging / files.onnx.name)
        np.savez(staging / files.head.name, **{k.replace("/", "."): v for k, v in weights.items()
                                               if k.startswith("dense_")})
        folder.mkdir(parents=True, exist_ok=True)
        for path in (files.keras, files.onnx, files.head):  # the head last: it marks "done"
            (staging / path.name).replace(path)
    return files


def nsfwjs_scores(pooled: np.ndarray, head_path: Path) -> np.ndarray:
    """nsfwjs's own 5-class probabilities from pooled 1280-d features (numpy Dense stack)."""
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

    spec = PreprocessSpec(channel_order="RGB", mean=(0.0, 0.0, 0.0), scale=1 / 255)
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
    parser.add_argument("--check", action="store_true",
                        help="score examples/sample with nsfwjs's own head (Drawing+Hentai)")
    args = parser.parse_args(argv)
    try:
        files = nsfwjs_encoder(log=lambda line: print(line, file=sys.stderr))
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
