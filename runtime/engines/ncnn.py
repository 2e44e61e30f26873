"""The ncnn engine (``[ncnn]`` extra): runs a model folder written by ``to_ncnn``.

A folder holds ``model.ncnn.param``, ``model.ncnn.bin`` and ``anime_detector.json``,
whose ``metadata`` is the exported ONNX file's contract, key for key. The converted
graph keeps the ONNX input layout (NHWC, one image: ``(H, W, 3)``) and permutes to
ncnn's CHW itself, so each image is handed over as it comes out of ``preprocess``.

ncnn runs one sample at a time: ``run`` loops over the batch with one ``Net``. Its
options: ``fp32`` (default) or ``fp16`` (fp16 weight storage on x86 with AVX, fp16
storage and arithmetic on Arm CPUs with ``asimdhp``), Winograd 3x3 convolutions on
(23, 43 and 63 variants: ncnn picks per layer), light mode (intermediate blobs freed
as soon as consumed), ``num_threads`` = ``threads``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from anime_detector.choices import ENGINE_PRECISIONS
from anime_detector.contract import ModelContract, contract_from_props
from anime_detector.engines import NCNN_MANIFEST, is_ncnn_model
from anime_detector.engines.base import EngineInfo
from anime_detector.engines.cpu import (
    check_cpu_device,
    checked_precision,
    import_engine,
    thread_count,
)
from anime_detector.errors import ModelError

__all__ = ["FORMAT", "MANIFEST", "PRECISIONS", "NcnnEngine", "folder_files", "is_ncnn_model",
           "load", "model_folder", "read_manifest"]

ENGINE = "ncnn"
FORMAT = "anime-detector-ncnn"
MANIFEST = NCNN_MANIFEST
PRECISIONS = ENGINE_PRECISIONS[ENGINE]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's ``anime_detector.json``; :class:`ModelError` if missing or malformed."""
    manifest = folder / MANIFEST
    if not folder.exists():
        raise ModelError(folder, "no such model folder")
    if not manifest.is_file():
        raise ModelError(folder, f"not an ncnn model folder (no {MANIFEST}); convert an .onnx "
                         "with `anime-detector export --format ncnn`")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(manifest, f"unreadable: {exc}") from None
    keys = ("format", "param", "bin", "input", "output", "metadata")
    if not isinstance(data, dict) or data.get("format") != FORMAT or any(
            k not in data for k in keys):
        raise ModelError(manifest, f"not an {FORMAT} manifest (needs {', '.join(keys)})")
    for key in ("param", "bin"):
        name = data[key]
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ModelError(manifest, f"{key} must name a file in the folder, got {name!r}")
    return data


def model_folder(path: Path) -> Path:
    """The model folder that ``path`` names: the folder itself or its manifest."""
    return path.parent if path.name == MANIFEST and path.is_file() else path


def folder_files(path: Path) -> dict[str, Path]:
    """The manifest, param and bin of the ncnn model folder at ``path`` (the folder or its
    manifest), by file name."""
    folder = model_folder(path)
    manifest = read_manifest(folder)
    names = (MANIFEST, str(manifest["param"]), str(manifest["bin"]))
    return {name: folder / name for name in names}


def _ncnn() -> Any:
    return import_engine(ENGINE)


def _precision(precision: str | None) -> str:
    return checked_precision(ENGINE, precision, PRECISIONS)


def _effective(ncnn: Any, precision: str) -> str:
    """What ``fp16`` really means on this CPU (ncnn falls back to fp32 silently)."""
    if precision == "fp32":
        return "fp32"
    if ncnn.cpu_support_arm_asimdhp():
        return "fp16"
    return "fp16-weights" if ncnn.cpu_support_x86_avx() else "fp32"


def _configure(opt: Any, threads: int, precision: str) -> None:
    fp16 = precision == "fp16"
    opt.num_threads = threads
    opt.lightmode = True
    opt.use_vulkan_compute = False
    opt.use_packing_layout = True
    opt.use_winograd_convolution = True
    opt.use_winograd23_convolution = True
    opt.use_winograd43_convolution = True
    opt.use_winograd63_convolution = True
    opt.use_sgemm_convolution = True
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = fp16
    opt.use_bf16_storage = False


class NcnnEngine:
    """A loaded ncnn ``Net``.

    Thread-safe: an ncnn ``Net`` may serve several extractors at once and ``run`` makes
    a fresh extractor per image, so concurrent calls need no lock. They do not run in
    parallel, though: ncnn's Python binding holds the GIL during ``extract`` (each call
    uses ``threads`` threads; for more throughput on many cores, use processes).
    """

    def __init__(self, net: Any, contract: ModelContract, path: Path, io: tuple[str, str],
                 info: EngineInfo) -> None:
        self.contract = contract
        self.path = path
        self._net = net
        self._input, self._output = io
        self._info = info
        self._mat = _ncnn().Mat

    @property
    def info(self) -> EngineInfo:
        return self._info

    def run(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Class probabilities for a preprocessed NHWC float32 batch, one image at a time."""
        spec = self.contract.spec
        if batch.ndim != 4 or batch.shape[1:] != (spec.height, spec.width, 3):
            raise ValueError(f"expected a (N, {spec.height}, {spec.width}, 3) batch, "
                             f"got {batch.shape}")
        rows = []
        for image in np.ascontiguousarray(batch, dtype=np.float32):
            extractor = self._net.create_extractor()
            # clone: ncnn then owns the input; a first layer that works in place (the
            # rescaling of MobileNetV3/EfficientNetV2) must not write into numpy's memory
            extractor.input(self._input, self._mat(image).clone())
            status, out = extractor.extract(self._output)
            if status != 0:
                raise RuntimeError(f"{self.path}: ncnn extract failed ({status})")
            rows.append(np.array(out, dtype=np.float32).reshape(-1))
        return np.stack(rows)


def _open_net(ncnn: Any, folder: Path, manifest: dict[str, Any], threads: int,
              precision: str) -> Any:
    param, weights = folder / str(manifest["param"]), folder / str(manifest["bin"])
    for file in (param, weights):
        if not file.is_file():
            raise ModelError(file, "missing from the ncnn model folder")
    net = ncnn.Net()
    _configure(net.opt, threads, precision)
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise ModelError(folder, "ncnn cannot load its param/bin files")
    if manifest["input"] not in net.input_names() or manifest["output"] not in \
            net.output_names():
        raise ModelError(folder, f"the graph has no blobs {manifest['input']!r} -> "
                         f"{manifest['output']!r}")
    return net


def load(path: Path, *, device: str = "auto", threads: int | None = None,
         precision: str | None = None, spin: bool = True,
         labels: Sequence[str] | None = None) -> NcnnEngine:
    """Load the ncnn model folder at ``path`` (or its ``anime_detector.json``) for the CPU.

    Raises:
        EngineUnavailable: ncnn is not installed.
        DeviceError: not a CPU device, or an unknown precision.
        ModelError: not a readable ncnn model folder.
    """
    del spin
    check_cpu_device(ENGINE, device)
    chosen = _precision(precision)
    ncnn = _ncnn()
    folder = model_folder(Path(path))
    manifest = read_manifest(folder)
    contract = contract_from_props(folder, dict(manifest["metadata"]), labels)
    net = _open_net(ncnn, folder, manifest, thread_count(threads), chosen)
    info = EngineInfo(ENGINE, str(ncnn.__version__), "cpu", _effective(ncnn, chosen))
    return NcnnEngine(net, contract, folder, (manifest["input"], manifest["output"]), info)
