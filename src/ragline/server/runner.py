"""Running the app under uvicorn: in the foreground (``ragline serve``) or in a thread.

:func:`bind_host` decides where to listen: without any active API key the server is open,
so it binds loopback only, whatever was asked, and says so. :class:`ServerThread` runs a real
uvicorn server on ``127.0.0.1`` and a free port in a background thread (tests, benchmarks).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

import uvicorn

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_host(host: str, has_keys: bool) -> tuple[str, str | None]:
    """``(host to bind, message to show)``: an open server (no keys) stays on loopback."""
    if has_keys:
        return host, None
    if is_loopback(host):
        return host, (
            f"no API keys: serving without authentication on loopback only ({host}); "
            "create one with `ragline keys create` to require keys and serve other hosts"
        )
    return LOOPBACK, (
        f"no API keys: refusing to serve {host} without authentication; binding {LOOPBACK} "
        "(loopback only) instead — create a key with `ragline keys create` first"
    )


class ServerThread:
    """A real uvicorn server in a daemon thread; use as a context manager.

    ``url`` is ``http://127.0.0.1:<port>`` once started (port 0: a free one).
    """

    def __init__(self, app: Any, *, host: str = LOOPBACK, port: int = 0, **config: Any) -> None:
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "on")
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **config))
        self.thread = threading.Thread(target=self.server.run, name="ragline-uvicorn", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start (see the log above)")
            time.sleep(0.01)
        sockets = [s for srv in self.server.servers for s in srv.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_server(app: Any, host: str, port: int, *, log_level: str = "info") -> None:
    """Run ``app`` in the foreground until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


__all__ = ["LOOPBACK", "ServerThread", "bind_host", "is_loopback", "run_server"]
