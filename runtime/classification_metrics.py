"""Classification metrics in numpy: shared by ``train`` (validation) and ``eval``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["classification_report", "roc_auc"]


def roc_auc(positive: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None for one class."""
    y = np.asarray(positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_report(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[str], scores: ArrayLike | None = None,
    positive_index: int = 0,
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1, confusion matrix (rows = truth), ROC-AUC."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    k = len(labels)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    per_class: dict[str, dict[str, float | int]] = {}
    for i, name in enumerate(labels):
        tp = int(matrix[i, i])
        predicted, actual = int(matrix[:, i].sum()), int(matrix[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    auc = None
    if scores is not None:
        auc = roc_auc(t == positive_index, scores)
    return {
        "n": int(len(t)),
        "accuracy": float((t == p).mean()) if len(t) else 0.0,
        "per_class": per_class,
        "confusion_matrix": {"labels": list(labels), "rows_true_cols_pred": matrix.tolist()},
        "roc_auc": auc,
    }
