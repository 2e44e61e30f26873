"""Batch prediction on Ray Data (the ``[ray]`` extra) and its result files.

Importing this package does not import Ray; :func:`run_batch` does, when called.
"""

from __future__ import annotations

from anime_detector.batch.job import BatchFailed, BatchInterrupted, BatchSummary, run_batch
from anime_detector.batch.pipeline import PipelineConfig, RayMissingError
from anime_detector.batch.results import read_rows

__all__ = ["BatchFailed", "BatchInterrupted", "BatchSummary", "PipelineConfig",
           "RayMissingError", "read_rows", "run_batch"]
