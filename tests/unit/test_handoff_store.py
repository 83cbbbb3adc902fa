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


def test_the_sink_opens_an_item_from_a_decision(tmp_path: Path) -> None:
    from ragline.guard.base import (
        Action,
        Decision,
        Flag,
        GuardContext,
        GuardResult,
        HandoffSink,
    )
    from ragline.guard.handoff import StoreHandoffSink

    store = SQLiteHandoffStore(tmp_path / "ragline.db")
    try:
        sink = StoreHandoffSink(store)
        assert isinstance(sink, HandoffSink)
        flag = Flag("topic", "denied:refunds", 0.82, detail="similar to denied topic 'refunds'")
        decision = Decision(
            Action.HANDOFF,
            "refund for <PERSON_1>",
            "input",
            results=(GuardResult("topic", (flag,), 1.5),),
            decided_by="topic",
            reason="topic guard: this collection hands refunds to a person",
        )
        item_id = sink.open(
            question="refund for <PERSON_1>",
            decision=decision,
            context=GuardContext(collection="docs", conversation_id="c7"),
            trace_id="a" * 32,
        )
        item = store.get_item(item_id)
        assert item is not None and item.status == "open" and item.owner is None
        assert (item.collection, item.conversation_id, item.trace_id) == ("docs", "c7", "a" * 32)
        assert item.guard == "topic" and "refunds to a person" in item.reason
        assert item.details["flags"][0]["label"] == "denied:refunds"
        owned = StoreHandoffSink(store, owner="k1").open(
            question="q", decision=decision, context=GuardContext()
        )
        got = store.get_item(owned)
        assert got is not None and got.owner == "k1" and got.collection is None
    finally:
        store.close()
