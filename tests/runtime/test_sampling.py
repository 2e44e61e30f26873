"""The one sampling policy (verification, calibration, bench fidelity): a seeded mix of
the class folders."""

from __future__ import annotations

from pathlib import Path

from anime_detector.sampling import sample_images, stratified_order

from helpers.images import solid


def test_classes_interleave_and_the_seed_decides_the_order() -> None:
    root = Path("data")
    paths = [f"data/anime/a{i}.png" for i in range(5)] + [f"data/not_anime/n{i}.png"
                                                          for i in range(3)]
    order = stratified_order(paths, root, seed=1)
    assert sorted(order) == sorted(paths)
    assert [p.split("/")[1] for p in order] == ["anime", "not_anime"] * 3 + ["anime"] * 2
    assert stratified_order(paths, root, seed=1) == order
    assert any(stratified_order(paths, root, seed=s) != order for s in range(2, 6))
    assert stratified_order([], root) == []


def test_a_sample_sees_both_classes(tmp_path: Path) -> None:
    for label, colour in (("anime", (0, 0, 255)), ("not_anime", (255, 0, 0))):
        (tmp_path / label).mkdir()
        for i in range(8):
            solid(colour).save(tmp_path / label / f"{i}.png")
    batch, described = sample_images(tmp_path, limit=4)
    assert described == f"4 images from {tmp_path} (2 anime, 2 not_anime)"
    blue = batch[..., 0].mean(axis=(1, 2)) > batch[..., 2].mean(axis=(1, 2))  # BGR order
    assert sorted(blue.tolist()) == [False, False, True, True]
