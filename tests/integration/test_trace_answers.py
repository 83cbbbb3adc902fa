"""Answers and chat turns as traces: nested steps, answer attributes, implicit feedback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import REPO
from ragline.answer.conversation import Conversation
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.store.traces_base import FeedbackQuery, TraceQuery
from ragline.testing.chat_conformance import FakeChatModel

pytestmark = pytest.mark.integration
REPLY = "The ideal brewing temperature is between 90 and 96 degrees Celsius."


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("trace-answer-home")
    with Ragline(
        load_settings(home=home, trace={"flush_interval_s": 0.05}, answer={"style": "generative"})
    ) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


def use(rag: Ragline, *replies: str) -> None:
    rag.gateway = Gateway(
        rag.settings, models={"embedded": FakeChatModel(list(replies))}, tracer=rag.tracer
    )


def test_an_answer_is_one_trace_with_its_steps(rag: Ragline):
    use(rag, REPLY)
    answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
    assert rag.tracer.flush()
    trace = rag.traces.get_trace(rag.tracer.last_trace_id)
    assert trace is not None
    names = [s.name for s in trace.spans]
    assert names[0] == "ask"
    by_id = {s.span_id: s for s in trace.spans}
    span = {s.name: s for s in trace.spans}
    # every step of the answer, in order, each a child of the trace's root
    steps = ["rewrite", "search", "pack", "prompt", "generation", "checks"]
    assert all(by_id[span[n].parent_id].name == "ask" for n in steps), names
    starts = [span[n].start_ns for n in steps]
    assert starts == sorted(starts)
    # retrieval per mode and fusion nest under the search
    assert {"retrieve.bm25", "retrieve.dense", "fusion", "fetch"} <= set(names)
    assert by_id[span["fusion"].parent_id].name == "search"
    assert span["rewrite"].attributes["method"] == "none"
    assert span["pack"].attributes["passages"] == len(answer.passages)
    assert span["prompt"].attributes["prompt.version"] == answer.prompt_version
    assert span["prompt"].attributes["prompt_tokens"] > 0
    checks = span["checks"].attributes
    assert checks["sentences"] == len(answer.sentences)
    assert checks["statuses"] == [s.status for s in answer.sentences]
    root = trace.root.attributes
    assert root["answer"] == answer.text and root["abstained"] is False
    assert root["prompt.version"] == answer.prompt_version and root["model"] == "fake:model"
    assert root["hits"][0]["source"].endswith("coffee-brewing.html")
    s = trace.summary
    assert s.answer_length == len(answer.text) and s.abstained is False
    assert s.output_tokens == answer.result.usage.completion_tokens and s.ttft_s is not None


def test_a_decline_is_recorded_as_an_abstention(rag: Ragline):
    use(rag, "Canberra.")
    answer = rag.ask("What is the capital of Australia?", collection="sample")
    assert answer.declined
    rag.tracer.flush()
    s = rag.traces.get_trace(rag.tracer.last_trace_id).summary
    assert s.abstained is True and s.name == "ask"


def test_chat_turns_link_and_a_correction_judges_the_previous_answer(rag: Ragline):
    use(rag, REPLY, "Espresso is brewed at about 9 bar of pressure.")
    conversation = Conversation()
    rag.chat("What is the ideal brewing temperature for coffee?", conversation, collection="sample")
    first = rag.tracer.last_trace_id
    rag.chat("No, I meant the pressure for espresso.", conversation, collection="sample")
    second = rag.tracer.last_trace_id
    assert rag.tracer.flush()
    turns = rag.traces.list_traces(TraceQuery(names=("chat",), limit=2))
    assert {t.trace_id for t in turns} == {first, second}
    assert len({t.conversation_id for t in turns}) == 1
    assert sorted(t.turn for t in turns) == [1, 2]
    feedback = rag.traces.list_feedback(FeedbackQuery(trace_ids=(first, second)))
    kinds = {(f.trace_id, f.kind) for f in feedback}
    assert (first, "correction") in kinds
    assert (first, "conversation_length") in kinds and (second, "conversation_length") in kinds
    correction = next(f for f in feedback if f.kind == "correction")
    assert correction.comment == "No, I meant the pressure for espresso."


def test_stopping_an_answer_stream_early_is_a_signal(rag: Ragline):
    use(rag, REPLY)
    for _ in rag.ask_stream(
        "What is the ideal brewing temperature for coffee?", collection="sample"
    ):
        break
    assert rag.tracer.flush()
    trace = rag.traces.get_trace(rag.tracer.last_trace_id)
    assert trace.root.attributes["stream_cancelled"] is True
    assert [f.kind for f in trace.signals] == ["early_stop"]


def test_a_model_rewrite_nests_its_generation_under_the_rewrite_step(rag: Ragline):
    def reply(messages, params):
        if "Follow-up question:" in messages[-1]["content"]:
            return "What is the ideal pressure for espresso coffee?"
        return REPLY

    rag.gateway = Gateway(
        rag.settings, models={"embedded": FakeChatModel(reply)}, tracer=rag.tracer
    )
    conversation = Conversation()
    rag.chat("What is the ideal brewing temperature for coffee?", conversation, collection="sample")
    rag.chat("and the pressure for espresso?", conversation, collection="sample")
    assert rag.tracer.flush()
    trace = rag.traces.get_trace(rag.tracer.last_trace_id)
    by_id = {s.span_id: s for s in trace.spans}
    rewrite = next(s for s in trace.spans if s.name == "rewrite")
    assert rewrite.attributes["method"] == "model"
    gens = [s for s in trace.spans if s.name == "generation"]
    assert [by_id[g.parent_id].name for g in gens] == ["rewrite", "chat"]
