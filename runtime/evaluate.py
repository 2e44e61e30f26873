"""``eval``: score a model on a labelled folder; optionally compare two models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from anime_detector.classification_metrics import classification_report
from anime_detector.dataset import discover
from anime_detector.detector import Detector, Failure, Prediction

__all__ = ["compare_models", "evaluate"]


def _score(detector: Detector, data_dir: Path, threshold: float | None, batch_size: int
           ) -> tuple[list[tuple[str, int, Prediction]], list[dict[str, str]]]:
    samples = discover(data_dir, detector.labels)
    ok: list[tuple[str, int, Prediction]] = []
    unreadable: list[dict[str, str]] = []
    results = detector.predict_iter([s.path for s in samples], batch_size=batch_size,
                                    threshold=threshold)
    for sample, result in zip(samples, results, strict=True):
        if isinstance(result, Failure):
            unreadable.append({"path": result.source, "error": result.error})
        else:
            ok.append((str(sample.path), sample.label, result))
    return ok, unreadable


def evaluate(detector: Detector, data_dir: Path, threshold: float | None = None,
             batch_size: int = 8) -> dict[str, Any]:
    """Accuracy, per-class P/R/F1, confusion matrix, ROC-AUC and the misclassified files."""
    scored, unreadable = _score(detector, data_dir, threshold, batch_size)
    labels = detector.labels
    truth = [label for _, label, _ in scored]
    predicted = [labels.index(p.label) for _, _, p in scored]
    report = classification_report(truth, predicted, labels, scores=[p.score for _, _, p in scored],
                                   positive_index=detector.contract.positive_index)
    report["model"] = str(detector.path)
    report["threshold"] = detector.contract.threshold if threshold is None else threshold
    report["unreadable"] = unreadable
    report["misclassified"] = [
        {"path": path, "true": labels[t], "predicted": p.label, "score": p.score}
        for path, t, p in scored if labels[t] != p.label
    ]
    report["scores"] = {path: p.score for path, _, p in scored}
    return report


def compare_models(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Agreement and max |dp(anime)| between two ``evaluate`` reports on the same folder."""
    common = sorted(set(first["scores"]) & set(second["scores"]))
    a = np.array([first["scores"][k] for k in common])
    b = np.array([second["scores"][k] for k in common])
    t1, t2 = first["threshold"], second["threshold"]
    return {
        "images": len(common),
        "models": [first["model"], second["model"]],
        "accuracy": [first["accuracy"], second["accuracy"]],
        "label_agreement": float(((a >= t1) == (b >= t2)).mean()) if common else 0.0,
        "max_abs_diff": float(np.abs(a - b).max()) if common else 0.0,
    }
