"""The :class:`Store` Protocol: what every storage backend of ragline provides.

A store holds named collections of documents, their chunks, chunk embeddings and the BM25
postings of each chunk. Writes are atomic per batch: a document and all its chunks appear
together or not at all, and replacing a document swaps its chunks in the same transaction.
``ragline.testing.store_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragline.types import Chunk, CollectionInfo, CollectionStats, SearchFilters


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What the store remembers of a document for change detection."""

    key: str
    id: str
    source: str
    content_hash: str
    file_hash: str | None


@dataclass(slots=True)
class DocumentWrite:
    """One document to (re)write with all its chunks, vectors and term frequencies."""

    key: str
    source: str
    title: str
    content_hash: str
    chunks: list[Chunk]
    #: ``(len(chunks), dim)`` float32, L2-normalised.
    embeddings: np.ndarray
    #: One ``{term: frequency}`` per chunk, from the BM25 analyzer.
    term_freqs: list[dict[str, int]]
    #: Hash of the source file's bytes (skip unchanged files without parsing them).
    file_hash: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IndexData:
    """Everything retrieval needs in memory, read in one pass over a collection.

    Row ``i`` of every array belongs to ``chunk_ids[i]``. Postings are CSR-like:
    chunk ``i``'s term ids are ``term_ids[indptr[i]:indptr[i+1]]`` with frequencies ``tfs``.
    """

    version: int
    chunk_ids: list[str]
    lengths: np.ndarray  # int32 BM25 document length per chunk
    indptr: np.ndarray  # int64, len(chunk_ids) + 1
    term_ids: np.ndarray  # int32
    tfs: np.ndarray  # int32
    embeddings: np.ndarray  # float32 (len(chunk_ids), dim); (0, 0) when none
    #: Per chunk, its document's external id (``metadata["doc_id"]`` if set, else its key).
    doc_ids: list[str]
    #: term -> id for every term the store knows (ids are global and never change).
    vocabulary: dict[str, int]


@runtime_checkable
class Store(Protocol):
    """A storage backend. Methods raise :class:`ragline.errors.StoreError` subclasses and
    :class:`ragline.errors.CollectionNotFoundError` for unknown collection names."""

    def close(self) -> None: ...

    # collections -------------------------------------------------------------------------
    def create_collection(self, name: str) -> None:
        """Create ``name`` if it does not exist (idempotent)."""
        ...

    def has_collection(self, name: str) -> bool: ...

    def list_collections(self) -> list[CollectionInfo]: ...

    def delete_collection(self, name: str) -> None: ...

    def collection_version(self, name: str) -> int:
        """A counter that changes on every write to the collection (cache key)."""
        ...

    def set_embedder(self, collection: str, embedder: str) -> None:
        """Record which embedder made the collection's vectors."""
        ...

    def embedder_of(self, collection: str) -> str | None: ...

    # documents ---------------------------------------------------------------------------
    def documents(self, collection: str) -> dict[str, StoredDocument]:
        """Every document of the collection by key."""
        ...

    def find_by_content_hash(self, collection: str, content_hash: str) -> str | None:
        """Key of a document with this content hash, if any (exact dedup)."""
        ...

    def write_documents(self, collection: str, batch: list[DocumentWrite]) -> None:
        """Insert or replace (by key) every document of ``batch`` in one transaction."""
        ...

    def delete_documents(self, collection: str, keys: list[str]) -> int:
        """Delete documents (with their chunks) by key; returns how many existed."""
        ...

    def set_file_hashes(self, collection: str, hashes: Mapping[str, str]) -> int:
        """Record each source's file hash on all its documents (``{source: file_hash}``): a
        many-document file is marked as ingested whole only once its last batch is in.
        Returns how many documents were updated."""
        ...

    # reads for retrieval -----------------------------------------------------------------
    def load_index(self, collection: str) -> IndexData: ...

    def get_chunks(self, collection: str, chunk_ids: list[str]) -> list[Chunk]:
        """Chunks in the order of ``chunk_ids``; unknown ids are left out."""
        ...

    def filter_chunk_ids(self, collection: str, filters: SearchFilters) -> set[str]:
        """Ids of chunks whose source matches the glob and whose document or chunk
        metadata equals every given key/value."""
        ...

    def stats(self, collection: str) -> CollectionStats: ...


@runtime_checkable
class VectorIndex(Protocol):
    """A store that answers dense search itself from an index of its own (PostgreSQL:
    pgvector HNSW). The retriever asks it instead of the in-memory dot product when
    ``store.vector_search`` is ``index`` and the search has no filter."""

    def dense_search(
        self, collection: str, vector: np.ndarray, k: int, *, exact: bool = False
    ) -> list[tuple[str, float]]:
        """The ``k`` chunks nearest to the unit ``vector`` by cosine, best first, as
        ``(chunk id, cosine similarity)``; ``exact`` scans every chunk (for recall checks)."""
        ...
