"""The answer caches' entries on PostgreSQL (table ``cache_entries``, migration ``0007_cache``).

:class:`PostgresCacheStore` implements :class:`ragline.store.cache_base.CacheStore` with the
rows of :mod:`ragline.store.sqlite_cache`, column for column (vectors as float32 ``bytea``;
the cache scores them in its own in-memory index, so no pgvector index is needed). Server
replicas on one database share the entries.

Sequence numbers come from the identity column ``seq``. A reader syncs with ``seq > last``,
so a number must never become visible after a greater one: every write takes one
transaction-scoped advisory lock before it takes numbers, so writes (from any replica) commit
in the order of their numbers. Writes are short, so the lock costs little.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragline.store.cache_base import CacheEntry, CacheStats, VectorBatch
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_cache import _COLUMNS, _entry

#: The advisory lock that orders the writes of cache entries (``"rcac"``).
_WRITE_LOCK = 0x72636163


def _row(entry: CacheEntry) -> tuple[Any, ...]:
    vector = None
    if entry.vector is not None:
        vector = np.ascontiguousarray(entry.vector, dtype=np.float32).tobytes()
    return (
        entry.key,
        entry.collection,
        entry.scope,
        entry.question,
        entry.payload,
        int(entry.version),
        json.dumps(list(entry.collections)),
        vector,
        float(entry.created_at),
        float(entry.expires_at) if entry.expires_at is not None else None,
        int(entry.hits),
    )


def _empty() -> VectorBatch:
    return VectorBatch(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32))


class PostgresCacheStore(PostgresBackend):
    """:class:`ragline.store.cache_base.CacheStore` on PostgreSQL."""

    what = "cache store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

    def put(self, entry: CacheEntry) -> None:
        self.put_many([entry])

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        rows = [_row(e) for e in entries]
        if not rows:
            return
        with self._tx("write entries") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            with conn.cursor() as cur:
                for row in rows:
                    cur.execute("DELETE FROM cache_entries WHERE key = %s", (row[0],))
                    cur.execute(
                        f"INSERT INTO cache_entries ({_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        row,
                    )

    def get(self, key: str) -> CacheEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM cache_entries WHERE key = %s", (key,))
        return _entry(rows[0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        rows = self._query(f"SELECT {_COLUMNS} FROM cache_entries WHERE key = ANY(%s)", (keys,))
        return {r[0]: _entry(r) for r in rows}

    def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
        rows = self._query(
            "SELECT seq, key, vector FROM cache_entries WHERE collection = %s AND scope = %s "
            "AND seq > %s AND vector IS NOT NULL ORDER BY seq",
            (collection, scope, int(after)),
        )
        if not rows:
            return _empty()
        seqs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32)
        return VectorBatch(seqs, [r[1] for r in rows], vectors.reshape(len(rows), -1).copy())

    def touch(self, key: str, at: float) -> None:
        self._execute(
            "UPDATE cache_entries SET hits = hits + 1, last_hit_at = %s WHERE key = %s",
            (float(at), key),
        )

    def delete(self, keys: Sequence[str]) -> int:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return 0
        return self._execute("DELETE FROM cache_entries WHERE key = ANY(%s)", (keys,))

    def clear(self, collection: str | None = None) -> int:
        if collection is None:
            return self._execute("DELETE FROM cache_entries")
        return self._execute("DELETE FROM cache_entries WHERE collection = %s", (collection,))

    def prune(self, *, now: float, max_entries: int | None) -> int:
        with self._tx("prune entries") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            gone = conn.execute(
                "DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= %s",
                (float(now),),
            ).rowcount
            if max_entries is not None:
                row = conn.execute("SELECT COUNT(*) FROM cache_entries").fetchone()
                count = int(row[0]) if row else 0
                if count > max_entries:
                    gone += conn.execute(
                        "DELETE FROM cache_entries WHERE seq IN (SELECT seq FROM cache_entries "
                        "ORDER BY COALESCE(last_hit_at, created_at), seq LIMIT %s)",
                        (count - max_entries,),
                    ).rowcount
        return gone

    def stats(self) -> list[CacheStats]:
        rows = self._query(
            "SELECT collection, COUNT(*), COUNT(vector), COALESCE(SUM(hits), 0), "
            "MIN(created_at), MAX(created_at), array_agg(DISTINCT scope) FROM cache_entries "
            "GROUP BY collection ORDER BY collection"
        )
        return [
            CacheStats(r[0], int(r[1]), int(r[2]), int(r[3]), r[4], r[5], sorted(r[6]))
            for r in rows
        ]


__all__ = ["PostgresCacheStore"]
