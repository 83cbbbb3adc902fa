"""Grounded answers as a stream of events, for ``/api/.../ask`` and ``ragline:<collection>``.

The server consumes :func:`answer_events`, a *blocking* generator run in a worker thread by
:func:`ragline.server.streaming.stream_in_thread`. It runs :meth:`Ragline.ask_stream
<ragline.api.Ragline.ask_stream>` (query rewriting, context packing, sentence-level citation
checks) inside an ``answer`` trace and yields its events unchanged: the one vocabulary of
``ragline.answer.events`` (``Started`` with the trace id, so the client can send feedback;
``TokenDelta`` pieces of the draft; ``SentenceChecked``; ``AnswerDone`` with the checked
answer, which may differ from the draft, its citations and finish reason). The routes encode
them (``ragline.server.streaming``), or :func:`collect` gathers them whole. Closing the
generator stops the model.

The request's history becomes the answer's conversation; its sampling (``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``seed``) applies to this answer only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragline.answer.conversation import Conversation, Turn
from ragline.answer.events import (
    AnswerDone,
    AnswerEvent,
    GuardChecked,
    Started,
    StreamDone,
    TokenDelta,
)
from ragline.answer.tracing import record_guard
from ragline.api import Ragline
from ragline.cache.answers import CacheLookup
from ragline.server.handoff import claim_handoff
from ragline.types import AnswerStyle

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
    #: ``extractive``, ``generative`` or ``auto`` (None: ``answer.style``).
    style: AnswerStyle | None = None
    #: The calling API key's id: an item the answer hands to a person becomes this key's
    #: (``ragline.server.handoff``); None on an open server.
    owner: str | None = None
    #: False: neither served from nor written to the answer caches.
    cache: bool = True
    #: Whether the caller may read a collection (None: every one): a cached answer citing
    #: one it may not read is not served.
    readable: Callable[[str], bool] | None = None
    #: The lookup already made for the response's ``X-Ragline-Cache`` header.
    cache_lookup: CacheLookup | None = None
    #: Whose long-term memory applies (``Principal.memory_user``: the calling key's);
    #: None: ``memory.default_user``.
    user: str | None = None


@dataclass(slots=True)
class Collected:
    """A stream's events gathered whole, for the non-streaming responses."""

    started: Started | None = None
    parts: list[str] = field(default_factory=list)
    #: The last event: a grounded answer's, or a gateway model's (the OpenAI pass-through);
    #: None: the client left before the end.
    done: AnswerDone | StreamDone | None = None
    #: The guard decisions of the stream, in order.
    guards: list[GuardChecked] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The checked answer, which replaces the draft; else the text streamed so far."""
        if isinstance(self.done, AnswerDone):
            return self.done.text
        return "".join(self.parts)


async def collect(
    events: AsyncIterator[object], disconnected: Callable[[], Awaitable[bool]]
) -> Collected:
    """Read ``events`` to the end, or until ``disconnected()`` says the client left (other
    kinds of event are skipped)."""
    out = Collected()
    async for event in events:
        if isinstance(event, Started):
            out.started = event
        elif isinstance(event, TokenDelta):
            out.parts.append(event.text)
            if await disconnected():
                break
        elif isinstance(event, AnswerDone | StreamDone):
            out.done = event
        elif isinstance(event, GuardChecked):
            out.guards.append(event)
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


def answer_events(rag: Ragline, req: AnswerRequest) -> Iterator[AnswerEvent]:
    """The events of one grounded answer (blocking; close it to stop the model)."""
    with rag.tracer.trace("answer", query=req.question, collection=req.collection) as span:
        stream = rag.ask_stream(
            req.question,
            collection=req.collection,
            conversation=_conversation(req.history),
            model=req.model,
            sampling=req.sampling,
            max_passages=req.max_passages,
            style=req.style,
            cache=req.cache,
            readable=req.readable,
            cache_lookup=req.cache_lookup,
            user=req.user,
        )
        with contextlib.closing(stream):
            for event in stream:
                if isinstance(event, AnswerDone):
                    span.set(answer_length=len(event.text), abstained=event.answer.declined)
                    claim_handoff(rag, event, req.owner)
                elif isinstance(event, GuardChecked):  # a redacted question replaces the raw
                    record_guard(span, event, req.question)
                yield event


def with_cache_lookup(
    rag: Ragline, req: AnswerRequest, key_name: str | None = None, key_id: str | None = None
) -> tuple[AnswerRequest, str]:
    """The request with its answer-cache lookup made (blocking), and the ``X-Ragline-Cache``
    header for it: ``exact``, ``semantic``, ``miss`` or ``off`` (the cache is off, the key
    opted out, the request said ``cache: false``, or the answer is one that is never cached)."""
    opted_out = {key_name, key_id} & set(rag.settings.cache.opt_out_keys) - {None}
    personal = rag.settings.memory.long_term and rag.answerer.remembers(
        req.user or rag.settings.memory.default_user, req.question
    )
    if not req.cache or opted_out or rag.cache is None or personal:
        return dataclasses.replace(req, cache=False), "off"
    lookup = rag.cache_lookup(
        req.question,
        collection=req.collection,
        conversation=_conversation(req.history),
        model=req.model,
        sampling=req.sampling,
        max_passages=req.max_passages,
        style=req.style,
        readable=req.readable,
    )
    if lookup is None:
        return req, "off"
    return dataclasses.replace(req, cache_lookup=lookup), lookup.kind or "miss"


#: The response header saying whether an answer came from a cache.
CACHE_HEADER = "X-Ragline-Cache"

__all__ = [
    "CACHE_HEADER",
    "AnswerRequest",
    "Collected",
    "answer_events",
    "collect",
    "with_cache_lookup",
]
