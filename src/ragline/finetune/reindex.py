"""Re-index a collection with another embedder (a finetuned one): ``ragline finetune reindex``.

A collection records the embedder its vectors came from, and search refuses a collection
embedded by another model. Re-indexing copies a collection's chunks, as they are stored (no
source file is read again), into a new collection whose vectors come from the new embedder:
same documents, same chunk texts and metadata, BM25 terms recomputed, ids derived from the
new collection's name as ingest derives them. The source collection is left untouched, so a
search can compare both; delete it (``ragline collections --delete``) once the new one is
better.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ragline.errors import CollectionNotFoundError, ConfigError
from ragline.store.base import DocumentWrite
from ragline.types import Chunk, content_hash, document_id

if TYPE_CHECKING:
    from ragline.api import Ragline
    from ragline.models.embedder import Embedder


@dataclass(slots=True)
class ReindexReport:
    source: str
    target: str
    embedder: str
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0


def reindex(
    rag: Ragline,
    collection: str,
    target: str,
    embedder: Embedder,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Copy ``collection`` into the new collection ``target``, embedded by ``embedder``."""
    store = rag.store
    if not store.has_collection(collection):
        raise CollectionNotFoundError(
            f"no collection {collection!r}", hint="`ragline collections` lists them"
        )
    if target == collection:
        raise ConfigError(
            "re-indexing writes a new collection", hint="give another name with --into"
        )
    if store.has_collection(target) and store.stats(target).chunks:
        raise ConfigError(
            f"collection {target!r} already exists and is not empty",
            hint="choose another --into name, or delete it first",
        )
    started = time.perf_counter()
    index = store.load_index(collection)
    chunks = store.get_chunks(collection, index.chunk_ids)
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.document_key, []).append(chunk)
    stored = store.documents(collection)
    report = ReindexReport(collection, target, embedder.name)
    store.create_collection(target)
    store.set_embedder(target, embedder.name)
    contextual = rag.settings.chunking.contextual
    analyzer = rag.retriever.analyzer
    keys = sorted(by_doc)
    batch = rag.settings.ingest.batch_documents
    for start in range(0, len(keys), batch):
        writes = []
        texts: list[str] = []
        for key in keys[start : start + batch]:
            doc_chunks = sorted(by_doc[key], key=lambda c: c.ordinal)
            doc_id = document_id(target, key)
            moved = [
                replace(
                    c,
                    id=content_hash(f"{doc_id}\x00{c.ordinal}\x00{c.text}")[:24],
                    document_id=doc_id,
                )
                for c in doc_chunks
            ]
            shared = dict(moved[0].metadata)
            for c in moved[1:]:
                shared = {k: v for k, v in shared.items() if c.metadata.get(k) == v}
            indexed = [c.indexed_text(contextual) for c in moved]
            texts.extend(indexed)
            info = stored.get(key)
            writes.append(
                DocumentWrite(
                    key=key,
                    source=moved[0].source,
                    title=moved[0].title,
                    content_hash=info.content_hash if info else content_hash(key),
                    chunks=moved,
                    embeddings=None,  # type: ignore[arg-type]  # filled below
                    term_freqs=[analyzer.term_freqs(t) for t in indexed],
                    file_hash=info.file_hash if info else None,
                    metadata=shared,
                )
            )
        vectors = embedder.embed(texts)
        offset = 0
        for w in writes:
            w.embeddings = vectors[offset : offset + len(w.chunks)]
            offset += len(w.chunks)
        store.write_documents(target, writes)
        report.documents += len(writes)
        report.chunks += len(texts)
        if progress is not None:
            progress(report.documents, len(keys))
    report.seconds = round(time.perf_counter() - started, 2)
    return report


__all__ = ["ReindexReport", "reindex"]
