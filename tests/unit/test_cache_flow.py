"""The answer caches in the answer path, with a real embedder, a real SQLite store and a
scripted chat model: exact and semantic hits, the gate and retrieval check, invalidation on
a version bump, isolation, corrupt entries, a backend that is down, what is never cached."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from ragline.answer.events import AnswerDone, CacheChecked, Retrieved, Started
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.errors import StoreError
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

SAMPLE = REPO / "examples" / "sample"
COFFEE = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
QUESTION = "What is the ideal brewing temperature for coffee?"


@pytest.fixture
def rag(tmp_path: Path) -> Iterator[Ragline]:
    settings = load_settings(
        home=tmp_path / "home", answer={"style": "generative"}, cache={"enabled": True}
    )
    with Ragline(settings) as r:
        r.ingest([SAMPLE], collection="sample")
        yield r


def script(rag: Ragline, *replies: str) -> FakeChatModel:
    fake = FakeChatModel(list(replies))
    rag.gateway = Gateway(rag.settings, models={"embedded": fake})
    return fake


def events_of(rag: Ragline, question: str, **kwargs) -> list[object]:
    return list(rag.ask_stream(question, collection="sample", **kwargs))


def test_a_repeated_question_is_an_exact_hit_without_the_model(rag: Ragline):
    fake = script(rag, COFFEE)
    first = rag.ask(QUESTION, collection="sample")
    assert first.cached is None and not first.declined and len(fake.calls) == 1
    events = events_of(rag, "  what is the IDEAL brewing temperature for coffee ")
    assert len(fake.calls) == 1  # no generation, no retrieval
    assert not any(isinstance(e, Retrieved) for e in events)
    assert isinstance(events[0], Started)
    checked = events[1]
    assert isinstance(checked, CacheChecked) and checked.cached == "exact"
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.answer.cached == "exact"
    assert done.text == first.text and done.to_dict()["cached"] == "exact"
    # the citations come back whole
    assert [c.passage.chunk.id for c in done.answer.citations] == [
        c.passage.chunk.id for c in first.citations
    ]
    assert done.answer.question == "  what is the IDEAL brewing temperature for coffee "


def test_a_paraphrase_is_a_semantic_hit(rag: Ragline):
    fake = script(rag, COFFEE)
    rag.ask(QUESTION, collection="sample")
    answer = rag.ask("What's the ideal temperature for brewing coffee?", collection="sample")
    assert answer.cached == "semantic" and len(fake.calls) == 1


def test_near_misses_are_refused_by_the_gate_with_a_reason(rag: Ragline):
    script(rag, COFFEE, "Coffee is not brewed at 80 degrees Celsius.")
    rag.ask(QUESTION, collection="sample")
    events = events_of(rag, "What is not the ideal brewing temperature for coffee?")
    (checked,) = [e for e in events if isinstance(e, CacheChecked)]
    assert checked.cached is None and checked.reason == "gate:negation"
    assert checked.cached_question == QUESTION and checked.score is not None


def test_a_version_bump_invalidates_the_exact_entry(rag: Ragline, tmp_path: Path):
    fake = script(rag, COFFEE)
    rag.ask(QUESTION, collection="sample")
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "tea.md").write_text("# Tea\n\nGreen tea is brewed at 80 degrees Celsius.\n")
    rag.ingest([extra], collection="sample")  # the collection's version changes
    events = events_of(rag, QUESTION)
    (checked,) = [e for e in events if isinstance(e, CacheChecked)]
    # not the exact entry (its version is gone); the semantic cache re-verifies the cited
    # passage, which is unchanged, and serves it
    assert checked.cached == "semantic"
    assert len(fake.calls) == 1


def test_a_changed_cited_document_drops_the_entry(rag: Ragline, tmp_path: Path):
    fake = script(rag, COFFEE, COFFEE)
    first = rag.ask(QUESTION, collection="sample")
    (cited,) = {c.passage.chunk.document_key for c in first.citations}
    store = rag.store
    store.delete_documents("sample", [cited])  # the cited document is gone
    answer = rag.ask(QUESTION, collection="sample")
    assert answer.cached is None
    assert len(fake.calls) == 1 or answer.declined  # answered again, or nothing to answer from


def test_isolation_a_caller_who_cannot_read_the_collection_is_not_served(rag: Ragline):
    fake = script(rag, COFFEE)
    rag.ask(QUESTION, collection="sample")
    events = events_of(rag, QUESTION, readable=["other"])
    (checked,) = [e for e in events if isinstance(e, CacheChecked)]
    assert checked.cached is None and checked.reason == "forbidden"
    assert len(fake.calls) == 2
    assert rag.ask(QUESTION, collection="sample", readable=["sample"]).cached == "exact"


def test_per_call_opt_out_neither_reads_nor_writes(rag: Ragline):
    fake = script(rag, COFFEE)
    rag.ask(QUESTION, collection="sample", cache=False)
    assert rag.ask(QUESTION, collection="sample", cache=False).cached is None
    assert rag.cache is not None and rag.cache.store.stats() == []
    assert len(fake.calls) == 2


def test_declined_and_sampled_answers_are_never_cached(rag: Ragline):
    script(rag, "Venus is covered in oceans of liquid gold, 900 km deep.")
    assert rag.ask("How hot is Venus?", collection="sample").declined
    rag.ask(QUESTION, collection="sample", sampling={"temperature": 0.7})
    assert rag.cache is not None and rag.cache.store.stats() == []


def test_a_guarded_answer_is_never_cached(rag: Ragline, monkeypatch: pytest.MonkeyPatch):
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True)
    class GuardVerdict:  # what the guard pipeline yields when it acts
        kind: ClassVar[str] = "guard"

        def to_dict(self) -> dict[str, object]:
            return {}

    script(rag, COFFEE)
    answerer = rag.answerer
    inner = answerer._stream

    def guarded(*args, **kwargs):
        for event in inner(*args, **kwargs):
            if isinstance(event, AnswerDone):
                yield GuardVerdict()
            yield event

    monkeypatch.setattr(answerer, "_stream", guarded)
    assert not rag.ask(QUESTION, collection="sample").declined
    assert rag.cache is not None and rag.cache.store.stats() == []


def test_a_corrupt_entry_is_dropped_logged_and_never_served(
    rag: Ragline, caplog: pytest.LogCaptureFixture
):
    fake = script(rag, COFFEE)
    rag.ask(QUESTION, collection="sample")
    with sqlite3.connect(rag.settings.database_path) as conn:
        conn.execute("UPDATE cache_entries SET payload = replace(payload, '96', '99')")
    with caplog.at_level(logging.WARNING, logger="ragline.cache.answers"):
        answer = rag.ask(QUESTION, collection="sample")
    assert answer.cached is None and len(fake.calls) == 2
    assert "dropped corrupt cache entry" in caplog.text
    # the answer made now replaced it
    assert rag.ask(QUESTION, collection="sample").cached == "exact"


def test_a_backend_that_is_down_is_a_miss_not_a_failed_answer(rag: Ragline):
    fake = script(rag, COFFEE)
    cache = rag.cache
    assert cache is not None

    class Down:
        def __getattr__(self, name: str):
            def fail(*args, **kwargs):
                raise StoreError("cache store unreachable")

            return fail

    cache._store = Down()  # type: ignore[assignment]
    try:
        events = events_of(rag, QUESTION)
    finally:
        cache._store = None
    (checked,) = [e for e in events if isinstance(e, CacheChecked)]
    assert checked.reason == "backend_down"
    done = events[-1]
    assert isinstance(done, AnswerDone) and not done.answer.declined
    assert len(fake.calls) == 1


def test_a_follow_up_is_not_looked_up(rag: Ragline):
    from ragline.answer.conversation import Conversation

    script(rag, COFFEE, COFFEE)
    conv = Conversation()
    rag.chat(QUESTION, conv, collection="sample")
    # the same words, but after a turn: its meaning may depend on it, so no lookup
    events = list(rag.ask_stream(QUESTION, collection="sample", conversation=conv))
    assert not any(isinstance(e, CacheChecked) for e in events)


def test_traces_record_hits_misses_and_the_gates_reason(rag: Ragline):
    script(rag, COFFEE, "Coffee is not brewed at 80 degrees Celsius.")

    def lookup_span() -> dict[str, object]:
        assert rag.tracer.flush()
        trace = rag.traces.get_trace(rag.tracer.last_trace_id)
        assert trace is not None
        (span,) = [s for s in trace.spans if s.name == "cache.lookup"]
        return {**span.attributes, "root": trace.spans[0].attributes.get("cached")}

    rag.ask(QUESTION, collection="sample")
    miss = lookup_span()
    assert miss["hit"] == "miss" and miss["reason"] == "no_entry" and miss["root"] is None
    rag.ask(QUESTION, collection="sample")
    hit = lookup_span()
    assert hit["hit"] == "exact" and hit["root"] == "exact"
    rag.ask("What is not the ideal brewing temperature for coffee?", collection="sample")
    rejected = lookup_span()
    assert rejected["hit"] == "miss" and rejected["reason"] == "gate:negation"
    assert rejected["cached_question"] == QUESTION


def test_a_cached_answer_is_never_served_to_a_question_the_input_guards_stop(tmp_path: Path):
    """The cache is consulted first, but a hit is served only when the input guards let the
    question through unchanged: a question they block gets the refusal, not the answer."""
    from ragline.guard.pipeline import GuardPipeline
    from ragline.testing.guard_conformance import WordGuard

    settings = load_settings(
        home=tmp_path / "home",
        answer={"style": "generative"},
        cache={"enabled": True},
        guard={"input": ["words"], "output": [], "documents": [], "actions": {"words": "block"}},
    )
    pipeline = GuardPipeline(settings, guards=[WordGuard(["jailbreak"])])
    with Ragline(settings, guard=pipeline) as r:
        r.ingest([SAMPLE], collection="sample")
        script(r, COFFEE, COFFEE)
        first = r.ask(QUESTION, collection="sample")
        assert first.cached is None and not first.declined
        assert r.ask(QUESTION, collection="sample").cached == "exact"
        # the same words plus one the guard blocks: semantically near, but refused
        attack = QUESTION + " jailbreak"
        refused = r.ask(attack, collection="sample")
        assert refused.declined and refused.decline_reason == "blocked"
        assert refused.cached is None and COFFEE not in refused.text


def test_a_changed_guard_policy_misses_the_exact_cache(tmp_path: Path):
    """An exact hit skips the second guard pass because its question passed the same policy
    when it was answered: a new policy must not find the old entries."""
    from ragline.guard.pipeline import GuardPipeline
    from ragline.testing.guard_conformance import WordGuard

    def settings(words_action: str):
        return load_settings(
            home=tmp_path / "home",
            answer={"style": "generative"},
            cache={"enabled": True},
            guard={
                "input": ["words"],
                "output": [],
                "documents": [],
                "actions": {"words": words_action},
            },
        )

    lenient = settings("allow")
    with Ragline(lenient, guard=GuardPipeline(lenient, guards=[WordGuard(["brewing"])])) as r:
        r.ingest([SAMPLE], collection="sample")
        script(r, COFFEE, COFFEE)
        assert r.ask(QUESTION, collection="sample").cached is None
        assert r.ask(QUESTION, collection="sample").cached == "exact"
    strict = settings("block")
    with Ragline(strict, guard=GuardPipeline(strict, guards=[WordGuard(["brewing"])])) as r:
        script(r, COFFEE)
        again = r.ask(QUESTION, collection="sample")
        assert again.cached is None and again.decline_reason == "blocked"
