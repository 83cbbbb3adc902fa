"""Named, ordered schema migrations of the SQLite store.

Each migration is named ``NNNN_what`` and numbered 0001, 0002, … without gaps; it runs once,
in order, in its own transaction, and its name is recorded in the ``migrations`` table.
Never edit a migration that has shipped: append a new one.

Renaming a shipped migration needs an entry in :data:`RENAMED` (old name -> new name): the
runner renames the recorded names of a database made by an older release before it looks
for pending migrations, so that database does not apply the migration a second time.
"""

from __future__ import annotations

#: Recorded names of migrations renamed since they shipped, old -> new, applied in order.
#: Release 0.1.0 skipped 0003 (``0004_api_keys``, ``0005_eval_runs``).
RENAMED: dict[str, str] = {
    "0004_api_keys": "0003_api_keys",
    "0005_eval_runs": "0004_eval_runs",
}

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
    (
        "0002_traces_feedback",
        """
        CREATE TABLE traces (
            trace_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            start_ns INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            status TEXT NOT NULL,
            span_count INTEGER NOT NULL,
            query TEXT,
            collection TEXT,
            model TEXT,
            conversation_id TEXT,
            turn INTEGER,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost REAL,
            ttft_s REAL,
            tpot_s REAL,
            answer_length INTEGER,
            abstained INTEGER,
            embedding BLOB
        );
        CREATE INDEX traces_start ON traces (start_ns);
        CREATE INDEX traces_conversation ON traces (conversation_id, start_ns);
        CREATE TABLE spans (
            trace_id TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
            span_id TEXT NOT NULL,
            parent_id TEXT,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            start_ns INTEGER NOT NULL,
            end_ns INTEGER NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            ordinal INTEGER NOT NULL,
            PRIMARY KEY (trace_id, span_id)
        );
        CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            trace_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            value REAL,
            comment TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            created_ns INTEGER NOT NULL
        );
        CREATE INDEX feedback_trace ON feedback (trace_id);
        CREATE INDEX feedback_created ON feedback (created_ns);
        """,
    ),
    (
        "0003_api_keys",
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            collections TEXT NOT NULL DEFAULT '["*"]',
            secret_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        """,
    ),
    (
        "0004_eval_runs",
        """
        CREATE TABLE eval_runs (
            run_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{}',
            prompts TEXT NOT NULL DEFAULT '{}',
            models TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            finished_at TEXT,
            items_total INTEGER NOT NULL DEFAULT 0,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX eval_runs_name ON eval_runs (name, created_at);
        CREATE TABLE eval_items (
            run_id TEXT NOT NULL REFERENCES eval_runs(run_id) ON DELETE CASCADE,
            item_id TEXT NOT NULL,
            ordinal INTEGER NOT NULL,
            input TEXT NOT NULL DEFAULT '{}',
            output TEXT,
            retrieved TEXT NOT NULL DEFAULT '[]',
            scores TEXT NOT NULL DEFAULT '{}',
            details TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            duration_s REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, item_id)
        );
        """,
    ),
    (
        # A key's policy (issue 13): models it may name, rate and token limits per minute,
        # a spend budget, an expiry; and what each key has spent (checked and added in one
        # UPDATE, so two requests cannot both take the last cent).
        "0005_key_policy",
        """
        ALTER TABLE api_keys ADD COLUMN models TEXT NOT NULL DEFAULT '["*"]';
        ALTER TABLE api_keys ADD COLUMN rpm INTEGER;
        ALTER TABLE api_keys ADD COLUMN tpm INTEGER;
        ALTER TABLE api_keys ADD COLUMN budget_usd REAL;
        ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
        CREATE TABLE key_usage (
            key_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            used REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, kind)
        );
        """,
    ),
    (
        # The human handoff inbox (issue 14): items a guard or the router handed to a person
        # (kind 'handoff'), or an agent's step waiting for approval (kind 'approval'), each
        # with a thread of messages. ``n`` orders items newest first.
        "0006_handoff",
        """
        CREATE TABLE handoff_items (
            n INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL DEFAULT 'handoff',
            status TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            question TEXT NOT NULL,
            collection TEXT,
            conversation_id TEXT,
            owner TEXT,
            guard TEXT,
            reason TEXT NOT NULL DEFAULT '',
            trace_id TEXT,
            details TEXT NOT NULL DEFAULT '{}',
            resolution TEXT
        );
        CREATE INDEX handoff_items_status ON handoff_items (status, n);
        CREATE INDEX handoff_items_owner ON handoff_items (owner, n);
        CREATE TABLE handoff_messages (
            item_id TEXT NOT NULL REFERENCES handoff_items(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            author TEXT,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (item_id, seq)
        );
        """,
    ),
    (
        # The answer caches (issue 15): one row per cached answer. ``seq`` is never reused
        # (AUTOINCREMENT), so the semantic index reads only rows newer than those it holds.
        "0007_cache",
        """
        CREATE TABLE cache_entries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            collection TEXT NOT NULL,
            scope TEXT NOT NULL,
            question TEXT NOT NULL,
            payload TEXT NOT NULL,
            version INTEGER NOT NULL,
            collections TEXT NOT NULL DEFAULT '[]',
            vector BLOB,
            created_at REAL NOT NULL,
            expires_at REAL,
            hits INTEGER NOT NULL DEFAULT 0,
            last_hit_at REAL
        );
        CREATE INDEX cache_entries_scope ON cache_entries (collection, scope, seq);
        """,
    ),
    (
        # Checkpoints of agent runs (issue 17): one row per run (its state a JSON object the
        # agent layer owns), one per step it ran. ``n`` orders runs newest first;
        # ``created_ts`` (Unix seconds) is what retention (agent.keep_days) compares.
        "0008_agent_runs",
        """
        CREATE TABLE agent_runs (
            n INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            task TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            created_ts REAL NOT NULL,
            owner TEXT,
            collection TEXT,
            state TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX agent_runs_status ON agent_runs (status, n);
        CREATE INDEX agent_runs_created ON agent_runs (created_ts);
        CREATE TABLE agent_steps (
            run_id TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            step_id TEXT NOT NULL,
            tool TEXT NOT NULL,
            status TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, seq)
        );
        """,
    ),
    (
        # Long-term memory (issue 17): facts each user said about themselves, with the turn
        # they came from. One current fact per (user, key): a new value supersedes the old
        # one (``superseded_by``), which stays as history. ``n`` orders facts oldest first.
        "0009_memory",
        """
        CREATE TABLE memory_facts (
            n INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            statement TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'fact',
            conversation_id TEXT,
            turn_index INTEGER,
            source_text TEXT NOT NULL DEFAULT '',
            source_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            superseded_by TEXT,
            superseded_at TEXT,
            vector BLOB
        );
        CREATE INDEX memory_facts_user ON memory_facts (user_id, n);
        CREATE UNIQUE INDEX memory_facts_current ON memory_facts (user_id, key)
            WHERE superseded_by IS NULL;
        """,
    ),
]

__all__ = ["MIGRATIONS", "RENAMED"]
