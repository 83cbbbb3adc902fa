"""What every PostgreSQL backend of ragline shares: the URL, one connection pool per process
and URL, transactions and reads that turn ``psycopg`` errors into ragline errors, and the
runner of the schema migrations (:mod:`ragline.store.postgres_migrations`).

Errors: a server that cannot be reached is a
:class:`~ragline.errors.StoreUnavailableError` (503 in the server; the pool reconnects by
itself once the server is back), a malformed URL a :class:`~ragline.errors.ConfigError`, a
missing pgvector or a schema from a newer release a :class:`~ragline.errors.MigrationError`
that says what to do.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ragline.errors import (
    ConfigError,
    MigrationError,
    MissingDependencyError,
    StoreError,
    StoreUnavailableError,
)
from ragline.store.postgres_migrations import PG_MIGRATIONS

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from ragline.config import Settings

#: The advisory lock that lets one process at a time apply migrations.
_MIGRATION_LOCK = 0x7261676C  # "ragl"


@dataclass(frozen=True, slots=True)
class PgOptions:
    """What the PostgreSQL stores read from ``settings.store`` (defaults live there)."""

    auto_migrate: bool
    pool_min_size: int
    pool_max_size: int
    connect_timeout_s: float
    vector_search: str
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int

    @classmethod
    def of(cls, settings: Settings) -> PgOptions:
        s = settings.store
        return cls(
            s.auto_migrate,
            s.pool_min_size,
            s.pool_max_size,
            s.connect_timeout_s,
            s.vector_search,
            s.hnsw_m,
            s.hnsw_ef_construction,
            s.hnsw_ef_search,
        )


def _psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
        from pgvector.psycopg import register_vector  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "the PostgreSQL backend needs psycopg 3, psycopg-pool and pgvector",
            hint="pip install 'ragline[postgres]'",
        ) from exc
    return psycopg


def conninfo_of(url: str) -> str:
    """The libpq URL of ``postgresql://…`` / ``postgres://…`` / ``postgresql+psycopg://…``
    (a clear :class:`ConfigError` when it is not one)."""
    psycopg = _psycopg()
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep or base not in ("postgresql", "postgres") or not rest:
        raise ConfigError(
            f"store.url {url!r} is not a PostgreSQL URL",
            hint="write postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        )
    conninfo = f"postgresql://{rest}"
    try:
        netloc = urlsplit(conninfo).netloc
        if "," not in netloc:  # a multi-host URL has no single port to check
            urlsplit(conninfo).port  # noqa: B018 - raises ValueError for a bad port
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except (psycopg.ProgrammingError, ValueError) as exc:
        raise ConfigError(
            f"store.url {redact_url(url)!r} is not a valid PostgreSQL URL: {exc}",
            hint="write postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        ) from exc
    return conninfo


def redact_url(url: str) -> str:
    """``url`` without its password (for messages)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def translate(exc: Exception, url: str, doing: str) -> StoreError | ConfigError:
    """The ragline error for a ``psycopg`` / pool error raised while ``doing``."""
    import psycopg
    from psycopg_pool import PoolTimeout

    where = redact_url(url)
    if isinstance(exc, PoolTimeout | psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.QueryCanceled
    ):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "does not exist" in text and "database" in text:
            return ConfigError(
                f"cannot {doing}: {text} ({where})",
                hint="create it (createdb NAME, or CREATE DATABASE) or fix store.url",
            )
        return StoreUnavailableError(
            f"PostgreSQL at {where} is not reachable ({doing}): {text}",
            hint="check that the server runs and store.url (RAGLINE_STORE__URL) names it; "
            'for development: eval "$(scripts/dev-services.sh start)"',
        )
    return StoreError(f"{doing} failed ({where}): {exc}")


class _SharedPool:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.users = 0


_POOLS: dict[tuple[str, int, int], _SharedPool] = {}
_POOLS_LOCK = threading.Lock()
_MIGRATED: set[str] = set()


def _configurer(opts: PgOptions) -> Any:
    def configure(conn: psycopg.Connection) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {int(opts.hnsw_ef_search)}")

    return configure


def _acquire_pool(conninfo: str, opts: PgOptions) -> ConnectionPool:
    """The process's pool for ``conninfo``. Its connections are in autocommit mode: a read is
    one round trip; writes open a transaction explicitly (``PostgresBackend._tx``). A
    connection broken by a server restart fails one request (a 503) and is replaced."""
    from psycopg_pool import ConnectionPool

    key = (conninfo, opts.pool_min_size, opts.pool_max_size)
    with _POOLS_LOCK:
        shared = _POOLS.get(key)
        if shared is None:
            pool = ConnectionPool(
                conninfo,
                min_size=opts.pool_min_size,
                max_size=opts.pool_max_size,
                kwargs={
                    "connect_timeout": max(1, round(opts.connect_timeout_s)),
                    "autocommit": True,
                },
                configure=_configurer(opts),
                timeout=opts.connect_timeout_s,
                reconnect_timeout=opts.connect_timeout_s * 12,
                open=False,
                name="ragline",
            )
            pool.open(wait=False)
            shared = _POOLS[key] = _SharedPool(pool)
        shared.users += 1
        return shared.pool


def _release_pool(conninfo: str, opts: PgOptions) -> None:
    key = (conninfo, opts.pool_min_size, opts.pool_max_size)
    with _POOLS_LOCK:
        shared = _POOLS.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del _POOLS[key]
            shared.pool.close()


def apply_pg_migrations(url: str, opts: PgOptions, *, apply: bool = True) -> list[str]:
    """Apply the pending PostgreSQL migrations of the database at ``url`` (one process at a
    time, under an advisory lock), each in its own transaction. Returns the names applied.

    ``apply=False`` only checks: a pending migration is a :class:`MigrationError` that says
    to run ``ragline migrate``. Either way, a database migrated by a newer ragline (names
    this release does not know) is refused, and nothing is changed."""
    psycopg = _psycopg()
    conninfo = conninfo_of(url)
    where = redact_url(url)
    try:
        conn = psycopg.connect(
            conninfo, autocommit=True, connect_timeout=max(1, round(opts.connect_timeout_s))
        )
    except psycopg.Error as exc:
        raise translate(exc, url, "connect") from exc
    applied: list[str] = []
    with conn:
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        except psycopg.errors.InsufficientPrivilege as exc:
            raise MigrationError(
                f"cannot create ragline's tables in {where}: {exc}",
                hint="connect as the database's owner, or GRANT CREATE ON SCHEMA public",
            ) from exc
        except psycopg.Error as exc:
            raise translate(exc, url, "read the schema version") from exc
        known = [name for name, _ in PG_MIGRATIONS]
        newer = sorted(done - set(known))
        if newer:
            raise MigrationError(
                f"the database at {where} has a schema from a newer ragline "
                f"(migrations {', '.join(newer)} are unknown to this release)",
                hint="upgrade ragline (pip install -U ragline) to use this database; "
                "nothing was changed",
            )
        pending = [(n, sql) for n, sql in PG_MIGRATIONS if n not in done]
        if pending and not apply:
            raise MigrationError(
                f"the database at {where} needs {len(pending)} migration(s): "
                + ", ".join(n for n, _ in pending),
                hint="run `ragline migrate` (store.auto_migrate is off)",
            )
        for name, sql in pending:
            try:
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (%s, %s)",
                        (name, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
                    )
            except (
                psycopg.errors.UndefinedFile,
                psycopg.errors.FeatureNotSupported,
                psycopg.errors.InsufficientPrivilege,
            ) as exc:
                if "vector" in str(exc):
                    raise MigrationError(
                        f"migration {name} failed: pgvector is not available in {where}: "
                        f"{str(exc).strip().splitlines()[0]}",
                        hint="install pgvector on the server and run CREATE EXTENSION vector; "
                        "as a superuser, in this database (then `ragline migrate`)",
                    ) from exc
                raise MigrationError(f"migration {name} failed: {exc}") from exc
            except psycopg.OperationalError as exc:
                raise translate(exc, url, f"apply migration {name}") from exc
            except psycopg.Error as exc:
                raise MigrationError(f"migration {name} failed: {exc}") from exc
            applied.append(name)
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


class PostgresBackend:
    """Base of the PostgreSQL stores: a pooled connection per call. ``what`` names the
    backend in error messages."""

    what = "store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        _psycopg()
        self.url = url
        self.opts = opts
        self._conninfo = conninfo_of(url)
        if url not in _MIGRATED:  # once per process and URL
            apply_pg_migrations(url, opts, apply=opts.auto_migrate)
            _MIGRATED.add(url)
        self._pool: ConnectionPool | None = _acquire_pool(self._conninfo, opts)

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise StoreError(f"the {self.what} is closed")
        return self._pool

    @contextmanager
    def _conn(self, doing: str) -> Iterator[psycopg.Connection]:
        """A pooled connection (autocommit), its errors translated."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.url, f"{self.what} {doing}") from exc

    @contextmanager
    def _tx(self, doing: str = "write") -> Iterator[psycopg.Connection]:
        """One transaction on a pooled connection, committed at the end, rolled back on any
        exception."""
        with self._conn(doing) as conn, conn.transaction():
            yield conn

    def _query(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """One statement on its own (autocommit): one round trip."""
        with self._conn("read") as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (atomic on its own, autocommit); returns its row count."""
        with self._conn("write") as conn:
            return conn.execute(sql, params).rowcount

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM migrations ORDER BY name")]

    def close(self) -> None:
        if self._pool is not None:
            self._pool = None
            _release_pool(self._conninfo, self.opts)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = [
    "PgOptions",
    "PostgresBackend",
    "apply_pg_migrations",
    "conninfo_of",
    "redact_url",
    "translate",
]
