"""The one answer-event vocabulary: one delta type from the model to every consumer, one SSE
encoder, typed tracing, and room for new kinds of event that consumers do not know yet."""

from __future__ import annotations

import asyncio
import io
import json
import re
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from rich.console import Console

import ragline
import ragline.answer.events as vocabulary
from conftest import REPO
from ragline.answer.conversation import Conversation
from ragline.answer.events import (
    EVENT_TYPES,
    AnswerDone,
    AnswerEvent,
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    StreamDone,
    TokenDelta,
    final_answer,
)
from ragline.answer.tracing import ConversationLinks, trace_answer
from ragline.api import Ragline
from ragline.config import TraceSettings, load_settings
from ragline.models import chat
from ragline.models.chat import ChatResult, SamplingParams, Usage
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.trace_conformance import ListSink
from ragline.trace import Tracer
from ragline.types import Answer, Chunk, Passage

SRC = REPO / "src" / "ragline"
REPLY = "Venus is the hottest planet. Venus has 42 moons made of ice."


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """A kind of event no consumer knows yet (as guard verdicts will be)."""

    kind: ClassVar[str] = "guard"
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict}


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ragline]:
    home = tmp_path_factory.mktemp("events-home")
    with Ragline(load_settings(home=home, answer={"style": "generative"})) as r:
        r.ingest([REPO / "examples" / "sample"], collection="sample")
        yield r


@pytest.fixture
def events(rag: Ragline) -> list[Any]:
    rag.gateway = Gateway(rag.settings, models={"embedded": FakeChatModel([REPLY])})
    return list(rag.ask_stream("How hot is Venus?", collection="sample"))


# ------------------------------------------------------------------------- one delta


def test_the_model_stream_and_the_answer_stream_yield_the_one_delta_class(
    rag: Ragline, events: list[Any]
) -> None:
    assert vocabulary.TokenDelta is chat.TokenDelta and ragline.answer.TokenDelta is TokenDelta
    model_events = list(FakeChatModel([REPLY]).stream("hi", SamplingParams()))
    model_deltas = {type(e) for e in model_events if not isinstance(e, chat.StreamDone)}
    answer_deltas = {type(e) for e in events if e.kind == "token"}
    assert model_deltas == answer_deltas == {TokenDelta}
    assert "".join(e.text for e in events if type(e) is TokenDelta) == REPLY


def test_no_second_delta_or_server_only_event_class_comes_back() -> None:
    classes = re.compile(r"^class (\w+)", re.M)
    names = {
        (path.relative_to(SRC).as_posix(), name)
        for path in SRC.rglob("*.py")
        for name in classes.findall(path.read_text(encoding="utf-8"))
    }
    streaming = ("answer/", "models/", "server/", "cli/", "trace/", "api.py")
    deltas = sorted(
        n for n in names if n[0].startswith(streaming) and n[1].endswith(("Delta", "Token"))
    )
    assert deltas == [("models/chat.py", "TokenDelta")]
    # what the server sends is part of the vocabulary, not a parallel set of classes
    parallel = {"Started", "Final", "Citations", "Finished", "Retrieved", "AnswerDone"}
    server = sorted(n for n in names if n[0].startswith("server/") and n[1] in parallel)
    assert server == []


def test_every_event_declares_a_unique_kind_and_a_json_payload(events: list[Any]) -> None:
    union = typing.get_args(AnswerEvent)
    assert {cls.kind for cls in union} | {"model_done"} == set(EVENT_TYPES)
    assert len({cls.kind for cls in union}) == len(union)
    assert EVENT_TYPES["model_done"] is StreamDone
    assert [type(e) for e in events[:3]] == [Started, Routed, Retrieved]
    assert isinstance(events[-1], AnswerDone) and {type(e) for e in events} <= set(union)
    for event in events:
        assert type(event).kind == event.kind and EVENT_TYPES[event.kind] is type(event)
        json.dumps(event.to_dict())  # every payload goes on the wire as is
    done = events[-1]
    assert done.to_dict()["finish_reason"] == "stop" and done.text == done.answer.text
    assert final_answer(iter(events)) is done.answer


# ------------------------------------------------------------------------- one encoder


def frames(body: bytes) -> list[tuple[str | None, Any]]:
    out = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        name = lines[0][len("event: ") :] if lines[0].startswith("event: ") else None
        data = lines[-1][len("data: ") :]
        out.append((name, data if data == "[DONE]" else json.loads(data)))
    return out


def test_the_one_sse_encoder_frames_named_and_unnamed_events() -> None:
    from ragline.server.streaming import SSE_DONE, sse

    assert sse({"text": "é"}, "token") == 'event: token\ndata: {"text":"é"}\n\n'.encode()
    assert sse({"a": [1, 2]}) == b'data: {"a":[1,2]}\n\n'
    assert SSE_DONE == b"data: [DONE]\n\n"
    with pytest.raises(ValueError, match="one line"):
        sse("two\nlines")


def test_no_second_sse_encoder_comes_back() -> None:
    framing = re.compile(r"""["'](?:data|event): """)
    writers = sorted(
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if framing.search(path.read_text(encoding="utf-8"))
    )
    # the fault server fakes a *provider's* stream, broken frames included, on purpose
    assert writers == ["server/streaming.py", "testing/fault_server.py"]


def test_rest_frames_are_the_events_by_kind(events: list[Any]) -> None:
    from ragline.server.streaming import event_frames

    got = frames(b"".join(event_frames(e) for e in events))
    names = [n for n, _ in got]
    assert names[:3] == ["start", "route", "retrieved"]
    assert names[-3:] == ["answer", "citations", "done"]
    assert {n for n in names[3:-3]} == {"token", "sentence"}
    assert got[0][1] == events[0].to_dict()
    done = events[-1]
    assert got[-3][1] == {"text": done.text}
    assert got[-2][1] == {"citations": done.citations()} and got[-1][1] == done.to_dict()


def test_openai_chunks_are_the_events_as_openai_clients_expect(events: list[Any]) -> None:
    from ragline.server.routes.openai import ChunkEncoder

    enc = ChunkEncoder("ragline:sample", include_usage=True, id="chatcmpl-1", created=7)
    got = frames(b"".join(enc.encode(e) for e in events) + enc.done())
    assert all(name is None for name, _ in got) and got[-1] == (None, "[DONE]")
    chunks = [d for _, d in got[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-1" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-2])
    assert text == REPLY  # the deltas are the draft
    last, usage = chunks[-2], chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["answer"] == events[-1].text
    assert last["citations"] == events[-1].citations() and last["declined"] is False
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 12
    # a gateway model's stream (no retrieval) ends with the model's own StreamDone
    result = ChatResult("hi", Usage(3, 1), "m", finish_reason="length")
    plain = ChunkEncoder("m", id="chatcmpl-2", created=7)
    (end,) = frames(plain.encode(StreamDone(result)))
    assert end[1]["choices"][0]["finish_reason"] == "length" and "citations" not in end[1]


# ------------------------------------------------------------------------- new kinds


def test_consumers_pass_over_a_kind_they_do_not_know(events: list[Any]) -> None:
    from ragline.cli.ask import render_stream
    from ragline.server.answering import collect
    from ragline.server.routes.openai import ChunkEncoder
    from ragline.server.streaming import event_frames

    mixed = [*events[:2], GuardVerdict("allow"), *events[2:]]
    # the terminal renderer and the non-streaming paths
    out = io.StringIO()
    answer = render_stream(iter(mixed), console=Console(file=out, width=200))
    assert answer is events[-1].answer and "Venus is the hottest planet [1]." in out.getvalue()
    assert final_answer(iter(mixed)) is answer

    async def stream() -> AsyncIterator[Any]:
        for e in mixed:
            yield e

    async def never() -> bool:
        return False

    got = asyncio.run(collect(stream(), never))
    assert got.text == answer.text and got.done is events[-1] and got.started is events[0]
    # the REST stream forwards it by kind; the OpenAI stream skips it
    assert frames(event_frames(GuardVerdict("allow"))) == [("guard", {"verdict": "allow"})]
    assert ChunkEncoder("ragline:sample").encode(GuardVerdict("allow")) == b""
    # tracing lets it through
    traced = list(trace_answer(Tracer(TraceSettings()), mixed, question="q"))
    assert traced == mixed


# ------------------------------------------------------------------------- tracing


def _answer(text: str = "Venus is hot [1].") -> Answer:
    chunk = Chunk("c1", "d1", 0, "Venus is hot.", "docs/venus.md")
    passage = Passage(1, chunk, "Venus is hot.", 0.8)
    result = ChatResult(text, Usage(10, 4), "fake:model")
    return Answer(
        question="How hot is Venus?",
        text=text,
        declined=False,
        citations=(),
        passages=(passage,),
        query="venus temperature",
        prompt_version="answer@v2",
        prompt_sha256="abc",
        model="fake:model",
        result=result,
        timings={"total_s": 0.5},
    )


def test_tracing_records_the_answer_from_typed_events() -> None:
    sink = ListSink()
    tracer = Tracer(TraceSettings(flush_interval_s=0.05), [sink])
    try:
        answer = _answer()
        stream = [Started("fake:model"), TokenDelta("Venus "), AnswerDone(answer)]
        assert list(trace_answer(tracer, stream, question=answer.question)) == stream
        assert tracer.flush()
    finally:
        tracer.close()
    (trace,) = sink.traces
    attrs = trace.root.attributes
    assert trace.root.name == "ask" and attrs["answer"] == answer.text
    assert attrs["abstained"] is False and attrs["citations"] == 0
    assert attrs["prompt.version"] == "answer@v2" and attrs["prompt.template"] == "answer"
    assert attrs["model"] == "fake:model" and attrs["query.rewritten"] == "venus temperature"
    assert attrs["hits"] == [
        {"chunk_id": "c1", "source": "docs/venus.md", "score": 0.8, "number": 1}
    ]
    assert attrs["timings"] == {"total_s": 0.5} and "stream_cancelled" not in attrs


def test_tracing_counts_the_deltas_sent_before_an_early_stop() -> None:
    sink = ListSink()
    tracer = Tracer(TraceSettings(flush_interval_s=0.05), [sink])
    links = ConversationLinks()
    try:
        stream = [
            Started("m"),
            GuardVerdict("allow"),  # not a delta: not counted
            TokenDelta("a"),
            TokenDelta("b"),
            AnswerDone(_answer()),
        ]
        events = trace_answer(
            tracer, stream, question="q", conversation=Conversation(), links=links
        )
        for event in events:
            if isinstance(event, TokenDelta) and event.text == "b":
                break
        events.close()
        assert tracer.flush()
    finally:
        tracer.close()
    (trace,) = sink.traces
    assert trace.root.name == "chat" and trace.root.attributes["stream_cancelled"] is True
    assert trace.root.attributes["pieces_emitted"] == 2
    assert "early_stop" in [s.kind for s in trace.signals]
    assert trace.summary.conversation_id and trace.summary.turn == 1


def test_the_trace_layer_reads_no_answer_types_from_above() -> None:
    """Answer tracing lives in ``ragline.answer.tracing``: ``trace/`` imports nothing of the
    answer layer, not even for type checking."""
    upward = re.compile(r"^\s*(?:from|import)\s+ragline\.(?:answer|api|server|cli)\b", re.M)
    offenders = [
        path.name
        for path in (SRC / "trace").rglob("*.py")
        if upward.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [] and not (SRC / "trace" / "answers.py").exists()


def test_the_answer_sentences_reach_the_stream_as_checked_events(events: list[Any]) -> None:
    checked = [e.sentence for e in events if isinstance(e, SentenceChecked)]
    assert checked == list(events[-1].answer.sentences)
    assert [e.to_dict()["kept"] for e in events if isinstance(e, SentenceChecked)] == [
        s.kept for s in checked
    ]
