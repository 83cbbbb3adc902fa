"""Traces, spans and feedback on PostgreSQL (the tables of ``0002_traces_feedback``).

Rows are the SQLite store's, column for column; the row-to-record helpers are shared with
:mod:`ragline.store.sqlite_traces`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragline.errors import InvalidQueryError
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_traces import (
    _FEEDBACK_FIELDS,
    _SPAN_FIELDS,
    _SUMMARY_COLUMNS,
    _embedding_blob,
    _feedback_values,
    _json,
    _record,
    _span_values,
    _summary,
)
from ragline.store.traces_base import (
    FeedbackQuery,
    FeedbackRecord,
    SpanRecord,
    TraceQuery,
    TraceRecord,
    TraceSummary,
)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` every other column (SQLite's OR REPLACE)."""
    marks = ", ".join(["%s"] * len(columns))
    rest = [c for c in columns if c not in key]
    updates = ", ".join(f"{c} = excluded.{c}" for c in rest)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_INSERT_TRACE = _upsert("traces", [*_SUMMARY_COLUMNS.split(", "), "embedding"], ["trace_id"])
_INSERT_SPAN = _upsert(
    "spans", ["trace_id", "ordinal", *_SPAN_FIELDS, "attributes"], ["trace_id", "span_id"]
)
_INSERT_FEEDBACK = _upsert("feedback", [*_FEEDBACK_FIELDS, "attributes"], ["id"])
_SELECT_SPANS = f"SELECT {', '.join(_SPAN_FIELDS)}, attributes FROM spans"
_SELECT_FEEDBACK = f"SELECT {', '.join(_FEEDBACK_FIELDS)}, attributes FROM feedback"


def _conditions(*pairs: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL conditions for the filters that are set: ``"col IN"`` takes a sequence (skipped
    when empty, matched with ``= ANY``), any other condition one value (skipped when None)."""
    where: list[str] = []
    params: list[Any] = []
    for condition, value in pairs:
        if condition.endswith(" IN"):
            if value:
                where.append(f"{condition[:-3]} = ANY(%s::text[])")
                params.append(list(value))
        elif value is not None:
            where.append(condition)
            params.append(value)
    return where, params


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class PostgresTraceStore(PostgresBackend):
    """:class:`ragline.store.traces_base.TraceStore` on PostgreSQL."""

    what = "trace store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

    def write_traces(self, traces: Sequence[TraceRecord]) -> None:
        if not traces:
            return
        rows, spans, signals = [], [], []
        for t in traces:
            s = t.summary
            rows.append(
                (
                    s.trace_id,
                    s.name,
                    s.start_ns,
                    s.duration_s,
                    s.status,
                    s.span_count,
                    s.query,
                    s.collection,
                    s.model,
                    s.conversation_id,
                    s.turn,
                    s.input_tokens,
                    s.output_tokens,
                    s.cost,
                    s.ttft_s,
                    s.tpot_s,
                    s.answer_length,
                    None if s.abstained is None else int(s.abstained),
                    _embedding_blob(s.embedding),
                )
            )
            spans.extend(
                (s.trace_id, i, *_span_values(sp), _json(sp.attributes))
                for i, sp in enumerate(t.spans)
            )
            signals.extend(t.signals)
        with self._tx() as conn, conn.cursor() as cur:
            # Rewriting a trace replaces its spans.
            cur.execute(
                "DELETE FROM spans WHERE trace_id = ANY(%s::text[])", ([r[0] for r in rows],)
            )
            cur.executemany(_INSERT_TRACE, rows)
            if spans:
                cur.executemany(_INSERT_SPAN, spans)
            self._insert_feedback(cur, signals)

    def _resolve(self, trace_id: str) -> str | None:
        if self._query("SELECT 1 FROM traces WHERE trace_id = %s", (trace_id,)):
            return trace_id
        if len(trace_id) < 4 or not all(c in "0123456789abcdef" for c in trace_id):
            return None
        rows = self._query(
            "SELECT trace_id FROM traces WHERE trace_id LIKE %s LIMIT 2", (trace_id + "%",)
        )
        if len(rows) > 1:
            raise InvalidQueryError(
                f"trace id prefix {trace_id!r} is ambiguous", hint="give more characters"
            )
        return rows[0][0] if rows else None

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        full = self._resolve(trace_id.strip().lower())
        if full is None:
            return None
        rows = self._query(
            f"SELECT {_SUMMARY_COLUMNS}, embedding FROM traces WHERE trace_id = %s", (full,)
        )
        if not rows:
            return None
        summary = _summary(rows[0][:18], _bytes(rows[0][18]))
        spans = [
            _record(SpanRecord, _SPAN_FIELDS, r)
            for r in self._query(f"{_SELECT_SPANS} WHERE trace_id = %s ORDER BY ordinal", (full,))
        ]
        signals = self.list_feedback(FeedbackQuery(trace_ids=(full,)))
        return TraceRecord(summary=summary, spans=spans, signals=signals)

    def list_traces(self, query: TraceQuery) -> list[TraceSummary]:
        where, params = _conditions(
            ("start_ns >= %s", query.since_ns),
            ("start_ns < %s", query.until_ns),
            ("name IN", query.names),
            ("duration_s >= %s", query.min_duration_s),
            ("conversation_id = %s", query.conversation_id),
        )
        columns = _SUMMARY_COLUMNS + (", embedding" if query.with_embeddings else ", NULL")
        sql = f"SELECT {columns} FROM traces"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ns " + ("DESC" if query.newest_first else "ASC")
        if query.limit is not None:
            sql += " LIMIT %s"
            params.append(query.limit)
        return [_summary(r[:18], _bytes(r[18])) for r in self._query(sql, params)]

    @staticmethod
    def _insert_feedback(cur: Any, records: Sequence[FeedbackRecord]) -> None:
        if records:
            cur.executemany(
                _INSERT_FEEDBACK, [(*_feedback_values(f), _json(f.attributes)) for f in records]
            )

    def add_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        if records:
            with self._tx() as conn, conn.cursor() as cur:
                self._insert_feedback(cur, records)

    def list_feedback(self, query: FeedbackQuery) -> list[FeedbackRecord]:
        where, params = _conditions(
            ("created_ns >= %s", query.since_ns),
            ("created_ns < %s", query.until_ns),
            ("kind IN", query.kinds),
            ("source = %s", query.source),
        )
        if query.trace_ids is not None:
            if not query.trace_ids:
                return []
            where.append("trace_id = ANY(%s::text[])")
            params.append(list(dict.fromkeys(query.trace_ids)))
        sql = _SELECT_FEEDBACK + (" WHERE " + " AND ".join(where) if where else "")
        records = [_record(FeedbackRecord, _FEEDBACK_FIELDS, r) for r in self._query(sql, params)]
        records.sort(key=lambda f: (f.created_ns, f.id))
        return records

    def prune(self, before_ns: int) -> int:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM spans WHERE trace_id IN "
                "(SELECT trace_id FROM traces WHERE start_ns < %s)",
                (before_ns,),
            )
            deleted = conn.execute("DELETE FROM traces WHERE start_ns < %s", (before_ns,)).rowcount
            conn.execute("DELETE FROM feedback WHERE created_ns < %s", (before_ns,))
        return int(deleted)


__all__ = ["PostgresTraceStore"]
