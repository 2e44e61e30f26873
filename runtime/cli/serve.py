"""``anime-detector serve``: the detector as an HTTP service (the ``[serve]`` extra).

It parses options, opens the model (a bad one is one error line, exit 2, before anything
binds) and hands both to :func:`anime_detector.serve.server.run_server`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from anime_detector.cli.common import (
    EXIT_USAGE,
    Device,
    DeviceOpt,
    EngineName,
    EngineOpt,
    PrecisionOpt,
    ThreadsOpt,
    ThresholdOpt,
    fail,
    require_modules,
    user_errors,
)

__all__ = ["serve"]

SERVE_HINT = "serve needs the service extra: pip install 'anime-detector[cpu,serve]'"
SERVE_MODULES = ("starlette", "uvicorn", "multipart", "prometheus_client")


class LogFormat(str, Enum):
    text = "text"
    json = "json"


def serve(
    model: Annotated[Path, typer.Argument(help="An exported .onnx model (or an ncnn folder).")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 or :: for every "
                                      "interface: an explicit choice).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    device: DeviceOpt = Device.auto,
    threads: ThreadsOpt = None,
    engine: EngineOpt = EngineName.auto,
    precision: PrecisionOpt = None,
    threshold: ThresholdOpt = None,
    max_pixels: Annotated[int | None, typer.Option(
        min=1, help="Refuse larger images before decoding (default 89478485).")] = None,
    max_batch: Annotated[int, typer.Option(
        min=1, help="Images per inference run: the batcher takes what is queued, up to this.")
    ] = 1,
    max_wait_ms: Annotated[float, typer.Option(
        min=0.0, help="Wait this long for more images before a run (0: never wait).")] = 0.0,
    max_queue: Annotated[int, typer.Option(
        min=1, help="Images waiting for inference before requests get 503.")] = 64,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body.")] = 20.0,
    max_files: Annotated[int, typer.Option(min=1, help="Most images per request.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.01, help="Seconds per request before 504.")
    ] = 30.0,
    api_key: Annotated[str | None, typer.Option(
        envvar="ANIME_DETECTOR_API_KEY", show_envvar=True,
        help="Require this key (Authorization: Bearer or X-API-Key) on every route but "
             "/healthz, /readyz and the page.")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="Allow browser calls from this origin (repeat for more; default: none).")] = None,
    grace: Annotated[float, typer.Option(
        min=0.0, help="Seconds requests in flight get to finish on SIGTERM/Ctrl-C.")] = 10.0,
    log_format: Annotated[LogFormat, typer.Option(help="text, or json for log collectors.")]
    = LogFormat.text,
) -> None:
    """Serve the model over HTTP: a web page, /v1/predict, /v1/explain, health and metrics."""
    require_modules(SERVE_MODULES, SERVE_HINT)
    from anime_detector.detector import Detector
    from anime_detector.serve.app import create_app
    from anime_detector.serve.config import ServeConfig
    from anime_detector.serve.server import configure_logging, run_server

    config = ServeConfig(
        max_body_mb=max_body_mb, max_files=max_files, max_pixels=max_pixels,
        max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue, timeout_s=timeout,
        threshold=threshold, api_key=api_key or None, cors_origins=tuple(cors_origin or ()),
        grace_s=grace, log_format=log_format.value)
    with user_errors():  # spinning threads would steal the decoding pool's cores
        detector = Detector.load(model, device=device.value, threads=threads,
                                 engine=engine.value, precision=precision, spin=False)
    configure_logging(config.log_format)
    app = create_app(lambda: detector, config)
    clean = run_server(app, host, port, grace,
                       on_started=lambda url: typer.echo(f"serving {model} on {url}", err=True))
    if not clean:
        fail(f"{model}: the service stopped: {app.state.service.load_error or 'see the log'}",
             EXIT_USAGE)
