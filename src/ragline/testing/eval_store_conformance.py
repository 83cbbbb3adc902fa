"""What every :class:`~ragline.store.evals_base.EvalStore` must do, as an inheritable test class.

A backend's tests subclass :class:`EvalStoreConformance` and supply an ``eval_store``
fixture (a fresh, empty store)::

    class TestSQLiteEvalStore(EvalStoreConformance):
        @pytest.fixture
        def eval_store(self, tmp_path):
            store = SQLiteEvalStore(tmp_path / "ragline.db")
            yield store
            store.close()
"""

from __future__ import annotations

import math
import threading

import pytest

from ragline.errors import InvalidQueryError, StoreError
from ragline.store.evals_base import EvalRun, EvalStore, ItemResult


def make_run(run_id: str = "demo-20250101-000000-abcd", **kw: object) -> EvalRun:
    base: dict[str, object] = {
        "name": "demo",
        "spec_hash": "0123456789abcdef",
        "config": {"dataset": "d.jsonl", "slices": ["topic"], "nested": {"k": [1, 2]}},
        "prompts": {"judge_pointwise": "judge_pointwise_v1@abc"},
        "models": ["fake:model"],
        "items_total": 3,
    }
    base.update(kw)
    return EvalRun(run_id=run_id, **base)  # type: ignore[arg-type]


def make_item(item_id: str, ordinal: int, **kw: object) -> ItemResult:
    base: dict[str, object] = {
        "input": {"question": f"q{item_id}?", "topic": "t", "metadata": {"lang": "en"}},
        "output": f"answer {item_id} — ünïcode",
        "retrieved": ["doc-1", "doc-2"],
        "scores": {"f1": 0.5, "judge": None},
        "details": {"judge": {"verdicts": [{"value": None, "raw": "???"}]}},
        "duration_s": 0.25,
    }
    base.update(kw)
    return ItemResult(item_id=item_id, ordinal=ordinal, **base)  # type: ignore[arg-type]


class EvalStoreConformance:
    """Inherit in a ``Test...`` class and provide an ``eval_store`` fixture."""

    @pytest.fixture
    def eval_store(self) -> EvalStore:  # pragma: no cover - subclasses override
        raise NotImplementedError("subclasses supply an eval_store fixture")

    def test_satisfies_protocol(self, eval_store: EvalStore) -> None:
        assert isinstance(eval_store, EvalStore)

    def test_create_and_get_run_round_trips(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        got = eval_store.get_run(run.run_id)
        assert got is not None
        assert got.to_dict() == run.to_dict()
        assert eval_store.get_run("no-such-run") is None

    def test_duplicate_run_id_is_refused(self, eval_store: EvalStore) -> None:
        eval_store.create_run(make_run())
        with pytest.raises(StoreError):
            eval_store.create_run(make_run())

    def test_prefix_lookup(self, eval_store: EvalStore) -> None:
        eval_store.create_run(make_run("alpha-1"))
        eval_store.create_run(make_run("alpha-2"))
        eval_store.create_run(make_run("beta-1"))
        got = eval_store.get_run("beta")
        assert got is not None and got.run_id == "beta-1"
        with pytest.raises(InvalidQueryError):
            eval_store.get_run("alpha")

    def test_list_runs_newest_first_and_by_name(self, eval_store: EvalStore) -> None:
        eval_store.create_run(make_run("r1", created_at="2025-01-01T00:00:00+00:00"))
        eval_store.create_run(make_run("r2", created_at="2025-01-02T00:00:00+00:00"))
        eval_store.create_run(make_run("r3", name="other", created_at="2025-01-03T00:00:00+00:00"))
        assert [r.run_id for r in eval_store.list_runs()] == ["r3", "r2", "r1"]
        assert [r.run_id for r in eval_store.list_runs(name="demo")] == ["r2", "r1"]
        assert [r.run_id for r in eval_store.list_runs(limit=1)] == ["r3"]

    def test_update_run(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        run.status = "complete"
        run.finished_at = "2025-01-01T00:01:00+00:00"
        run.summary = {"metrics": [{"name": "f1", "mean": 0.5, "low": float("nan")}]}
        run.items_total = 7
        eval_store.update_run(run)
        got = eval_store.get_run(run.run_id)
        assert got is not None and got.status == "complete" and got.items_total == 7
        assert got.summary["metrics"][0]["mean"] == 0.5
        assert got.summary["metrics"][0]["low"] is None  # NaN is stored as null
        with pytest.raises(StoreError):
            eval_store.update_run(make_run("missing"))

    def test_items_round_trip_in_ordinal_order(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        items = [make_item("b", 1), make_item("a", 0), make_item("c", 2, error="boom")]
        eval_store.save_items(run.run_id, items)
        got = eval_store.get_items(run.run_id)
        assert [i.item_id for i in got] == ["a", "b", "c"]
        assert got[0].to_dict() == items[1].to_dict()
        assert got[2].error == "boom" and not got[2].ok

    def test_completed_ids_exclude_failed_items(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        eval_store.save_items(run.run_id, [make_item("a", 0), make_item("b", 1, error="x")])
        assert eval_store.completed_item_ids(run.run_id) == {"a"}
        # a retried item replaces the failed one
        eval_store.save_items(run.run_id, [make_item("b", 1)])
        assert eval_store.completed_item_ids(run.run_id) == {"a", "b"}
        assert len(eval_store.get_items(run.run_id)) == 2

    def test_non_finite_scores_become_none(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        eval_store.save_items(run.run_id, [make_item("a", 0, scores={"x": math.inf})])
        assert eval_store.get_items(run.run_id)[0].scores == {"x": None}

    def test_items_need_a_run(self, eval_store: EvalStore) -> None:
        with pytest.raises(StoreError):
            eval_store.save_items("missing", [make_item("a", 0)])

    def test_delete_run_removes_items(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)
        eval_store.save_items(run.run_id, [make_item("a", 0)])
        assert eval_store.delete_run(run.run_id) is True
        assert eval_store.get_run(run.run_id) is None
        assert eval_store.get_items(run.run_id) == []
        assert eval_store.delete_run(run.run_id) is False

    def test_concurrent_item_writes(self, eval_store: EvalStore) -> None:
        run = make_run()
        eval_store.create_run(run)

        def write(start: int) -> None:
            for i in range(start, start + 25):
                eval_store.save_items(run.run_id, [make_item(f"i{i:03d}", i)])

        threads = [threading.Thread(target=write, args=(n * 25,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(eval_store.completed_item_ids(run.run_id)) == 100


__all__ = ["EvalStoreConformance", "make_item", "make_run"]
