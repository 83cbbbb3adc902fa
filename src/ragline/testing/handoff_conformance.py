"""The conformance suite of the :class:`ragline.store.handoff_base.HandoffStore` Protocol.

A backend's tests inherit :class:`HandoffStoreConformance` and supply a ``handoffs`` fixture
that yields a fresh, empty store, and ``reopen`` that opens the same storage again::

    class TestMyHandoffStore(HandoffStoreConformance):
        @pytest.fixture
        def handoffs(self, tmp_path):
            s = MyHandoffStore(tmp_path / "h.db")
            yield s
            s.close()

        @pytest.fixture
        def reopen(self, tmp_path):
            return lambda: MyHandoffStore(tmp_path / "h.db")
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragline.errors import ConfigError, ConflictError, ResourceNotFoundError
from ragline.store.handoff_base import HandoffQuery, HandoffStore

ALL = HandoffQuery(status=None)


class HandoffStoreConformance:
    """Every handoff store behaves like this."""

    def test_is_a_handoff_store(self, handoffs: HandoffStore) -> None:
        assert isinstance(handoffs, HandoffStore)

    def test_empty_store_lists_nothing(self, handoffs: HandoffStore) -> None:
        assert handoffs.list_items() == [] and handoffs.list_items(ALL) == []
        assert handoffs.get_item("h0000000000") is None

    def test_open_records_everything_and_starts_the_thread(self, handoffs: HandoffStore) -> None:
        decision = {"action": "handoff", "decided_by": "topic", "flags": [{"label": "x"}]}
        item = handoffs.open_item(
            question="  Can I get a refund for <PERSON_1>?  ",
            collection="docs",
            conversation_id="c1",
            owner="k1",
            guard="topic",
            reason="topic guard: denied topic 'refunds'",
            trace_id="t" * 32,
            details=decision,
        )
        assert item.id and item.status == "open" and item.kind == "handoff"
        assert item.question == "Can I get a refund for <PERSON_1>?"
        assert (item.collection, item.conversation_id, item.owner) == ("docs", "c1", "k1")
        assert item.guard == "topic" and item.trace_id == "t" * 32
        assert dict(item.details) == decision and item.resolution is None
        assert item.created_at == item.updated_at
        assert [(m.seq, m.role) for m in item.messages] == [(1, "user"), (2, "system")]
        assert item.messages[0].text == item.question
        assert "denied topic 'refunds'" in item.messages[1].text
        again = handoffs.get_item(item.id)
        assert again == item
        bare = handoffs.get_item(item.id, messages=False)
        assert bare is not None and bare.messages == () and bare.status == "open"
        assert handoffs.get_item("hnope", messages=False) is None
        assert again is not None and again.to_dict()["messages"][0]["role"] == "user"

    def test_ids_are_unique(self, handoffs: HandoffStore) -> None:
        ids = {handoffs.open_item(question=f"q{i}").id for i in range(30)}
        assert len(ids) == 30

    def test_empty_question_or_unknown_kind_is_refused(self, handoffs: HandoffStore) -> None:
        with pytest.raises(ConfigError, match="needs some text"):
            handoffs.open_item(question="  \n ")
        with pytest.raises(ConfigError, match="unknown handoff kind"):
            handoffs.open_item(question="q", kind="ticket")  # type: ignore[arg-type]
        assert handoffs.list_items(ALL) == []

    def test_reply_answers_and_a_user_message_reopens(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="help")
        reply = handoffs.reply(item.id, " Hello, I can help. ", author="ana")
        assert (reply.seq, reply.role, reply.author) == (3, "human", "ana")
        assert reply.text == "Hello, I can help."
        got = handoffs.get_item(item.id)
        assert got is not None and got.status == "answered" and got.updated_at >= item.updated_at
        note = handoffs.add_message(item.id, "thanks, one more thing")
        assert (note.seq, note.role, note.author) == (4, "user", None)
        got = handoffs.get_item(item.id)
        assert got is not None and got.status == "open"
        assert [m.role for m in got.messages] == ["user", "system", "human", "user"]

    def test_messages_since_returns_only_newer(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="help")
        assert [m.seq for m in handoffs.messages_since(item.id)] == [1, 2]
        assert handoffs.messages_since(item.id, 2) == []
        handoffs.reply(item.id, "on it", author="ana")
        newer = handoffs.messages_since(item.id, 2)
        assert [(m.seq, m.role, m.text) for m in newer] == [(3, "human", "on it")]
        assert handoffs.messages_since(item.id, 99) == []

    def test_empty_text_is_refused(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="help")
        with pytest.raises(ConfigError, match="needs some text"):
            handoffs.reply(item.id, "   ", author="ana")
        with pytest.raises(ConfigError):
            handoffs.add_message(item.id, "")
        got = handoffs.get_item(item.id)
        assert got is not None and len(got.messages) == 2 and got.status == "open"

    def test_unknown_ids_raise_not_found(self, handoffs: HandoffStore) -> None:
        handoffs.open_item(question="help")
        for call in (
            lambda: handoffs.reply("hnope", "x", author="a"),
            lambda: handoffs.add_message("hnope", "x"),
            lambda: handoffs.close_item("hnope"),
            lambda: handoffs.messages_since("hnope"),
        ):
            with pytest.raises(ResourceNotFoundError, match="no handoff item 'hnope'"):
                call()
        assert handoffs.claim("hnope", "k1") is False

    def test_close_is_final_and_idempotent(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="help")
        closed = handoffs.close_item(item.id, author="ana", resolution="resolved by phone")
        assert closed.status == "closed" and closed.resolution == "resolved by phone"
        assert closed.messages[-1].role == "system" and "closed by ana" in closed.messages[-1].text
        with pytest.raises(ConflictError, match="closed"):
            handoffs.reply(item.id, "late", author="bob")
        with pytest.raises(ConflictError):
            handoffs.add_message(item.id, "hello?")
        again = handoffs.close_item(item.id, author="bob", resolution="other")
        assert again == closed  # the first close stands

    def test_list_filters_newest_first_and_pages(self, handoffs: HandoffStore) -> None:
        made = [handoffs.open_item(question=f"q{i}", collection="a") for i in range(5)]
        handoffs.reply(made[1].id, "done", author="ana")
        handoffs.close_item(made[2].id)
        newest_first = [m.id for m in reversed(made)]
        assert [i.id for i in handoffs.list_items(ALL)] == newest_first
        assert [i.id for i in handoffs.list_items()] == [made[4].id, made[3].id, made[0].id]
        assert [i.id for i in handoffs.list_items(HandoffQuery(status="answered"))] == [made[1].id]
        assert [i.id for i in handoffs.list_items(HandoffQuery(status="closed"))] == [made[2].id]
        page1 = handoffs.list_items(HandoffQuery(status=None, limit=2))
        page2 = handoffs.list_items(HandoffQuery(status=None, limit=2, offset=2))
        page3 = handoffs.list_items(HandoffQuery(status=None, limit=2, offset=4))
        assert [i.id for i in page1 + page2 + page3] == newest_first
        assert all(i.messages == () for i in page1)  # listings carry no thread

    def test_list_by_owner_collection_and_kind(self, handoffs: HandoffStore) -> None:
        a = handoffs.open_item(question="q", collection="a", owner="k1")
        b = handoffs.open_item(question="q", collection="b", owner="k2")
        none = handoffs.open_item(question="q", owner="k1")
        step = handoffs.open_item(question="send the e-mail", kind="approval", collection="a")
        ids = lambda q: [i.id for i in handoffs.list_items(q)]  # noqa: E731
        assert ids(HandoffQuery(owner="k1")) == [none.id, a.id]
        assert ids(HandoffQuery(collections=["a"])) == [step.id, a.id]
        assert ids(HandoffQuery(collections=["a", "b"], owner="k2")) == [b.id]
        assert ids(HandoffQuery(collections=[])) == []
        assert ids(HandoffQuery(kind="approval")) == [step.id]
        assert ids(HandoffQuery(kind="handoff", collections=["a"])) == [a.id]

    def test_bad_queries_are_config_errors(self) -> None:
        with pytest.raises(ConfigError, match="unknown handoff status"):
            HandoffQuery(status="pending")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="limit"):
            HandoffQuery(limit=0)
        with pytest.raises(ConfigError, match="offset"):
            HandoffQuery(offset=-1)

    def test_claim_sets_an_owner_only_once(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="q")
        assert handoffs.claim(item.id, "k1") is True
        assert handoffs.claim(item.id, "k2") is False
        got = handoffs.get_item(item.id)
        assert got is not None and got.owner == "k1"
        owned = handoffs.open_item(question="q", owner="k3")
        assert handoffs.claim(owned.id, "k1") is False

    def test_approval_items_resolve_at_close(self, handoffs: HandoffStore) -> None:
        step = {"tool": "send_email", "arguments": {"to": "a@b.c"}}
        item = handoffs.open_item(question="send it", kind="approval", details=step)
        closed = handoffs.close_item(item.id, author="ana", resolution="approved")
        assert closed.kind == "approval" and closed.resolution == "approved"
        assert dict(closed.details) == step

    def test_concurrent_messages_get_distinct_numbers(self, handoffs: HandoffStore) -> None:
        item = handoffs.open_item(question="q")
        with ThreadPoolExecutor(8) as pool:
            posted = list(pool.map(lambda i: handoffs.add_message(item.id, f"m{i}"), range(24)))
        assert sorted(m.seq for m in posted) == list(range(3, 27))
        got = handoffs.get_item(item.id)
        assert got is not None and [m.seq for m in got.messages] == list(range(1, 27))

    def test_text_round_trips_unchanged(self, handoffs: HandoffStore) -> None:
        text = "Zürich → 東京 'quotes' \"double\" ; DROP TABLE handoff_items; --\nline two"
        item = handoffs.open_item(question=text)
        handoffs.reply(item.id, text, author="ana ✓")
        got = handoffs.get_item(item.id)
        assert got is not None and got.question == text
        assert got.messages[-1].text == text and got.messages[-1].author == "ana ✓"

    def test_items_persist(
        self, handoffs: HandoffStore, reopen: Callable[[], HandoffStore]
    ) -> None:
        item = handoffs.open_item(question="q", collection="a", owner="k1")
        handoffs.reply(item.id, "hi", author="ana")
        handoffs.close()
        again = reopen()
        try:
            got = again.get_item(item.id)
            assert got is not None and got.status == "answered"
            assert [m.role for m in got.messages] == ["user", "system", "human"]
        finally:
            again.close()


__all__ = ["HandoffStoreConformance"]
