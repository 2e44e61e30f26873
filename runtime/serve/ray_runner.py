"""Running the Ray Serve app from the command line, or writing its config for ``serve deploy``.

``run_on_ray`` attaches to a cluster (``address``) or starts a local Ray with the CPUs this
process may use, starts Ray Serve's HTTP proxy on ``host:port``, deploys the app and serves
until SIGTERM or Ctrl-C; then Ray Serve drains the replicas and the process exits 0.
``deploy_config`` is the YAML that Ray's own ``serve deploy`` takes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from ray import serve

from anime_detector.ray_support import ray_session, ship_model
from anime_detector.serve.backend import model_version
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.ray_app import APP_NAME, ReplicaOptions, build_app

__all__ = ["deploy_config", "run_on_ray"]

log = logging.getLogger("anime_detector.serve")


def run_on_ray(model: Path, config: ServeConfig, options: ReplicaOptions, *, host: str,
               port: int, address: str | None = None, engine: str = "auto",
               precision: str | None = None, device: str = "auto") -> None:
    """Serve ``model`` on Ray Serve until a signal; returns after a clean shutdown."""
    stop = threading.Event()
    with ray_session(address):
        # After ray.init: Ray's core worker installs a C++ SIGTERM handler that dumps a
        # stack and kills the process; ours replaces it, so SIGTERM drains instead.
        previous = {sig: signal.signal(sig, lambda *_: stop.set())
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            serve.start(http_options={"host": host, "port": port})
            app = build_app(ship_model(model), config, options, engine=engine,
                            precision=precision, device=device, name=model.name,
                            version=model_version(model))
            serve.run(app, name=APP_NAME, route_prefix="/")
            log.info("serving %s on Ray Serve at http://%s:%d", model, host, port)
            while not stop.wait(0.5):
                pass
            log.info("shutting down: Ray Serve drains the replicas")
            serve.delete(APP_NAME)
            serve.shutdown()  # type: ignore[no-untyped-call]
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def deploy_config(model: Path, config: ServeConfig, options: ReplicaOptions, *, host: str,
                  port: int, engine: str = "auto", precision: str | None = None,
                  device: str = "auto") -> str:
    """The Ray Serve config file for ``serve deploy`` (the model: a path every node has)."""
    deployment: dict[str, Any] = {"name": "ModelReplica", **options}
    document = {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port},
        "applications": [{
            "name": APP_NAME,
            "route_prefix": "/",
            "import_path": "anime_detector.serve.ray_app:app_builder",
            "args": {"model": str(model.resolve()), "engine": engine, "precision": precision,
                     "device": device,
                     "config": {k: v for k, v in config.to_dict().items()
                                if k != "api_key"}},
            "deployments": [deployment],
        }],
    }
    header = ("# Ray Serve config for anime-detector: `serve deploy THIS_FILE` on the cluster.\n"
              f"# Written by `anime-detector serve --print-config` at "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}.\n"
              "# args.model must exist at this path on every node that runs a replica\n"
              "# (copy it there, or use a shared or mounted folder). The API key is not\n"
              "# written here: set ANIME_DETECTOR_API_KEY in the application's\n"
              "# runtime_env env_vars, or in the environment of the Ray nodes.\n")
    return header + str(yaml.safe_dump(document, sort_keys=False))
