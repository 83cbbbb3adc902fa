"""From a trace being recorded to the stored :class:`TraceRecord`: redaction and summary.

Runs on the writer thread. The summary reads well-known attributes (``ragline.trace.semconv``):
the root's query, collection, conversation and answer; token usage and cost summed over the
generation spans; TTFT from the request's start to the first token of the last generation
that produced one, and TPOT over that generation's remaining tokens.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np

from ragline.store.traces_base import FeedbackRecord, SpanRecord, TraceRecord, TraceSummary
from ragline.trace import semconv as sc
from ragline.trace.redact import Redactor


class LiveSpan(Protocol):
    """What this module reads of a span being recorded (:class:`ragline.trace.tracer.Span`).

    A structural type, so that ``tracer`` (which builds records) imports ``records`` and
    not the other way round.
    """

    span_id: int
    parent_id: int | None
    name: str
    kind: str
    start_ns: int
    end_ns: int | None
    status: str
    error: str | None
    attributes: dict[str, Any]


#: A step recorded by :meth:`Tracer.leaf <ragline.trace.tracer.Tracer.leaf>`: a plain tuple
#: ``(name, start_ns, end_ns, parent_id, attributes, kind)`` — the cheapest thing to build on
#: the request path; it gets its span id on the writer thread (nothing points at a leaf).
Leaf = tuple[str, int, int, int, dict[str, Any], str]

# Trace ids are 128 random bits (W3C trace-context sizes), drawn on first use: a trace whose
# id nobody asks for while it runs gets it on the writer thread, off the request path.
_rng = random.Random(os.urandom(16))
if hasattr(os, "register_at_fork"):  # a forked worker must not repeat its parent's ids
    os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(16)))


class ActiveTrace:
    """The mutable state of a trace while it is recorded (spans append themselves)."""

    __slots__ = ("_ids", "embedding", "offset_ns", "signals", "spans")

    def __init__(self) -> None:
        self._ids: list[str] = []
        self.spans: list[LiveSpan | Leaf] = []
        self.signals: list[FeedbackRecord] = []
        self.embedding: np.ndarray | None = None
        #: Wall clock minus the monotonic clock at the trace's start: span times are
        #: ``perf_counter_ns() + offset_ns`` (Unix ns, monotonic within the trace).
        self.offset_ns = time.time_ns() - time.perf_counter_ns()

    @property
    def trace_id(self) -> str:
        ids = self._ids
        if not ids:
            # Two threads asking at once may both draw; list.append is atomic, so both
            # append and every reader gets the first.
            ids.append(f"{_rng.getrandbits(128):032x}")
        return ids[0]

    def now_ns(self) -> int:
        return time.perf_counter_ns() + self.offset_ns


def _hex(span_id: int) -> str:
    return f"{span_id & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sum(values: list[Any], cast: Any) -> Any:
    present = [cast(v) for v in values if cast(v) is not None]
    return sum(present) if present else None


def is_generation(span: SpanRecord) -> bool:
    return span.attributes.get(sc.GEN_AI_OPERATION) == "chat"


def summarize(
    trace_id: str, spans: list[SpanRecord], raw_root: dict[str, Any], embedding: Any
) -> TraceSummary:
    """The flat columns of a trace. ``raw_root`` holds the root's unredacted attributes
    (for lengths, which redaction or truncation would change)."""
    root = spans[0]
    a = root.attributes
    gens = [s for s in spans if is_generation(s)]
    model = a.get("model")
    if model is None and gens:
        g = gens[-1].attributes
        model = g.get(sc.GEN_AI_RESPONSE_MODEL) or g.get(sc.GEN_AI_REQUEST_MODEL)
    ttft = tpot = None
    streamed = [s for s in gens if _int(s.attributes.get(sc.FIRST_TOKEN_NS)) is not None]
    if streamed:
        g = streamed[-1]
        first = int(g.attributes[sc.FIRST_TOKEN_NS])
        ttft = max(0.0, (first - root.start_ns) / 1e9)
        out = _int(g.attributes.get(sc.GEN_AI_OUTPUT_TOKENS))
        if out is not None and out > 1:
            tpot = max(0.0, (g.end_ns - first) / 1e9 / (out - 1))
    answer = raw_root.get(sc.ANSWER)
    answer_length = _int(raw_root.get("answer_length"))
    if answer_length is None and isinstance(answer, str):
        answer_length = len(answer)
    if (
        answer_length is None
        and root.name == sc.GENERATION
        and isinstance(raw_root.get(sc.OUTPUT), str)
    ):
        answer_length = len(raw_root[sc.OUTPUT])
    abstained = a.get(sc.ABSTAINED)
    query = a.get(sc.QUERY)
    vec = None
    if embedding is not None:
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    return TraceSummary(
        trace_id=trace_id,
        name=root.name,
        start_ns=root.start_ns,
        duration_s=root.duration_s,
        status=root.status,
        span_count=len(spans),
        query=query if isinstance(query, str) else None,
        collection=str(a[sc.COLLECTION]) if a.get(sc.COLLECTION) is not None else None,
        model=str(model) if model is not None else None,
        conversation_id=(
            str(a[sc.CONVERSATION_ID]) if a.get(sc.CONVERSATION_ID) is not None else None
        ),
        turn=_int(a.get(sc.TURN)),
        input_tokens=_sum([s.attributes.get(sc.GEN_AI_INPUT_TOKENS) for s in gens], _int),
        output_tokens=_sum([s.attributes.get(sc.GEN_AI_OUTPUT_TOKENS) for s in gens], _int),
        cost=_sum([s.attributes.get(sc.COST) for s in gens], _float),
        ttft_s=ttft,
        tpot_s=tpot,
        answer_length=answer_length,
        abstained=abstained if isinstance(abstained, bool) else None,
        embedding=vec,
    )


def build_record(
    trace: ActiveTrace, redactor: Redactor, new_span_id: Callable[[], int]
) -> TraceRecord:
    """Redact a finished trace's spans and signals and compute its summary; leaves get
    their span ids from ``new_span_id``."""
    live = list(trace.spans)
    root = cast("LiveSpan", live[0])  # a trace starts with its root span, never a leaf
    root_end = root.end_ns or trace.now_ns()
    spans = []
    text_keys = sc.TEXT_KEYS
    for s in live:
        if type(s) is tuple:
            name, start, end, parent, attributes, kind = s
            spans.append(
                SpanRecord(
                    span_id=_hex(new_span_id()),
                    parent_id=_hex(parent),
                    name=name,
                    start_ns=start,
                    end_ns=end,
                    kind=kind,
                    status="ok",
                    error=None,
                    attributes=redactor.attributes(attributes, text_keys),
                )
            )
            continue
        unfinished = s.end_ns is None
        spans.append(
            SpanRecord(
                span_id=_hex(s.span_id),
                parent_id=None if s.parent_id is None else _hex(s.parent_id),
                name=s.name,
                start_ns=s.start_ns,
                end_ns=root_end if unfinished else int(s.end_ns),  # type: ignore[arg-type]
                kind=s.kind,
                status="unfinished" if unfinished else s.status,  # type: ignore[arg-type]
                error=redactor.text(s.error) if s.error else None,
                attributes=redactor.attributes(s.attributes, text_keys),
            )
        )
    signals = []
    for f in trace.signals:
        f.comment = redactor.text(f.comment) if f.comment else f.comment
        f.attributes = redactor.attributes(f.attributes, sc.TEXT_KEYS)
        signals.append(f)
    summary = summarize(trace.trace_id, spans, dict(root.attributes), trace.embedding)
    return TraceRecord(summary=summary, spans=spans, signals=signals)


__all__ = ["ActiveTrace", "Leaf", "LiveSpan", "build_record", "is_generation", "summarize"]
