"""Training cost: 10 epochs with the feature cache vs one extraction pass vs no cache.

    python benchmarks/train_cache.py [--images 200] [--epochs 10]

Copies N real images from the shipped sample set (two classes, round-robin), then on the
same VGG19 (--weights none):
(1) one feature-extraction pass, (2) ``train`` with the cache (cold), (3) ``train``
with the cache again (warm), (4) ``train --no-feature-cache``. Targets:
(2) <= 1.3x (1), and (4) >= 5x (2).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

from _common import SAMPLE, machine_line, make_images, matmul_gflops, save, timed


def main() -> None:
    from anime_detector.dataset import discover
    from anime_detector.preprocessing import DEFAULT_SPEC
    from anime_detector.train.features import FeatureCache, extract_features
    from anime_detector.train.fit import TrainConfig, train
    from anime_detector.train.model import build_parts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    quiet = lambda _line: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        make_images(args.images, SAMPLE, data)
        samples = discover(data)
        probe_before = matmul_gflops()
        parts = build_parts(None)
        extract = timed(lambda: extract_features(parts.extractor, samples, FeatureCache(None, ""),
                                                 DEFAULT_SPEC, warn=quiet))

        def run(name: str, cache: bool) -> float:
            config = TrainConfig(data_dir=data, out_dir=root / name, weights=None,
                                 epochs=args.epochs, feature_cache=cache,
                                 cache_dir=root / "cache")
            return timed(lambda: train(config, log=quiet))

        cold, warm, nocache = run("cold", True), run("warm", True), run("nocache", False)
        probe_after = matmul_gflops()
    report = {
        "images": len(samples), "epochs": args.epochs, "extract_pass_s": extract,
        "train_cached_cold_s": cold, "train_cached_warm_s": warm, "train_no_cache_s": nocache,
        "cached_over_extract": cold / extract, "no_cache_over_cached": nocache / cold,
        "matmul_gflops": {"before": probe_before, "after": probe_after},
    }
    md = "\n".join([
        f"| {len(samples)} images, {args.epochs} epochs, VGG19 --weights none | seconds |",
        "|---|---|",
        f"| one feature-extraction pass | {extract:.1f} |",
        f"| train, feature cache cold | {cold:.1f} |",
        f"| train, feature cache warm (second run) | {warm:.1f} |",
        f"| train --no-feature-cache | {nocache:.1f} |",
        "",
        f"cached (cold) / extraction pass = {cold / extract:.2f} (target <= 1.3); "
        f"no cache / cached = {nocache / cold:.2f} (target >= 5); matmul probe "
        f"{probe_before:.0f} -> {probe_after:.0f} GFLOP/s; {machine_line()}",
    ])
    save("train_cache", report, md)


if __name__ == "__main__":
    main()
