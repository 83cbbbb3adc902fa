"""The conformance suite of the :class:`ragline.store.agent_base.AgentRunStore` Protocol.

A backend's tests inherit :class:`AgentRunStoreConformance` and supply ``agent_runs``, a
fixture that yields a fresh, empty store, and ``reopen``, which opens the same storage again::

    class TestMyAgentRunStore(AgentRunStoreConformance):
        @pytest.fixture
        def agent_runs(self, tmp_path):
            s = MyAgentRunStore(tmp_path / "a.db")
            yield s
            s.close()

        @pytest.fixture
        def reopen(self, tmp_path):
            return lambda: MyAgentRunStore(tmp_path / "a.db")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from ragline.errors import ConfigError
from ragline.store.agent_base import (
    AgentRunRecord,
    AgentRunStore,
    AgentStepRecord,
    Retention,
)


def run_record(
    run_id: str, status: str = "running", *, age_s: float = 0.0, **kw: Any
) -> AgentRunRecord:
    ts = time.time() - age_s
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return AgentRunRecord(
        id=run_id,
        task=kw.pop("task", f"task of {run_id}"),
        status=status,  # type: ignore[arg-type]
        created_at=stamp,
        updated_at=stamp,
        created_ts=ts,
        **kw,
    )


class AgentRunStoreConformance:
    """Every agent run store behaves like this."""

    def test_is_an_agent_run_store(self, agent_runs: AgentRunStore) -> None:
        assert isinstance(agent_runs, AgentRunStore)

    def test_empty_store(self, agent_runs: AgentRunStore) -> None:
        assert agent_runs.list_runs() == []
        assert agent_runs.load_run("r0") is None
        assert agent_runs.steps("r0") == []

    def test_save_load_and_replace_a_run(self, agent_runs: AgentRunStore) -> None:
        state = {"plan": {"steps": [{"id": "s1", "tool": "calculator"}]}, "used": {"steps": 1}}
        run = run_record("r1", owner="k1", collection="docs", state=state, task="Ünïcode task")
        agent_runs.save_run(run)
        got = agent_runs.load_run("r1")
        assert got == run
        done = replace(run, status="done", updated_at="2030-01-01T00:00:00Z", state={"x": [1, 2]})
        assert agent_runs.save_run(done) == 0
        assert agent_runs.load_run("r1") == done
        assert [r.id for r in agent_runs.list_runs()] == ["r1"]

    def test_claim_only_if_unchanged_since_read(self, agent_runs: AgentRunStore) -> None:
        run = run_record("r1", "waiting")
        agent_runs.save_run(run)
        mine = replace(run, status="running", updated_at=run.updated_at + ".000001")
        theirs = replace(run, status="running", updated_at=run.updated_at + ".000002")
        assert agent_runs.claim_run(mine, expected_updated_at=run.updated_at) is True
        assert agent_runs.claim_run(theirs, expected_updated_at=run.updated_at) is False
        assert agent_runs.load_run("r1") == mine
        assert agent_runs.claim_run(run_record("nope"), expected_updated_at="x") is False

    def test_concurrent_claims_one_wins(self, agent_runs: AgentRunStore) -> None:
        run = run_record("r1", "waiting")
        agent_runs.save_run(run)

        def claim(i: int) -> bool:
            new = replace(run, status="running", updated_at=f"{run.updated_at}.{i:06d}")
            return agent_runs.claim_run(new, expected_updated_at=run.updated_at)

        with ThreadPoolExecutor(4) as pool:
            wins = list(pool.map(claim, range(8)))
        assert wins.count(True) == 1

    def test_an_unknown_status_is_refused(self, agent_runs: AgentRunStore) -> None:
        with pytest.raises(ConfigError):
            agent_runs.save_run(run_record("r1", status="bogus"))
        with pytest.raises(ConfigError):
            agent_runs.list_runs(status="bogus")  # type: ignore[arg-type]

    def test_steps_in_order_and_replaced_by_seq(self, agent_runs: AgentRunStore) -> None:
        agent_runs.save_run(run_record("r1"))
        agent_runs.save_step(AgentStepRecord("r1", 2, "s2", "search", "running", {"a": 1}))
        agent_runs.save_step(AgentStepRecord("r1", 1, "s1", "calculator", "ok", {"out": 4}))
        agent_runs.save_step(AgentStepRecord("r1", 2, "s2", "search", "error", {"e": "boom"}))
        steps = agent_runs.steps("r1")
        assert [(s.seq, s.step_id, s.status) for s in steps] == [
            (1, "s1", "ok"),
            (2, "s2", "error"),
        ]
        assert dict(steps[1].data) == {"e": "boom"}

    def test_a_step_of_no_run_is_refused(self, agent_runs: AgentRunStore) -> None:
        with pytest.raises(ConfigError):
            agent_runs.save_step(AgentStepRecord("nope", 1, "s1", "t", "ok"))

    def test_listing_newest_first_filtered_and_paged(self, agent_runs: AgentRunStore) -> None:
        for i in range(5):
            status = "done" if i % 2 else "waiting"
            agent_runs.save_run(run_record(f"r{i}", status, owner="a" if i < 3 else "b"))
        assert [r.id for r in agent_runs.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
        assert [r.id for r in agent_runs.list_runs(status="done")] == ["r3", "r1"]
        assert [r.id for r in agent_runs.list_runs(owner="b")] == ["r4", "r3"]
        assert [r.id for r in agent_runs.list_runs(limit=2, offset=1)] == ["r3", "r2"]
        with pytest.raises(ConfigError):
            agent_runs.list_runs(limit=0)

    def test_retention_by_count_keeps_unfinished_runs(self, agent_runs: AgentRunStore) -> None:
        agent_runs.save_run(run_record("w0", "waiting"))
        for i in range(6):
            agent_runs.save_run(run_record(f"d{i}", "done"))
            agent_runs.save_step(AgentStepRecord(f"d{i}", 1, "s1", "t", "ok"))
        dropped = agent_runs.prune(Retention(keep_runs=2, keep_days=None))
        assert dropped == 4
        assert {r.id for r in agent_runs.list_runs()} == {"w0", "d4", "d5"}
        assert agent_runs.steps("d0") == []  # the steps went with their run
        assert len(agent_runs.steps("d5")) == 1

    def test_retention_by_age_drops_old_runs_of_any_status(self, agent_runs: AgentRunStore) -> None:
        agent_runs.save_run(run_record("old", "waiting", age_s=3 * 86400))
        agent_runs.save_run(run_record("new", "done"))
        assert agent_runs.prune(Retention(keep_runs=None, keep_days=2.0)) == 1
        assert [r.id for r in agent_runs.list_runs()] == ["new"]

    def test_a_new_run_prunes_on_write(self, agent_runs: AgentRunStore) -> None:
        agent_runs.retention = Retention(keep_runs=3, keep_days=None)  # type: ignore[attr-defined]
        for i in range(10):
            agent_runs.save_run(run_record(f"d{i}", "done"))
        assert len(agent_runs.list_runs()) == 3  # bounded, not 10

    def test_state_survives_reopening(
        self, agent_runs: AgentRunStore, reopen: Callable[[], AgentRunStore]
    ) -> None:
        agent_runs.save_run(run_record("r1", "waiting", state={"pending": "h1"}))
        agent_runs.save_step(AgentStepRecord("r1", 1, "s1", "t", "ok", {"output": [1]}))
        again = reopen()
        try:
            assert dict(again.load_run("r1").state) == {"pending": "h1"}  # type: ignore[union-attr]
            assert [s.step_id for s in again.steps("r1")] == ["s1"]
        finally:
            again.close()

    def test_concurrent_step_writes(self, agent_runs: AgentRunStore) -> None:
        agent_runs.save_run(run_record("r1"))

        def write(i: int) -> None:
            agent_runs.save_step(AgentStepRecord("r1", i, f"s{i}", "t", "ok", {"i": i}))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(1, 21)))
        assert [s.seq for s in agent_runs.steps("r1")] == list(range(1, 21))


__all__ = ["AgentRunStoreConformance", "run_record"]
