"""The tracer: nesting, context isolation, the background writer, summaries, the no-op path."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ragline.config import TraceSettings
from ragline.store.sqlite_traces import SQLiteTraceStore
from ragline.store.traces_base import TraceQuery
from ragline.testing.trace_conformance import ListSink
from ragline.trace import NOOP_SPAN, NOOP_TRACER, StoreSink, Tracer, current_span
from ragline.trace import semconv as sc
from ragline.trace.writer import BackgroundWriter


@pytest.fixture
def sink():
    return ListSink()


@pytest.fixture
def tracer(sink):
    t = Tracer(TraceSettings(flush_interval_s=0.05), [sink])
    yield t
    t.close()


def test_spans_nest_under_the_active_trace(tracer, sink):
    with tracer.trace("ask", query="q", collection="docs") as root:
        assert current_span() is root
        with tracer.span("search"), tracer.span("retrieve.bm25", depth=100) as bm25:
            bm25.set(candidates=3)
        with tracer.trace("generation") as gen:  # trace() inside a trace is a child span
            assert gen.parent_id == root.span_id
    assert current_span() is None
    assert tracer.flush()
    (t,) = sink.traces
    names = {s.name: s for s in t.spans}
    assert list(names) == ["ask", "search", "retrieve.bm25", "generation"]
    assert names["search"].parent_id == names["ask"].span_id
    assert names["retrieve.bm25"].parent_id == names["search"].span_id
    assert names["retrieve.bm25"].attributes == {"depth": 100, "candidates": 3}
    root_span = names["ask"]
    for s in t.spans[1:]:
        assert root_span.start_ns <= s.start_ns <= s.end_ns <= root_span.end_ns
    assert t.summary.query == "q" and t.summary.collection == "docs"
    assert t.summary.span_count == 4 and tracer.last_trace_id == t.trace_id
    assert len(t.trace_id) == 32 and len(root_span.span_id) == 16


def test_span_outside_a_trace_is_the_shared_noop(tracer, sink):
    with tracer.span("retrieve.bm25") as s:
        assert s is NOOP_SPAN and not s.recording
        s.set(x=1).update({"y": 2})
        s.add_signal("early_stop")
    tracer.flush()
    assert sink.traces == []


def test_disabled_tracer_records_nothing():
    with NOOP_TRACER.trace("search", query="q") as s:
        assert s is NOOP_SPAN
        with NOOP_TRACER.span("x") as c:
            assert c is NOOP_SPAN
    assert NOOP_TRACER.flush() and NOOP_TRACER.stats().submitted == 0


def test_errors_mark_the_span_and_propagate(tracer, sink):
    with pytest.raises(ValueError), tracer.trace("search"), tracer.span("fetch"):
        raise ValueError("disk on fire")
    tracer.flush()
    (t,) = sink.traces
    assert [s.status for s in t.spans] == ["error", "error"]
    assert t.spans[1].error == "ValueError: disk on fire"
    assert t.summary.status == "error"


def test_unfinished_child_is_closed_at_the_root_end(tracer, sink):
    with tracer.trace("chat"):
        tracer.start("generation")  # never ended (a stream the client abandoned)
    tracer.flush()
    (t,) = sink.traces
    assert t.spans[1].status == "unfinished" and t.spans[1].end_ns == t.spans[0].end_ns


def test_threads_and_tasks_have_their_own_current_span(tracer, sink):
    def work(i):
        with tracer.trace("search", query=f"q{i}"), tracer.span("step"):
            time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    async def task(i):
        with tracer.trace("ask", query=f"a{i}"):
            await asyncio.sleep(0.001)
            with tracer.span("step"):
                await asyncio.sleep(0.001)

    async def main():
        await asyncio.gather(*(task(i) for i in range(8)))

    asyncio.run(main())
    tracer.flush()
    assert len(sink.traces) == 16
    for t in sink.traces:
        assert len(t.spans) == 2 and t.spans[1].parent_id == t.spans[0].span_id


def test_summary_reads_generation_usage_cost_ttft_and_tpot(tracer, sink):
    with (
        tracer.trace("ask", query="q", answer="x" * 321, abstained=False) as root,
        tracer.span("generation", kind="client") as g,
    ):
        g.update(
            {
                sc.GEN_AI_OPERATION: "chat",
                sc.GEN_AI_REQUEST_MODEL: "smollm2",
                sc.GEN_AI_INPUT_TOKENS: 100,
                sc.GEN_AI_OUTPUT_TOKENS: 11,
                sc.COST: 0.002,
                sc.FIRST_TOKEN_NS: root.start_ns + 200_000_000,
            }
        )
        time.sleep(0.25)
    tracer.flush()
    s = sink.traces[0].summary
    assert (s.model, s.input_tokens, s.output_tokens) == ("smollm2", 100, 11)
    assert s.cost == pytest.approx(0.002) and s.answer_length == 321 and s.abstained is False
    assert s.ttft_s == pytest.approx(0.2, abs=1e-6)
    gen = sink.traces[0].spans[1]
    assert s.tpot_s == pytest.approx((gen.end_ns - root.start_ns - 200_000_000) / 1e9 / 10)


def test_implicit_signals_travel_with_the_trace(tracer, sink):
    with tracer.trace("chat") as root:
        root.add_signal("correction", value=1.4, trace_id="f" * 32, comment="no, I meant X")
        root.add_signal("conversation_length", value=2.0)
    tracer.flush()
    sig = sink.traces[0].signals
    assert [(f.kind, f.trace_id, f.source) for f in sig] == [
        ("correction", "f" * 32, "implicit"),
        ("conversation_length", root.trace_id, "implicit"),
    ]


def test_query_embedding_is_kept(tracer, sink):
    import numpy as np

    with tracer.trace("search", query="q") as s, tracer.span("embed") as e:
        e.set_embedding(np.ones(3, np.float32))
    tracer.flush()
    assert sink.traces[0].summary.embedding.tolist() == [1.0, 1.0, 1.0]
    assert s.trace_id == sink.traces[0].trace_id


def test_a_full_queue_drops_and_counts_and_never_blocks():
    release = threading.Event()

    class SlowSink(ListSink):
        def export(self, traces):
            release.wait(5)
            super().export(traces)

    slow = SlowSink()
    tracer = Tracer(TraceSettings(queue_size=4, batch_size=1, flush_interval_s=0.01), [slow])
    started = time.perf_counter()
    for _ in range(50):
        with tracer.trace("search"):
            pass
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5  # the sink is stuck, yet recording went on
    stats = tracer.stats()
    assert stats.dropped >= 40 and stats.submitted + stats.dropped == 50
    release.set()
    assert tracer.flush(5)
    assert len(slow.traces) == stats.submitted
    tracer.close()


def test_a_failing_sink_does_not_starve_the_others():
    class Broken(ListSink):
        def export(self, traces):
            raise OSError("collector down")

    good = ListSink()
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [Broken(), good])
    with tracer.trace("search"):
        pass
    assert tracer.flush()
    assert len(good.traces) == 1
    tracer.close()


def test_writer_counts_handler_errors_and_stops_on_close():
    calls = []

    def handle(batch):
        calls.append(list(batch))
        if batch == ["bad"]:
            raise RuntimeError("nope")

    w = BackgroundWriter(handle, maxsize=10, batch_size=1, interval_s=0.01)
    w.submit("bad")
    w.submit("good")
    assert w.flush(2)
    assert w.stats().errors == 1 and w.stats().written == 1
    w.close()
    assert not w.submit("late") and w.stats().dropped == 1


def test_store_sink_writes_to_sqlite(tmp_path):
    store = SQLiteTraceStore(tmp_path / "r.db")
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [StoreSink(lambda: store)])
    with tracer.trace("search", query="venus"), tracer.span("fetch"):
        pass
    tracer.close()
    (row,) = store.list_traces(TraceQuery())
    assert row.query == "venus" and row.span_count == 2
    store.close()


def test_periodic_retention_runs_on_the_writer(tmp_path):
    ran = threading.Event()
    tracer = Tracer(TraceSettings(flush_interval_s=0.01), [ListSink()], periodic=ran.set)
    with tracer.trace("search"):
        pass
    assert ran.wait(2)
    tracer.close()


def test_leaf_spans_are_recorded_in_one_call(tracer, sink):
    t = time.perf_counter_ns()
    tracer.leaf("fusion", t, method="rrf")  # outside a trace: nothing
    with tracer.trace("search") as root:
        t = time.perf_counter_ns()
        time.sleep(0.002)
        tracer.leaf("fusion", t, method="rrf", results=10)
        tracer.leaf("embed", time.perf_counter_ns(), "client", **{"gen_ai.operation.name": "x"})
    NOOP_TRACER.leaf("fusion", t)
    tracer.flush()
    (trace,) = sink.traces
    root_rec, fusion, embed = trace.spans
    assert fusion.parent_id == root_rec.span_id and fusion.name == "fusion"
    assert fusion.attributes == {"method": "rrf", "results": 10}
    assert fusion.duration_s >= 0.002 and root_rec.start_ns <= fusion.start_ns
    assert embed.kind == "client" and embed.attributes == {"gen_ai.operation.name": "x"}
    assert root.trace_id == trace.trace_id
    assert len({root_rec.span_id, fusion.span_id, embed.span_id}) == 3


def test_trace_ids_are_drawn_once_and_differ(tracer, sink):
    spans = []
    for _ in range(50):
        with tracer.trace("search") as span:
            pass
        spans.append(span)
    ids = [s.trace_id for s in spans]  # drawn here, after the traces ended
    assert ids == [s.trace_id for s in spans]  # stable once drawn
    assert len(set(ids)) == 50 and all(len(i) == 32 and int(i, 16) for i in ids)
    assert tracer.last_trace_id == ids[-1]
    tracer.flush()
    assert [t.trace_id for t in sink.traces] == ids
