"""The document store on PostgreSQL + pgvector.

The same tables as the SQLite store (BM25 postings as the same int32 arrays, so BM25 scores
are identical), chunk embeddings in a pgvector column with one HNSW index (cosine) per
collection, made when the collection's first vectors arrive: a partial index on
``embedding::vector(dim)`` ``WHERE collection_id = N``, so collections of different
dimensions live in one table. :meth:`PostgresStore.dense_search` asks that index; the
retriever uses it when ``store.vector_search`` is ``index`` and no filter is set.

Each ``write_documents`` call is one transaction: a process killed mid-ingest leaves every
document either fully written or absent, and other replicas see the whole batch at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ragline.errors import CollectionNotFoundError, StoreError
from ragline.store.base import DocumentWrite, IndexData, StoredDocument
from ragline.store.postgres_base import PgOptions, PostgresBackend, now_text
from ragline.types import Chunk, CollectionInfo, CollectionStats, SearchFilters, document_id


def _array(value: Any) -> np.ndarray:
    """A pgvector value (``Vector`` from a binary read, ndarray from a text one) as float32."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def _index_name(cid: int) -> str:
    return f"chunks_hnsw_{int(cid)}"


def _glob_regex(glob: str) -> str:
    """SQLite's GLOB (``*``, ``?``, ``[...]`` rare) as a POSIX regex for ``~``."""
    out = ["^"]
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = glob.find("]", i + 1)
            if j == -1:
                out.append(r"\[")
            else:
                body = glob[i + 1 : j]
                if body.startswith("^"):
                    body = "\\^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append("\\" + c if not c.isalnum() else c)
        i += 1
    out.append("$")
    return "".join(out)


class PostgresStore(PostgresBackend):
    """:class:`ragline.store.base.Store` on PostgreSQL with pgvector."""

    what = "store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)
        self._term_cache: dict[str, int] = {}

    def _collection_id(self, name: str) -> int:
        rows = self._query("SELECT id FROM collections WHERE name = %s", (name,))
        if not rows:
            raise CollectionNotFoundError(name)
        return int(rows[0][0])

    # collections ---------------------------------------------------------------------------
    def create_collection(self, name: str) -> None:
        # A new collection's version starts at the clock (microseconds), as on SQLite: one
        # deleted and made again under its name never repeats a version answers were cached
        # under.
        self._execute(
            "INSERT INTO collections (name, created_at, version) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (name, now_text(), time.time_ns() // 1000),
        )

    def has_collection(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM collections WHERE name = %s", (name,)))

    def list_collections(self) -> list[CollectionInfo]:
        rows = self._query(
            """SELECT c.name, c.created_at,
                      (SELECT COUNT(*) FROM documents d WHERE d.collection_id = c.id),
                      (SELECT COUNT(*) FROM chunks k WHERE k.collection_id = c.id)
               FROM collections c ORDER BY c.name COLLATE "C" """
        )
        return [
            CollectionInfo(name=r[0], created_at=r[1], documents=int(r[2]), chunks=int(r[3]))
            for r in rows
        ]

    def delete_collection(self, name: str) -> None:
        cid = self._collection_id(name)
        with self._tx() as conn:
            conn.execute(f"DROP INDEX IF EXISTS {_index_name(cid)}")
            conn.execute("DELETE FROM chunks WHERE collection_id = %s", (cid,))
            conn.execute("DELETE FROM documents WHERE collection_id = %s", (cid,))
            conn.execute("DELETE FROM collections WHERE id = %s", (cid,))

    def collection_version(self, name: str) -> int:
        rows = self._query("SELECT version FROM collections WHERE name = %s", (name,))
        if not rows:
            raise CollectionNotFoundError(name)
        return int(rows[0][0])

    def set_embedder(self, collection: str, embedder: str) -> None:
        cid = self._collection_id(collection)
        self._execute("UPDATE collections SET embedder = %s WHERE id = %s", (embedder, cid))

    def embedder_of(self, collection: str) -> str | None:
        rows = self._query("SELECT embedder FROM collections WHERE name = %s", (collection,))
        if not rows:
            raise CollectionNotFoundError(collection)
        return rows[0][0]

    # documents -----------------------------------------------------------------------------
    def documents(self, collection: str) -> dict[str, StoredDocument]:
        cid = self._collection_id(collection)
        rows = self._query(
            "SELECT key, id, source, content_hash, file_hash FROM documents "
            "WHERE collection_id = %s",
            (cid,),
        )
        return {r[0]: StoredDocument(*r) for r in rows}

    def find_by_content_hash(self, collection: str, content_hash: str) -> str | None:
        cid = self._collection_id(collection)
        rows = self._query(
            "SELECT key FROM documents WHERE collection_id = %s AND content_hash = %s LIMIT 1",
            (cid, content_hash),
        )
        return rows[0][0] if rows else None

    def _term_ids(self, conn: Any, terms: set[str]) -> dict[str, int]:
        """Ids for ``terms``, adding unknown ones (ids never change once given). Sorted, so
        two writers adding overlapping terms take their row locks in one order."""
        cache = self._term_cache
        found = {t: cache[t] for t in terms if t in cache}
        missing = sorted(terms - found.keys())
        if missing:
            conn.execute(
                "INSERT INTO terms (term) SELECT unnest(%s::text[]) ON CONFLICT (term) DO NOTHING",
                (missing,),
            )
            for tid, term in conn.execute(
                "SELECT id, term FROM terms WHERE term = ANY(%s::text[])", (missing,)
            ):
                found[term] = cache[term] = int(tid)
        return found

    def ensure_vector_index(self, conn: Any, cid: int, dim: int) -> None:
        """The collection's HNSW index (cosine) over ``embedding::vector(dim)``."""
        (exists,) = conn.execute("SELECT to_regclass(%s)", (_index_name(cid),)).fetchone()
        if exists is not None:  # look first: CREATE INDEX IF NOT EXISTS locks the table
            return
        o = self.opts
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {_index_name(cid)} ON chunks USING hnsw "
            f"((embedding::vector({int(dim)})) vector_cosine_ops) "
            f"WITH (m = {int(o.hnsw_m)}, ef_construction = {int(o.hnsw_ef_construction)}) "
            f"WHERE collection_id = {int(cid)}"
        )

    def write_documents(self, collection: str, batch: list[DocumentWrite]) -> None:
        if not batch:
            return
        for w in batch:  # check the whole batch before writing any of it
            if len(w.chunks) != len(w.term_freqs) or len(w.chunks) != len(w.embeddings):
                raise StoreError(
                    f"{w.key}: {len(w.chunks)} chunks but {len(w.embeddings)} embeddings "
                    f"and {len(w.term_freqs)} term lists"
                )
        cid = self._collection_id(collection)
        try:
            self._write(cid, collection, batch)
        except BaseException:
            self._term_cache = {}  # ids a rolled-back transaction gave must not be remembered
            raise

    def _write(self, cid: int, collection: str, batch: list[DocumentWrite]) -> None:
        now = now_text()
        with self._tx() as conn:
            # One writer per collection at a time: the version bump and the index stay exact.
            conn.execute("SELECT id FROM collections WHERE id = %s FOR UPDATE", (cid,))
            vocab = self._term_ids(conn, {t for w in batch for tf in w.term_freqs for t in tf})
            dim = None
            ids = [document_id(collection, w.key) for w in batch]
            conn.execute("DELETE FROM chunks WHERE document_id = ANY(%s::text[])", (ids,))
            doc_rows, chunk_rows = [], []
            for w, doc_id in zip(batch, ids, strict=True):
                doc_rows.append(
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
                    )
                )
                for chunk, vec, tf in zip(w.chunks, w.embeddings, w.term_freqs, strict=True):
                    tids = np.fromiter((vocab[t] for t in tf), dtype=np.int32, count=len(tf))
                    freqs = np.fromiter(tf.values(), dtype=np.int32, count=len(tf))
                    vec = np.asarray(vec, dtype=np.float32)
                    dim = vec.shape[0]
                    chunk_rows.append(
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
                            tids.tobytes(),
                            freqs.tobytes(),
                            vec,
                        )
                    )
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO documents (id, collection_id, key, source, title,
                           content_hash, file_hash, metadata, ingested_at)
                       VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)
                       ON CONFLICT (id) DO UPDATE SET source=excluded.source,
                           title=excluded.title, content_hash=excluded.content_hash,
                           file_hash=excluded.file_hash, metadata=excluded.metadata,
                           ingested_at=excluded.ingested_at""",
                    doc_rows,
                )
                cur.executemany(
                    """INSERT INTO chunks (id, document_id, collection_id, ordinal, text,
                           heading_path, page, char_start, char_end, token_count, metadata,
                           bm25_length, term_ids, term_tfs, embedding)
                       VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)""",
                    chunk_rows,
                )
            conn.execute(
                "UPDATE collections SET version = version + 1, "
                "embedding_dim = COALESCE(%s, embedding_dim) WHERE id = %s",
                (dim, cid),
            )
            if dim is not None:
                self.ensure_vector_index(conn, cid, dim)

    def delete_documents(self, collection: str, keys: list[str]) -> int:
        if not keys:
            return 0
        cid = self._collection_id(collection)
        ids = [document_id(collection, k) for k in keys]
        with self._tx() as conn:
            conn.execute("DELETE FROM chunks WHERE document_id = ANY(%s::text[])", (ids,))
            deleted = conn.execute(
                "DELETE FROM documents WHERE id = ANY(%s::text[])", (ids,)
            ).rowcount
            conn.execute("UPDATE collections SET version = version + 1 WHERE id = %s", (cid,))
        return int(deleted)

    def set_file_hashes(self, collection: str, hashes: Mapping[str, str]) -> int:
        if not hashes:
            return 0
        cid = self._collection_id(collection)
        updated = 0
        with self._tx() as conn:
            for source, file_hash in hashes.items():
                updated += conn.execute(
                    "UPDATE documents SET file_hash = %s WHERE collection_id = %s AND source = %s",
                    (file_hash, cid, source),
                ).rowcount
        return updated

    # reads for retrieval -------------------------------------------------------------------
    def load_index(self, collection: str) -> IndexData:
        cid = self._collection_id(collection)
        with self._tx("read") as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            row = conn.execute("SELECT version FROM collections WHERE id = %s", (cid,)).fetchone()
            if row is None:
                raise CollectionNotFoundError(collection)
            version = row[0]
            with conn.cursor(binary=True) as cur:
                rows = cur.execute(
                    "SELECT k.id, k.bm25_length, k.term_ids, k.term_tfs, k.embedding, "
                    "COALESCE(d.metadata::jsonb ->> 'doc_id', d.key) "
                    "FROM chunks k JOIN documents d ON d.id = k.document_id "
                    "WHERE k.collection_id = %s ORDER BY k.seq",
                    (cid,),
                ).fetchall()
            (terms,) = conn.execute("SELECT COUNT(*) FROM terms").fetchone()
            if not self._term_cache or len(self._term_cache) < terms:
                self._term_cache = {
                    t: int(i) for i, t in conn.execute("SELECT id, term FROM terms")
                }
        n = len(rows)
        chunk_ids = [r[0] for r in rows]
        lengths = np.fromiter((r[1] for r in rows), dtype=np.int32, count=n)
        term_ids = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.int32)
        tfs = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype=np.int32)
        counts = np.fromiter((len(r[2]) // 4 for r in rows), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        vecs = [r[4] for r in rows if r[4] is not None]
        if n and len(vecs) == n:
            embeddings = np.vstack([_array(v) for v in vecs])
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

    def dense_search(
        self, collection: str, vector: np.ndarray, k: int, *, exact: bool = False
    ) -> list[tuple[str, float]]:
        """The ``k`` chunks nearest to ``vector`` by cosine, best first, as (chunk id,
        cosine similarity), from the collection's HNSW index (``exact``: a full scan)."""
        rows = self._query(
            "SELECT id, embedding_dim FROM collections WHERE name = %s", (collection,)
        )
        if not rows:
            raise CollectionNotFoundError(collection)
        cid, dim = int(rows[0][0]), rows[0][1]
        if dim is None or k <= 0:
            return []
        vec = np.asarray(vector, dtype=np.float32)
        cast = f"vector({int(dim)})"
        sql = (
            f"SELECT id, 1 - (embedding::{cast} <=> %s::{cast}) FROM chunks "
            f"WHERE collection_id = {cid} ORDER BY embedding::{cast} <=> %s::{cast} LIMIT %s"
        )
        params = (vec, vec, int(k))
        if not exact and k <= self.opts.hnsw_ef_search:  # the session's ef_search suffices
            found = self._query(sql, params)
        else:
            with self._tx("search") as conn:
                if exact:
                    conn.execute("SET LOCAL enable_indexscan = off")
                else:
                    conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, int(k))}")
                found = conn.execute(sql, params).fetchall()
        return [(r[0], float(r[1])) for r in found]

    def get_chunks(self, collection: str, chunk_ids: list[str]) -> list[Chunk]:
        rows = self._query(
            """SELECT k.id, k.document_id, k.ordinal, k.text, d.source, d.title,
                      k.heading_path, k.page, k.char_start, k.char_end, k.token_count,
                      k.metadata, d.metadata, d.key
               FROM chunks k JOIN documents d ON d.id = k.document_id
               WHERE k.id = ANY(%s::text[])
                 AND k.collection_id = (SELECT id FROM collections WHERE name = %s)""",
            (list(chunk_ids), collection),
        )
        if not rows:
            self._collection_id(collection)  # an unknown collection is an error, not []
        found: dict[str, Chunk] = {}
        for r in rows:
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
                metadata={**json.loads(r[12]), **json.loads(r[11])},
                document_key=r[13],
            )
        return [found[i] for i in chunk_ids if i in found]

    def filter_chunk_ids(self, collection: str, filters: SearchFilters) -> set[str]:
        cid = self._collection_id(collection)
        sql = [
            "SELECT k.id FROM chunks k JOIN documents d ON d.id = k.document_id "
            "WHERE k.collection_id = %s"
        ]
        params: list[Any] = [cid]
        if filters.source_glob:
            sql.append("AND d.source ~ %s")
            params.append(_glob_regex(filters.source_glob))
        for key, value in filters.metadata.items():
            sql.append("AND COALESCE(k.metadata::jsonb ->> %s, d.metadata::jsonb ->> %s) = %s")
            params.extend([str(key), str(key), str(value)])
        return {r[0] for r in self._query(" ".join(sql), params)}

    def stats(self, collection: str) -> CollectionStats:
        cid = self._collection_id(collection)
        docs, emb_dim, embedder = self._query(
            "SELECT (SELECT COUNT(*) FROM documents WHERE collection_id = c.id), embedding_dim, "
            "embedder FROM collections c WHERE id = %s",
            (cid,),
        )[0]
        chunks, tokens = self._query(
            "SELECT COUNT(*), COALESCE(SUM(token_count), 0) FROM chunks WHERE collection_id = %s",
            (cid,),
        )[0]
        sources: dict[str, int] = {}
        for (meta,) in self._query(
            "SELECT metadata FROM documents WHERE collection_id = %s", (cid,)
        ):
            suffix = json.loads(meta).get("suffix", "?")
            sources[suffix] = sources.get(suffix, 0) + 1
        index = self.load_index(collection)
        (size,) = self._query("SELECT pg_database_size(current_database())")[0]
        return CollectionStats(
            name=collection,
            documents=int(docs),
            chunks=int(chunks),
            tokens=int(tokens),
            vocabulary=int(np.unique(index.term_ids).size),
            embedding_dim=emb_dim,
            embedder=embedder,
            sources=sources,
            database_bytes=int(size),
        )


__all__ = ["PostgresStore"]
