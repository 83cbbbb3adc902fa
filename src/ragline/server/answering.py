"""Grounded answers as a stream of events, for ``/api/.../ask`` and ``ragline:<collection>``.

The server consumes :func:`answer_events`, a *blocking* generator run in a worker thread by
:func:`ragline.server.streaming.stream_in_thread`: :class:`Started` (the trace id, so the
client can send feedback), :class:`Token` pieces as the model writes them, then
:class:`Citations` and :class:`Finished`. Closing the generator stops the model.

When :class:`~ragline.api.Ragline` offers ``ask_stream`` (``ragline.answer``: rewriting,
context packing, sentence-level citation checks) that is what runs: its draft streams as
tokens, and the checked answer arrives whole in :class:`Final` (it may differ from the draft:
unsupported sentences dropped or flagged, citations attached). Without it a small built-in
flow stands in: retrieve ``k`` passages, ask the gateway to answer from them only, citing
them as ``[n]``, and abstain without calling the model when nothing was retrieved.
The request's sampling (``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``)
applies to either flow.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.api import Ragline
from ragline.models.chat import StreamDone, TokenDelta
from ragline.types import Hit

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given. Cite the passages "
    "you use like [1] or [2]. If the passages do not contain the answer, say that you do not "
    "know. Be brief."
)
_CITE = re.compile(r"\[(\d{1,2})\]")
_HISTORY_TURNS = 6
_HISTORY_CHARS = 1000


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    question: str
    collection: str
    history: Sequence[Mapping[str, str]] = ()
    k: int = 4
    model: str | None = None
    #: Per-request :class:`~ragline.models.chat.SamplingParams` overrides (``max_tokens``,
    #: ``temperature``, ``top_p``, ``stop``, ``seed``): only what the client set.
    sampling: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Started:
    trace_id: str | None
    model: str


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The checked answer text, replacing the streamed draft."""

    text: str


@dataclass(frozen=True, slots=True)
class Citations:
    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: str
    usage: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    model: str = ""


AnswerEvent = Started | Token | Final | Citations | Finished


def citation(n: int, hit: Hit, *, cited: bool) -> dict[str, Any]:
    """What a client shows for a passage: its text, where it comes from, and its number."""
    c = hit.chunk
    return {
        "n": n,
        "cited": cited,
        "chunk_id": c.id,
        "document_id": c.document_id,
        "source": c.source,
        "source_name": Path(c.source).name or c.source,
        "title": c.title,
        "location": c.location,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "score": hit.score,
        "text": c.text,
    }


def build_messages(req: AnswerRequest, hits: Sequence[Hit]) -> list[dict[str, str]]:
    """System prompt, the last turns of the conversation, then passages and the question."""
    passages = "\n\n".join(
        f"[{i}] ({h.chunk.title or Path(h.chunk.source).name}) {h.chunk.text}"
        for i, h in enumerate(hits, start=1)
    )
    history = [
        {"role": m["role"], "content": m["content"][:_HISTORY_CHARS]}
        for m in list(req.history)[-_HISTORY_TURNS:]
        if m.get("role") in ("user", "assistant")
    ]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        *history,
        {"role": "user", "content": f"Passages:\n{passages}\n\nQuestion: {req.question}"},
    ]


def _trace(rag: Ragline, req: AnswerRequest) -> Any:
    tracer = getattr(rag, "tracer", None)
    if tracer is None or not hasattr(tracer, "trace"):
        return contextlib.nullcontext(None)
    return tracer.trace("answer", query=req.question, collection=req.collection)


def answer_events(rag: Ragline, gateway: Any, req: AnswerRequest) -> Iterator[AnswerEvent]:
    """The events of one grounded answer (blocking; close it to stop the model)."""
    if callable(getattr(rag, "ask_stream", None)):
        yield from _delegated(rag, req)
    else:
        yield from _builtin(rag, gateway, req)


def _conversation(history: Sequence[Mapping[str, str]]) -> Any:
    from ragline.answer.conversation import Conversation, Turn

    turns, question = [], None
    for m in history:
        if m.get("role") == "user":
            question = m["content"]
        elif m.get("role") == "assistant" and question is not None:
            turns.append(Turn(question, question, _CITE.sub("", m["content"]).strip()))
            question = None
    return Conversation(turns)


def _passage_citation(passage: Any, cited: set[int]) -> dict[str, Any]:
    c = passage.chunk
    return {
        "n": passage.number,
        "cited": passage.number in cited,
        "chunk_id": c.id,
        "document_id": c.document_id,
        "source": c.source,
        "source_name": Path(c.source).name or c.source,
        "title": c.title,
        "location": c.location,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "score": float(passage.relevance),
        "text": passage.text,
    }


def _delegated(rag: Ragline, req: AnswerRequest) -> Iterator[AnswerEvent]:
    """``Ragline.ask_stream`` (ragline.answer) as server events."""
    with _trace(rag, req) as span:
        trace_id = getattr(span, "trace_id", None)
        stream = rag.ask_stream(
            req.question,
            collection=req.collection,
            conversation=_conversation(req.history),
            model=req.model,
            sampling=req.sampling,
        )
        with contextlib.closing(stream):
            yield Started(trace_id, req.model or rag.settings.gateway.default_model)
            for event in stream:
                kind = type(event).__name__
                if kind == "DraftDelta":
                    yield Token(event.text)
                elif kind == "AnswerDone":
                    answer = event.answer
                    cited = {c.number for c in answer.citations}
                    result = answer.result
                    yield Final(answer.text)
                    yield Citations([_passage_citation(p, cited) for p in answer.passages])
                    usage = result.usage.to_dict() if result is not None else {}
                    reason = (
                        "declined"
                        if answer.declined
                        else (result.finish_reason if result is not None else "stop")
                    )
                    model = answer.model or (result.model if result is not None else "")
                    if span is not None and hasattr(span, "set"):
                        span.set(answer_length=len(answer.text), abstained=answer.declined)
                    yield Finished(reason, usage, trace_id, model)


def _builtin(rag: Ragline, gateway: Any, req: AnswerRequest) -> Iterator[AnswerEvent]:
    """The stand-in flow, for builds without ``ragline.answer``."""
    model = req.model or gateway.name
    with _trace(rag, req) as span:
        trace_id = getattr(span, "trace_id", None)
        hits = rag.search(req.question, collection=req.collection, k=req.k)
        yield Started(trace_id, model)
        if not hits:
            yield Token(f"I found nothing about this in the collection {req.collection!r}.")
            yield Citations([])
            yield Finished("abstained", {}, trace_id, model)
            return
        params = dict(req.sampling)
        text: list[str] = []
        result = None
        stream = gateway.stream(build_messages(req, hits), model=req.model, **params)
        with contextlib.closing(stream):  # closing this generator stops the model
            for event in stream:
                if isinstance(event, TokenDelta):
                    text.append(event.text)
                    yield Token(event.text)
                elif isinstance(event, StreamDone):
                    result = event.result
        cited = {int(n) for n in _CITE.findall("".join(text))}
        yield Citations([citation(i, h, cited=i in cited) for i, h in enumerate(hits, start=1)])
        usage = result.usage.to_dict() if result is not None else {}
        if span is not None and hasattr(span, "set") and result is not None:
            span.set(model=result.model, answer_length=len("".join(text)))
        yield Finished(
            result.finish_reason if result is not None else "stop",
            usage,
            trace_id,
            result.model if result is not None else model,
        )


__all__ = [
    "AnswerEvent",
    "AnswerRequest",
    "Citations",
    "Final",
    "Finished",
    "Started",
    "Token",
    "answer_events",
    "build_messages",
    "citation",
]
