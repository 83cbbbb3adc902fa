"""The answer caches' entries on the store's SQLite file (table ``cache_entries``).

:class:`SQLiteCacheStore` implements :class:`ragline.store.cache_base.CacheStore`: plain rows,
vectors as float32 blobs. Scoring happens in the cache's in-memory index, which reads only the
rows added since its last read (``seq > ?`` on an index), so keeping it in sync costs one
indexed query however large the cache is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragline.store.cache_base import CacheEntry, CacheStats, VectorBatch
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

_COLUMNS = (
    "key, collection, scope, question, payload, version, collections, vector, created_at, "
    "expires_at, hits"
)
_MAX_PARAMS = 900


def _entry(row: tuple[Any, ...]) -> CacheEntry:
    blob = row[7]
    return CacheEntry(
        key=row[0],
        collection=row[1],
        scope=row[2],
        question=row[3],
        payload=row[4],
        version=int(row[5]),
        collections=tuple(json.loads(row[6])),
        vector=np.frombuffer(blob, dtype=np.float32).copy() if blob is not None else None,
        created_at=float(row[8]),
        expires_at=float(row[9]) if row[9] is not None else None,
        hits=int(row[10]),
    )


class SQLiteCacheStore(SQLiteBackend):
    """:class:`ragline.store.cache_base.CacheStore` on one SQLite file."""

    what = "cache store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

    def put(self, entry: CacheEntry) -> None:
        self.put_many([entry])

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        rows = []
        for entry in entries:
            vector = None
            if entry.vector is not None:
                vector = np.ascontiguousarray(entry.vector, dtype=np.float32).tobytes()
            rows.append(
                (
                    entry.key,
                    entry.collection,
                    entry.scope,
                    entry.question,
                    entry.payload,
                    entry.version,
                    json.dumps(list(entry.collections)),
                    vector,
                    entry.created_at,
                    entry.expires_at,
                    entry.hits,
                )
            )
        with self._tx() as conn:
            for row in rows:
                conn.execute("DELETE FROM cache_entries WHERE key = ?", (row[0],))
                conn.execute(
                    f"INSERT INTO cache_entries ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row
                )

    def get(self, key: str) -> CacheEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM cache_entries WHERE key = ?", (key,))
        return _entry(rows[0]) if rows else None

    def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), _MAX_PARAMS):
            part = keys[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(part))
            for row in self._query(
                f"SELECT {_COLUMNS} FROM cache_entries WHERE key IN ({marks})", part
            ):
                found[row[0]] = _entry(row)
        return found

    def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
        rows = self._query(
            "SELECT seq, key, vector FROM cache_entries WHERE collection = ? AND scope = ? "
            "AND seq > ? AND vector IS NOT NULL ORDER BY seq",
            (collection, scope, after),
        )
        if not rows:
            return VectorBatch(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32))
        seqs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        return VectorBatch(seqs, [r[1] for r in rows], vectors.reshape(len(rows), -1).copy())

    def touch(self, key: str, at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE cache_entries SET hits = hits + 1, last_hit_at = ? WHERE key = ?",
                (at, key),
            )

    def delete(self, keys: Sequence[str]) -> int:
        deleted = 0
        keys = list(keys)
        with self._tx() as conn:
            for start in range(0, len(keys), _MAX_PARAMS):
                part = keys[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(part))
                deleted += conn.execute(
                    f"DELETE FROM cache_entries WHERE key IN ({marks})", part
                ).rowcount
        return deleted

    def clear(self, collection: str | None = None) -> int:
        with self._tx() as conn:
            if collection is None:
                return conn.execute("DELETE FROM cache_entries").rowcount
            return conn.execute(
                "DELETE FROM cache_entries WHERE collection = ?", (collection,)
            ).rowcount

    def prune(self, *, now: float, max_entries: int | None) -> int:
        with self._tx() as conn:
            gone = conn.execute(
                "DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now,),
            ).rowcount
            if max_entries is not None:
                (count,) = conn.execute("SELECT COUNT(*) FROM cache_entries").fetchone()
                if count > max_entries:
                    gone += conn.execute(
                        "DELETE FROM cache_entries WHERE seq IN (SELECT seq FROM cache_entries "
                        "ORDER BY COALESCE(last_hit_at, created_at), seq LIMIT ?)",
                        (count - max_entries,),
                    ).rowcount
        return gone

    def stats(self) -> list[CacheStats]:
        rows = self._query(
            "SELECT collection, COUNT(*), SUM(vector IS NOT NULL), SUM(hits), MIN(created_at), "
            "MAX(created_at), json_group_array(DISTINCT scope) FROM cache_entries "
            "GROUP BY collection ORDER BY collection"
        )
        return [
            CacheStats(
                r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), r[4], r[5], json.loads(r[6])
            )
            for r in rows
        ]


__all__ = ["SQLiteCacheStore"]
