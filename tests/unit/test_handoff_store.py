"""The SQLite handoff store passes the handoff-store conformance suite, and the factory opens
it at ``store.url``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.store.factory import open_handoffs
from ragline.store.sqlite_handoff import SQLiteHandoffStore
from ragline.testing.handoff_conformance import HandoffStoreConformance


class TestSQLiteHandoffStore(HandoffStoreConformance):
    @pytest.fixture
    def handoffs(self, tmp_path: Path):
        store = SQLiteHandoffStore(tmp_path / "ragline.db")
        yield store
        with contextlib.suppress(Exception):  # a test may have closed it
            store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        return lambda: SQLiteHandoffStore(tmp_path / "ragline.db")


def test_the_factory_opens_the_inbox_at_the_store_url(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    store = open_handoffs(settings)
    try:
        item = store.open_item(question="q", collection="docs")
        assert "0006_handoff" in store.applied_migrations()  # type: ignore[attr-defined]
    finally:
        store.close()
    again = SQLiteHandoffStore(settings.database_path)
    try:
        assert again.get_item(item.id) is not None
    finally:
        again.close()
