"""Latency percentiles, goodput, cost; the Prometheus exposition and its ASGI app; windows."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ragline.config import TraceSettings
from ragline.errors import InvalidQueryError
from ragline.store.traces_base import TraceSummary
from ragline.trace import Tracer
from ragline.trace import semconv as sc
from ragline.trace.metrics import Distribution, latency_report, meets_slo, tokens_per_s
from ragline.trace.prometheus import CONTENT_TYPE, LiveMetrics
from ragline.trace.windows import parse_point, parse_window

NOW = time.time_ns()


def gen(i, *, ttft, tpot, out=21, model="smollm2", name="ask", status="ok", cost=0.001):
    duration = ttft + (tpot or 0) * (out - 1) + 0.01
    return TraceSummary(
        trace_id=f"{i:032x}",
        name=name,
        start_ns=NOW - 1000 + i,
        duration_s=duration,
        status=status,
        model=model,
        input_tokens=100,
        output_tokens=out,
        cost=cost,
        ttft_s=ttft,
        tpot_s=tpot,
    )


def test_distribution_matches_numpy_linear_percentiles():
    values = list(np.random.default_rng(1).exponential(0.2, size=257))
    d = Distribution.of(values)
    assert d.count == 257
    for q in (50, 90, 95, 99):
        assert getattr(d, f"p{q}") == pytest.approx(np.percentile(values, q))
    assert Distribution.of([]).p50 is None


def test_goodput_tokens_per_second_and_cost():
    rows = [gen(i, ttft=0.2, tpot=0.05) for i in range(6)]
    rows += [gen(10, ttft=2.0, tpot=0.05), gen(11, ttft=0.2, tpot=0.5)]  # misses each SLO
    rows += [gen(12, ttft=0.2, tpot=0.05, status="error")]  # an error never meets it
    rows += [gen(13, ttft=0.3, tpot=None, out=1)]  # one token: TTFT alone decides
    search = TraceSummary("f" * 32, "search", NOW, 0.012)
    report = latency_report([*rows, search], slo_ttft_s=1.0, slo_tpot_s=0.1)
    ask = next(r for r in report.rows if r.operation == "ask")
    assert ask.requests == 10 and ask.errors == 1 and ask.slo_requests == 10
    assert ask.goodput == pytest.approx(7 / 10)
    assert ask.cost_usd == pytest.approx(0.010) and ask.output_tokens == 9 * 21 + 1
    assert ask.metrics["ttft_s"].p50 == pytest.approx(0.2)
    assert ask.metrics["tokens_per_s"].p50 == pytest.approx(20.0)
    s = next(r for r in report.rows if r.operation == "search")
    assert s.goodput is None and s.metrics["ttft_s"].count == 0
    assert s.metrics["latency_s"].p99 == pytest.approx(0.012)
    assert report.total is not None and report.total.requests == 11
    d = report.to_dict()
    assert d["rows"][0]["metrics"]["latency_s"]["p95"] is not None
    assert meets_slo(search, 1, 1) is None and tokens_per_s(search) is None


def _families(text: str):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_exposition_parses_and_carries_the_numbers():
    m = LiveMetrics(slo_ttft_s=1.0, slo_tpot_s=0.1, window_s=3600)
    for i in range(9):
        m.observe(gen(i, ttft=0.2, tpot=0.05))
    m.observe(gen(9, ttft=3.0, tpot=0.05))
    m.observe(TraceSummary("e" * 32, "search", time.time_ns(), 0.02))
    fam = _families(m.render().decode())
    requests = {
        tuple(sorted(s.labels.items())): s.value
        for s in fam["ragline_requests"].samples
        if s.name == "ragline_requests_total"
    }
    assert requests[(("model", "smollm2"), ("operation", "ask"), ("status", "ok"))] == 10
    tokens = {
        s.labels["type"]: s.value
        for s in fam["ragline_tokens"].samples
        if s.name == "ragline_tokens_total"
    }
    assert tokens == {"input": 1000, "output": 210}
    (good,) = fam["ragline_goodput_ratio"].samples
    assert good.value == pytest.approx(0.9) and good.labels == {"model": "smollm2"}
    q = {
        (s.labels["operation"], s.labels["quantile"]): s.value
        for s in fam["ragline_window_ttft_seconds"].samples
        if "quantile" in s.labels
    }
    assert q[("ask", "0.5")] == pytest.approx(0.2)
    assert q[("ask", "0.99")] == pytest.approx(np.percentile([0.2] * 9 + [3.0], 99))
    hist = fam["ragline_request_duration_seconds"]
    count = [
        s for s in hist.samples if s.name.endswith("_count") and s.labels["operation"] == "search"
    ]
    assert count[0].value == 1
    cost = [s for s in fam["ragline_cost_usd"].samples if s.name == "ragline_cost_usd_total"]
    assert cost[0].value == pytest.approx(0.010)


def test_the_window_forgets_old_traces():
    m = LiveMetrics(window_s=1)
    m.observe(TraceSummary("a" * 32, "search", time.time_ns() - 5 * 10**9, 0.1))
    assert m.recent() == []
    assert "ragline_window_latency_seconds_count" not in m.render().decode()


def test_asgi_app_serves_metrics():
    tracer = Tracer(TraceSettings(flush_interval_s=0.01))
    metrics = tracer.live_metrics()
    assert tracer.live_metrics() is metrics
    with tracer.trace("ask") as root, tracer.span("generation") as g:
        g.update(
            {
                sc.GEN_AI_OPERATION: "chat",
                sc.GEN_AI_REQUEST_MODEL: "m",
                sc.GEN_AI_OUTPUT_TOKENS: 5,
                sc.FIRST_TOKEN_NS: root.start_ns + 1000,
            }
        )
    assert tracer.flush()

    async def get(method="GET"):
        transport = httpx.ASGITransport(app=metrics.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, "/metrics")

    r = asyncio.run(get())
    assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
    fam = _families(r.text)
    assert fam["ragline_traces_dropped"].samples[0].value == 0
    assert any(s.labels.get("model") == "m" for s in fam["ragline_requests"].samples)
    assert asyncio.run(get("POST")).status_code == 405
    tracer.close()


def test_windows():
    now = 1_800_000_000 * 10**9
    assert parse_point("now", now_ns=now) == now
    assert parse_point("90s", now_ns=now) == now - 90 * 10**9
    assert parse_point("2h", now_ns=now) == now - 7200 * 10**9
    assert parse_point("2027-01-01", now_ns=now) == 1798761600 * 10**9
    w = parse_window("30d..7d", now_ns=now)
    assert (now - w.since_ns) // 86400e9 == 30 and (now - w.until_ns) // 86400e9 == 7
    assert parse_window("7d", now_ns=now).until_ns == now
    assert "UTC" in str(w)
    with pytest.raises(InvalidQueryError, match="not a time"):
        parse_point("yesterday-ish")
    with pytest.raises(InvalidQueryError, match="empty"):
        parse_window("7d..30d", now_ns=now)
