"""Grounded answers as a stream of events, for ``/api/.../ask`` and ``ragline:<collection>``.

The server consumes :func:`answer_events`, a *blocking* generator run in a worker thread by
:func:`ragline.server.streaming.stream_in_thread`: :class:`Started` (the trace id, so the
client can send feedback), :class:`Token` pieces as the model writes them, then
:class:`Citations` and :class:`Finished`. Closing the generator stops the model.

The flow here is a small stand-in until ``ragline.answer`` (``Ragline.ask_stream``) lands,
and :func:`answer_events` is the one place that will then delegate to it: retrieve ``k``
passages, ask the gateway to answer from them only, citing them as ``[n]``, and abstain
without calling the model when nothing was retrieved.
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
    max_tokens: int | None = None
    temperature: float | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    trace_id: str | None
    model: str


@dataclass(frozen=True, slots=True)
class Token:
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


AnswerEvent = Started | Token | Citations | Finished


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
        params: dict[str, Any] = {}
        if req.max_tokens is not None:
            params["max_tokens"] = req.max_tokens
        if req.temperature is not None:
            params["temperature"] = req.temperature
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
    "Finished",
    "Started",
    "Token",
    "answer_events",
    "build_messages",
    "citation",
]
