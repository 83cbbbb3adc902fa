"""Agent run checkpoints on the store's SQLite file (``agent_runs``, ``agent_steps``).

All agent-run SQL for SQLite lives here; the schema is ``0008_agent_runs`` of
:mod:`ragline.store.migrations`. Saving a new run and pruning by the retention are one
``BEGIN IMMEDIATE`` transaction, so the table never holds more than the retention allows
(plus the runs that are not finished yet, until they are ``keep_days`` old).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragline.errors import ConfigError
from ragline.store.agent_base import (
    FINISHED,
    AgentRunRecord,
    AgentRunStatus,
    AgentStepRecord,
    Retention,
    check_page,
    check_run_status,
    retention_of,
)
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

_RUN = "id, task, status, created_at, updated_at, created_ts, owner, collection, state"
_STEP = "run_id, seq, step_id, tool, status, data"
_SET = (
    "task = ?, status = ?, created_at = ?, updated_at = ?, created_ts = ?, owner = ?, "
    "collection = ?, state = ?"
)
_FINISHED = tuple(sorted(FINISHED))


def _dumps(value: Any) -> str:
    return json.dumps(dict(value), ensure_ascii=False, default=str)


def _run(row: Sequence[Any]) -> AgentRunRecord:
    return AgentRunRecord(
        id=row[0],
        task=row[1],
        status=row[2],
        created_at=row[3],
        updated_at=row[4],
        created_ts=float(row[5]),
        owner=row[6],
        collection=row[7],
        state=json.loads(row[8] or "{}"),
    )


def _step(row: Sequence[Any]) -> AgentStepRecord:
    return AgentStepRecord(
        run_id=row[0],
        seq=int(row[1]),
        step_id=row[2],
        tool=row[3],
        status=row[4],
        data=json.loads(row[5] or "{}"),
    )


def _run_values(run: AgentRunRecord) -> tuple[Any, ...]:
    check_run_status(run.status)
    return (
        run.id,
        run.task,
        run.status,
        run.created_at,
        run.updated_at,
        float(run.created_ts),
        run.owner,
        run.collection,
        _dumps(run.state),
    )


def prune_statements(
    retention: Retention, now: float, mark: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """The DELETE statements of a retention (``mark``: the driver's placeholder)."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    if retention.keep_days is not None:
        out.append(
            (
                f"DELETE FROM agent_runs WHERE created_ts < {mark}",
                (now - retention.keep_days * 86400.0,),
            )
        )
    if retention.keep_runs is not None:
        marks = ", ".join([mark] * len(_FINISHED))
        out.append(
            (
                f"DELETE FROM agent_runs WHERE status IN ({marks}) AND n NOT IN "
                f"(SELECT n FROM agent_runs WHERE status IN ({marks}) "
                f"ORDER BY n DESC LIMIT {mark})",
                (*_FINISHED, *_FINISHED, int(retention.keep_runs)),
            )
        )
    return out


class SQLiteAgentRunStore(SQLiteBackend):
    """:class:`ragline.store.agent_base.AgentRunStore` on the store's SQLite file."""

    what = "agent run store"

    def __init__(
        self, path: Path | str, *, retention: Retention | None = None, timeout_s: float = 30.0
    ) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)
        self.retention = retention if retention is not None else retention_of(None)

    def save_run(self, run: AgentRunRecord) -> int:
        values = _run_values(run)
        with self._tx() as conn:
            updated = conn.execute(
                f"UPDATE agent_runs SET {_SET} WHERE id = ?", (*values[1:], run.id)
            ).rowcount
            if updated:
                return 0
            conn.execute(
                f"INSERT INTO agent_runs ({_RUN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values
            )
            return self._prune(conn, self.retention, time.time())

    def claim_run(self, run: AgentRunRecord, *, expected_updated_at: str) -> bool:
        values = _run_values(run)
        with self._tx() as conn:
            return (
                conn.execute(
                    f"UPDATE agent_runs SET {_SET} WHERE id = ? AND updated_at = ?",
                    (*values[1:], run.id, expected_updated_at),
                ).rowcount
                == 1
            )

    def save_step(self, step: AgentStepRecord) -> None:
        with self._tx() as conn:
            if (
                conn.execute("SELECT 1 FROM agent_runs WHERE id = ?", (step.run_id,)).fetchone()
                is None
            ):
                raise ConfigError(
                    f"no agent run {step.run_id!r} to record a step of",
                    hint="save the run (save_run) before its steps",
                )
            conn.execute(
                f"INSERT OR REPLACE INTO agent_steps ({_STEP}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    step.run_id,
                    int(step.seq),
                    step.step_id,
                    step.tool,
                    step.status,
                    _dumps(step.data),
                ),
            )

    def prune(self, retention: Retention | None = None, *, now: float | None = None) -> int:
        with self._tx() as conn:
            return self._prune(
                conn, retention or self.retention, time.time() if now is None else now
            )

    @staticmethod
    def _prune(conn: sqlite3.Connection, retention: Retention, now: float) -> int:
        return sum(
            conn.execute(sql, params).rowcount
            for sql, params in prune_statements(retention, now, "?")
        )

    def load_run(self, run_id: str) -> AgentRunRecord | None:
        rows = self._query(f"SELECT {_RUN} FROM agent_runs WHERE id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def steps(self, run_id: str) -> list[AgentStepRecord]:
        rows = self._query(
            f"SELECT {_STEP} FROM agent_steps WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [_step(r) for r in rows]

    def list_runs(
        self,
        *,
        status: AgentRunStatus | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AgentRunRecord]:
        check_page(limit, offset)
        where, params = _filters(status, owner, "?")
        rows = self._query(
            f"SELECT {_RUN} FROM agent_runs{where} ORDER BY n DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_run(r) for r in rows]


def _filters(status: str | None, owner: str | None, mark: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if check_run_status(status) is not None:
        clauses.append(f"status = {mark}")
        params.append(status)
    if owner is not None:
        clauses.append(f"owner = {mark}")
        params.append(owner)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


__all__ = ["SQLiteAgentRunStore", "prune_statements"]
