from __future__ import annotations

import sqlite3

import pytest

from ragline.store.migrations import MIGRATIONS
from ragline.store.sqlite import SQLiteStore
from ragline.testing.store_conformance import StoreConformance, make_write


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        s = SQLiteStore(tmp_path / "db" / "ragline.db")
        yield s
        s.close()


def test_wal_mode_and_migrations_recorded_once(tmp_path):
    path = tmp_path / "r.db"
    s = SQLiteStore(path)
    assert s.applied_migrations() == [name for name, _ in MIGRATIONS]
    s.close()
    s = SQLiteStore(path)  # reopening applies nothing twice
    assert s.applied_migrations() == [name for name, _ in MIGRATIONS]
    s.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_data_survives_reopen(tmp_path):
    path = tmp_path / "r.db"
    s = SQLiteStore(path)
    s.create_collection("c")
    s.write_documents("c", [make_write("a", ["hello world"])])
    s.close()
    s = SQLiteStore(path)
    assert set(s.documents("c")) == {"a"}
    s.close()


def test_unwritable_location_gives_clear_error(tmp_path):
    from ragline.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        SQLiteStore(blocker / "sub" / "r.db")
