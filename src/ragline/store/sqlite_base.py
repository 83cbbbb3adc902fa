"""What every SQLite backend of ragline shares: one connection to the store's file in WAL
mode, a lock around it, transactions and reads that turn ``sqlite3`` errors into
:class:`~ragline.errors.StoreError` naming the backend and the file, and the runner of the
schema migrations (:mod:`ragline.store.migrations`)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragline.errors import MigrationError, StoreError
from ragline.store.migrations import MIGRATIONS, RENAMED


class SQLiteBackend:
    """Base of the SQLite stores. ``what`` names the backend in error messages."""

    what = "store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), timeout=timeout_s, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the {self.what} at {path}: {exc}",
                hint="check that the folder is writable, or set RAGLINE_HOME",
            ) from exc
        # Re-entrant: a transaction may call helpers that read through the same lock.
        self._lock = threading.RLock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), rolled back on any exception."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.what} write failed ({self.path}): {exc}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.what} read failed ({self.path}): {exc}") from exc

    def _migrate(self) -> None:
        """Apply the pending migrations, each in its own transaction; first rename the
        recorded names of migrations renamed since they shipped (:data:`RENAMED`)."""
        with self._tx() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
            )
            for old, new in RENAMED.items():
                conn.execute("UPDATE migrations SET name = ? WHERE name = ?", (new, old))
            done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
        newer = sorted(done - {name for name, _ in MIGRATIONS})
        if newer:
            raise MigrationError(
                f"{self.path} has a schema from a newer ragline (migrations "
                f"{', '.join(newer)} are unknown to this release)",
                hint="upgrade ragline (pip install -U ragline) to use this file; "
                "nothing was changed",
            )
        #: Names of the migrations this open applied (``ragline migrate`` reports them).
        self.newly_applied: list[str] = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            try:
                with self._tx() as conn:
                    for statement in sql.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        (name, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
                    )
            except StoreError as exc:
                raise MigrationError(f"migration {name} failed: {exc.message}") from exc
            self.newly_applied.append(name)

    def applied_migrations(self) -> list[str]:
        """Names of the migrations this store's file has recorded, in order."""
        return [r[0] for r in self._query("SELECT name FROM migrations ORDER BY name")]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
