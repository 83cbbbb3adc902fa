"""Agent run checkpoints on PostgreSQL (``agent_runs``, ``agent_steps``).

The same records and rules as :mod:`ragline.store.sqlite_agent` (the rows mirror it column
for column; the schema is ``0008_agent_runs`` of :mod:`ragline.store.postgres_migrations`).
Saving a new run and pruning by the retention are one transaction.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ragline.errors import ConfigError
from ragline.store.agent_base import (
    AgentRunRecord,
    AgentRunStatus,
    AgentStepRecord,
    Retention,
    check_page,
    retention_of,
)
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_agent import (
    _RUN,
    _SET,
    _STEP,
    _dumps,
    _filters,
    _run,
    _run_values,
    _step,
    prune_statements,
)

if TYPE_CHECKING:
    import psycopg


class PostgresAgentRunStore(PostgresBackend):
    """:class:`ragline.store.agent_base.AgentRunStore` on PostgreSQL."""

    what = "agent run store"

    def __init__(self, url: str, opts: PgOptions, *, retention: Retention | None = None) -> None:
        super().__init__(url, opts)
        self.retention = retention if retention is not None else retention_of(None)

    def save_run(self, run: AgentRunRecord) -> int:
        values = _run_values(run)
        with self._tx("save an agent run") as conn:
            cur = conn.execute(
                f"INSERT INTO agent_runs ({_RUN}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET task = EXCLUDED.task, status = EXCLUDED.status, "
                "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "
                "created_ts = EXCLUDED.created_ts, owner = EXCLUDED.owner, "
                "collection = EXCLUDED.collection, state = EXCLUDED.state "
                "RETURNING (xmax = 0)",
                values,
            )
            row = cur.fetchone()
            if not (row and row[0]):  # an update of a saved run: nothing to prune
                return 0
            return self._prune(conn, self.retention, time.time())

    def claim_run(self, run: AgentRunRecord, *, expected_updated_at: str) -> bool:
        values = _run_values(run)
        return (
            self._execute(
                f"UPDATE agent_runs SET {_SET.replace('?', '%s')} "
                "WHERE id = %s AND updated_at = %s",
                (*values[1:], run.id, expected_updated_at),
            )
            == 1
        )

    def save_step(self, step: AgentStepRecord) -> None:
        with self._tx("save an agent step") as conn:
            if (
                conn.execute("SELECT 1 FROM agent_runs WHERE id = %s", (step.run_id,)).fetchone()
                is None
            ):
                raise ConfigError(
                    f"no agent run {step.run_id!r} to record a step of",
                    hint="save the run (save_run) before its steps",
                )
            conn.execute(
                f"INSERT INTO agent_steps ({_STEP}) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id, seq) DO UPDATE SET step_id = EXCLUDED.step_id, "
                "tool = EXCLUDED.tool, status = EXCLUDED.status, data = EXCLUDED.data",
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
        with self._tx("prune agent runs") as conn:
            return self._prune(
                conn, retention or self.retention, time.time() if now is None else now
            )

    @staticmethod
    def _prune(conn: psycopg.Connection, retention: Retention, now: float) -> int:
        total = 0
        for sql, params in prune_statements(retention, now, "%s"):
            total += conn.execute(sql, params).rowcount
        return total

    def load_run(self, run_id: str) -> AgentRunRecord | None:
        rows = self._query(f"SELECT {_RUN} FROM agent_runs WHERE id = %s", (run_id,))
        return _run(rows[0]) if rows else None

    def steps(self, run_id: str) -> list[AgentStepRecord]:
        rows = self._query(
            f"SELECT {_STEP} FROM agent_steps WHERE run_id = %s ORDER BY seq", (run_id,)
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
        where, params = _filters(status, owner, "%s")
        rows = self._query(
            f"SELECT {_RUN} FROM agent_runs{where} ORDER BY n DESC LIMIT %s OFFSET %s",
            (*params, limit, offset),
        )
        return [_run(r) for r in rows]


__all__ = ["PostgresAgentRunStore"]
