"""Typed values passed between ragline's layers: documents, chunks, hits, reports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

SearchMode = Literal["bm25", "dense", "hybrid"]


def content_hash(text: str) -> str:
    """Stable id of a text: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Section:
    """A structural unit of a loaded document: text under one heading path, on one page.

    ``char_start`` is the offset of ``text`` in the document's full ``text``.
    """

    text: str
    char_start: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """One document as a loader produced it, already cleaned.

    ``key`` identifies it inside a collection (a file path, or ``path#id`` for a JSONL line);
    ``text`` is the full cleaned text, and ``sections`` cover it in order.
    """

    key: str
    source: str
    title: str
    text: str
    sections: tuple[Section, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title + "\x00" + self.text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable piece of a document, with where it came from."""

    id: str
    document_id: str
    ordinal: int
    text: str
    source: str
    title: str = ""
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    token_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Document key (file path or ``path#id``); BEIR runs report it as the document id.
    document_key: str = ""

    def indexed_text(self, contextual: bool = True) -> str:
        """The text that is embedded and BM25-indexed: title and heading path, then the text."""
        if not contextual:
            return self.text
        context = [p for p in (self.title, *self.heading_path) if p]
        # Skip a heading that the chunk already starts with.
        if context and self.text.startswith(context[-1]):
            context = context[:-1]
        return "\n".join([*dict.fromkeys(context), self.text]) if context else self.text

    @property
    def location(self) -> str:
        """Human-readable location: ``path p.3 › Heading › Sub``."""
        parts = [self.source]
        if self.page is not None:
            parts.append(f"p.{self.page}")
        if self.heading_path:
            parts.append(" › ".join(self.heading_path))
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked search result."""

    chunk: Chunk
    score: float
    rank: int
    mode: SearchMode
    #: Per-retriever scores that went into ``score`` (e.g. ``{"bm25": 12.1, "dense": 0.61}``).
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "score": self.score,
            "scores": self.scores,
            "chunk_id": c.id,
            "document_id": c.document_id,
            "document_key": c.document_key,
            "source": c.source,
            "title": c.title,
            "heading_path": list(c.heading_path),
            "page": c.page,
            "char_start": c.char_start,
            "char_end": c.char_end,
            "text": c.text,
            "metadata": c.metadata,
        }


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrict a search: a source glob (``*.pdf``, ``docs/**``) and metadata equalities."""

    source_glob: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.source_glob is None and not self.metadata


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    documents: int
    chunks: int
    created_at: str


@dataclass(frozen=True, slots=True)
class CollectionStats:
    name: str
    documents: int
    chunks: int
    tokens: int
    vocabulary: int
    embedding_dim: int | None
    embedder: str | None
    sources: dict[str, int]  # file extension -> documents
    database_bytes: int


@dataclass(slots=True)
class IngestFailure:
    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    collection: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    pruned: int = 0
    failed: list[IngestFailure] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.pruned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "pruned": self.pruned,
            "failed": [{"source": f.source, "reason": f.reason} for f in self.failed],
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }
