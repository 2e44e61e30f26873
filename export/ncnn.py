"""``to_ncnn``: convert an exported fp32 ``.onnx`` into an ncnn model folder, verified.

The converter is pnnx, the one ncnn maintains. Its pip package declares torch and its
Python module imports torch, but the ``pnnx`` executable inside the package folder
converts ONNX on its own: it is located with ``importlib.util.find_spec`` (which does
not run the package) and run as a subprocess. Install it with ``PNNX_INSTALL``.

After pnnx, 3x3 convolutions over an RGB-thin input run as GEMM instead of Winograd
(``ncnn_param.gemm_for_thin_inputs``; the manifest lists them under ``layer_options``).
The folder (``model.ncnn.param``, ``model.ncnn.bin``, ``anime_detector.json``) is
built beside its destination, verified against onnxruntime fp32 and only then moved
into place: a failure at any step leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.contract import KEYS
from anime_detector.engines.ncnn import FORMAT, MANIFEST, load, read_manifest
from anime_detector.errors import ModelError
from anime_detector.export.convert import ExportError
from anime_detector.export.ncnn_param import gemm_for_thin_inputs, read_layers
from anime_detector.export.verify import Comparison, compare, onnx_predict, verification_batch
from anime_detector.file_io import atomic_dir, sha256_path
from anime_detector.onnx_metadata import read_contract, read_metadata

__all__ = ["PNNX_INSTALL", "NcnnReport", "find_pnnx", "keras_to_ncnn", "to_ncnn"]

# The pin in requirements/no-deps.txt, quoted for an installed wheel that has no checkout
# (tests/test_pins.py keeps them equal).
PNNX_VERSION = "20261020"
PNNX_INSTALL = f"pip install --no-deps pnnx=={PNNX_VERSION}"
PARAM, BIN = "model.ncnn.param", "model.ncnn.bin"


@dataclass
class NcnnReport:
    """What ``to_ncnn`` wrote and how faithful it is (fp32 checked, fp16 reported)."""

    out_dir: Path
    verification: list[Comparison] = field(default_factory=list)
    size_mb: float = 0.0

    def lines(self) -> list[str]:
        return [f"wrote {self.out_dir} (ncnn, {self.size_mb:.1f} MB)",
                *(c.line() for c in self.verification)]


def find_pnnx() -> Path:
    """The pnnx executable inside the installed ``pnnx`` package (never imported: torch)."""
    try:
        spec = importlib.util.find_spec("pnnx")
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for name in ("pnnx", "pnnx.exe"):
            candidate = Path(folder, name)
            if candidate.is_file():
                return candidate
    raise ExportError(f"the pnnx converter is not installed: {PNNX_INSTALL} "
                      "(--no-deps keeps torch out)")


def _prepare(onnx_path: Path, target: Path) -> None:
    """Write what pnnx converts to ``target``: the graph that computes ``output`` alone (the
    Grad-CAM outputs' ops have no ncnn layers), simplified by onnxruntime's basic, standard-op
    optimisations (explicit ``Pad`` folded into convolutions, NHWC/NCHW transposes removed:
    ncnn has no ``Pad`` layer, and MobileNetV3 exports have them)."""
    import onnx
    from onnx.utils import Extractor

    from anime_detector.engines.onnxruntime import import_onnxruntime

    model = onnx.load(str(onnx_path))
    if [o.name for o in model.graph.output] != ["output"]:
        model = Extractor(model).extract_model(["input"], ["output"])
    pruned = target.with_name("pruned.onnx")
    onnx.save(model, str(pruned))
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    ort.InferenceSession(str(pruned), options, providers=["CPUExecutionProvider"])


def _convert(onnx_path: Path, work: Path, height: int, width: int) -> None:
    """Run pnnx in ``work`` (it writes intermediate files beside its input)."""
    source = work / "model.onnx"
    _prepare(onnx_path, source)
    names = {"pnnxparam": "model.pnnx.param", "pnnxbin": "model.pnnx.bin",
             "pnnxpy": "model_pnnx.py", "pnnxonnx": "model.pnnx.onnx",
             "ncnnparam": PARAM, "ncnnbin": BIN, "ncnnpy": "model_ncnn.py"}
    args = [str(find_pnnx()), str(source), f"inputshape=[1,{height},{width},3]f32", "fp16=0",
            "device=cpu", *(f"{k}={work / v}" for k, v in names.items())]
    try:
        done = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=1800,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExportError(f"{onnx_path}: pnnx did not run: {exc}") from None
    if done.returncode != 0 or not (work / PARAM).is_file() or not (work / BIN).is_file():
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        raise ExportError(f"{onnx_path}: pnnx failed (exit {done.returncode}): {tail}")
    _refuse_unknown_layers(onnx_path, work / PARAM)


def _refuse_unknown_layers(onnx_path: Path, param: Path) -> None:
    """One line naming the ops pnnx passed through that ncnn has no layer for (an encoder
    file may use any ONNX op), instead of ncnn's failure to load the model later."""
    from anime_detector.engines.cpu import import_engine

    ncnn = import_engine("ncnn")
    unknown = sorted({layer.kind for layer in read_layers(param)
                      if ncnn.layer_to_index(layer.kind) < 0})
    ops = [kind for kind in unknown if not kind.startswith("pnnx.")] or unknown
    if ops:
        raise ExportError(f"{onnx_path}: ncnn has no layer for {', '.join(ops)} (the op as "
                          "pnnx left it); this model cannot run on ncnn: use onnxruntime or "
                          "openvino")


def _param_io(param: Path) -> tuple[str, str]:
    """The graph's one input blob and one output blob, read from the ncnn ``.param``."""
    layers = read_layers(param)
    consumed = {blob for layer in layers for blob in layer.bottoms}
    produced = [blob for layer in layers for blob in layer.tops]
    inputs = [blob for layer in layers if layer.kind == "Input" for blob in layer.tops]
    outputs = [blob for blob in produced if blob not in consumed]
    # pnnx numbers graph outputs in order: out0 is ``output``; the Grad-CAM outputs of an
    # explain-capable export (out1, out2) stay in the graph but are never extracted.
    output = "out0" if "out0" in outputs else (outputs[0] if len(outputs) == 1 else None)
    if len(inputs) != 1 or output is None:
        raise ExportError(f"{param}: expected one input and the probabilities output, got "
                          f"{inputs} -> {outputs}")
    return inputs[0], output


def _manifest(onnx_path: Path, io: tuple[str, str], shape: list[int],
              layer_options: dict[str, str]) -> dict[str, Any]:
    """The manifest with the ONNX contract, key for key, plus conversion provenance and
    the per-layer options set in the ``.param`` after pnnx (``layer_options``)."""
    props = read_metadata(onnx_path)
    versions = json.loads(props.get(KEYS.versions, "{}"))
    versions.update(pnnx=_version("pnnx"), ncnn=_version("ncnn"))
    props[KEYS.versions] = json.dumps(versions)
    props["anime_detector.converted_from"] = json.dumps(
        {"file": onnx_path.name, "sha256": sha256_path(onnx_path), "converter": "pnnx"})
    return {"format": FORMAT, "format_version": 1, "param": PARAM, "bin": BIN,
            "input": io[0], "output": io[1], "input_layout": "NHWC", "input_shape": shape,
            "layer_options": layer_options, "metadata": props}


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _check_destination(out_dir: Path) -> None:
    """Replace only an earlier ncnn model folder or an empty folder, never anything else."""
    if not out_dir.exists():
        return
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
        return
    try:
        read_manifest(out_dir)
    except ModelError:
        raise ExportError(f"{out_dir}: exists and is not an ncnn model folder; "
                          "choose another --out") from None


def _verify(folder: Path, reference: np.ndarray, batch: np.ndarray, atol: float,
            threads: int | None, log: Callable[[str], None]) -> list[Comparison]:
    checks = []
    for precision in ("fp32", "fp16"):
        engine = load(folder, precision=precision, threads=threads)
        check = compare(reference, engine.run(batch), "onnx fp32",
                        f"ncnn {engine.info.precision}")
        log(check.line())
        checks.append(check)
    if checks[0].max_abs_diff > atol:
        raise ExportError(f"ncnn fp32 differs from onnxruntime fp32 by "
                          f"{checks[0].max_abs_diff:.2e} > --atol {atol:g}; nothing written")
    return checks


def to_ncnn(onnx_path: str | Path, out_dir: str | Path, *, verify_dir: Path | None = None,
            atol: float = 1e-4, threads: int | None = None,
            log: Callable[[str], None] = print) -> NcnnReport:
    """Convert an exported fp32 ``.onnx`` to a verified ncnn model folder, atomically.

    ``threads`` is ncnn's thread count while verifying (default: the CPUs this process
    may use).

    Raises:
        ModelError: the ``.onnx`` is missing or carries no anime-detector contract.
        ExportError: pnnx is missing or failed, the model is not fp32, or ncnn fp32
            differs from onnxruntime fp32 by more than ``atol``.
    """
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    contract = read_contract(onnx_path)
    if contract.precision != "fp32":
        raise ExportError(f"{onnx_path}: is a {contract.precision} export; convert the fp32 "
                          "one (fp16 is a run-time option of the ncnn model)")
    find_pnnx()
    _check_destination(out_dir)
    spec = contract.spec
    batch, described = verification_batch(verify_dir, spec=spec)
    reference = onnx_predict(onnx_path.read_bytes(), batch)
    report = NcnnReport(out_dir)
    with atomic_dir(out_dir, overwrite=True) as tmp:
        with tempfile.TemporaryDirectory(prefix="pnnx-") as work:
            log(f"converting {onnx_path} with pnnx")
            _convert(onnx_path, Path(work), spec.height, spec.width)
            for name in (PARAM, BIN):
                shutil.move(str(Path(work, name)), tmp / name)
        layer_options = gemm_for_thin_inputs(tmp / PARAM)
        for layer, why in layer_options.items():
            log(f"layer option: {layer}: {why}")
        manifest = _manifest(onnx_path, _param_io(tmp / PARAM), [spec.height, spec.width, 3],
                             layer_options)
        _write_manifest(tmp, manifest)
        log(f"verifying on {described}")
        report.verification = _verify(tmp, reference, batch, atol, threads, log)
        manifest["metadata"]["anime_detector.ncnn_verification"] = json.dumps(
            {"images": described, "checks": [c.to_dict() for c in report.verification]})
        _write_manifest(tmp, manifest)
    report.size_mb = sum(f.stat().st_size for f in out_dir.iterdir()) / 1e6
    return report


def keras_to_ncnn(model_path: str | Path, out_dir: str | Path, *,
                  verify_dir: Path | None = None, atol: float = 1e-4, threads: int | None = None,
                  log: Callable[[str], None] = print, **onnx_options: Any) -> NcnnReport:
    """A Keras model straight to ncnn: a verified fp32 ``.onnx`` in a temporary folder
    (``to_onnx``), then :func:`to_ncnn`; only the ncnn folder is kept."""
    import tempfile

    from anime_detector.export.convert import to_onnx

    with tempfile.TemporaryDirectory(prefix="anime-detector-ncnn-") as tmp:
        onnx_path = Path(tmp) / f"{Path(model_path).stem}.onnx"
        to_onnx(model_path, onnx_path, verify_dir=verify_dir, log=log, **onnx_options)
        return to_ncnn(onnx_path, out_dir, verify_dir=verify_dir, atol=atol, threads=threads,
                       log=log)
