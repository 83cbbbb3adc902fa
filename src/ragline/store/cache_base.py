"""The :class:`CacheStore` Protocol: where the answer caches (:mod:`ragline.cache`) keep
their entries.

An entry is one answer that may be served again: its exact key (a digest of the normalised
question, the collection, the collection's content version and the answer's settings), the
collection and the *scope* (a digest of the answer's settings: model, prompt, sampling) it may
be served in, the question's embedding for the semantic cache, the answer itself as an opaque
JSON payload, the collection version it was made from, and every collection it cites (a caller
must be allowed to read all of them).

The semantic cache scores candidates in this process: :meth:`CacheStore.vectors` hands it the
vectors of one ``(collection, scope)`` added after a sequence number, so it keeps an in-memory
matrix in sync with one cheap read. A backend only has to store and return rows; it never
scores. ``ragline.testing.cache_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached answer. ``payload`` is opaque to the store (JSON written by the cache)."""

    key: str
    collection: str
    scope: str
    question: str
    payload: str
    version: int
    #: Every collection the answer cites (a caller must be allowed to read each one).
    collections: tuple[str, ...] = ()
    #: float32, L2-normalised; None: an exact-only entry (not in the semantic index).
    vector: np.ndarray | None = None
    #: Unix seconds.
    created_at: float = 0.0
    #: Unix seconds after which the entry is not served (None: never expires).
    expires_at: float | None = None
    hits: int = 0


@dataclass(frozen=True, slots=True)
class VectorBatch:
    """Vectors of one ``(collection, scope)`` in the order they were stored: row ``i`` is
    ``keys[i]``, stored with sequence number ``seqs[i]`` (increasing, never reused)."""

    seqs: np.ndarray  # int64
    keys: list[str]
    vectors: np.ndarray  # float32 (n, dim); (0, 0) when empty

    @property
    def last_seq(self) -> int:
        return int(self.seqs[-1]) if len(self.seqs) else 0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Entries and hits of one collection's cache."""

    collection: str
    entries: int
    semantic_entries: int
    hits: int
    oldest: float | None = None
    newest: float | None = None
    scopes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "collection": self.collection,
            "entries": self.entries,
            "semantic_entries": self.semantic_entries,
            "hits": self.hits,
            "oldest": self.oldest,
            "newest": self.newest,
            "scopes": len(self.scopes),
        }


@runtime_checkable
class CacheStore(Protocol):
    """Where cache entries live. Every method is safe to call from many threads; failures
    raise :class:`ragline.errors.StoreError` (the cache treats them as a miss)."""

    def put(self, entry: CacheEntry) -> None:
        """Insert ``entry``, replacing one with the same key (it then gets a new sequence
        number, so it is read again by :meth:`vectors`)."""
        ...

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        """:meth:`put` each entry, in order, in one batch (one transaction where the backend
        has them)."""
        ...

    def get(self, key: str) -> CacheEntry | None:
        """The entry with this exact key, expired or not (the cache decides); None: absent."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries of ``keys`` that exist, by key."""
        ...

    def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
        """The vectors of the entries of ``(collection, scope)`` stored with a sequence number
        greater than ``after`` (entries without a vector are left out)."""
        ...

    def touch(self, key: str, at: float) -> None:
        """Count one hit on ``key`` (nothing when it is gone)."""
        ...

    def delete(self, keys: Sequence[str]) -> int:
        """Delete entries by key; returns how many existed."""
        ...

    def clear(self, collection: str | None = None) -> int:
        """Delete every entry (of ``collection``); returns how many."""
        ...

    def prune(self, *, now: float, max_entries: int | None) -> int:
        """Delete entries expired at ``now``, then the least recently used (last hit, else
        creation) beyond ``max_entries``; returns how many."""
        ...

    def stats(self) -> list[CacheStats]:
        """One :class:`CacheStats` per collection with entries, by name."""
        ...

    def close(self) -> None: ...


__all__ = ["CacheEntry", "CacheStats", "CacheStore", "VectorBatch"]
