"""The conformance suite of the :class:`ragline.store.traces_base.TraceStore` Protocol.

A backend's tests inherit :class:`TraceStoreConformance` and supply a ``traces`` fixture that
yields a fresh, empty trace store::

    class TestMyTraceStore(TraceStoreConformance):
        @pytest.fixture
        def traces(self, tmp_path):
            s = MyTraceStore(...)
            yield s
            s.close()
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ragline.errors import InvalidQueryError
from ragline.store.traces_base import (
    FeedbackQuery,
    FeedbackRecord,
    SpanRecord,
    TraceQuery,
    TraceRecord,
    TraceStore,
    TraceSummary,
)

T0 = 1_800_000_000 * 10**9  # a fixed epoch in ns (2027-01-15)
SECOND = 10**9


def make_trace(
    trace_id: str,
    *,
    name: str = "search",
    start_ns: int = T0,
    duration_s: float = 0.01,
    query: str | None = "how hot is venus",
    conversation_id: str | None = None,
    embedding: np.ndarray | None = None,
    signals: list[FeedbackRecord] | None = None,
    children: int = 2,
    **summary: object,
) -> TraceRecord:
    """A trace with a root and ``children`` child spans, ids derived from ``trace_id``."""
    end = start_ns + int(duration_s * 1e9)
    root_id = trace_id[:16]
    spans = [
        SpanRecord(
            root_id, None, name, start_ns, end, attributes={"query": query, "k": 5, "x": [1, 2]}
        )
    ]
    for i in range(children):
        spans.append(
            SpanRecord(
                f"{i + 1:016x}",
                root_id,
                f"step{i}",
                start_ns + i,
                end - i,
                kind="client" if i else "internal",
                status="error" if i == 1 else "ok",
                error="ValueError: boom" if i == 1 else None,
                attributes={"gen_ai.usage.input_tokens": 7, "nested": {"a": [1, "b"]}},
            )
        )
    s = TraceSummary(
        trace_id=trace_id,
        name=name,
        start_ns=start_ns,
        duration_s=duration_s,
        span_count=len(spans),
        query=query,
        conversation_id=conversation_id,
        embedding=embedding,
        **summary,  # type: ignore[arg-type]
    )
    return TraceRecord(summary=s, spans=spans, signals=list(signals or []))


def tid(n: int) -> str:
    return f"{n:032x}"


class TraceStoreConformance:
    """Tests every :class:`TraceStore` backend must pass."""

    @pytest.fixture
    def traces(self) -> TraceStore:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_trace_store(self, traces: TraceStore) -> None:
        assert isinstance(traces, TraceStore)

    def test_round_trip_keeps_spans_summary_embedding_and_signals(self, traces):
        vec = np.linspace(-1, 1, 8, dtype=np.float32)
        signal = FeedbackRecord(tid(1), "early_stop", 3.0, source="implicit")
        t = make_trace(
            tid(1),
            embedding=vec,
            signals=[signal],
            model="smollm2",
            input_tokens=12,
            output_tokens=30,
            cost=0.0012,
            ttft_s=0.25,
            tpot_s=0.03,
            answer_length=120,
            abstained=False,
            turn=2,
            collection="docs",
        )
        traces.write_traces([t])
        got = traces.get_trace(tid(1))
        assert got is not None
        assert [s.span_id for s in got.spans] == [s.span_id for s in t.spans]
        assert got.root.parent_id is None and got.spans[1].parent_id == got.root.span_id
        assert got.spans[2].status == "error" and got.spans[2].error == "ValueError: boom"
        assert got.spans[1].kind == "internal" and got.spans[2].kind == "client"
        assert got.spans[1].attributes == {
            "gen_ai.usage.input_tokens": 7,
            "nested": {"a": [1, "b"]},
        }
        assert got.root.attributes["x"] == [1, 2]
        s = got.summary
        assert (s.model, s.input_tokens, s.output_tokens, s.turn) == ("smollm2", 12, 30, 2)
        assert s.cost == pytest.approx(0.0012) and s.ttft_s == pytest.approx(0.25)
        assert s.abstained is False and s.answer_length == 120 and s.collection == "docs"
        np.testing.assert_array_equal(s.embedding, vec)
        assert [f.kind for f in got.signals] == ["early_stop"]
        assert got.signals[0].source == "implicit" and got.signals[0].value == 3.0

    def test_unknown_trace_is_none(self, traces):
        assert traces.get_trace(tid(404)) is None
        assert traces.get_trace("zz") is None

    def test_lookup_by_unique_prefix(self, traces):
        a, b = "abcd" + "0" * 28, "abce" + "0" * 28
        traces.write_traces([make_trace(a), make_trace(b)])
        assert traces.get_trace("abcd").trace_id == a  # type: ignore[union-attr]
        assert traces.get_trace("ABCE").trace_id == b  # type: ignore[union-attr]
        assert traces.get_trace("abc") is None  # shorter than 4: exact ids only
        assert traces.get_trace("abcf") is None
        assert traces.get_trace("ab%_") is None  # not an id: no pattern matching

    def test_ambiguous_prefix_raises(self, traces):
        traces.write_traces([make_trace("abcd1" + "0" * 27), make_trace("abcd2" + "0" * 27)])
        with pytest.raises(InvalidQueryError, match="ambiguous"):
            traces.get_trace("abcd")

    def test_rewrite_replaces(self, traces):
        traces.write_traces([make_trace(tid(1), children=3)])
        traces.write_traces([make_trace(tid(1), children=1, query="new")])
        got = traces.get_trace(tid(1))
        assert got is not None and len(got.spans) == 2 and got.summary.query == "new"
        assert len(traces.list_traces(TraceQuery())) == 1

    def test_list_filters_and_order(self, traces):
        traces.write_traces(
            [
                make_trace(tid(1), start_ns=T0, duration_s=0.5),
                make_trace(tid(2), start_ns=T0 + SECOND, name="ask", duration_s=2.0),
                make_trace(tid(3), start_ns=T0 + 2 * SECOND, conversation_id="c1"),
                make_trace(tid(4), start_ns=T0 + 3 * SECOND, embedding=np.ones(4, np.float32)),
            ]
        )
        ids = lambda q: [s.trace_id for s in traces.list_traces(q)]  # noqa: E731
        assert ids(TraceQuery()) == [tid(4), tid(3), tid(2), tid(1)]
        assert ids(TraceQuery(newest_first=False, limit=2)) == [tid(1), tid(2)]
        assert ids(TraceQuery(since_ns=T0 + SECOND, until_ns=T0 + 3 * SECOND)) == [tid(3), tid(2)]
        assert ids(TraceQuery(names=("ask",))) == [tid(2)]
        assert ids(TraceQuery(min_duration_s=1.0)) == [tid(2)]
        assert ids(TraceQuery(conversation_id="c1")) == [tid(3)]
        assert ids(TraceQuery(limit=None)) == [tid(4), tid(3), tid(2), tid(1)]
        plain = traces.list_traces(TraceQuery(limit=1))[0]
        assert plain.embedding is None  # vectors only when asked for
        with_vec = traces.list_traces(TraceQuery(limit=1, with_embeddings=True))[0]
        np.testing.assert_array_equal(with_vec.embedding, np.ones(4, np.float32))

    def test_feedback_queries(self, traces):
        traces.write_traces([make_trace(tid(1)), make_trace(tid(2))])
        records = [
            FeedbackRecord(tid(1), "thumbs", -1.0, created_ns=T0 + 1),
            FeedbackRecord(tid(1), "comment", None, "cites the wrong year", created_ns=T0 + 2),
            FeedbackRecord(tid(2), "rating", 5.0, created_ns=T0 + 3),
            FeedbackRecord(
                tid(2),
                "correction",
                1.2,
                source="implicit",
                created_ns=T0 + 4,
                attributes={"cues": ["i_meant"]},
            ),
        ]
        traces.add_feedback(records)
        kinds = lambda q: [f.kind for f in traces.list_feedback(q)]  # noqa: E731
        assert kinds(FeedbackQuery()) == ["thumbs", "comment", "rating", "correction"]
        assert kinds(FeedbackQuery(trace_ids=(tid(1),))) == ["thumbs", "comment"]
        assert kinds(FeedbackQuery(kinds=("rating", "thumbs"))) == ["thumbs", "rating"]
        assert kinds(FeedbackQuery(source="implicit")) == ["correction"]
        assert kinds(FeedbackQuery(since_ns=T0 + 2, until_ns=T0 + 4)) == ["comment", "rating"]
        assert kinds(FeedbackQuery(trace_ids=())) == []
        got = traces.list_feedback(FeedbackQuery(kinds=("correction",)))[0]
        assert got.attributes == {"cues": ["i_meant"]} and got.value == pytest.approx(1.2)
        comment = traces.list_feedback(FeedbackQuery(kinds=("comment",)))[0]
        assert comment.comment == "cites the wrong year" and comment.source == "explicit"

    def test_many_trace_ids_in_a_feedback_query(self, traces):
        ids = [tid(i) for i in range(1500)]
        traces.add_feedback([FeedbackRecord(i, "thumbs", 1.0) for i in ids])
        assert len(traces.list_feedback(FeedbackQuery(trace_ids=tuple(ids)))) == 1500

    def test_prune_deletes_old_traces_spans_and_feedback(self, traces):
        traces.write_traces(
            [
                make_trace(
                    tid(1), start_ns=T0, signals=[FeedbackRecord(tid(1), "x", created_ns=T0)]
                ),
                make_trace(tid(2), start_ns=T0 + 10 * SECOND),
            ]
        )
        assert traces.prune(T0 + 5 * SECOND) == 1
        assert traces.get_trace(tid(1)) is None
        assert traces.get_trace(tid(2)) is not None
        assert traces.list_feedback(FeedbackQuery(trace_ids=(tid(1),))) == []
        assert traces.prune(T0) == 0


__all__ = ["SECOND", "T0", "TraceStoreConformance", "make_trace", "tid"]


class ListSink:
    """A :class:`ragline.trace.tracer.TraceSink` that keeps every exported trace in a list."""

    def __init__(self) -> None:
        self.traces: list[TraceRecord] = []

    def export(self, traces: Sequence[TraceRecord]) -> None:
        self.traces.extend(traces)

    def close(self) -> None:
        pass
