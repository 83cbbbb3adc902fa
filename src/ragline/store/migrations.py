"""Named, ordered schema migrations of the SQLite store.

Each migration runs once, in order, in its own transaction, and is recorded in the
``migrations`` table. Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 0,
            embedder TEXT,
            embedding_dim INTEGER
        );
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            source TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            content_hash TEXT NOT NULL,
            file_hash TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            ingested_at TEXT NOT NULL,
            UNIQUE (collection_id, key)
        );
        CREATE INDEX documents_content_hash ON documents (collection_id, content_hash);
        CREATE TABLE chunks (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path TEXT NOT NULL DEFAULT '[]',
            page INTEGER,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            token_count INTEGER NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            bm25_length INTEGER NOT NULL,
            term_ids BLOB NOT NULL,
            term_tfs BLOB NOT NULL,
            embedding BLOB
        );
        CREATE INDEX chunks_collection ON chunks (collection_id, seq);
        CREATE INDEX chunks_document ON chunks (document_id);
        CREATE TABLE terms (
            id INTEGER PRIMARY KEY,
            term TEXT NOT NULL UNIQUE
        );
        """,
    ),
]
