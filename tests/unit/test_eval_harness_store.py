"""The SQLite evaluation store passes the EvalStore conformance suite."""

from __future__ import annotations

import pytest

from ragline.store.migrations import MIGRATIONS
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_evals import SQLiteEvalStore
from ragline.testing.eval_store_conformance import EvalStoreConformance, make_item, make_run


class TestSQLiteEvalStore(EvalStoreConformance):
    @pytest.fixture
    def eval_store(self, tmp_path):
        store = SQLiteEvalStore(tmp_path / "db" / "ragline.db")
        yield store
        store.close()


def test_migration_is_named_and_applied_once(tmp_path):
    names = [name for name, _ in MIGRATIONS]
    assert "0004_eval_runs" in names and len(names) == len(set(names))
    path = tmp_path / "r.db"
    SQLiteEvalStore(path).close()
    store = SQLiteStore(path)
    assert "0004_eval_runs" in store.applied_migrations()
    store.close()


def test_runs_survive_reopen(tmp_path):
    path = tmp_path / "r.db"
    with SQLiteEvalStore(path) as store:
        store.create_run(make_run("r"))
        store.save_items("r", [make_item("a", 0)])
    with SQLiteEvalStore(path) as store:
        assert store.completed_item_ids("r") == {"a"}
