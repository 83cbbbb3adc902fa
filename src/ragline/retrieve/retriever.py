"""Search over a collection: BM25, dense, or a fusion of both, then the rerank slot.

A :class:`Retriever` keeps one in-memory index per collection, built from the store on first
use and rebuilt only when the collection's version changes (never per query). Filters become
a boolean mask over the collection's chunks before ranking, so top-k is exact.
Each step (embedding, each retriever, fusion, fetching, reranking) is a span of the active
trace when a tracer is given (``ragline.trace``); without one, tracing costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragline.config import Settings
from ragline.errors import ConfigError, InvalidQueryError
from ragline.models.embedder import Embedder, get_embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.retrieve.bm25 import BM25Index, top_k
from ragline.retrieve.fusion import fuse
from ragline.retrieve.rerank import NoopReranker, Reranker, create_reranker
from ragline.store.base import IndexData, Store, VectorIndex
from ragline.trace.redact import Deferred
from ragline.trace.tracer import NOOP_TRACER, AnyTracer, current_span
from ragline.types import Chunk, Hit, SearchFilters, SearchMode

MODES: tuple[SearchMode, ...] = ("bm25", "dense", "hybrid")


@dataclass(frozen=True, slots=True)
class RankedIds:
    """A ranking before chunks are fetched: row ids into the collection index, with scores."""

    chunk_ids: list[str]
    doc_ids: list[str]
    scores: list[float]
    per_mode: list[dict[str, float]]


class _CollectionIndex:
    def __init__(self, data: IndexData, analyzer: Analyzer, settings: Settings) -> None:
        r = settings.retrieval
        self.version = data.version
        self.chunk_ids = data.chunk_ids
        self.doc_ids = data.doc_ids
        self.row_of = {cid: i for i, cid in enumerate(data.chunk_ids)}
        self.bm25 = BM25Index(data, analyzer, k1=r.bm25_k1, b=r.bm25_b)
        self.embeddings = data.embeddings

    @property
    def size(self) -> int:
        return len(self.chunk_ids)


class Retriever:
    """BM25 / dense / hybrid search with filters and a reranking slot."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        embedder: Embedder | Callable[[], Embedder] | None = None,
        reranker: Reranker | None = None,
        tracer: AnyTracer | None = None,
    ) -> None:
        self.store = store
        self.tracer: AnyTracer = tracer or NOOP_TRACER
        self.settings = settings
        self.analyzer = Analyzer(settings.retrieval.bm25_stemmer, settings.retrieval.bm25_stopwords)
        self._embedder_arg = embedder
        self._embedder: Embedder | None = None
        self._reranker = reranker
        self._indexes: dict[str, _CollectionIndex] = {}
        self._lock = threading.Lock()
        #: The store's own vector index (pgvector HNSW), when it has one and it is wanted.
        self._vector_index: VectorIndex | None = (
            store
            if settings.store.vector_search == "index" and isinstance(store, VectorIndex)
            else None
        )

    @property
    def _embed_attrs(self) -> dict[str, str]:  # GenAI semantic conventions of the embed step
        return {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": self.embedder.name}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            arg = self._embedder_arg
            if arg is None:
                self._embedder = get_embedder(self.settings.embedder)
            elif isinstance(arg, Embedder):
                self._embedder = arg
            else:
                self._embedder = arg()
        return self._embedder

    @property
    def reranker(self) -> Reranker:
        """The given reranker, else ``retrieval.reranker`` from the registry (on first use)."""
        if self._reranker is None:
            with self._lock:
                if self._reranker is None:
                    self._reranker = create_reranker(self.settings)
        return self._reranker

    def index(self, collection: str) -> _CollectionIndex:
        """The in-memory index of ``collection``, rebuilt only if the store changed."""
        version = self.store.collection_version(collection)
        cached = self._indexes.get(collection)
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._indexes.get(collection)
            if cached is None or cached.version != version:
                cached = _CollectionIndex(
                    self.store.load_index(collection), self.analyzer, self.settings
                )
                self._indexes[collection] = cached
        return cached

    def forget(self, collection: str | None = None) -> None:
        """Drop the loaded index of ``collection`` (None or ``"*"``: of every collection);
        the next search loads it again. Called on invalidation messages
        (:mod:`ragline.store.invalidation`), so a replica frees what another one changed."""
        with self._lock:
            if collection is None or collection == "*":
                self._indexes.clear()
            else:
                self._indexes.pop(collection, None)

    def cached_collections(self) -> list[str]:
        """The collections whose index is loaded in memory."""
        return sorted(self._indexes)

    def _mask(self, collection: str, idx: _CollectionIndex, filters: SearchFilters | None):
        if filters is None or filters.empty:
            return None
        allowed = self.store.filter_chunk_ids(collection, filters)
        mask = np.zeros(idx.size, dtype=bool)
        rows = [idx.row_of[c] for c in allowed if c in idx.row_of]
        mask[rows] = True
        return mask

    def _check(self, query: str, mode: str, k: int) -> None:
        if not query or not query.strip():
            raise InvalidQueryError("the query is empty", hint="give some words to search for")
        if mode not in MODES:
            raise InvalidQueryError(f"unknown search mode {mode!r}", hint=f"use one of {MODES}")
        if k <= 0:
            raise InvalidQueryError(f"k must be positive, got {k}")

    def _check_embedder(self, collection: str, idx: _CollectionIndex) -> None:
        stored = self.store.embedder_of(collection)
        if stored and stored != self.embedder.name:
            raise ConfigError(
                f"collection {collection!r} was embedded with {stored!r} but the configured "
                f"embedder is {self.embedder.name!r}",
                hint="re-ingest the collection into a new name, or configure the same embedder",
            )
        if idx.embeddings.shape[0] != idx.size:
            raise ConfigError(f"collection {collection!r} has chunks without embeddings")

    def rank(
        self,
        queries: Sequence[str],
        *,
        collection: str,
        mode: SearchMode | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        vectors: np.ndarray | None = None,
    ) -> list[RankedIds]:
        """Rank chunks for each query without fetching their text (fast path, batch-friendly).

        ``mode`` / ``k`` default to ``retrieval.default_mode`` / ``retrieval.default_k``.
        ``vectors``: the queries' embeddings when the caller has them already (the intent
        router embeds the question before retrieval), one row per query."""
        mode, k = self.settings.retrieval.resolve(mode, k)
        for q in queries:
            self._check(q, mode, k)
        idx = self.index(collection)
        mask = self._mask(collection, idx, filters)
        r = self.settings.retrieval
        depth = max(k, r.candidates) if mode == "hybrid" else k
        qvecs = None
        tracer = self.tracer
        if mode in ("dense", "hybrid") and idx.size:
            self._check_embedder(collection, idx)
            if vectors is not None and len(vectors) == len(queries):
                qvecs = vectors
            else:
                t = time.perf_counter_ns()
                qvecs = self.embedder.embed(list(queries))
                tracer.leaf("embed", t, "client", queries=len(queries), **self._embed_attrs)
            if len(queries) == 1 and (span := current_span()) is not None:
                span.set_embedding(qvecs[0])  # kept with the trace for drift detection
        out: list[RankedIds] = []
        for qi, query in enumerate(queries):
            lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            if mode in ("bm25", "hybrid"):
                t = time.perf_counter_ns()
                s = idx.bm25.score(query)
                m = s > 0 if mask is None else (mask & (s > 0))
                lists["bm25"] = top_k(s, depth, m)
                tracer.leaf("retrieve.bm25", t, depth=depth, candidates=len(lists["bm25"][0]))
            if mode in ("dense", "hybrid") and qvecs is not None:
                t = time.perf_counter_ns()
                if mask is None and self._vector_index is not None:
                    lists["dense"] = self._indexed(collection, idx, qvecs[qi], depth)
                else:
                    # einsum without BLAS: one thread, steady under load (BLAS threads thrash)
                    s = np.einsum("ij,j->i", idx.embeddings, qvecs[qi], optimize=False)
                    lists["dense"] = top_k(s, depth, mask)
                tracer.leaf("retrieve.dense", t, depth=depth, candidates=len(lists["dense"][0]))
            if mode == "hybrid":
                t = time.perf_counter_ns()
                rows, scores, parts = fuse(
                    lists,
                    k=k,
                    method=r.fusion,
                    rrf_k=r.rrf_k,
                    weights={"bm25": r.bm25_weight, "dense": r.dense_weight},
                )
                tracer.leaf("fusion", t, method=r.fusion, results=len(rows))
            else:
                rows_arr, scores_arr = lists.get(mode, (np.zeros(0, np.int64), np.zeros(0)))
                rows = rows_arr[:k].tolist()
                scores = [float(x) for x in scores_arr[:k]]
                parts = [{mode: s} for s in scores]
            out.append(
                RankedIds(
                    chunk_ids=[idx.chunk_ids[i] for i in rows],
                    doc_ids=[idx.doc_ids[i] for i in rows],
                    scores=scores,
                    per_mode=parts,
                )
            )
        return out

    def _indexed(
        self, collection: str, idx: _CollectionIndex, vector: np.ndarray, depth: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the store's vector index (chunks it knows that this index
        version does not are left out)."""
        assert self._vector_index is not None
        found = [
            (idx.row_of[cid], score)
            for cid, score in self._vector_index.dense_search(collection, vector, depth)
            if cid in idx.row_of
        ]
        rows = np.fromiter((r for r, _ in found), dtype=np.int64, count=len(found))
        scores = np.fromiter((s for _, s in found), dtype=np.float32, count=len(found))
        return rows, scores

    def search(
        self,
        query: str,
        *,
        collection: str,
        mode: SearchMode | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """Ranked chunks for ``query``, best first, after the reranking slot.

        ``mode`` / ``k`` default to ``retrieval.default_mode`` / ``retrieval.default_k``;
        ``vector``: the query's embedding, when the caller computed it already."""
        mode, k = self.settings.retrieval.resolve(mode, k)
        with self.tracer.trace(
            "search", query=query, collection=collection, mode=mode, k=k
        ) as span:
            if span.recording and filters is not None and not filters.empty:
                span.set(filters={"source": filters.source_glob, **filters.metadata})
            vectors = None if vector is None else np.asarray(vector)[None, :]
            (ranked,) = self.rank(
                [query], collection=collection, mode=mode, k=k, filters=filters, vectors=vectors
            )
            hits = self.hits(query, ranked, collection=collection, mode=mode, k=k)
            if span.recording:  # the hit list is summarised on the writer thread
                span.set(results=len(hits), hits=Deferred(_hit_summaries, hits))
            return hits

    def _quarantined(self, chunk: Chunk) -> bool:
        """A chunk a document guard flagged at ingestion (``metadata["guard"]``, see
        ``ragline.guard``) is unsearchable while ``guard.document_action`` is quarantine."""
        return bool(chunk.metadata.get("guard")) and _quarantine_check(self.settings)

    def hits(
        self, query: str, ranked: RankedIds, *, collection: str, mode: SearchMode, k: int
    ) -> list[Hit]:
        t = time.perf_counter_ns()
        chunks = {c.id: c for c in self.store.get_chunks(collection, ranked.chunk_ids)}
        self.tracer.leaf("fetch", t, chunks=len(ranked.chunk_ids))
        hits = [
            Hit(chunk=chunks[cid], score=score, rank=i + 1, mode=mode, scores=parts)
            for i, (cid, score, parts) in enumerate(
                zip(ranked.chunk_ids, ranked.scores, ranked.per_mode, strict=True)
            )
            if cid in chunks and not self._quarantined(chunks[cid])
        ]
        if isinstance(self.reranker, NoopReranker):  # nothing to time
            return self.reranker.rerank(query, hits, k)
        with self.tracer.span("rerank", reranker=self.reranker.name) as sp:
            reranked = self.reranker.rerank(query, hits, k)
            sp.set(results=len(reranked))
        return reranked


def _quarantine_check(settings: Settings) -> bool:
    g = settings.guard
    return g.enabled and g.document_action == "quarantine"


def _hit_summaries(hits: list[Hit]) -> list[dict[str, object]]:
    return [{"chunk_id": h.chunk.id, "source": h.chunk.source, "score": h.score} for h in hits]
