"""Reference models for ``bench --backbone``: built once with TensorFlow, then TF-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tf]
pytest.importorskip("tf2onnx")

BLOCK_TF = "import sys\nfor m in ('tensorflow', 'keras', 'tf2onnx'):\n    sys.modules[m] = None\n"


def _without_tf(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_TF + body], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_light_backbone_reference_is_built_once_then_works_without_tf(tmp_path: Path) -> None:
    from anime_detector import Detector
    from anime_detector.export.reference_models import reference_model
    from anime_detector.train.backbones import BACKBONES

    logs: list[str] = []
    path = reference_model("MobileNetV3Small", cache_dir=tmp_path, log=logs.append)
    assert path.parent == tmp_path / "bench" and "building" in logs[0]
    assert any("onnx fp32 vs keras" in line for line in logs)  # verified like any export
    det = Detector.load(path, device="cpu")
    assert det.contract.spec == BACKBONES["mobilenetv3small"].spec
    probs = det.run(np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("f4"))
    assert probs.shape == (2, 2)
    again: list[str] = []
    assert reference_model("mobilenetv3small", cache_dir=tmp_path, log=again.append) == path
    assert again == []  # cached: not rebuilt
    body = ("from pathlib import Path\nfrom anime_detector.export.reference_models import "
            f"reference_model\nprint(reference_model('mobilenetv3small', Path({str(tmp_path)!r})))"
            "\nimport tensorflow\n")
    out = _without_tf(body)  # the last import proves TensorFlow really is unavailable
    assert out.stdout.strip() == str(path) and "import of tensorflow halted" in out.stderr


def test_uncached_reference_without_tf_is_a_one_line_install_hint(tmp_path: Path) -> None:
    body = ("from pathlib import Path\nfrom anime_detector.export.reference_models import "
            "ReferenceModelError, reference_model\ntry:\n"
            f"    reference_model('efficientnetv2b0', Path({str(tmp_path)!r}))\n"
            "except ReferenceModelError as exc:\n    print(exc)\n")
    out = _without_tf(body)
    assert out.returncode == 0, out.stderr[-2000:]
    line = out.stdout.strip()
    assert "\n" not in line and "pip install 'anime-detector[train]'" in line
    assert not (tmp_path / "bench").exists() or not any((tmp_path / "bench").iterdir())


def test_vgg19_reference_is_the_tf_free_graph(tmp_path: Path) -> None:
    from anime_detector.export.reference_models import reference_model
    from anime_detector.graphs.reference import cached_reference_model
    from anime_detector.train.backbones import UnknownBackboneError

    assert reference_model("VGG19", cache_dir=tmp_path) == cached_reference_model(tmp_path)
    with pytest.raises(UnknownBackboneError):
        reference_model("resnet50", cache_dir=tmp_path)
