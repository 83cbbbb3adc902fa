"""The conformance suite of the :class:`ragline.store.memory_base.MemoryStore` Protocol.

A backend's tests inherit :class:`MemoryStoreConformance` and supply a ``memory`` fixture
that yields a fresh, empty store, and ``reopen`` that opens the same storage again::

    class TestMyMemoryStore(MemoryStoreConformance):
        @pytest.fixture
        def memory(self, tmp_path):
            s = MyMemoryStore(tmp_path / "m.db")
            yield s
            s.close()

        @pytest.fixture
        def reopen(self, tmp_path):
            return lambda: MyMemoryStore(tmp_path / "m.db")
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ragline.errors import ConfigError
from ragline.store.memory_base import FactSource, MemoryStore

SRC = FactSource("I live in Paris.", conversation_id="c1", turn_index=0, at="2026-01-01T00:00:00")


def _remember(store: MemoryStore, user: str, key: str, value: str, **kw: object):
    return store.remember(
        user, key=key, value=value, statement=f"my {key} is {value}", source=SRC, **kw
    )  # type: ignore[arg-type]


class MemoryStoreConformance:
    """Every memory store behaves like this."""

    def test_is_a_memory_store(self, memory: MemoryStore) -> None:
        assert isinstance(memory, MemoryStore)

    def test_empty_store_knows_nothing(self, memory: MemoryStore) -> None:
        assert memory.facts("ana") == [] and memory.facts("ana", history=True) == []
        assert memory.get("ana", "m0000000000") is None and memory.users() == []

    def test_remember_records_the_fact_and_its_source(self, memory: MemoryStore) -> None:
        vec = np.arange(4, dtype=np.float32) / 10
        done = memory.remember(
            " ana ",
            key="location",
            value="  Paris ",
            statement="I live in Paris",
            source=SRC,
            kind="fact",
            vector=vec,
        )
        fact = done.fact
        assert done.written and done.superseded == ()
        assert (fact.user_id, fact.key, fact.value, fact.statement) == (
            "ana",
            "location",
            "Paris",
            "I live in Paris",
        )
        assert fact.kind == "fact" and fact.current and fact.superseded_by is None
        assert fact.source == SRC
        got = memory.get("ana", fact.id)
        assert got == fact and got is not None and got.vector is not None
        assert np.allclose(got.vector, vec)
        assert memory.facts("ana") == [fact]

    def test_a_new_value_supersedes_the_current_one_and_keeps_history(
        self, memory: MemoryStore
    ) -> None:
        paris = _remember(memory, "ana", "location", "Paris").fact
        lyon = _remember(memory, "ana", "location", "Lyon")
        assert lyon.written and [f.id for f in lyon.superseded] == [paris.id]
        assert lyon.superseded[0].superseded_by == lyon.fact.id
        assert [f.value for f in memory.facts("ana")] == ["Lyon"]
        history = memory.facts("ana", history=True, key="location")
        assert [(f.value, f.superseded_by) for f in history] == [
            ("Paris", lyon.fact.id),
            ("Lyon", None),
        ]
        old = memory.get("ana", paris.id)
        assert old is not None and not old.current and old.superseded_at

    def test_the_same_value_writes_nothing(self, memory: MemoryStore) -> None:
        first = _remember(memory, "ana", "location", "Paris").fact
        again = _remember(memory, "ana", "location", " paris ")
        assert not again.written and again.fact.id == first.id
        assert len(memory.facts("ana", history=True)) == 1

    def test_replaces_supersedes_other_keys_of_the_same_user_only(
        self, memory: MemoryStore
    ) -> None:
        tea = _remember(memory, "ana", "preference:tea", "prefers tea").fact
        bob_tea = _remember(memory, "bob", "preference:tea", "prefers tea").fact
        coffee = _remember(
            memory, "ana", "preference:coffee", "prefers coffee", replaces=[tea.id, bob_tea.id]
        )
        assert [f.id for f in coffee.superseded] == [tea.id]
        assert [f.value for f in memory.facts("ana")] == ["prefers coffee"]
        assert [f.id for f in memory.facts("bob")] == [bob_tea.id]  # another user's: untouched

    def test_users_are_isolated(self, memory: MemoryStore) -> None:
        ana = _remember(memory, "ana", "location", "Paris").fact
        _remember(memory, "bob", "location", "Oslo")
        assert [f.value for f in memory.facts("ana")] == ["Paris"]
        assert [f.value for f in memory.facts("bob")] == ["Oslo"]
        assert memory.get("bob", ana.id) is None  # another user's id is unknown
        assert memory.forget("bob", [ana.id]) == 0
        assert memory.get("ana", ana.id) is not None
        assert memory.users() == ["ana", "bob"]

    def test_forget_deletes_the_named_facts(self, memory: MemoryStore) -> None:
        a = _remember(memory, "ana", "location", "Paris").fact
        b = _remember(memory, "ana", "employer", "Acme").fact
        assert memory.forget("ana", [a.id, "m-unknown"]) == 1
        assert [f.id for f in memory.facts("ana", history=True)] == [b.id]
        assert memory.forget("ana", []) == 0

    def test_forget_all_removes_history_too(self, memory: MemoryStore) -> None:
        _remember(memory, "ana", "location", "Paris")
        _remember(memory, "ana", "location", "Lyon")
        _remember(memory, "bob", "location", "Oslo")
        assert memory.forget_all("ana") == 2
        assert memory.facts("ana", history=True) == []
        assert len(memory.facts("bob")) == 1

    def test_bad_input_is_a_clear_error(self, memory: MemoryStore) -> None:
        with pytest.raises(ConfigError, match="user id"):
            _remember(memory, "  ", "location", "Paris")
        with pytest.raises(ConfigError, match="key and a value"):
            _remember(memory, "ana", "location", "  ")
        with pytest.raises(ConfigError, match="kind"):
            _remember(memory, "ana", "location", "Paris", kind="rumour")
        with pytest.raises(ConfigError, match="user id"):
            memory.facts("")
        assert memory.facts("ana") == []  # nothing half-written

    def test_concurrent_values_leave_one_current_fact(self, memory: MemoryStore) -> None:
        cities = [f"City{i}" for i in range(8)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda c: _remember(memory, "ana", "location", c), cities))
        current = memory.facts("ana")
        history = memory.facts("ana", history=True)
        assert len(current) == 1 and len(history) == len(cities)
        # every superseded fact points at a fact of the history
        ids = {f.id for f in history}
        assert all(f.superseded_by in ids for f in history if not f.current)

    def test_facts_survive_a_reopen(
        self, memory: MemoryStore, reopen: Callable[[], MemoryStore]
    ) -> None:
        fact = _remember(memory, "ana", "location", "Paris").fact
        memory.close()
        again = reopen()
        try:
            assert again.get("ana", fact.id) == fact
        finally:
            again.close()


__all__ = ["MemoryStoreConformance"]
