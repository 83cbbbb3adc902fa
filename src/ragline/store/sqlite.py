"""The default store: one SQLite file in WAL mode.

All SQL of ragline's default backend lives here. One connection per store object, guarded
by a lock (SQLite connections are not re-entrant across threads); WAL lets other processes
read while one writes. Each ``write_documents`` call is one transaction, so a process killed
mid-ingest leaves every document either fully written or absent.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import CollectionNotFoundError, StoreError
from ragline.store.base import DocumentWrite, IndexData, StoredDocument
from ragline.store.sqlite_base import SQLiteBackend
from ragline.types import Chunk, CollectionInfo, CollectionStats, SearchFilters, document_id

_MAX_PARAMS = 900  # stay below SQLite's default bound-parameter limit


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SQLiteStore(SQLiteBackend):
    """:class:`ragline.store.base.Store` on one SQLite file."""

    what = "store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        super().__init__(path, timeout_s=timeout_s)
        self._term_cache: dict[str, int] = {}
        self._migrate()

    def _collection_id(self, name: str) -> int:
        rows = self._query("SELECT id FROM collections WHERE name = ?", (name,))
        if not rows:
            raise CollectionNotFoundError(name)
        return int(rows[0][0])

    # collections ---------------------------------------------------------------------------
    def create_collection(self, name: str) -> None:
        # A new collection's version starts at the clock (microseconds), not 0: a collection
        # deleted and made again under its name never repeats a version that answers were
        # cached under (each write adds 1, far fewer than a microsecond's worth apart).
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO collections (name, created_at, version) VALUES (?, ?, ?)",
                (name, _now(), time.time_ns() // 1000),
            )

    def has_collection(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM collections WHERE name = ?", (name,)))

    def list_collections(self) -> list[CollectionInfo]:
        rows = self._query(
            """SELECT c.name, c.created_at,
                      (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id),
                      (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = c.id)
               FROM collections c ORDER BY c.name"""
        )
        return [
            CollectionInfo(name=r[0], created_at=r[1], documents=r[2], chunks=r[3]) for r in rows
        ]

    def delete_collection(self, name: str) -> None:
        cid = self._collection_id(name)
        with self._tx() as conn:
            conn.execute("DELETE FROM chunks WHERE collection_id = ?", (cid,))
            conn.execute("DELETE FROM documents WHERE collection_id = ?", (cid,))
            conn.execute("DELETE FROM collections WHERE id = ?", (cid,))

    def collection_version(self, name: str) -> int:
        rows = self._query("SELECT version FROM collections WHERE name = ?", (name,))
        if not rows:
            raise CollectionNotFoundError(name)
        return int(rows[0][0])

    # documents -----------------------------------------------------------------------------
    def documents(self, collection: str) -> dict[str, StoredDocument]:
        cid = self._collection_id(collection)
        rows = self._query(
            "SELECT key, id, source, content_hash, file_hash FROM documents "
            "WHERE collection_id = ?",
            (cid,),
        )
        return {r[0]: StoredDocument(*r) for r in rows}

    def find_by_content_hash(self, collection: str, content_hash: str) -> str | None:
        cid = self._collection_id(collection)
        rows = self._query(
            "SELECT key FROM documents WHERE collection_id = ? AND content_hash = ? LIMIT 1",
            (cid, content_hash),
        )
        return rows[0][0] if rows else None

    def _term_ids(self, conn: sqlite3.Connection, terms: set[str]) -> dict[str, int]:
        """Ids for ``terms``, adding unknown ones (ids never change once given)."""
        missing = [t for t in terms if t not in self._term_cache]
        if missing:
            conn.executemany(
                "INSERT OR IGNORE INTO terms (term) VALUES (?)", [(t,) for t in missing]
            )
            for start in range(0, len(missing), _MAX_PARAMS):
                part = missing[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(part))
                for tid, term in conn.execute(
                    f"SELECT id, term FROM terms WHERE term IN ({marks})", part
                ):
                    self._term_cache[term] = tid
        return self._term_cache

    def write_documents(self, collection: str, batch: list[DocumentWrite]) -> None:
        if not batch:
            return
        cid = self._collection_id(collection)
        now = _now()
        with self._tx() as conn:
            vocab = self._term_ids(conn, {t for w in batch for tf in w.term_freqs for t in tf})
            dim = None
            for w in batch:
                if len(w.chunks) != len(w.term_freqs) or len(w.chunks) != len(w.embeddings):
                    raise StoreError(
                        f"{w.key}: {len(w.chunks)} chunks but {len(w.embeddings)} embeddings "
                        f"and {len(w.term_freqs)} term lists"
                    )
                doc_id = document_id(collection, w.key)
                conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))
                conn.execute(
                    """INSERT INTO documents (id, collection_id, key, source, title, content_hash,
                           file_hash, metadata, ingested_at) VALUES (?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(id) DO UPDATE SET source=excluded.source,
                           title=excluded.title, content_hash=excluded.content_hash,
                           file_hash=excluded.file_hash, metadata=excluded.metadata,
                           ingested_at=excluded.ingested_at""",
                    (
                        doc_id,
                        cid,
                        w.key,
                        w.source,
                        w.title,
                        w.content_hash,
                        w.file_hash,
                        json.dumps(w.metadata, default=str),
                        now,
                    ),
                )
                rows = []
                for chunk, vec, tf in zip(w.chunks, w.embeddings, w.term_freqs, strict=True):
                    ids = np.fromiter((vocab[t] for t in tf), dtype=np.int32, count=len(tf))
                    freqs = np.fromiter(tf.values(), dtype=np.int32, count=len(tf))
                    vec = np.asarray(vec, dtype=np.float32)
                    dim = vec.shape[0]
                    rows.append(
                        (
                            chunk.id,
                            doc_id,
                            cid,
                            chunk.ordinal,
                            chunk.text,
                            json.dumps(list(chunk.heading_path)),
                            chunk.page,
                            chunk.char_start,
                            chunk.char_end,
                            chunk.token_count,
                            json.dumps(chunk.metadata, default=str),
                            int(freqs.sum()),
                            ids.tobytes(),
                            freqs.tobytes(),
                            vec.tobytes(),
                        )
                    )
                conn.executemany(
                    """INSERT INTO chunks (id, document_id, collection_id, ordinal, text,
                           heading_path, page, char_start, char_end, token_count, metadata,
                           bm25_length, term_ids, term_tfs, embedding)
                       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    rows,
                )
            conn.execute(
                "UPDATE collections SET version = version + 1, embedding_dim = COALESCE(?, "
                "embedding_dim) WHERE id = ?",
                (dim, cid),
            )

    def set_embedder(self, collection: str, embedder: str) -> None:
        cid = self._collection_id(collection)
        with self._tx() as conn:
            conn.execute("UPDATE collections SET embedder = ? WHERE id = ?", (embedder, cid))

    def embedder_of(self, collection: str) -> str | None:
        rows = self._query("SELECT embedder FROM collections WHERE name = ?", (collection,))
        if not rows:
            raise CollectionNotFoundError(collection)
        return rows[0][0]

    def delete_documents(self, collection: str, keys: list[str]) -> int:
        if not keys:
            return 0
        cid = self._collection_id(collection)
        ids = [document_id(collection, k) for k in keys]
        deleted = 0
        with self._tx() as conn:
            for start in range(0, len(ids), _MAX_PARAMS):
                part = ids[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(part))
                conn.execute(f"DELETE FROM chunks WHERE document_id IN ({marks})", part)
                cur = conn.execute(f"DELETE FROM documents WHERE id IN ({marks})", part)
                deleted += cur.rowcount
            conn.execute("UPDATE collections SET version = version + 1 WHERE id = ?", (cid,))
        return deleted

    def set_file_hashes(self, collection: str, hashes: Mapping[str, str]) -> int:
        if not hashes:
            return 0
        cid = self._collection_id(collection)
        updated = 0
        with self._tx() as conn:
            for source, file_hash in hashes.items():
                cur = conn.execute(
                    "UPDATE documents SET file_hash = ? WHERE collection_id = ? AND source = ?",
                    (file_hash, cid, source),
                )
                updated += cur.rowcount
        return updated

    # reads for retrieval -------------------------------------------------------------------
    def load_index(self, collection: str) -> IndexData:
        cid = self._collection_id(collection)
        with self._lock:
            try:
                self._conn.execute("BEGIN")  # one consistent snapshot
                version = self._conn.execute(
                    "SELECT version FROM collections WHERE id = ?", (cid,)
                ).fetchone()[0]
                rows = self._conn.execute(
                    "SELECT k.id, k.bm25_length, k.term_ids, k.term_tfs, k.embedding, "
                    "COALESCE(json_extract(d.metadata, '$.doc_id'), d.key) "
                    "FROM chunks k JOIN documents d ON d.id = k.document_id "
                    "WHERE k.collection_id = ? ORDER BY k.seq",
                    (cid,),
                ).fetchall()
                if (
                    not self._term_cache
                    or len(self._term_cache)
                    < self._conn.execute("SELECT COUNT(*) FROM terms").fetchone()[0]
                ):
                    self._term_cache = dict(
                        (t, i) for i, t in self._conn.execute("SELECT id, term FROM terms")
                    )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read collection {collection!r}: {exc}") from exc
        n = len(rows)
        chunk_ids = [r[0] for r in rows]
        lengths = np.fromiter((r[1] for r in rows), dtype=np.int32, count=n)
        term_ids = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.int32)
        tfs = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.int32)
        counts = np.fromiter((len(r[2]) // 4 for r in rows), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        blobs = [r[4] for r in rows if r[4] is not None]
        if n and len(blobs) == n:
            embeddings = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(n, -1)
        else:
            embeddings = np.zeros((0, 0), dtype=np.float32)
        return IndexData(
            version=int(version),
            chunk_ids=chunk_ids,
            lengths=lengths,
            indptr=indptr,
            term_ids=term_ids,
            tfs=tfs,
            embeddings=embeddings,
            doc_ids=[str(r[5]) for r in rows],
            vocabulary=dict(self._term_cache),
        )

    def get_chunks(self, collection: str, chunk_ids: list[str]) -> list[Chunk]:
        cid = self._collection_id(collection)
        found: dict[str, Chunk] = {}
        for start in range(0, len(chunk_ids), _MAX_PARAMS):
            part = chunk_ids[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"""SELECT k.id, k.document_id, k.ordinal, k.text, d.source, d.title,
                           k.heading_path, k.page, k.char_start, k.char_end, k.token_count,
                           k.metadata, d.metadata, d.key
                    FROM chunks k JOIN documents d ON d.id = k.document_id
                    WHERE k.id IN ({marks}) AND +k.collection_id = ?""",
                [*part, cid],  # "+" keeps the planner on the id index, not a collection scan
            )
            for r in rows:
                metadata = {**json.loads(r[12]), **json.loads(r[11])}
                found[r[0]] = Chunk(
                    id=r[0],
                    document_id=r[1],
                    ordinal=r[2],
                    text=r[3],
                    source=r[4],
                    title=r[5],
                    heading_path=tuple(json.loads(r[6])),
                    page=r[7],
                    char_start=r[8],
                    char_end=r[9],
                    token_count=r[10],
                    metadata=metadata,
                    document_key=r[13],
                )
        return [found[i] for i in chunk_ids if i in found]

    def filter_chunk_ids(self, collection: str, filters: SearchFilters) -> set[str]:
        cid = self._collection_id(collection)
        sql = [
            "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id "
            "WHERE k.collection_id = ?"
        ]
        params: list[Any] = [cid]
        if filters.source_glob:
            sql.append("AND d.source GLOB ?")
            params.append(filters.source_glob)
        for key, value in filters.metadata.items():
            path = '$."' + str(key).replace('"', "") + '"'
            sql.append(
                "AND CAST(COALESCE(json_extract(k.metadata, ?), json_extract(d.metadata, ?)) "
                "AS TEXT) = ?"
            )
            params.extend([path, path, str(value)])
        return {r[0] for r in self._query(" ".join(sql), params)}

    def stats(self, collection: str) -> CollectionStats:
        cid = self._collection_id(collection)
        docs, emb_dim, embedder = self._query(
            "SELECT (SELECT COUNT(*) FROM documents WHERE collection_id = c.id), embedding_dim, "
            "embedder FROM collections c WHERE id = ?",
            (cid,),
        )[0]
        chunks, tokens = self._query(
            "SELECT COUNT(*), COALESCE(SUM(token_count), 0) FROM chunks WHERE collection_id = ?",
            (cid,),
        )[0]
        sources: dict[str, int] = {}
        for (meta,) in self._query(
            "SELECT metadata FROM documents WHERE collection_id = ?", (cid,)
        ):
            suffix = json.loads(meta).get("suffix", "?")
            sources[suffix] = sources.get(suffix, 0) + 1
        index = self.load_index(collection)
        vocabulary = int(np.unique(index.term_ids).size)
        size = 0
        for p in (self.path, Path(f"{self.path}-wal")):
            if p.exists():
                size += p.stat().st_size
        return CollectionStats(
            name=collection,
            documents=docs,
            chunks=chunks,
            tokens=tokens,
            vocabulary=vocabulary,
            embedding_dim=emb_dim,
            embedder=embedder,
            sources=sources,
            database_bytes=size,
        )
