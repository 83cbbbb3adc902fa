"""Traces, spans and feedback in the same SQLite file as the documents.

All trace SQL lives here. The trace store keeps a connection of its own, so the tracer's
background writer never waits on (nor holds up) the connection that serves searches; WAL
lets both work on one file at once. The schema belongs to ``ragline.store.migrations``: on
open, the document store is opened once to apply any pending migration.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ragline.errors import InvalidQueryError
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend
from ragline.store.traces_base import (
    FeedbackQuery,
    FeedbackRecord,
    SpanRecord,
    TraceQuery,
    TraceRecord,
    TraceSummary,
)

_MAX_PARAMS = 900
_SUMMARY_COLUMNS = (
    "trace_id, name, start_ns, duration_s, status, span_count, query, collection, model, "
    "conversation_id, turn, input_tokens, output_tokens, cost, ttft_s, tpot_s, "
    "answer_length, abstained"
)
# A span or feedback row holds these fields of its record in columns of the same names,
# then its ``attributes`` as JSON text.
_SPAN_FIELDS = ("span_id", "parent_id", "name", "kind", "start_ns", "end_ns", "status", "error")
_FEEDBACK_FIELDS = ("id", "trace_id", "kind", "source", "value", "comment", "created_ns")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _embedding_blob(vec: np.ndarray | None) -> bytes | None:
    return None if vec is None else np.asarray(vec, dtype=np.float32).tobytes()


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({_marks(len(columns))})"


_INSERT_TRACE = _insert("traces", [*_SUMMARY_COLUMNS.split(", "), "embedding"])
_INSERT_SPAN = _insert("spans", ["trace_id", "ordinal", *_SPAN_FIELDS, "attributes"])
_INSERT_FEEDBACK = _insert("feedback", [*_FEEDBACK_FIELDS, "attributes"])
_SELECT_SPANS = f"SELECT {', '.join(_SPAN_FIELDS)}, attributes FROM spans"
_SELECT_FEEDBACK = f"SELECT {', '.join(_FEEDBACK_FIELDS)}, attributes FROM feedback"
_span_values = attrgetter(*_SPAN_FIELDS)
_feedback_values = attrgetter(*_FEEDBACK_FIELDS)
R = TypeVar("R", SpanRecord, FeedbackRecord)


def _record(cls: type[R], fields: Sequence[str], row: Sequence[Any]) -> R:
    """A span or feedback record from its row: ``fields``, then the attributes' JSON."""
    return cls(**dict(zip(fields, row[:-1], strict=True)), attributes=json.loads(row[-1]))


def _summary(row: Sequence[Any], embedding: bytes | None = None) -> TraceSummary:
    s = TraceSummary(*row[:17], abstained=None if row[17] is None else bool(row[17]))
    if embedding is not None:
        s.embedding = np.frombuffer(embedding, dtype=np.float32).copy()
    return s


def _conditions(*pairs: tuple[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters for the filters that are set. ``"col IN"`` takes a
    sequence (skipped when empty); any other condition takes one value (skipped when None)."""
    where: list[str] = []
    params: list[Any] = []
    for condition, value in pairs:
        if condition.endswith(" IN"):
            if value:
                where.append(f"{condition} ({_marks(len(value))})")
                params.extend(value)
        elif value is not None:
            where.append(condition)
            params.append(value)
    return where, params


class SQLiteTraceStore(SQLiteBackend):
    """:class:`ragline.store.traces_base.TraceStore` on the store's SQLite file."""

    what = "trace store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

    # traces --------------------------------------------------------------------------------
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
        ids = [r[0] for r in rows]
        with self._tx() as conn:
            # Rewriting a trace replaces its spans (rare: look for existing ids in one query).
            for start in range(0, len(ids), _MAX_PARAMS):
                part = ids[start : start + _MAX_PARAMS]
                existing = conn.execute(
                    f"SELECT trace_id FROM traces WHERE trace_id IN ({_marks(len(part))})", part
                ).fetchall()
                conn.executemany("DELETE FROM spans WHERE trace_id = ?", existing)
            conn.executemany(_INSERT_TRACE, rows)
            conn.executemany(_INSERT_SPAN, spans)
            self._insert_feedback(conn, signals)

    def _resolve(self, trace_id: str) -> str | None:
        if self._query("SELECT 1 FROM traces WHERE trace_id = ?", (trace_id,)):
            return trace_id
        if len(trace_id) < 4 or not all(c in "0123456789abcdef" for c in trace_id):
            return None
        rows = self._query(
            "SELECT trace_id FROM traces WHERE trace_id LIKE ? LIMIT 2", (trace_id + "%",)
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
            f"SELECT {_SUMMARY_COLUMNS}, embedding FROM traces WHERE trace_id = ?", (full,)
        )
        if not rows:
            return None
        summary = _summary(rows[0][:18], rows[0][18])
        spans = [
            _record(SpanRecord, _SPAN_FIELDS, r)
            for r in self._query(f"{_SELECT_SPANS} WHERE trace_id = ? ORDER BY ordinal", (full,))
        ]
        signals = self.list_feedback(FeedbackQuery(trace_ids=(full,)))
        return TraceRecord(summary=summary, spans=spans, signals=signals)

    def list_traces(self, query: TraceQuery) -> list[TraceSummary]:
        where, params = _conditions(
            ("start_ns >= ?", query.since_ns),
            ("start_ns < ?", query.until_ns),
            ("name IN", query.names),
            ("duration_s >= ?", query.min_duration_s),
            ("conversation_id = ?", query.conversation_id),
        )
        columns = _SUMMARY_COLUMNS + (", embedding" if query.with_embeddings else ", NULL")
        sql = f"SELECT {columns} FROM traces"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ns " + ("DESC" if query.newest_first else "ASC")
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        return [_summary(r[:18], r[18]) for r in self._query(sql, params)]

    # feedback ------------------------------------------------------------------------------
    @staticmethod
    def _insert_feedback(conn: sqlite3.Connection, records: Sequence[FeedbackRecord]) -> None:
        conn.executemany(
            _INSERT_FEEDBACK, [(*_feedback_values(f), _json(f.attributes)) for f in records]
        )

    def add_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        if records:
            with self._tx() as conn:
                self._insert_feedback(conn, records)

    def list_feedback(self, query: FeedbackQuery) -> list[FeedbackRecord]:
        where, params = _conditions(
            ("created_ns >= ?", query.since_ns),
            ("created_ns < ?", query.until_ns),
            ("kind IN", query.kinds),
            ("source = ?", query.source),
        )
        batches: list[tuple[str, ...] | None] = [None]
        if query.trace_ids is not None:
            ids = list(dict.fromkeys(query.trace_ids))
            batches = [tuple(ids[i : i + _MAX_PARAMS]) for i in range(0, len(ids), _MAX_PARAMS)]
        rows: list[tuple[Any, ...]] = []
        for batch in batches:
            clauses, values = list(where), list(params)
            if batch is not None:
                clauses.append(f"trace_id IN ({_marks(len(batch))})")
                values.extend(batch)
            sql = _SELECT_FEEDBACK + (" WHERE " + " AND ".join(clauses) if clauses else "")
            rows.extend(self._query(sql, values))
        records = [_record(FeedbackRecord, _FEEDBACK_FIELDS, r) for r in rows]
        records.sort(key=lambda f: (f.created_ns, f.id))
        return records

    # retention -----------------------------------------------------------------------------
    def prune(self, before_ns: int) -> int:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM spans WHERE trace_id IN "
                "(SELECT trace_id FROM traces WHERE start_ns < ?)",
                (before_ns,),
            )
            deleted = conn.execute("DELETE FROM traces WHERE start_ns < ?", (before_ns,)).rowcount
            conn.execute("DELETE FROM feedback WHERE created_ns < ?", (before_ns,))
        return int(deleted)


__all__ = ["SQLiteTraceStore"]
