"""The :class:`TraceStore` Protocol and the records it keeps: traces, spans and feedback.

A trace is one request (a search, an answer, a chat turn, a gateway call) made of nested
spans. The tracer (``ragline.trace``) builds the records, redacts them and fills
:class:`TraceSummary` — the flat, queryable columns of a trace — before handing them to a
store, so a backend only persists and queries; it never interprets attributes.
``ragline.testing.trace_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

SpanStatus = Literal["ok", "error", "unfinished"]
FeedbackSource = Literal["explicit", "implicit"]


@dataclass(slots=True)
class SpanRecord:
    """One timed step of a trace. Times are Unix epoch nanoseconds.

    ``kind`` is the OpenTelemetry span kind (``"client"`` for calls to a model, else
    ``"internal"``); ``attributes`` hold JSON values only (already redacted).
    """

    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: str = "internal"
    status: SpanStatus = "ok"
    error: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(slots=True)
class TraceSummary:
    """The flat columns of a trace: what listing, metrics and drift read without the spans.

    ``ttft_s`` is the time from the request's start to the first generated token; ``tpot_s``
    the mean time per output token after it; both None when nothing was generated.
    """

    trace_id: str
    name: str
    start_ns: int
    duration_s: float
    status: SpanStatus = "ok"
    span_count: int = 1
    query: str | None = None
    collection: str | None = None
    model: str | None = None
    conversation_id: str | None = None
    turn: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None
    answer_length: int | None = None
    abstained: bool | None = None
    #: The query's embedding (float32, unit length) when the request computed one.
    embedding: np.ndarray | None = None

    @property
    def end_ns(self) -> int:
        return self.start_ns + round(self.duration_s * 1e9)

    def to_dict(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "embedding"}
        out["has_embedding"] = self.embedding is not None
        return out


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class FeedbackRecord:
    """A judgement of one traced answer.

    Explicit kinds: ``thumbs`` (value +1 / -1), ``rating`` (1–5), ``comment``. Implicit kinds,
    detected by ragline: ``regeneration``, ``early_stop`` (value: tokens the client saw),
    ``correction`` (value: the detector's score), ``conversation_length`` (value: turns).
    """

    trace_id: str
    kind: str
    value: float | None = None
    comment: str | None = None
    source: FeedbackSource = "explicit"
    attributes: dict[str, Any] = field(default_factory=dict)
    created_ns: int = field(default_factory=time.time_ns)
    id: str = field(default_factory=new_id)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


# The polarity of a judgement lives beside the record (not in ``feedback/``) so that the
# trace layer's drift tests can count negative feedback without importing ``feedback/``.
def is_negative(record: FeedbackRecord) -> bool:
    """Thumbs down, a rating of 1–2, a correction or a regeneration."""
    if record.kind == "thumbs":
        return record.value is not None and record.value < 0
    if record.kind == "rating":
        return record.value is not None and record.value <= 2
    return record.kind in ("correction", "regeneration")


def is_positive(record: FeedbackRecord) -> bool:
    """Thumbs up or a rating of 4–5."""
    if record.kind == "thumbs":
        return record.value is not None and record.value > 0
    if record.kind == "rating":
        return record.value is not None and record.value >= 4
    return False


@dataclass(slots=True)
class TraceRecord:
    """A finished trace: its summary, its spans (the root first) and implicit signals.

    ``signals`` are feedback records detected while serving the request; they may point at
    another trace (a correction in this turn judges the previous answer).
    """

    summary: TraceSummary
    spans: list[SpanRecord]
    signals: list[FeedbackRecord] = field(default_factory=list)

    @property
    def trace_id(self) -> str:
        return self.summary.trace_id

    @property
    def root(self) -> SpanRecord:
        return self.spans[0]

    def children(self, span_id: str | None) -> list[SpanRecord]:
        return [s for s in self.spans if s.parent_id == span_id]


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Which traces to list. Times are Unix epoch nanoseconds, ``until_ns`` exclusive."""

    since_ns: int | None = None
    until_ns: int | None = None
    names: tuple[str, ...] = ()
    min_duration_s: float | None = None
    conversation_id: str | None = None
    with_embeddings: bool = False
    newest_first: bool = True
    limit: int | None = 100


@dataclass(frozen=True, slots=True)
class FeedbackQuery:
    """Which feedback to list: by trace, by creation time (ns, ``until_ns`` exclusive), kind."""

    trace_ids: tuple[str, ...] | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    kinds: tuple[str, ...] = ()
    source: FeedbackSource | None = None


@runtime_checkable
class TraceStore(Protocol):
    """Where traces and feedback are kept. Methods raise :class:`ragline.errors.StoreError`."""

    def close(self) -> None: ...

    def write_traces(self, traces: Sequence[TraceRecord]) -> None:
        """Insert (or replace, by trace id) traces with their spans and signals, atomically."""
        ...

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        """A trace by id, or by a unique id prefix of at least 4 characters.

        Raises :class:`ragline.errors.InvalidQueryError` for an ambiguous prefix.
        """
        ...

    def list_traces(self, query: TraceQuery) -> list[TraceSummary]: ...

    def add_feedback(self, records: Sequence[FeedbackRecord]) -> None: ...

    def list_feedback(self, query: FeedbackQuery) -> list[FeedbackRecord]:
        """Feedback records, oldest first."""
        ...

    def prune(self, before_ns: int) -> int:
        """Delete traces started before ``before_ns`` (with their spans) and feedback created
        before it; returns how many traces were deleted."""
        ...


__all__ = [
    "FeedbackQuery",
    "FeedbackRecord",
    "FeedbackSource",
    "SpanRecord",
    "SpanStatus",
    "TraceQuery",
    "TraceRecord",
    "TraceStore",
    "TraceSummary",
    "is_negative",
    "is_positive",
    "new_id",
]
