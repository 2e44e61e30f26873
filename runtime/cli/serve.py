"""``anime-detector serve``: the detector as an HTTP service (the ``[serve]`` extra).

It parses options, opens the model (a bad one is one error line, exit 2, before anything
binds) and hands both to :func:`anime_detector.serve.server.run_server`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from anime_detector.choices import LogFormat
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
from anime_detector.serve.config import ServeConfig

__all__ = ["serve"]

_D = ServeConfig()  # the one home of the service's defaults (Ray and the client read it too)
_LOG_FORMAT = LogFormat(_D.log_format)

SERVE_HINT = "serve needs the service extra: pip install 'anime-detector[cpu,serve]'"
SERVE_MODULES = ("starlette", "uvicorn", "multipart", "prometheus_client")
RAY_HINT = "serve --ray needs Ray Serve: pip install 'anime-detector[cpu,serve-ray]'"
RAY_MODULES = ("ray", "ray.serve", "yaml")


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
    max_pixels: Annotated[int, typer.Option(
        min=1, help="Refuse larger images from their header, before decoding (50 megapixels, "
                    "200 MB as RGB: sized for a small box; predict's limit is 89478485).")
    ] = _D.max_pixels or 89_478_485,
    max_batch: Annotated[int, typer.Option(
        min=1, help="Images per inference run: the batcher takes what is queued, up to this "
                    "(1: no batching).")
    ] = _D.max_batch,
    max_wait_ms: Annotated[float, typer.Option(
        min=0.0, help="Wait this long for more images before a run (0: never wait).")
    ] = _D.max_wait_ms,
    max_queue: Annotated[int, typer.Option(
        min=1, help="Images waiting for inference before requests get 503.")
    ] = _D.max_queue,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body.")
                           ] = _D.max_body_mb,
    max_inflight_mb: Annotated[float, typer.Option(
        min=0.001, help="Request bodies in flight at once, all together, before 503.")
    ] = _D.max_inflight_mb,
    max_files: Annotated[int, typer.Option(min=1, help="Most images per request.")] = _D.max_files,
    max_decode_mb: Annotated[float, typer.Option(
        min=0.001, help="Images being decoded at once, all requests together: each is "
                        "charged what its header says decoding takes (4 bytes a pixel for "
                        "most) before decoding; one over it all is refused, others wait.")
    ] = _D.max_decode_mb,
    timeout: Annotated[float, typer.Option(
        min=0.01, help="Seconds a request's body may take to arrive (else 408) and, again, "
                       "its images to be predicted (else 504).")] = _D.timeout_s,
    header_timeout: Annotated[float, typer.Option(
        min=0.01, help="Seconds a request's line and headers may take to arrive before 408 "
                       "(slow-header clients; without --ray).")] = _D.header_timeout_s,
    min_body_rate: Annotated[float, typer.Option(
        min=0.0, help="KB/s a request's body must keep up after its first 5 s, else 408 "
                      "(clients that trickle a large body; 0: --timeout only).")
    ] = _D.min_body_rate_kbs,
    max_connections: Annotated[int, typer.Option(
        min=1, help="Connections open at once; past it a new one gets 503 and is closed "
                    "(without --ray).")] = _D.max_connections,
    api_key: Annotated[str | None, typer.Option(
        envvar="ANIME_DETECTOR_API_KEY", show_envvar=True,
        help="Require this key (Authorization: Bearer or X-API-Key) on every route but "
             "the health routes (/healthz, /readyz, /v2/health/live, /v2/health/ready) "
             "and the page.")] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(
        help="Allow browser calls from this origin (repeat for more; default: none).")] = None,
    grace: Annotated[float, typer.Option(
        min=0.0, help="Seconds requests in flight get to finish on SIGTERM/Ctrl-C.")] = _D.grace_s,
    log_format: Annotated[LogFormat, typer.Option(help="text, or json for log collectors.")]
    = _LOG_FORMAT,
    model_name: Annotated[str | None, typer.Option(
        help="The model's name on the Open Inference Protocol routes (/v2/models/NAME; "
             "default: the model file's stem).")] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Serve on Ray Serve: the same routes, model replicas across a cluster.")
    ] = False,
    replicas: Annotated[int, typer.Option(min=1, help="With --ray: model replicas.")] = 1,
    autoscale: Annotated[str | None, typer.Option(
        metavar="MIN,MAX", help="With --ray: autoscale replicas on ongoing requests.")] = None,
    cpus_per_replica: Annotated[float | None, typer.Option(
        min=0.0, help="With --ray: CPUs each replica reserves and runs threads on (default: "
                      "this machine's CPUs divided by --replicas).")] = None,
    gpus_per_replica: Annotated[float, typer.Option(
        min=0.0, help="With --ray: GPUs each replica reserves.")] = 0.0,
    address: Annotated[str | None, typer.Option(
        help="With --ray: attach to this Ray cluster (default: start a local one).")] = None,
    print_config: Annotated[bool, typer.Option(
        "--print-config", help="With --ray: print the Ray Serve config for `serve deploy` "
                               "and exit.")] = False,
    tls_cert: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this PEM certificate (chain); needs --tls-key (without --ray: "
             "put TLS in front of Ray Serve's proxy).")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        help="The PEM private key of --tls-cert.")] = None,
) -> None:
    """Serve the model over HTTP: a web page, /v1/predict, /v1/explain, the Open Inference
    Protocol (KServe v2: /v2/models/NAME/infer), health and metrics."""
    require_modules(SERVE_MODULES, SERVE_HINT)
    if ray or print_config:
        require_modules(RAY_MODULES, RAY_HINT)
    from anime_detector.detector import Detector
    from anime_detector.serve.app import create_app
    from anime_detector.serve.config import ServeConfig
    from anime_detector.serve.server import check_tls, configure_logging, run_server

    try:
        config = ServeConfig(
            max_body_mb=max_body_mb, max_inflight_mb=max_inflight_mb, max_files=max_files,
            max_pixels=max_pixels, max_decode_mb=max_decode_mb, max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue, timeout_s=timeout, header_timeout_s=header_timeout,
            min_body_rate_kbs=min_body_rate, max_connections=max_connections,
            threshold=threshold, api_key=api_key or None, cors_origins=tuple(cors_origin or ()),
            grace_s=grace, log_format=log_format.value, model_name=model_name)
    except ValueError as exc:  # settings that contradict each other
        fail(str(exc))
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together: give both, or neither")
    if ray or print_config:
        if tls_cert is not None:
            fail("--tls-cert is for the single process: with --ray, terminate TLS in front "
                 "of Ray Serve's proxy (a load balancer or reverse proxy)")
        from anime_detector.serve.ray_app import ReplicaOptions
        from anime_detector.serve.ray_runner import deploy_config, run_on_ray

        with user_errors():
            Detector.load(model, device=device.value, threads=1, engine=engine.value,
                          precision=precision)  # a bad model: one line, before Ray starts
            options = ReplicaOptions.make(
                replicas, _bounds(autoscale), _replica_cpus(cpus_per_replica, replicas),
                gpus_per_replica, config.max_batch, config.max_queue)
            place: dict[str, Any] = {"engine": engine.value, "precision": precision,
                                     "device": device.value}
            if print_config:
                typer.echo(deploy_config(model, config, options, host=host, port=port, **place),
                           nl=False)
                return
            configure_logging(config.log_format)
            run_on_ray(model, config, options, host=host, port=port, address=address, **place)
        return
    with user_errors():  # spinning threads would steal the decoding pool's cores
        detector = Detector.load(model, device=device.value, threads=threads,
                                 engine=engine.value, precision=precision, spin=False)
    configure_logging(config.log_format)
    app = create_app(lambda: detector, config)
    tls = None
    if tls_cert is not None and tls_key is not None:
        with user_errors():  # a certificate or key that cannot be used: one line, exit 2
            tls = check_tls(tls_cert, tls_key)
    clean = run_server(app, host, port, tls=tls,
                       on_started=lambda url: typer.echo(f"serving {model} on {url}", err=True))
    if not clean:
        fail(f"{model}: the service stopped: {app.state.service.load_error or 'see the log'}",
             EXIT_USAGE)


def _bounds(autoscale: str | None) -> tuple[int, int] | None:
    """``MIN,MAX`` as two whole numbers, 1 <= MIN <= MAX."""
    if autoscale is None:
        return None
    parts = autoscale.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        fail(f"--autoscale takes MIN,MAX (two whole numbers), not {autoscale!r}")
    low, high = (int(p) for p in parts)
    if not 1 <= low <= high:
        fail(f"--autoscale {autoscale}: need 1 <= MIN <= MAX")
    return low, high


def _replica_cpus(cpus: float | None, replicas: int) -> float:
    from anime_detector.system import available_cpus

    return cpus if cpus is not None else max(1.0, available_cpus() / replicas)
