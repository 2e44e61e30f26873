"""``batch`` on a simulated two-node cluster (``ray.cluster_utils.Cluster``): spread, same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from anime_detector.batch import PipelineConfig, read_rows, run_batch  # noqa: E402
from anime_detector.detector import Detector  # noqa: E402
from anime_detector.image_paths import expand_inputs  # noqa: E402

from helpers.images import write_class_folder  # noqa: E402


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_two_nodes_share_the_work_and_give_the_same_rows(
        two_nodes: Cluster, tiny_model: Path, tmp_path: Path) -> None:
    folder = write_class_folder(tmp_path / "in", per_class=12)
    out = tmp_path / "results.parquet"
    # --address: the job attaches to the running cluster (and detaches when done)
    summary = run_batch(tiny_model, [str(folder)], out, recursive=True, progress=False,
                        address=two_nodes.address,
                        config=PipelineConfig(actors=2, cpus_per_actor=1, batch_size=2))
    assert not ray.is_initialized()
    assert len(summary.nodes) == 2 and min(summary.nodes.values()) > 0, summary.nodes
    paths = expand_inputs([str(folder)], recursive=True)
    want = [p.to_dict() for p in Detector.load(tiny_model, device="cpu").predict(paths)]
    assert read_rows(out, "parquet") == want
