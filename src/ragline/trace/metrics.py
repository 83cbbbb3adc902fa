"""Latency, throughput, cost and goodput over a window of traces.

Per request (a trace), from its summary:

* **latency** — the whole request, seconds;
* **TTFT** — time from the request's start to the first generated token;
* **TPOT** — mean time per output token after the first (inter-token latency);
* **tokens/s** — output tokens over the generation's decode time (or its whole time);
* **cost** — USD from the gateway's price table.

Each is reported as p50/p90/p95/p99 (linear interpolation, as ``numpy.percentile``), per
operation and model. **Goodput** is the share of requests that generated text and met the
SLO: TTFT <= ``slo_ttft_s`` and TPOT <= ``slo_tpot_s`` (a one-token reply has no TPOT and
needs only the TTFT), without error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragline.store.traces_base import TraceSummary

PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
METRICS: tuple[str, ...] = ("latency_s", "ttft_s", "tpot_s", "tokens_per_s")


@dataclass(frozen=True, slots=True)
class Distribution:
    """Percentiles of one metric; ``count`` samples (0: every percentile is None)."""

    count: int
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
        if not arr.size:
            return cls(0)
        p = np.percentile(arr, PERCENTILES)
        return cls(int(arr.size), *(float(x) for x in p), mean=float(arr.mean()))

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def tokens_per_s(s: TraceSummary) -> float | None:
    """Output tokens per second of decoding (after the first token when TTFT is known)."""
    if not s.output_tokens:
        return None
    if s.ttft_s is not None and s.tpot_s is not None and s.tpot_s > 0:
        return 1.0 / s.tpot_s
    return s.output_tokens / s.duration_s if s.duration_s > 0 else None


def meets_slo(s: TraceSummary, slo_ttft_s: float, slo_tpot_s: float) -> bool | None:
    """Whether a request met the SLO; None when it generated nothing (not counted)."""
    if s.ttft_s is None:
        return None
    if s.status == "error":
        return False
    return s.ttft_s <= slo_ttft_s and (s.tpot_s is None or s.tpot_s <= slo_tpot_s)


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """The metrics of one (operation, model) pair."""

    operation: str
    model: str | None
    requests: int
    errors: int
    metrics: dict[str, Distribution]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    goodput: float | None
    slo_requests: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "model": self.model,
            "requests": self.requests,
            "errors": self.errors,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "cost_per_request_usd": (
                self.cost_usd / self.requests if self.cost_usd is not None else None
            ),
            "goodput": self.goodput,
            "slo_requests": self.slo_requests,
        }


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Metrics over a window, per (operation, model), plus one row over everything."""

    since_ns: int | None
    until_ns: int | None
    slo_ttft_s: float
    slo_tpot_s: float
    rows: list[LatencyRow] = field(default_factory=list)
    total: LatencyRow | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "slo": {"ttft_s": self.slo_ttft_s, "tpot_s": self.slo_tpot_s},
            "rows": [r.to_dict() for r in self.rows],
            "total": self.total.to_dict() if self.total else None,
        }


def _row(
    operation: str, model: str | None, group: Sequence[TraceSummary], slo: tuple
) -> LatencyRow:
    verdicts = [meets_slo(s, *slo) for s in group]
    judged = [v for v in verdicts if v is not None]
    costs = [s.cost for s in group if s.cost is not None]
    return LatencyRow(
        operation=operation,
        model=model,
        requests=len(group),
        errors=sum(s.status == "error" for s in group),
        metrics={
            "latency_s": Distribution.of(s.duration_s for s in group),
            "ttft_s": Distribution.of(s.ttft_s for s in group if s.ttft_s is not None),
            "tpot_s": Distribution.of(s.tpot_s for s in group if s.tpot_s is not None),
            "tokens_per_s": Distribution.of(
                v for v in (tokens_per_s(s) for s in group) if v is not None
            ),
        },
        input_tokens=sum(s.input_tokens or 0 for s in group),
        output_tokens=sum(s.output_tokens or 0 for s in group),
        cost_usd=float(sum(costs)) if costs else None,
        goodput=sum(judged) / len(judged) if judged else None,
        slo_requests=len(judged),
    )


def latency_report(
    summaries: Sequence[TraceSummary],
    *,
    slo_ttft_s: float,
    slo_tpot_s: float,
    since_ns: int | None = None,
    until_ns: int | None = None,
) -> LatencyReport:
    """Percentiles, cost and goodput of ``summaries`` grouped by (operation, model)."""
    groups: dict[tuple[str, str | None], list[TraceSummary]] = {}
    for s in summaries:
        groups.setdefault((s.name, s.model), []).append(s)
    slo = (slo_ttft_s, slo_tpot_s)
    rows = [_row(op, model, g, slo) for (op, model), g in sorted(groups.items(), key=_order)]
    total = _row("all", None, list(summaries), slo) if summaries else None
    return LatencyReport(since_ns, until_ns, slo_ttft_s, slo_tpot_s, rows, total)


def _order(item: tuple[tuple[str, str | None], list[TraceSummary]]) -> tuple[str, str]:
    (op, model), _ = item
    return op, model or ""


__all__ = [
    "METRICS",
    "PERCENTILES",
    "Distribution",
    "LatencyReport",
    "LatencyRow",
    "latency_report",
    "meets_slo",
    "tokens_per_s",
]
