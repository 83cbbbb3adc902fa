"""The SQLite trace store: the conformance suite, migrations, one file shared with documents."""

from __future__ import annotations

import sqlite3

import pytest

from ragline.store.migrations import MIGRATIONS
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.store.traces_base import TraceQuery
from ragline.testing.store_conformance import make_write
from ragline.testing.trace_conformance import TraceStoreConformance, make_trace, tid


class TestSQLiteTraceStore(TraceStoreConformance):
    @pytest.fixture
    def traces(self, tmp_path):
        s = SQLiteTraceStore(tmp_path / "db" / "ragline.db")
        yield s
        s.close()


def test_migration_is_named_and_applied_once(tmp_path):
    path = tmp_path / "r.db"
    SQLiteTraceStore(path).close()
    store = SQLiteStore(path)
    assert "0002_traces_feedback" in store.applied_migrations()
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    store.close()
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"traces", "spans", "feedback", "documents"} <= tables


def test_documents_and_traces_share_one_file_with_two_connections(tmp_path):
    path = tmp_path / "r.db"
    docs = SQLiteStore(path)
    traces = SQLiteTraceStore(path)
    docs.create_collection("c")
    docs.write_documents("c", [make_write("a", ["hello world"])])
    traces.write_traces([make_trace(tid(1))])
    assert set(docs.documents("c")) == {"a"}
    assert [t.trace_id for t in traces.list_traces(TraceQuery())] == [tid(1)]
    docs.close()
    traces.close()
    reopened = SQLiteTraceStore(path)
    assert reopened.get_trace(tid(1)) is not None
    reopened.close()
