"""The tracer: nested, timed spans per request, recorded off the request path.

>>> tracer = Tracer(TraceSettings(), sinks=[...])                     # doctest: +SKIP
>>> with tracer.trace("search", query=q, collection="docs") as root:  # doctest: +SKIP
...     with tracer.span("retrieve.bm25") as s:
...         s.set(candidates=100)

``trace()`` starts a new trace, or a child span when a trace is already active (so a search
inside an answer is one step of the answer's trace); ``span()`` records only inside an active
trace and is otherwise a shared no-op object. The current span lives in a
:class:`contextvars.ContextVar`, so threads and asyncio tasks each see their own.

Recording costs a few microseconds per span: ids, two clock reads, a dict of attributes.
Everything else — redaction, the summary, SQLite, OTLP — happens on the background writer's
thread when the root span ends; a full queue drops the trace (counted) instead of waiting.
A disabled tracer (:data:`NOOP_TRACER`) hands out one shared no-op span.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ragline.config import TraceSettings
from ragline.store.traces_base import FeedbackRecord, TraceRecord
from ragline.trace.records import ActiveTrace, build_record
from ragline.trace.redact import Redactor
from ragline.trace.writer import BackgroundWriter, WriterStats

if TYPE_CHECKING:
    from ragline.trace.prometheus import LiveMetrics

log = logging.getLogger(__name__)
_T = TypeVar("_T")

_current: ContextVar[Span | None] = ContextVar("ragline_current_span", default=None)
_last_trace: ContextVar[ActiveTrace | None] = ContextVar("ragline_last_trace", default=None)
# Span ids are unique per process (a random start, then counting): all spans of a trace
# come from one process. Kept as ints while recording; the writer formats them as 16 hex
# digits. Trace ids are drawn on first use (``ActiveTrace.trace_id``).
_span_ids = itertools.count(random.SystemRandom().getrandbits(62) | 1)


@runtime_checkable
class TraceSink(Protocol):
    """Where finished traces go (the store, an OTLP collector, live metrics).

    Called on the writer thread with a batch; may block, must not assume order across batches.
    """

    def export(self, traces: Sequence[TraceRecord]) -> None: ...

    def close(self) -> None: ...


class Span:
    """One step of a trace. Use as a context manager, or call :meth:`end` yourself."""

    __slots__ = (
        "_token",
        "attributes",
        "end_ns",
        "error",
        "kind",
        "name",
        "parent_id",
        "span_id",
        "start_ns",
        "status",
        "trace",
        "tracer",
    )
    recording = True

    def __init__(
        self,
        tracer: Tracer,
        trace: ActiveTrace,
        span_id: int,
        parent_id: int | None,
        name: str,
        kind: str,
        attributes: dict[str, Any],
    ) -> None:
        self.tracer = tracer
        self.trace = trace
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.start_ns = time.perf_counter_ns() + trace.offset_ns
        self.end_ns: int | None = None
        self.status = "ok"
        self.error: str | None = None
        self._token: Token[Span | None] | None = None
        trace.spans.append(self)

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    def now_ns(self) -> int:
        """The current time on this trace's clock (Unix ns, monotonic within the trace)."""
        return self.trace.now_ns()

    def set(self, **attributes: Any) -> Span:
        self.attributes.update(attributes)
        return self

    def update(self, attributes: Mapping[str, Any]) -> Span:
        """Like :meth:`set`, for keys that are not identifiers (``gen_ai.request.model``)."""
        self.attributes.update(attributes)
        return self

    def record_error(self, exc: BaseException) -> None:
        self.status = "error"
        self.error = f"{type(exc).__name__}: {exc}"

    def set_embedding(self, vector: np.ndarray) -> None:
        """Keep the request's query vector with the trace (drift detection reads it)."""
        self.trace.embedding = vector

    def add_signal(
        self,
        kind: str,
        *,
        value: float | None = None,
        trace_id: str | None = None,
        comment: str | None = None,
        **attributes: Any,
    ) -> None:
        """Record implicit feedback with this trace (about ``trace_id``, default this one)."""
        self.trace.signals.append(
            FeedbackRecord(
                trace_id=trace_id or self.trace.trace_id,
                kind=kind,
                value=value,
                comment=comment,
                source="implicit",
                attributes=attributes,
            )
        )

    def iterate(self, items: Iterable[_T]) -> Iterator[_T]:
        """Yield from ``items`` with this span current only while ``items`` runs: work done
        to produce each item nests under the span, the consumer's code between items does
        not (a generator cannot keep a context variable to itself)."""
        it = iter(items)
        while True:
            token = _current.set(self)
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                _current.reset(token)
            yield item

    def end(self) -> None:
        """End the span (idempotent). Ending the root hands the trace to the writer."""
        if self.end_ns is not None:
            return
        self.end_ns = time.perf_counter_ns() + self.trace.offset_ns
        if self.parent_id is None:
            self.tracer.writer.submit(self.trace)
            _last_trace.set(self.trace)

    def __enter__(self) -> Span:
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.record_error(exc)
        self.end()
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # ended in another context (a generator closed elsewhere)
                _current.set(None)
            self._token = None


class NoopSpan:
    """What a disabled tracer (or ``span()`` outside a trace) returns: does nothing, fast."""

    __slots__ = ()
    recording = False
    trace_id = None
    span_id = None
    is_root = False
    attributes: Mapping[str, Any] = {}

    def now_ns(self) -> int:
        return time.time_ns()

    def set(self, **attributes: Any) -> NoopSpan:
        return self

    def update(self, attributes: Mapping[str, Any]) -> NoopSpan:
        return self

    def record_error(self, exc: BaseException) -> None:
        pass

    def set_embedding(self, vector: np.ndarray) -> None:
        pass

    def add_signal(self, kind: str, **kwargs: Any) -> None:
        pass

    def iterate(self, items: Iterable[_T]) -> Iterator[_T]:
        return iter(items)

    def end(self) -> None:
        pass

    def __enter__(self) -> NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


NOOP_SPAN = NoopSpan()


AnySpan = Span | NoopSpan


def current_span() -> Span | None:
    """The span active in this thread / task, if any."""
    return _current.get()


class Tracer:
    """Records traces and hands them, redacted and summarised, to its sinks in background."""

    enabled = True

    def __init__(
        self,
        settings: TraceSettings,
        sinks: Iterable[TraceSink] = (),
        *,
        redactor: Redactor | None = None,
        periodic: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings  # the caller's: a rebuilt default would ignore its config
        self._metrics: LiveMetrics | None = None
        self._metrics_lock = threading.Lock()
        self.sinks: list[TraceSink] = list(sinks)
        self.redactor = redactor or Redactor(
            redact_pii=self.settings.redact_pii,
            max_text_chars=self.settings.max_text_chars,
            capture_text=self.settings.capture_text,
        )
        self.writer = BackgroundWriter(
            self._write,
            maxsize=self.settings.queue_size,
            batch_size=self.settings.batch_size,
            interval_s=self.settings.flush_interval_s,
            periodic=periodic,
        )

    # recording ---------------------------------------------------------------------------
    def trace(self, name: str, *, kind: str = "internal", **attributes: Any) -> Span:
        """A new trace, or a child of the active span when there is one."""
        parent = _current.get()
        if parent is not None:
            return Span(self, parent.trace, next(_span_ids), parent.span_id, name, kind, attributes)
        return Span(self, ActiveTrace(), next(_span_ids), None, name, kind, attributes)

    def span(self, name: str, *, kind: str = "internal", **attributes: Any) -> AnySpan:
        """A child of the active span; a no-op when no trace is active."""
        parent = _current.get()
        if parent is None:
            return NOOP_SPAN
        return Span(self, parent.trace, next(_span_ids), parent.span_id, name, kind, attributes)

    def leaf(self, name: str, started: int, kind: str = "internal", **attributes: Any) -> None:
        """Record a finished step with no children of its own — the cheapest span, for hot
        paths: ``t = time.perf_counter_ns()``, do the work, ``tracer.leaf("fusion", t)``.
        Nothing is recorded outside a trace (or when the work raised before this call)."""
        parent = _current.get()
        if parent is not None:
            trace = parent.trace
            offset = trace.offset_ns
            trace.spans.append(
                (
                    name,
                    started + offset,
                    time.perf_counter_ns() + offset,
                    parent.span_id,
                    attributes,
                    kind,
                )
            )

    def start(self, name: str, *, kind: str = "internal", **attributes: Any) -> Span:
        """Like :meth:`trace`, but not made current: for spans that outlive a ``with`` block
        (a stream handed back to the caller). End it with :meth:`Span.end`."""
        return self.trace(name, kind=kind, **attributes)

    @property
    def last_trace_id(self) -> str | None:
        """Id of the last trace that finished in this thread / task."""
        trace = _last_trace.get()
        return None if trace is None else trace.trace_id

    # writing -----------------------------------------------------------------------------
    def _write(self, batch: list[ActiveTrace]) -> None:
        records = []
        for t in batch:
            try:
                records.append(build_record(t, self.redactor, _span_ids.__next__))
            except Exception:
                log.warning("trace %s could not be recorded", t.trace_id, exc_info=True)
            time.sleep(0)  # let a request thread that wants the GIL have it now
        failed = None
        for sink in self.sinks:
            try:
                sink.export(records)
            except Exception as exc:  # one sink failing must not starve the others
                failed = exc
                log.warning("trace sink %r failed", sink, exc_info=True)
        if failed is not None and len(self.sinks) == 1:
            raise failed

    def stats(self) -> WriterStats:
        return self.writer.stats()

    def live_metrics(self) -> LiveMetrics:
        """The Prometheus metrics of the traces finished from now on (created on first call,
        so a process that never serves ``/metrics`` never imports prometheus_client)."""
        with self._metrics_lock:
            if self._metrics is None:
                from ragline.trace.prometheus import LiveMetrics

                self._metrics = LiveMetrics(
                    slo_ttft_s=self.settings.slo_ttft_s,
                    slo_tpot_s=self.settings.slo_tpot_s,
                    writer_stats=self.stats,
                )
                self.sinks.append(self._metrics)
            return self._metrics

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every finished trace reached the sinks (tests, CLI exit)."""
        return self.writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.writer.close(timeout)
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.debug("closing trace sink %r failed", sink, exc_info=True)


class NoopTracer:
    """A tracer that records nothing (tracing disabled)."""

    enabled = False
    sinks: tuple[TraceSink, ...] = ()
    last_trace_id = None

    def trace(self, name: str, *, kind: str = "internal", **attributes: Any) -> NoopSpan:
        return NOOP_SPAN

    def span(self, name: str, *, kind: str = "internal", **attributes: Any) -> NoopSpan:
        return NOOP_SPAN

    def start(self, name: str, *, kind: str = "internal", **attributes: Any) -> NoopSpan:
        return NOOP_SPAN

    def leaf(self, name: str, started: int, kind: str = "internal", **attributes: Any) -> None:
        pass

    def stats(self) -> WriterStats:
        return WriterStats(0, 0, 0, 0, 0)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def close(self, timeout: float = 5.0) -> None:
        pass


NOOP_TRACER = NoopTracer()
AnyTracer = Tracer | NoopTracer

__all__ = [
    "NOOP_SPAN",
    "NOOP_TRACER",
    "AnySpan",
    "AnyTracer",
    "NoopSpan",
    "NoopTracer",
    "Span",
    "TraceSink",
    "Tracer",
    "current_span",
]
