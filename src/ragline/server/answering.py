"""Grounded answers as a stream of events, for ``/api/.../ask`` and ``ragline:<collection>``.

The server consumes :func:`answer_events`, a *blocking* generator run in a worker thread by
:func:`ragline.server.streaming.stream_in_thread`. It runs :meth:`Ragline.ask_stream
<ragline.api.Ragline.ask_stream>` (query rewriting, context packing, sentence-level citation
checks) and turns its events into what the routes send: :class:`Started` (the trace id, so
the client can send feedback), :class:`Token` pieces of the draft as the model writes them,
:class:`Final` (the checked answer, which may differ from the draft: unsupported sentences
dropped or flagged, citations attached), then :class:`Citations` and :class:`Finished`.
Closing the generator stops the model.

The request's history becomes the answer's conversation; its sampling (``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``seed``) applies to this answer only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.answer.conversation import Conversation, Turn
from ragline.answer.flow import AnswerDone, DraftDelta
from ragline.api import Ragline
from ragline.types import Passage

_CITE = re.compile(r"\s*\[\d{1,2}\]")


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    question: str
    collection: str
    history: Sequence[Mapping[str, str]] = ()
    model: str | None = None
    #: Per-request :class:`~ragline.models.chat.SamplingParams` overrides (``max_tokens``,
    #: ``temperature``, ``top_p``, ``stop``, ``seed``): only what the client set.
    sampling: Mapping[str, Any] = field(default_factory=dict)
    #: How many passages the answer may be grounded on (None: ``answer.max_passages``).
    max_passages: int | None = None


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
    #: "declined" for a declined answer, else the model's reason ("stop", "length").
    finish_reason: str
    usage: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None
    model: str = ""
    #: Why a declined answer was declined (``no_relevant_passages``, ``unsupported``,
    #: ``model_declined``); None when it was not.
    decline_reason: str | None = None
    #: The model's own finish reason, also for a declined answer: "length" says the
    #: ``max_tokens`` limit cut the draft (which may be why nothing supported was left).
    model_finish_reason: str | None = None


AnswerEvent = Started | Token | Final | Citations | Finished


@dataclass(slots=True)
class Collected:
    """An answer's events gathered whole, for the non-streaming responses."""

    started: Started | None = None
    parts: list[str] = field(default_factory=list)
    final: str | None = None  # the checked text, which replaces the draft
    citations: list[dict[str, Any]] = field(default_factory=list)
    finished: Finished | None = None  # None: the client left before the end

    @property
    def text(self) -> str:
        return self.final if self.final is not None else "".join(self.parts)


async def collect(
    events: AsyncIterator[AnswerEvent], disconnected: Callable[[], Awaitable[bool]]
) -> Collected:
    """Read ``events`` to the end, or until ``disconnected()`` says the client left."""
    out = Collected()
    async for event in events:
        if isinstance(event, Started):
            out.started = event
        elif isinstance(event, Token):
            out.parts.append(event.text)
            if await disconnected():
                break
        elif isinstance(event, Final):
            out.final = event.text
        elif isinstance(event, Citations):
            out.citations = event.items
        elif isinstance(event, Finished):
            out.finished = event
    return out


def _conversation(history: Sequence[Mapping[str, str]]) -> Conversation:
    """Earlier user/assistant pairs as turns (citation marks stripped from the answers)."""
    turns, question = [], None
    for m in history:
        if m.get("role") == "user":
            question = m["content"]
        elif m.get("role") == "assistant" and question is not None:
            turns.append(Turn(question, question, _CITE.sub("", m["content"]).strip()))
            question = None
    return Conversation(turns)


def _citation(passage: Passage, cited: set[int]) -> dict[str, Any]:
    """What a client shows for a passage: its text, where it comes from, and its number."""
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


def answer_events(rag: Ragline, req: AnswerRequest) -> Iterator[AnswerEvent]:
    """The events of one grounded answer (blocking; close it to stop the model)."""
    with rag.tracer.trace("answer", query=req.question, collection=req.collection) as span:
        trace_id = span.trace_id
        stream = rag.ask_stream(
            req.question,
            collection=req.collection,
            conversation=_conversation(req.history),
            model=req.model,
            sampling=req.sampling,
            max_passages=req.max_passages,
        )
        with contextlib.closing(stream):
            yield Started(trace_id, req.model or rag.settings.gateway.default_model)
            for event in stream:
                if isinstance(event, DraftDelta):
                    yield Token(event.text)
                elif isinstance(event, AnswerDone):
                    answer, result = event.answer, event.answer.result
                    cited = {c.number for c in answer.citations}
                    yield Final(answer.text)
                    yield Citations([_citation(p, cited) for p in answer.passages])
                    usage = result.usage.to_dict() if result is not None else {}
                    reason = (
                        "declined"
                        if answer.declined
                        else (result.finish_reason if result is not None else "stop")
                    )
                    model = answer.model or (result.model if result is not None else "")
                    span.set(answer_length=len(answer.text), abstained=answer.declined)
                    yield Finished(
                        reason,
                        usage,
                        trace_id,
                        model,
                        decline_reason=answer.decline_reason if answer.declined else None,
                        model_finish_reason=result.finish_reason if result is not None else None,
                    )


__all__ = [
    "AnswerEvent",
    "AnswerRequest",
    "Citations",
    "Collected",
    "Final",
    "Finished",
    "Started",
    "Token",
    "answer_events",
    "collect",
]
