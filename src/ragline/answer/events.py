"""The answer events: one typed vocabulary for everything that streams an answer.

:meth:`Answerer.stream <ragline.answer.flow.Answerer.stream>` (behind ``Ragline.ask_stream``)
yields these events, and every consumer reads the same types: the terminal renderer and the
batch writer (``ragline ask`` / ``ragline chat``), the REST stream (``/api/.../ask``), the
OpenAI-compatible stream (``/v1/chat/completions``), the non-streaming responses
(:func:`final_answer`, the server's ``collect``) and tracing (``ragline.answer.tracing``).

The events, in the order a stream emits them::

    Started            once, first: the trace id (for feedback), the model, the collection
    GuardChecked       0..n: a guard decision (``ragline.guard``): on the question before
                       retrieval (always, when input guards run); on an answer sentence
                       when an output guard acted (warned, redacted or withheld it)
    Routed             0..1: where the intent router sent the message (``route.enabled``)
    CacheChecked       0..1: the answer caches' verdict (a hit: the cached answer follows as one
                       TokenDelta, its SentenceChecked and AnswerDone, with no Retrieved)
    MemoryUsed         0..1: long-term memory remembered facts of the question, recalled facts
                       for it (after the question's guards, before Routed), or forgot what
                       "forget …" asked (then straight to AnswerDone)
    Retrieved          once: the search query (a follow-up rewritten) and the passages
    TokenDelta         0..n: a piece of the model's draft as it is written, unchecked
    SentenceChecked    0..n: a sentence of the draft once checked (kept, attached, flagged
                       or dropped); interleaved with the deltas, since checks run alongside
    AnswerDone         once, last: the whole :class:`~ragline.types.Answer` (checked text,
                       citations, decline reason, usage) with the finish reason and trace id

A message the router sends elsewhere than the documents (chit-chat, out of scope, handoff)
goes from :class:`Routed` straight to :class:`AnswerDone`, with no retrieval.
A question a guard refuses (block, handoff) goes from its :class:`GuardChecked` straight
to :class:`AnswerDone` (``decline_reason`` ``blocked`` or ``handoff``). A decline before any
generation (nothing relevant retrieved) goes from :class:`Retrieved`
straight to :class:`AnswerDone`. A user interface that shows only checked sentences never
shows an unsupported claim; one that wants the fastest first token shows the deltas, then
replaces them with :attr:`AnswerDone.text`.

:class:`TokenDelta` is the *one* text delta of the package: a chat model's stream yields it
(``TokenDelta``… then :class:`~ragline.models.chat.StreamDone`), and the answer flow passes
the same objects on. It is defined in ``ragline.models.chat`` because the model layer sits
below this one, and re-exported here with :class:`StreamDone`, which the OpenAI-compatible
pass-through (a gateway model, no retrieval: ``Started``, ``TokenDelta``…, ``StreamDone``)
ends with instead of :class:`AnswerDone`. Both terminal events offer ``finish_reason``,
``model_finish_reason`` and ``usage``.

**Adding an event.** Every event declares ``kind``, a class-level name unique in the
vocabulary that is also its server-sent event name, and ``to_dict()``, its JSON payload.
Consumers handle the types they know and *ignore every other one*: the CLI, the OpenAI
stream, ``collect`` and tracing skip it; the REST stream forwards it as ``event: <kind>``
(clients ignore event names they do not know). So a new event (a guard verdict, a cache hit, a
tool call) is one more frozen dataclass with a ``kind`` and ``to_dict()``, added to
:data:`AnswerEvent` and yielded by the flow; only the consumers that want to show it change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ragline.answer.context import Context
from ragline.answer.conversation import Rewrite
from ragline.guard.base import Action, Decision
from ragline.memory.longterm import Recalled
from ragline.models.chat import StreamDone, StreamEvent, TokenDelta, Usage
from ragline.route.intent import RouteDecision
from ragline.store.memory_base import MemoryFact
from ragline.types import Answer, CheckedSentence, DeclineReason, Passage


class Event(Protocol):
    """What every event of the vocabulary offers: its kind (the SSE event name) and payload."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Started:
    """An answer began (before retrieval): what a client needs at once."""

    kind: ClassVar[str] = "start"
    #: The answer's model as asked for (the gateway default when none was named).
    model: str
    #: The trace the answer is recorded in (None when tracing is off): send feedback to it.
    trace_id: str | None = None
    collection: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "model": self.model, "collection": self.collection}


@dataclass(frozen=True, slots=True)
class Routed:
    """The intent router's decision, before retrieval: the route and its score."""

    kind: ClassVar[str] = "route"
    decision: RouteDecision

    @property
    def route(self) -> str:
        return self.decision.route

    def to_dict(self) -> dict[str, Any]:
        return self.decision.to_dict()


@dataclass(frozen=True, slots=True)
class MemoryUsed:
    """Long-term memory acted on the question (``memory.long_term``, a user given): the
    facts it remembered from it, those it recalled for it, or what a "forget …" removed."""

    kind: ClassVar[str] = "memory"
    user: str
    remembered: tuple[MemoryFact, ...] = ()
    superseded: tuple[MemoryFact, ...] = ()
    recalled: tuple[Recalled, ...] = ()
    forgotten: int | None = None

    def to_dict(self) -> dict[str, Any]:
        def brief(f: MemoryFact) -> dict[str, Any]:
            return {"id": f.id, "key": f.key, "value": f.value, "statement": f.statement}

        return {
            "remembered": [brief(f) for f in self.remembered],
            "superseded": [brief(f) for f in self.superseded],
            "recalled": [{**brief(r.fact), "score": round(r.score, 4)} for r in self.recalled],
            "forgotten": self.forgotten,
        }


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Retrieval is done: what was searched and which passages go to the model."""

    kind: ClassVar[str] = "retrieved"
    rewrite: Rewrite
    context: Context

    @property
    def query(self) -> str:
        return self.rewrite.query

    def to_dict(self) -> dict[str, Any]:
        ctx = self.context
        return {
            "query": self.query,
            "rewrite": self.rewrite.method,
            "relevant": ctx.relevant,
            "best_relevance": round(float(ctx.best_relevance), 4),
            "passages": [
                {
                    "n": p.number,
                    "source": p.chunk.source,
                    "record_id": p.chunk.record_id,
                    "score": round(float(p.relevance), 4),
                }
                for p in ctx.passages
            ],
        }


@dataclass(frozen=True, slots=True)
class GuardChecked:
    """A guard decision on the question (``direction`` input) or an answer sentence
    (output): the action, the guard that decided it and why (never the flagged text)."""

    kind: ClassVar[str] = "guard"
    decision: Decision
    #: The human inbox item a HANDOFF opened (tell the user); None otherwise.
    handoff_id: str | None = None

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def refused(self) -> bool:
        return self.decision.refused

    def to_dict(self) -> dict[str, Any]:
        return {**self.decision.to_dict(), "handoff_id": self.handoff_id}


@dataclass(frozen=True, slots=True)
class CacheChecked:
    """The answer caches were consulted (after :class:`Started`): a hit (``cached`` is
    ``exact`` or ``semantic``; the cached answer follows, with no retrieval or generation) or a
    miss, with the reason (``below_threshold``, ``gate:negation``, ``retrieval`` …: see
    :mod:`ragline.cache.answers`)."""

    kind: ClassVar[str] = "cache"
    cached: str | None
    reason: str
    score: float | None = None
    #: The cached question that a hit answers, or that the gate rejected.
    cached_question: str | None = None
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cached": self.cached,
            "reason": self.reason,
            "score": round(self.score, 4) if self.score is not None else None,
            "cached_question": self.cached_question,
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class SentenceChecked:
    """One sentence of the draft, checked (kept, attached, flagged or dropped)."""

    kind: ClassVar[str] = "sentence"
    sentence: CheckedSentence

    def to_dict(self) -> dict[str, Any]:
        s = self.sentence
        return {**s.to_dict(), "kept": s.kept, "rendered": s.rendered() if s.kept else None}


def citation_item(passage: Passage, cited: bool) -> dict[str, Any]:
    """What a client shows for a passage: its text, where it comes from, and its number."""
    c = passage.chunk
    return {
        "n": passage.number,
        "cited": cited,
        "chunk_id": c.id,
        "document_id": c.document_id,
        "record_id": c.record_id,
        "source": c.source,
        "source_name": Path(c.source).name or c.source,
        "title": c.title,
        "location": c.location,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "score": float(passage.relevance),
        "text": passage.text,
        #: a document guard's finding at ingestion (None: not flagged)
        "guard": c.metadata.get("guard"),
    }


@dataclass(frozen=True, slots=True)
class AnswerDone:
    """The last event: the whole answer, and how the stream ended."""

    kind: ClassVar[str] = "done"
    answer: Answer
    #: The trace the answer is recorded in (the same as :attr:`Started.trace_id`).
    trace_id: str | None = None

    @property
    def text(self) -> str:
        """The checked answer (or the decline message): it replaces the streamed draft."""
        return self.answer.text

    @property
    def finish_reason(self) -> str:
        """``declined`` for a declined answer, else the model's reason (``stop``, ``length``)."""
        if self.answer.declined:
            return "declined"
        return self.model_finish_reason or "stop"

    @property
    def model_finish_reason(self) -> str | None:
        """The model's own reason, also for a declined answer: ``length`` says ``max_tokens``
        cut the draft (which may be why nothing supported was left); None: no generation."""
        result = self.answer.result
        return result.finish_reason if result is not None else None

    @property
    def decline_reason(self) -> DeclineReason | None:
        return self.answer.decline_reason if self.answer.declined else None

    @property
    def usage(self) -> Usage | None:
        """Tokens the answer's generation used (None: nothing was generated)."""
        result = self.answer.result
        return result.usage if result is not None else None

    @property
    def model(self) -> str:
        result = self.answer.result
        return self.answer.model or (result.model if result is not None else "")

    def citations(self) -> list[dict[str, Any]]:
        """The passages as a client shows them (:func:`citation_item`), each marked cited or
        not; a declined answer's are the closest passages, none cited."""
        cited = {c.number for c in self.answer.citations}
        return [citation_item(p, p.number in cited) for p in self.answer.passages]

    def to_dict(self) -> dict[str, Any]:
        return {
            "finish_reason": self.finish_reason,
            "decline_reason": self.decline_reason,
            "decline_detail": self.answer.decline_detail if self.answer.declined else None,
            "guard": self.answer.guard,
            "handoff_id": self.answer.handoff_id,
            "answerability": self.answer.answerability,
            "style": self.answer.style,
            "model_finish_reason": self.model_finish_reason,
            "usage": self.usage.to_dict() if self.usage is not None else {},
            "trace_id": self.trace_id,
            "model": self.model,
            "cached": self.answer.cached,
        }


#: What :meth:`Answerer.stream <ragline.answer.flow.Answerer.stream>` yields.
AnswerEvent = (
    Started
    | GuardChecked
    | Routed
    | CacheChecked
    | MemoryUsed
    | Retrieved
    | TokenDelta
    | SentenceChecked
    | AnswerDone
)

#: Every event class of the vocabulary by kind (the model stream's end included).
EVENT_TYPES: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (
        Started,
        GuardChecked,
        Routed,
        CacheChecked,
        MemoryUsed,
        Retrieved,
        TokenDelta,
        SentenceChecked,
        AnswerDone,
    )
} | {StreamDone.kind: StreamDone}


def final_answer(events: Iterable[object]) -> Answer:
    """Drain an answer stream and return its :class:`~ragline.types.Answer` (the non-streaming
    path of ``Ragline.ask``, the batch writer and ``ragline chat --json``)."""
    for event in events:
        if isinstance(event, AnswerDone):
            return event.answer
    raise AssertionError("the answer stream ended without an answer")  # pragma: no cover


__all__ = [
    "EVENT_TYPES",
    "AnswerDone",
    "AnswerEvent",
    "CacheChecked",
    "Event",
    "GuardChecked",
    "MemoryUsed",
    "Retrieved",
    "Routed",
    "SentenceChecked",
    "Started",
    "StreamDone",
    "StreamEvent",
    "TokenDelta",
    "citation_item",
    "final_answer",
]
