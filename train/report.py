"""Writing a run folder's reports: history, metrics, labels and the training-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["plot_history", "write_json"]


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def plot_history(history: dict[str, list[float]], path: Path, best_epoch: int) -> None:
    """Loss and accuracy per epoch (train and validation), best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(list(epochs), values, style, label=(prefix or "train_") + metric)
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
