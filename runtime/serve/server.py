"""Running the app under uvicorn: logging, and a shutdown that drains.

On SIGTERM or SIGINT the server stops accepting, ``/readyz`` turns 503, requests in flight
finish within the config's ``grace_s`` seconds, and the process exits 0 (uvicorn would
otherwise raise the signal again after its shutdown, which kills the process with the
signal's code or, for SIGINT, prints a traceback). Under systemd it says READY=1 once the
model is warm, STOPPING=1 on the signal, and pings the watchdog (:mod:`.systemd`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from anime_detector.errors import SourceError, one_line
from anime_detector.serve.http_protocol import head_deadline_protocol
from anime_detector.serve.service import Service
from anime_detector.serve.systemd import notify, start_watchdog

__all__ = ["check_tls", "configure_logging", "run_server"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            data = json.loads(message)
            if not isinstance(data, dict):
                raise ValueError
        except ValueError:
            data = {"message": message}
        return json.dumps({"time": self.formatTime(record), "level": record.levelname.lower(),
                           "logger": record.name, **data})


def configure_logging(log_format: str = "text") -> None:
    """One line per event on stderr, for our logger and uvicorn's (no access log twice)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("anime_detector.serve", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.service.draining:
            notify("STOPPING=1")
        self.service.draining = True
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def check_tls(cert: Path, key: Path) -> tuple[Path, Path]:
    """``(cert, key)`` once they load as a certificate chain and its private key.

    Raises:
        SourceError: naming the file and what is wrong, before anything binds.
    """
    for path in (cert, key):
        if not path.is_file():
            raise SourceError(path, "no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise SourceError(cert, f"not a PEM certificate with its private key {key} "
                          f"({one_line(exc)})") from None
    return cert, key


def run_server(app: Starlette, host: str, port: int,
               on_started: Callable[[str], None] | None = None,
               tls: tuple[Path, Path] | None = None) -> bool:
    """Serve until a signal (or a model that fails to load); True for a clean stop. The grace
    period and the header deadline (:mod:`~anime_detector.serve.http_protocol`) are the
    app's ``ServeConfig``'s. ``tls``: a certificate and key (:func:`check_tls`): HTTPS."""
    service: Service = app.state.service
    settings = service.config
    config = uvicorn.Config(app, host=host, port=port,
                            timeout_graceful_shutdown=math.ceil(settings.grace_s),
                            access_log=False, log_config=None, server_header=False,
                            lifespan="on", timeout_keep_alive=5,
                            ssl_certfile=tls[0] if tls else None,
                            ssl_keyfile=tls[1] if tls else None,
                            http=head_deadline_protocol(
                                settings.header_timeout_s,
                                max_connections=settings.max_connections))
    server = _DrainingServer(config, service)
    service.on_load_failure = lambda reason: setattr(server, "should_exit", True)
    service.on_ready = functools.partial(notify, "READY=1")  # systemd: Type=notify
    watchdog = start_watchdog(service.liveness)  # systemd: WatchdogSec=
    if on_started is not None:
        scheme = "https" if tls else "http"
        on_started(f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}")
    try:
        server.run()
    except SystemExit:  # uvicorn could not bind (it logged why)
        return False
    finally:
        if watchdog is not None:
            watchdog.set()
    return service.load_error is None and server.started
