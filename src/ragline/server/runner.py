"""Running the app under uvicorn: in the foreground (``ragline serve``) or in a thread.

:func:`bind_host` checks where to listen: an address beyond loopback needs an active API key
(the server refuses to start without one); on loopback without keys it says it runs open.
:class:`ServerThread` runs a real uvicorn server on ``127.0.0.1`` and a free port in a
background thread (tests, benchmarks).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from ragline.errors import ConfigError
from ragline.server.auth import is_loopback

LOOPBACK = "127.0.0.1"


def bind_host(host: str, has_keys: bool, *, ever_had_keys: bool = False) -> tuple[str, str | None]:
    """``(host to bind, message to show)``; :class:`ConfigError` for an address beyond
    loopback without an active key (``has_keys``): nobody could use such a server."""
    if has_keys:
        return host, None
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to serve {host} without an active API key: a server beyond loopback "
            "needs one",
            hint="create a key with `ragline keys create --name NAME --role admin`, or serve "
            f"on loopback (--host {LOOPBACK})",
        )
    if ever_had_keys:
        return host, (
            f"no active API key: serving {host}, where every request gets 401 until you "
            "create one with `ragline keys create`"
        )
    return host, (
        f"no API keys: serving without authentication on loopback only ({host}); "
        "create one with `ragline keys create` to require keys and serve other hosts"
    )


class ServerThread:
    """A real uvicorn server in a daemon thread; use as a context manager.

    ``url`` is ``http://<host>:<port>`` once started (port 0: a free one); a server on
    ``0.0.0.0`` is reached at ``local_url`` (``http://127.0.0.1:<port>``).
    """

    def __init__(self, app: Any, *, host: str = LOOPBACK, port: int = 0, **config: Any) -> None:
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "on")
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **config))
        ctx = getattr(getattr(app, "state", None), "ragline", None)
        if ctx is not None:  # the app decides "open or closed" by where it really listens
            ctx.listen_host = host
        self.thread = threading.Thread(target=self.server.run, name="ragline-uvicorn", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def local_url(self) -> str:
        host = LOOPBACK if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"

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
