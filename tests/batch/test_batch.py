"""``batch`` on a local Ray (started once for this module): same rows as ``predict``, and as
the service and its remote client (all four compose :mod:`anime_detector.prediction`'s loop).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from typer.testing import CliRunner  # noqa: E402

from anime_detector.batch import (  # noqa: E402
    BatchFailed,
    BatchInterrupted,
    PipelineConfig,
    read_rows,
    run_batch,
)
from anime_detector.cli import app  # noqa: E402
from anime_detector.detector import Detector  # noqa: E402
from anime_detector.image_paths import expand_inputs  # noqa: E402
from anime_detector.serve.client import RemoteDetector, encode_multipart  # noqa: E402

from helpers.bad_inputs import corrupt_png_chunk, text_as_jpg, truncated_jpeg, zero_byte  # noqa: E402
from helpers.images import write_class_folder  # noqa: E402
from helpers.server import ServerProcess  # noqa: E402

BAD = {"empty.jpg": "empty file", "notes.jpg": "not a recognised image",
       "corrupt.png": "cannot decode", "truncated.jpg": "cannot decode"}


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 generated images in anime/ and not_anime/, plus four broken files in bad/."""
    root = write_class_folder(tmp_path_factory.mktemp("batch") / "in", per_class=3)
    bad = root / "bad"
    bad.mkdir()
    for make in (zero_byte, text_as_jpg, corrupt_png_chunk, truncated_jpeg):
        make(bad)
    return root


def _predict_rows(model: Path, paths: list[str]) -> list[dict[str, Any]]:
    detector = Detector.load(model, device="cpu")
    return [item.to_dict() for item in detector.predict_iter(paths)]


def assert_same(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal rows: the same keys, labels and error lines, scores within 1e-6 (batches of
    other sizes may round differently in the engine)."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row.keys() == want.keys(), (row, want)
        for key, value in want.items():
            if key == "probabilities":
                assert row[key].keys() == value.keys()
                assert all(row[key][k] == pytest.approx(v, abs=1e-6) for k, v in value.items())
            else:
                assert row[key] == (pytest.approx(value, abs=1e-6) if key == "score" else value)


def _service_rows(url: str, paths: list[str]) -> list[dict[str, Any]]:
    """``POST /v1/predict`` with every file, the broken ones too: the server judges them."""
    boundary = uuid.uuid4().hex
    body = encode_multipart([(path, Path(path).read_bytes()) for path in paths], boundary)
    request = urllib.request.Request(
        url + "/v1/predict", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            data = json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 422: some images failed; the rows still come
        assert exc.code == 422
        data = json.loads(exc.read())
    return [{"path": row.pop("name"), **row} for row in data["results"]]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["batch", *args])


def test_cli_rows_equal_predict_with_error_rows_list_file_and_sorting(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "extra.png"
    outside.parent.mkdir()
    outside.write_bytes((folder / "anime" / "anime-000.png").read_bytes())
    listed = tmp_path / "more.txt"
    listed.write_text(f"# a comment and a blank line\n\n{outside}\n")
    out = tmp_path / "results.jsonl"
    result = _cli(str(tiny_model), str(folder), str(listed), "-r", "--out", str(out),
                  "--actors", "1", "--cpus-per-actor", "1", "--batch-size", "3",
                  "--sort-into", str(tmp_path / "sorted"), "--no-progress")
    assert result.exit_code == 1, result.output  # 1: some inputs failed
    paths = [*expand_inputs([str(folder)], recursive=True), str(outside)]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == _predict_rows(tiny_model, paths)  # same rows, same order
    errors = {Path(r["path"]).name: r["error"] for r in rows if "error" in r}
    assert errors.keys() == BAD.keys()
    assert all(BAD[name] in text for name, text in errors.items())
    assert "11 images, 4 failed" in result.output and "1 actors" in result.output
    sorted_files = sorted(p.relative_to(tmp_path / "sorted").as_posix()
                          for p in (tmp_path / "sorted").rglob("*.png"))
    root = {p: folder for p in paths[:-1]} | {str(outside): outside.parent}
    want = sorted(f"{r['label']}/{Path(r['path']).relative_to(root[r['path']]).as_posix()}"
                  for r in rows if "error" not in r)
    assert sorted_files == want
    assert not list((tmp_path / "sorted").rglob("bad/*"))  # failed inputs stay where they are


def test_uris_a_uri_folder_and_a_list_of_uris(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    image = folder / "not_anime" / "not_anime-001.png"
    missing = (folder / "gone.png").as_uri()
    listed = tmp_path / "uris.lst"
    listed.write_text(f"{image.as_uri()}\n{missing}\n")
    out = tmp_path / "r.parquet"
    refused = _cli(str(tiny_model), str(listed), "--out", str(out), "--sort-into",
                   str(tmp_path / "s"))
    assert refused.exit_code == 2 and "--sort-into needs local files" in refused.output
    anime = expand_inputs([str(folder / "anime")])
    summary = run_batch(tiny_model, [str(listed), (folder / "anime").as_uri()], out,
                        progress=False, config=PipelineConfig(actors=1, cpus_per_actor=1))
    rows = read_rows(out, "parquet")
    want = [{**row, "path": Path(row["path"]).as_uri()}
            for row in _predict_rows(tiny_model, [str(image), *anime])]
    assert rows == [want[0], {"path": missing, "error": "no such file"}, *want[1:]]
    assert summary.failed == 1 and summary.images == 2 + len(anime) == 5


def test_interrupt_keeps_no_final_file_and_resume_finishes_the_rest(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    config = PipelineConfig(actors=1, cpus_per_actor=1, batch_size=2)
    seen: list[str] = []

    def ctrl_c_after_four(row: dict[str, Any]) -> None:
        seen.append(row["path"])
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted, match="4 finished rows kept"):
        run_batch(tiny_model, [str(folder)], out, recursive=True, config=config,
                  progress=False, on_row=ctrl_c_after_four)
    assert not out.exists()
    done = list(seen)
    seen.clear()
    summary = run_batch(tiny_model, [str(folder)], out, recursive=True, config=config,
                        resume=True, progress=False, on_row=lambda r: seen.append(r["path"]))
    paths = expand_inputs([str(folder)], recursive=True)
    assert sorted(seen) == sorted(set(paths) - set(done))  # only what was not done
    assert summary.skipped == 4 and summary.images == len(paths) - 4
    assert read_rows(out, "parquet") == _predict_rows(tiny_model, paths)
    assert not out.with_name(out.name + ".partial").exists()
    again = run_batch(tiny_model, [str(folder)], out, recursive=True, config=config,
                      resume=True, progress=False)
    assert again.images == 0 and again.skipped == len(paths)  # nothing left: Ray not needed


def test_an_actor_that_cannot_start_fails_the_job_in_one_line(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here: the actors would start")
    out = tmp_path / "r.jsonl"
    # address: the driver checks the model on CPU only, as with a remote cluster
    with pytest.raises(BatchFailed, match="Ray job failed: .*no CUDA provider") as caught:
        run_batch(tiny_model, [str(folder)], out, recursive=True, address="auto",
                  progress=False, config=PipelineConfig(actors=1, cpus_per_actor=1,
                                                        device="cuda"))
    assert "\n" not in str(caught.value) and not out.exists()


def test_an_ncnn_folder_runs_on_the_actors_with_its_precision(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    """The folder's three files travel to the actors; rows equal predict's on ncnn fp16."""
    pytest.importorskip("ncnn")
    from anime_detector.errors import DeviceError
    from anime_detector.export.convert import ExportError
    from anime_detector.export.ncnn import find_pnnx, to_ncnn

    try:
        find_pnnx()
    except ExportError:
        pytest.skip("pnnx is not installed (pip install --no-deps pnnx)")
    model = tmp_path / "tiny-ncnn"
    to_ncnn(tiny_model, model, threads=1, log=lambda _: None)
    inputs = [str(folder / "anime"), str(folder / "not_anime")]
    out = tmp_path / "r.jsonl"
    with pytest.raises(DeviceError, match="bf16"):  # checked before Ray starts
        run_batch(model, inputs, out, fmt="json", progress=False,
                  config=PipelineConfig(precision="bf16"))
    assert not out.exists()
    summary = run_batch(model, inputs, out, fmt="json", progress=False,
                        config=PipelineConfig(actors=1, cpus_per_actor=1, precision="fp16"))
    detector = Detector.load(model, device="cpu", precision="fp16")
    assert detector.info.engine == "ncnn" and detector.info.precision == "fp16-weights"
    want = [p.to_dict() for p in detector.predict_iter(expand_inputs(inputs))]
    assert read_rows(out, "json") == want and summary.images == len(want) == 6
    fp32 = Detector.load(model, device="cpu", precision="fp32")
    assert [p.to_dict() for p in fp32.predict_iter(expand_inputs(inputs))] != want


def test_predict_batch_serve_and_the_remote_client_give_the_same_rows(
        tiny_model: Path, folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("starlette")  # the [serve] extra
    paths = expand_inputs([str(folder)], recursive=True)
    local = _predict_rows(tiny_model, paths)
    assert sum("error" in row for row in local) == len(BAD)
    out = tmp_path / "results.jsonl"
    run_batch(tiny_model, paths, out, progress=False,
              config=PipelineConfig(actors=1, cpus_per_actor=1, batch_size=3))
    assert_same(read_rows(out, "json"), local)
    with ServerProcess(tiny_model, "--max-batch", "3") as server:
        assert_same(_service_rows(server.url, paths), local)
        remote = RemoteDetector(server.url)
        assert_same([item.to_dict() for item in remote.predict_iter(paths, batch_size=4)],
                    local)
