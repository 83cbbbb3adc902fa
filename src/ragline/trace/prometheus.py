"""Live metrics in the Prometheus text format, fed by the tracer's writer thread.

:class:`LiveMetrics` is a trace sink: every finished trace updates counters and histograms
in its own :class:`prometheus_client.CollectorRegistry` (never the global one). On top of the
cumulative histograms, a collector publishes recent-window percentiles (p50/p90/p95/p99 of
the last ``window_s`` seconds) and the window's goodput, so a dashboard needs no PromQL.

``render()`` returns the text exposition; ``asgi_app()`` is an ASGI app that serves it, ready
to be mounted at ``/metrics`` by the server.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from ragline.store.traces_base import TraceRecord, TraceSummary
from ragline.trace.metrics import PERCENTILES, Distribution, meets_slo, tokens_per_s
from ragline.trace.writer import WriterStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TPOT_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1)


class _Timing(NamedTuple):
    """A per-request time, kept by operation and model: a cumulative histogram and the
    recent window's percentiles (``ragline_window_<key>_seconds``)."""

    key: str
    field: str  # the TraceSummary attribute (None where a request did not measure it)
    name: str
    help: str
    window_help: str
    buckets: tuple[float, ...]


_TIMINGS = (
    _Timing(
        "latency",
        "duration_s",
        "ragline_request_duration_seconds",
        "request latency",
        "request latency",
        _LATENCY_BUCKETS,
    ),
    _Timing(
        "ttft",
        "ttft_s",
        "ragline_time_to_first_token_seconds",
        "time from the request's start to the first generated token",
        "time to first token",
        _LATENCY_BUCKETS,
    ),
    _Timing(
        "tpot",
        "tpot_s",
        "ragline_time_per_output_token_seconds",
        "mean time per output token after the first (inter-token latency)",
        "time per output token",
        _TPOT_BUCKETS,
    ),
)


class _Window(Collector):
    """Percentiles and goodput over the traces of the last ``window_s`` seconds."""

    def __init__(self, owner: LiveMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Any]:
        recent = self.owner.recent()
        groups: dict[tuple[str, str], list[TraceSummary]] = {}
        for s in recent:
            groups.setdefault((s.name, s.model or ""), []).append(s)
        window = str(int(self.owner.window_s))
        for timing in _TIMINGS:
            metric = f"ragline_window_{timing.key}_seconds"
            family = SummaryMetricFamily(
                metric,
                f"{timing.window_help} over the last {window} s, by operation and model",
                labels=["operation", "model"],
            )
            for (op, model), group in sorted(groups.items()):
                values = [v for s in group if (v := getattr(s, timing.field)) is not None]
                if not values:
                    continue
                d = Distribution.of(values)
                family.add_metric(
                    [op, model],
                    count_value=len(values),
                    sum_value=float(sum(values)),
                )
                for q in PERCENTILES:
                    family.add_sample(
                        metric,
                        {"operation": op, "model": model, "quantile": str(q / 100)},
                        getattr(d, f"p{q}"),
                    )
            yield family
        goodput = GaugeMetricFamily(
            "ragline_goodput_ratio",
            f"share of generating requests of the last {window} s that met the TTFT/TPOT SLO",
            labels=["model"],
        )
        by_model: dict[str, list[bool]] = {}
        for s in recent:
            verdict = meets_slo(s, self.owner.slo_ttft_s, self.owner.slo_tpot_s)
            if verdict is not None:
                by_model.setdefault(s.model or "", []).append(verdict)
        for model, verdicts in sorted(by_model.items()):
            goodput.add_metric([model], sum(verdicts) / len(verdicts))
        yield goodput
        stats = self.owner.writer_stats()
        if stats is not None:
            dropped = GaugeMetricFamily(
                "ragline_traces_dropped", "traces dropped because the writer queue was full"
            )
            dropped.add_metric([], stats.dropped)
            yield dropped
            queued = GaugeMetricFamily("ragline_traces_queued", "traces waiting to be written")
            queued.add_metric([], stats.queued)
            yield queued


class LiveMetrics:
    """A trace sink keeping Prometheus metrics of the traces it sees."""

    def __init__(
        self,
        *,
        slo_ttft_s: float = 1.0,
        slo_tpot_s: float = 0.1,
        window_s: float = 300.0,
        max_window: int = 10_000,
        writer_stats: Callable[[], WriterStats] | None = None,
    ) -> None:
        self.slo_ttft_s = slo_ttft_s
        self.slo_tpot_s = slo_tpot_s
        self.window_s = window_s
        self._writer_stats = writer_stats
        self._recent: deque[TraceSummary] = deque(maxlen=max_window)
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ragline_requests", "traced requests", ["operation", "model", "status"], registry=r
        )
        self.timings = [
            Histogram(t.name, t.help, ["operation", "model"], buckets=t.buckets, registry=r)
            for t in _TIMINGS
        ]
        self.latency, self.ttft, self.tpot = self.timings
        self.throughput = Histogram(
            "ragline_output_tokens_per_second",
            "decode speed of a request",
            ["model"],
            buckets=(1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500),
            registry=r,
        )
        self.tokens = Counter("ragline_tokens", "tokens used", ["model", "type"], registry=r)
        self.cost = Counter("ragline_cost_usd", "cost in USD", ["model"], registry=r)
        self.slo = Counter(
            "ragline_slo_requests",
            "generating requests judged against the SLO",
            ["model", "met"],
            registry=r,
        )
        r.register(_Window(self))

    def writer_stats(self) -> WriterStats | None:
        return self._writer_stats() if self._writer_stats else None

    def observe(self, s: TraceSummary) -> None:
        model = s.model or ""
        self.requests.labels(s.name, model, s.status).inc()
        for timing, histogram in zip(_TIMINGS, self.timings, strict=True):
            value = getattr(s, timing.field)
            if value is not None:
                histogram.labels(s.name, model).observe(value)
        tps = tokens_per_s(s)
        if tps is not None:
            self.throughput.labels(model).observe(tps)
        if s.input_tokens:
            self.tokens.labels(model, "input").inc(s.input_tokens)
        if s.output_tokens:
            self.tokens.labels(model, "output").inc(s.output_tokens)
        if s.cost:
            self.cost.labels(model).inc(s.cost)
        verdict = meets_slo(s, self.slo_ttft_s, self.slo_tpot_s)
        if verdict is not None:
            self.slo.labels(model, "true" if verdict else "false").inc()
        with self._lock:
            self._recent.append(s)

    def recent(self) -> list[TraceSummary]:
        """Summaries that started within the last ``window_s`` seconds."""
        cutoff = time.time_ns() - int(self.window_s * 1e9)
        with self._lock:
            while self._recent and self._recent[0].start_ns < cutoff:
                self._recent.popleft()
            return list(self._recent)

    # TraceSink ---------------------------------------------------------------------------
    def export(self, traces: Sequence[TraceRecord]) -> None:
        for t in traces:
            self.observe(t.summary)

    def close(self) -> None:
        pass

    # exposition --------------------------------------------------------------------------
    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def asgi_app(self) -> Callable[..., Any]:
        """An ASGI app answering GET with :meth:`render` (mount it at ``/metrics``)."""

        async def app(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                return
            if scope.get("method", "GET") not in ("GET", "HEAD"):
                await send({"type": "http.response.start", "status": 405, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            body = self.render()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", CONTENT_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": b"" if scope.get("method") == "HEAD" else body,
                }
            )

        return app


__all__ = ["CONTENT_TYPE", "LiveMetrics"]
