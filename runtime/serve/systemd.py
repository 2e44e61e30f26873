"""systemd's service notifications, without a dependency: ``READY=1``, ``STOPPING=1`` and the
watchdog's ``WATCHDOG=1``, sent as datagrams to ``$NOTIFY_SOCKET`` (``sd_notify``'s protocol).

Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing. With ``Type=notify`` the unit
is started once the model is loaded and warm; with ``WatchdogSec=`` systemd restarts the
service when the pings stop, and they stop when :meth:`Service.liveness` finds inference
stuck or its thread gone (the same heartbeat ``/healthz`` reads).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

__all__ = ["notify", "start_watchdog"]

log = logging.getLogger("anime_detector.serve")


def notify(state: str) -> bool:
    """Send ``state`` (``"READY=1"``...) to systemd; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ["NOTIFY_SOCKET"], exc)
        return False
    return True


def _watchdog_interval() -> float | None:
    """Half of ``WatchdogSec`` (from ``$WATCHDOG_USEC``) when the watchdog is ours, else None."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def start_watchdog(problem: Callable[[], str | None]) -> threading.Event | None:
    """Ping systemd's watchdog while ``problem()`` is None, from a daemon thread; the
    returned event stops it. None when no watchdog is asked for."""
    interval = _watchdog_interval()
    if interval is None or not os.environ.get("NOTIFY_SOCKET"):
        return None
    stop = threading.Event()

    def ping() -> None:
        while not stop.wait(interval):
            reason = problem()
            if reason is None:
                notify("WATCHDOG=1")
            else:
                log.error("not alive: %s (systemd's watchdog will restart the service)", reason)

    threading.Thread(target=ping, name="watchdog", daemon=True).start()
    return stop
