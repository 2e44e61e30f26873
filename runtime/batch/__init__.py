"""The Ray job: ``predict`` at dataset scale on Ray Data (the ``[ray]`` extra).

The local counterpart, in this one process, is :mod:`anime_detector.jobs`; both expand
inputs with :func:`anime_detector.image_paths.expand_with_roots`, give the same rows and sort
with :class:`anime_detector.jobs.sorting.Sorter`. Here inputs may also be URIs and list
files (``sources``), decoding runs in Ray tasks and inference in an actor pool
(``pipeline``), and rows are checkpointed to a RESULTS file (``results``). Importing this
package does not import Ray; :func:`run_batch` does, when called.
"""

from __future__ import annotations

from anime_detector.batch.job import BatchFailed, BatchInterrupted, BatchSummary, run_batch
from anime_detector.batch.pipeline import PipelineConfig, RayMissingError
from anime_detector.batch.results import read_rows

__all__ = ["BatchFailed", "BatchInterrupted", "BatchSummary", "PipelineConfig",
           "RayMissingError", "read_rows", "run_batch"]
