"""The SQLite API-key store passes the key-store conformance suite."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from ragline.store.keys_base import hash_secret
from ragline.store.sqlite_keys import SQLiteKeyStore
from ragline.testing.keys_conformance import KeyStoreConformance


class TestSQLiteKeyStore(KeyStoreConformance):
    @pytest.fixture
    def keys(self, tmp_path: Path):
        store = SQLiteKeyStore(tmp_path / "ragline.db")
        yield store
        with contextlib.suppress(Exception):  # a test may have closed it
            store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        return lambda: SQLiteKeyStore(tmp_path / "ragline.db")


def test_only_the_hash_is_on_disk(tmp_path: Path) -> None:
    store = SQLiteKeyStore(tmp_path / "ragline.db")
    made = store.create_key("ci", "read")
    store.close()
    rows = sqlite3.connect(tmp_path / "ragline.db").execute("SELECT * FROM api_keys").fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert made.secret not in flat and hash_secret(made.secret) in flat
