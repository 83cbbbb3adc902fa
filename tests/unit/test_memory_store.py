"""The SQLite memory store passes the memory-store conformance suite, and the factory opens it
at ``store.url``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.store.factory import open_memory
from ragline.store.memory_base import FactSource
from ragline.store.sqlite_memory import SQLiteMemoryStore
from ragline.testing.memory_store_conformance import MemoryStoreConformance


class TestSQLiteMemoryStore(MemoryStoreConformance):
    @pytest.fixture
    def memory(self, tmp_path: Path):
        store = SQLiteMemoryStore(tmp_path / "ragline.db")
        yield store
        with contextlib.suppress(Exception):  # a test may have closed it
            store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        return lambda: SQLiteMemoryStore(tmp_path / "ragline.db")


def test_the_factory_opens_memory_at_the_store_url(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    store = open_memory(settings)
    try:
        fact = store.remember(
            "ana",
            key="location",
            value="Paris",
            statement="I live in Paris",
            source=FactSource("x"),
        ).fact
        assert "0009_memory" in store.applied_migrations()  # type: ignore[attr-defined]
    finally:
        store.close()
    again = SQLiteMemoryStore(settings.database_path)
    try:
        assert again.get("ana", fact.id) is not None
    finally:
        again.close()
