"""Synthetic eval sets: passage sampling, structured generation via the gateway, review."""

from __future__ import annotations

from pathlib import Path

from ragline.config import load_settings
from ragline.evaluate.synthetic import (
    generate_synthetic,
    read_items,
    review_items,
    sample_passages,
    write_items,
)
from ragline.models.gateway import Gateway
from ragline.prompts import PromptRegistry
from ragline.store.sqlite import SQLiteStore
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.store_conformance import make_write

LONG = "the quick brown fox jumps over the lazy dog again and again"


def _store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "r.db")
    store.create_collection("c")
    store.write_documents(
        "c",
        [
            make_write("alpha", [LONG + " one", LONG + " two", "too short"]),
            make_write("beta", [LONG + " three"], seed=1),
            make_write("gamma", [LONG + " four", LONG + " five"], seed=2),
        ],
    )
    return store


def test_sample_passages_spreads_over_documents(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = sample_passages(store, "c", 3, seed=1, min_tokens=5)
    assert len({p.document_id for p in first}) == 3
    assert first == sample_passages(store, "c", 3, seed=1, min_tokens=5)  # seeded
    everything = sample_passages(store, "c", 50, seed=0, min_tokens=5)
    assert len(everything) == 5 and all("too short" not in p.text for p in everything)
    store.close()


def test_generate_writes_pending_triples(tmp_path: Path) -> None:
    store = _store(tmp_path)

    def reply(messages, params):
        assert params.json_schema is not None
        passage = messages[-1]["content"].split("Passage:\n")[1].split("\n")[0]
        word = passage.split()[-1]
        return f'{{"question": "Which number ends it ({word})?", "reference_answer": "{word}"}}'

    fake = FakeChatModel(reply, name="gen")
    gateway = Gateway(load_settings(), models={"gen": fake})
    report = generate_synthetic(
        store,
        gateway,
        "c",
        n=4,
        model="gen",
        seed=0,
        min_tokens=5,
        max_tokens=200,
        prompts=PromptRegistry(),
    )
    assert len(report.items) == 4 and not report.failures
    item = report.items[0]
    assert item["status"] == "pending" and item["answer"] == item["source_passage"].split()[-1]
    assert item["relevant"] == [item["relevant"][0]] and item["chunk_id"]
    assert item["generator"]["model"] == "gen"
    assert item["generator"]["prompt"].startswith("synthetic_qa@v1 sha256:")
    path = tmp_path / "out" / "syn.jsonl"
    write_items(path, report.items)
    assert read_items(path) == report.items
    store.close()


def test_generation_failures_are_reported(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fake = FakeChatModel(["not json at all"], name="gen")
    gateway = Gateway(load_settings(), models={"gen": fake})
    report = generate_synthetic(
        store,
        gateway,
        "c",
        n=2,
        model="gen",
        seed=0,
        min_tokens=5,
        max_tokens=200,
        prompts=PromptRegistry(),
    )
    assert report.items == [] and len(report.failures) == 2
    assert "StructuredOutputError" in report.failures[0]
    store.close()


def test_review_accept_edit_drop_skip_and_stop() -> None:
    items = [
        {"id": str(i), "question": f"q{i}", "answer": f"a{i}", "status": "pending"}
        for i in range(6)
    ]
    items.insert(0, {"id": "old", "question": "done", "answer": "x", "status": "accepted"})
    answers = iter(["a", "e", "new question?", "", "d", "maybe", "s", "e", "", ""])
    shown: list[str] = []
    report = review_items(items, lambda prompt: next(answers, None), shown.append)
    by_id = {it["id"]: it for it in report.items}
    assert "2" not in by_id and report.dropped == 1
    assert by_id["0"]["status"] == "accepted" and by_id["old"]["status"] == "accepted"
    assert by_id["1"]["status"] == "edited" and by_id["1"]["question"] == "new question?"
    assert by_id["1"]["answer"] == "a1" and by_id["1"]["original"] == {"question": "q1"}
    assert by_id["3"]["status"] == "pending"  # skipped
    assert by_id["4"]["status"] == "accepted"  # edit with no change
    assert by_id["5"]["status"] == "pending" and report.stopped  # input ended
    assert report.accepted == 2 and report.edited == 1 and report.pending == 2
    assert any("please answer" in s for s in shown)
    assert len(report.items) == 6
