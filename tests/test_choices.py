"""The choice lists in ``anime_detector.choices`` agree with the code that owns each list.

``choices`` imports nothing of the toolkit so that ``--help`` stays cheap; where a list's
owner lives elsewhere (the backbone registry in ``train``), these tests keep the copy equal.
"""

from __future__ import annotations

from anime_detector.choices import BACKBONE_NAMES, DEFAULT_BACKBONE
from anime_detector.train.backbones import BACKBONES

from helpers.cli import run_cli


def test_backbone_names_are_the_train_registrys_keys_in_order() -> None:
    assert BACKBONE_NAMES == tuple(BACKBONES)
    assert DEFAULT_BACKBONE in BACKBONES


def test_train_and_bench_help_list_every_backbone() -> None:
    for command in ("train", "bench"):
        result = run_cli(command, "--help", env={"COLUMNS": "300"})
        assert result.returncode == 0, result.stderr
        for name in BACKBONE_NAMES:
            assert name in result.stdout, (command, name)
