"""The choice lists in ``anime_detector.choices`` agree with the code that owns each list.

``choices`` imports nothing of the toolkit so that ``--help`` stays cheap; where a list's
owner lives elsewhere (the backbone registry in ``train``), these tests keep the copy equal.
"""

from __future__ import annotations

from pathlib import Path

from anime_detector.choices import (
    BACKBONE_NAMES,
    DEFAULT_BACKBONE,
    PREPROCESS_PRESETS,
    RUN_PRECISIONS,
)
from anime_detector.encoder_spec import PRESETS
from anime_detector.errors import EXIT_USAGE
from anime_detector.train.backbones import BACKBONES

from helpers.cli import run_cli


def test_backbone_names_are_the_train_registrys_keys_in_order() -> None:
    assert BACKBONE_NAMES == tuple(BACKBONES)
    assert DEFAULT_BACKBONE in BACKBONES


def test_preset_names_are_encoder_specs_and_their_words_match_them() -> None:
    assert tuple(PREPROCESS_PRESETS) == tuple(PRESETS)
    for name, words in PREPROCESS_PRESETS.items():
        pixels = PRESETS[name]
        assert ("/255" in words) == (pixels.scale == 1 / 255), name
        assert ("BGR" in words) == (pixels.channel_order == "BGR"), name
        assert ("center crop" in words) == (pixels.resize == "center-crop"), name
        assert ("std" in words) == (pixels.std != (1.0, 1.0, 1.0)), name


def test_train_and_bench_help_list_every_backbone() -> None:
    for command in ("train", "bench"):
        result = run_cli(command, "--help", env={"COLUMNS": "300"})
        assert result.returncode == 0, result.stderr
        for name in BACKBONE_NAMES:
            assert name in result.stdout, (command, name)


def test_an_unknown_precision_is_one_usage_error_naming_the_choices(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    refused = run_cli("predict", tmp_path / "m.onnx", image, "--precision", "fp8",
                      env={"COLUMNS": "300"})
    assert refused.returncode == EXIT_USAGE
    assert f"'fp8' is not one of {', '.join(RUN_PRECISIONS)}" in refused.stderr
    assert "Traceback" not in refused.stderr
    upper = run_cli("predict", tmp_path / "m.onnx", image, "--precision", "BF16")
    assert upper.returncode == EXIT_USAGE
    assert "--precision" not in upper.stderr and "m.onnx" in upper.stderr  # accepted
