"""The answer caches: :class:`AnswerCache` looks a question up (exact, then semantic) and
stores answers worth serving again.

**Exact.** The key is a SHA-256 of the normalised question (:func:`~ragline.cache.gate.normalise`),
the collection, the collection's content version (every ingest, update, prune or delete
changes it, so a cached answer never outlives its documents) and the *scope*: a digest of
everything else that shapes the answer (model, prompt name@version and file hash, sampling,
style, passages, filters, the answer and retrieval settings: :func:`scope_of`).

**Semantic.** The question's embedding is scored against the cached questions of the same
collection and scope (:class:`~ragline.cache.index.ScopeIndex`); a candidate over
``cache.threshold`` must then pass the duplicate check
(:func:`~ragline.cache.duplicate.judge`: the near-miss gate's hard rules, then a small
learned classifier) and the retrieval check: the cached answer's cited passages must be
among the new question's
top ``cache.agreement_k`` passages. A candidate made from an older version of the collection
is re-verified: each cited passage must still exist with the same text, else it is dropped.

**Isolation.** An answer is served only to a caller allowed to read every collection it
cites (``readable``). **Failures** never fail an answer: a backend that is down is a miss
(``backend_down``), a corrupt entry is dropped and logged (``corrupt``).

Every lookup returns a :class:`CacheLookup` whose ``reason`` says what happened: ``exact``,
``semantic``, or why it missed (``no_entry``, ``below_threshold``, ``gate:<reason>``
(``gate:classifier``: the duplicate classifier said no),
``retrieval``, ``forbidden``, ``expired``, ``stale``, ``corrupt``, ``backend_down``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ragline.cache import codec
from ragline.cache.duplicate import judge
from ragline.cache.gate import normalise
from ragline.cache.index import ScopeIndex
from ragline.config import Settings
from ragline.errors import CorruptCacheEntryError
from ragline.models.embedder import Embedder
from ragline.retrieve.retriever import Retriever
from ragline.store.cache_base import CacheEntry, CacheStore
from ragline.trace.tracer import AnyTracer
from ragline.types import Answer, SearchFilters

log = logging.getLogger(__name__)

CacheKind = Literal["exact", "semantic"]
#: The collections a caller may read: names, a predicate, or None (every collection).
Readable = Collection[str] | Callable[[str], bool] | None
#: Seconds a backend that failed is left alone before it is tried again.
_BACKOFF_S = 5.0
#: Entries stored between two prunes (expired, then least recently used past max_entries).
_PRUNE_EVERY = 256


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """What a lookup found: a hit (``kind`` and ``answer``) or a miss, and why."""

    kind: CacheKind | None
    reason: str
    answer: Answer | None = None
    #: Cosine of the question and the best cached question (None: not looked up).
    score: float | None = None
    #: The cached question a hit answers (or the best candidate a miss rejected).
    cached_question: str | None = None
    key: str = ""
    latency_ms: float = 0.0
    #: The question's embedding when it was computed (reused to store the answer).
    vector: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    version: int | None = None

    @property
    def hit(self) -> bool:
        return self.kind is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cached": self.kind,
            "reason": self.reason,
            "score": round(self.score, 4) if self.score is not None else None,
            "cached_question": self.cached_question,
            "latency_ms": round(self.latency_ms, 3),
        }


def scope_of(
    settings: Settings,
    *,
    model: str,
    prompt: str,
    sampling: Mapping[str, Any],
    samples: int,
    style: str,
    max_passages: int | None,
    filters: SearchFilters | None,
) -> str:
    """A digest of everything besides the question and the documents that shapes an answer."""
    parts = {
        "model": model,
        "prompt": prompt,
        "sampling": {k: sampling[k] for k in sorted(sampling)},
        "samples": samples,
        "style": style,
        "max_passages": max_passages,
        "filters": None
        if filters is None or filters.empty
        else [filters.source_glob, sorted(filters.metadata.items())],
        "answer": settings.answer.model_dump(mode="json"),
        "retrieval": settings.retrieval.model_dump(mode="json"),
        "embedder": settings.embedder.model_dump(mode="json"),
        # the guard policy an entry's question passed: a changed policy starts afresh, so an
        # exact hit (the same question, already checked) needs no second guard pass
        "guard": settings.guard.model_dump(mode="json"),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def exact_key(question: str, collection: str, version: int, scope: str) -> str:
    text = "\x1f".join((normalise(question), collection, str(version), scope))
    return hashlib.sha256(text.encode()).hexdigest()


class AnswerCache:
    """Exact and semantic answer caches over one :class:`CacheStore` (opened on first use)."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        embedder: Callable[[], Embedder],
        *,
        open_store: Callable[[], CacheStore],
        tracer: AnyTracer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.config = settings.cache
        self.retriever = retriever
        self._embedder = embedder
        self._open_store = open_store
        self.tracer: AnyTracer = tracer or retriever.tracer
        self.clock = clock
        self._store: CacheStore | None = None
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, str], ScopeIndex] = {}
        self._puts = 0

    # ------------------------------------------------------------------ backend

    @property
    def store(self) -> CacheStore:
        """The backend, opened on first use (raises what opening raises)."""
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def _backend(self) -> CacheStore | None:
        """The backend, or None while it is down (logged once per back-off)."""
        if self.clock() < self._down_until:
            return None
        try:
            return self.store
        except Exception as exc:
            self._down(exc)
            return None

    def _down(self, exc: BaseException) -> None:
        self._down_until = self.clock() + _BACKOFF_S
        log.warning(
            "answer cache backend unavailable (%s: %s); answering without it for %.0f s",
            type(exc).__name__,
            exc,
            _BACKOFF_S,
        )

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception as exc:
                log.warning("answer cache backend did not close cleanly: %s", exc)

    def _index(self, collection: str, scope: str) -> ScopeIndex:
        with self._lock:
            index = self._indexes.get((collection, scope))
            if index is None:
                index = self._indexes[(collection, scope)] = ScopeIndex(collection, scope)
            return index

    # ------------------------------------------------------------------ lookup

    def lookup(
        self,
        question: str,
        *,
        collection: str,
        scope: str,
        readable: Readable = None,
        filters: SearchFilters | None = None,
        semantic: bool | None = None,
        vector: np.ndarray | None = None,
    ) -> CacheLookup:
        """Look ``question`` up; never raises for a cache failure (see the module docstring).

        ``readable``: the collections the caller may read (None: all). ``semantic=False``
        looks up the exact cache only; ``vector``: the question's embedding, when the caller
        has it already."""
        t_ns = time.perf_counter_ns()
        result = self._lookup(question, collection, scope, readable, filters, semantic, vector)
        result = dataclasses.replace(result, latency_ms=(time.perf_counter_ns() - t_ns) / 1e6)
        self.tracer.leaf(
            "cache.lookup",
            t_ns,
            hit=result.kind or "miss",
            reason=result.reason,
            score=round(result.score, 4) if result.score is not None else None,
            cached_question=result.cached_question,
        )
        return result

    def _lookup(
        self,
        question: str,
        collection: str,
        scope: str,
        readable: Readable,
        filters: SearchFilters | None,
        semantic: bool | None,
        vector: np.ndarray | None = None,
    ) -> CacheLookup:
        store = self._backend()
        if store is None:
            return CacheLookup(None, "backend_down")
        try:
            version = self.retriever.store.collection_version(collection)
        except Exception as exc:  # the collection is missing: the answer path reports it
            log.debug("no version for %r: %s", collection, exc)
            return CacheLookup(None, "no_collection")
        key = exact_key(question, collection, version, scope)
        why = "no_entry"
        if self.config.exact:
            try:
                entry = store.get(key)
            except Exception as exc:
                self._down(exc)
                return CacheLookup(None, "backend_down", key=key, version=version)
            if entry is not None:
                served = self._serve(store, entry, question, readable, version)
                if isinstance(served, Answer):
                    return CacheLookup(
                        "exact", "exact", served, 1.0, entry.question, key, version=version
                    )
                why = served
        if not (self.config.semantic if semantic is None else semantic):
            return CacheLookup(None, why, key=key, version=version)
        index = self._index(collection, scope)
        try:
            index.sync(store)
        except Exception as exc:
            self._down(exc)
            return CacheLookup(None, "backend_down", key=key, version=version)
        if index.size == 0:  # nothing to compare with: no embedding needed yet
            return CacheLookup(None, why, key=key, version=version)
        if vector is None:
            vector = self._embed(question)
        try:
            found = self._semantic(
                store, question, vector, collection, scope, readable, filters, version
            )
        except Exception as exc:
            self._down(exc)
            return CacheLookup(None, "backend_down", key=key, vector=vector, version=version)
        return dataclasses.replace(found, key=key, vector=vector, version=version)

    def _embed(self, question: str) -> np.ndarray:
        t_ns = time.perf_counter_ns()
        vector = np.asarray(self._embedder().embed([question])[0], dtype=np.float32)
        self.tracer.leaf("cache.embed", t_ns, "client")
        return vector

    def _serve(
        self,
        store: CacheStore,
        entry: CacheEntry,
        question: str,
        readable: Readable,
        version: int,
    ) -> Answer | str:
        """The entry's answer for ``question``, or why it cannot be served."""
        if entry.expires_at is not None and entry.expires_at <= self.clock():
            self._drop(store, entry, "expired")
            return "expired"
        if readable is not None:
            allowed = readable if callable(readable) else set(readable).__contains__
            if not all(allowed(c) for c in entry.collections):
                return "forbidden"
        try:
            answer = codec.decode(entry.payload, question)
        except CorruptCacheEntryError as exc:
            log.warning(
                "dropped corrupt cache entry %s (%s): %s", entry.key[:12], entry.question, exc
            )
            self._drop(store, entry, "corrupt")
            return "corrupt"
        if entry.version != version and not self._still_supported(entry, answer):
            self._drop(store, entry, "stale")
            return "stale"
        with_timing = dataclasses.replace(answer, timings={})
        try:
            store.touch(entry.key, self.clock())
        except Exception as exc:  # counting a hit is not worth failing one
            log.debug("cache hit not counted: %s", exc)
        return with_timing

    def _drop(self, store: CacheStore, entry: CacheEntry, why: str) -> None:
        self._index(entry.collection, entry.scope).forget(entry.key)
        try:
            store.delete([entry.key])
        except Exception as exc:
            log.warning("cache entry %s (%s) not deleted: %s", entry.key[:12], why, exc)

    def _still_supported(self, entry: CacheEntry, answer: Answer) -> bool:
        """Re-verify an answer made from an older version of its collection: every cited
        passage must still exist with the same text (one read of the cited chunks)."""
        cited = {c.passage.chunk.id: c.passage.chunk.text for c in answer.citations}
        try:
            now = self.retriever.store.get_chunks(entry.collection, list(cited))
        except Exception as exc:
            log.debug("re-verification failed: %s", exc)
            return False
        return len(now) == len(cited) and all(c.text == cited[c.id] for c in now)

    def _semantic(
        self,
        store: CacheStore,
        question: str,
        vector: np.ndarray,
        collection: str,
        scope: str,
        readable: Readable,
        filters: SearchFilters | None,
        version: int,
    ) -> CacheLookup:
        cfg = self.config
        index = self._index(collection, scope)  # synced by the caller, one query ago
        found, best = index.search(
            vector,
            threshold=cfg.threshold,
            n=cfg.candidates,
            prefilter_above=cfg.prefilter_above,
            prefilter_candidates=cfg.prefilter_candidates,
        )
        if not found:
            return CacheLookup(
                None, "below_threshold" if best is not None else "no_entry", None, best
            )
        entries = store.get_many([k for k, _ in found])
        why, rejected = "no_entry", None
        top: list[str] | None = None
        for key, score in found:
            entry = entries.get(key)
            if entry is None:
                index.forget(key)
                continue
            if cfg.gate and (reason := judge(entry.question, question, score)) is not None:
                why, rejected = f"gate:{reason}", (entry.question, score)
                continue
            served = self._serve(store, entry, question, readable, version)
            if isinstance(served, str):
                why, rejected = served, (entry.question, score)
                continue
            if cfg.retrieval_check:
                if top is None:
                    top = self._top_passages(question, collection, filters)
                cited = {c.passage.chunk.id for c in served.citations}
                if not cited <= set(top):
                    why, rejected = "retrieval", (entry.question, score)
                    continue
            return CacheLookup("semantic", "semantic", served, score, entry.question)
        if rejected is None:
            return CacheLookup(None, why, None, best)
        return CacheLookup(None, why, None, rejected[1], rejected[0])

    def _top_passages(
        self, question: str, collection: str, filters: SearchFilters | None
    ) -> list[str]:
        """Ids of the new question's top ``cache.agreement_k`` chunks, ranked as the answer
        path ranks them."""
        (ranked,) = self.retriever.rank(
            [question],
            collection=collection,
            mode=self.settings.answer.mode,
            k=self.config.agreement_k,
            filters=filters,
        )
        return ranked.chunk_ids

    # ------------------------------------------------------------------ store

    def put(
        self,
        question: str,
        answer: Answer,
        *,
        collection: str,
        scope: str,
        version: int,
        vector: np.ndarray | None = None,
        collections: Collection[str] = (),
    ) -> bool:
        """Store ``answer`` (the caller decided it may be cached); False when the backend
        failed (logged). ``vector``: the question's embedding when already computed."""
        store = self._backend()
        if store is None:
            return False
        try:
            if self.config.semantic and vector is None:
                vector = self._embed(question)
            now = self.clock()
            ttl = self.config.ttl_s
            entry = CacheEntry(
                key=exact_key(question, collection, version, scope),
                collection=collection,
                scope=scope,
                question=question,
                payload=codec.encode(answer),
                version=version,
                collections=tuple(sorted({collection, *collections})),
                vector=vector if self.config.semantic else None,
                created_at=now,
                expires_at=now + ttl if ttl is not None else None,
            )
            t_ns = time.perf_counter_ns()
            store.put(entry)
            self.tracer.leaf("cache.store", t_ns, collection=collection)
            self._puts += 1
            if self._puts % _PRUNE_EVERY == 0:
                store.prune(now=now, max_entries=self.config.max_entries)
            return True
        except Exception as exc:
            self._down(exc)
            return False

    def clear(self, collection: str | None = None) -> int:
        """Delete every entry (of ``collection``); returns how many."""
        gone = self.store.clear(collection)
        with self._lock:
            for key in [k for k in self._indexes if collection is None or k[0] == collection]:
                del self._indexes[key]
        return gone


__all__ = ["AnswerCache", "CacheKind", "CacheLookup", "Readable", "exact_key", "scope_of"]
