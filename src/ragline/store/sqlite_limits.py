"""Per-key limits on the store's SQLite file: totals (spend budgets) in ``key_usage``.

A total is checked and counted in one statement inside one ``BEGIN IMMEDIATE`` transaction
(``UPDATE key_usage SET used = used + ? WHERE … AND used + ? <= ?``), so two requests, in
this process or another one on the same file, can never both take the last cent, and a
budget survives a restart. Windowed limits (requests and tokens per minute) are counted in
this process (:class:`~ragline.store.limits_base.MemoryLimitStore`): one server process is
one window; several replicas need a shared backend (Redis) implementing the same Protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from time import monotonic

from ragline.store.limits_base import EPSILON, Grant, MemoryLimitStore
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend


class SQLiteLimitStore(SQLiteBackend):
    """:class:`ragline.store.limits_base.LimitStore`: totals in SQLite, windows in memory."""

    what = "limit store"

    def __init__(
        self, path: Path | str, *, timeout_s: float = 30.0, clock: Callable[[], float] = monotonic
    ) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)
        self.windows = MemoryLimitStore(clock=clock)

    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        if window_s is not None:
            return self.windows.consume(key_id, kind, amount, limit=limit, window_s=window_s)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO key_usage (key_id, kind, used) VALUES (?, ?, 0) "
                "ON CONFLICT (key_id, kind) DO NOTHING",
                (key_id, kind),
            )
            counted = conn.execute(
                "UPDATE key_usage SET used = used + ? "
                "WHERE key_id = ? AND kind = ? AND used + ? <= ?",
                (amount, key_id, kind, amount, limit + EPSILON),
            ).rowcount
            (used,) = conn.execute(
                "SELECT used FROM key_usage WHERE key_id = ? AND kind = ?", (key_id, kind)
            ).fetchone()
        return Grant(counted == 1, key_id, kind, amount, float(used), limit, None)

    def settle(self, grant: Grant, actual: float) -> None:
        if not grant.allowed:
            return
        if grant.window_s is not None:
            self.windows.settle(grant, actual)
            return
        with self._tx() as conn:
            conn.execute(
                "UPDATE key_usage SET used = MAX(0, used + ?) WHERE key_id = ? AND kind = ?",
                (actual - grant.amount, grant.key_id, grant.kind),
            )

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        if window_s is not None:
            return self.windows.used(key_id, kind, window_s=window_s)
        rows = self._query(
            "SELECT used FROM key_usage WHERE key_id = ? AND kind = ?", (key_id, kind)
        )
        return float(rows[0][0]) if rows else 0.0


__all__ = ["SQLiteLimitStore"]
