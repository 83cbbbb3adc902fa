"""Evaluation runs and their item results on PostgreSQL (the tables of ``0004_eval_runs``).

Rows are the SQLite store's, column for column; the row-to-record helpers are shared with
:mod:`ragline.store.sqlite_evals`. Each ``save_items`` call is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragline.errors import InvalidQueryError, StoreError
from ragline.store.evals_base import EvalRun, ItemResult
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_evals import _ITEM_COLUMNS, _RUN_COLUMNS, _item, _json, _run


class PostgresEvalStore(PostgresBackend):
    """:class:`ragline.store.evals_base.EvalStore` on PostgreSQL."""

    what = "evaluation store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

    def __enter__(self) -> PostgresEvalStore:
        return self

    def create_run(self, run: EvalRun) -> None:
        import psycopg

        try:
            with self.pool.connection() as conn:
                conn.execute(
                    f"INSERT INTO eval_runs ({_RUN_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        run.run_id,
                        run.name,
                        run.spec_hash,
                        _json(run.config),
                        _json(run.prompts),
                        _json(run.models),
                        run.status,
                        run.created_at,
                        run.finished_at,
                        run.items_total,
                        _json(run.summary),
                    ),
                )
        except psycopg.errors.UniqueViolation as exc:
            raise StoreError(
                f"evaluation run {run.run_id!r} already exists",
                hint="pick another run id, or resume it",
            ) from exc
        except psycopg.Error as exc:
            from ragline.store.postgres_base import translate

            raise translate(exc, self.url, "create an evaluation run") from exc

    def _resolve(self, run_id: str) -> str | None:
        if self._query("SELECT 1 FROM eval_runs WHERE run_id = %s", (run_id,)):
            return run_id
        if not run_id:
            return None
        rows = self._query(
            "SELECT run_id FROM eval_runs WHERE left(run_id, %s) = %s LIMIT 2",
            (len(run_id), run_id),
        )
        if len(rows) > 1:
            raise InvalidQueryError(
                f"run id prefix {run_id!r} is ambiguous",
                hint="give more characters; `ragline eval runs` lists them",
            )
        return rows[0][0] if rows else None

    def get_run(self, run_id: str) -> EvalRun | None:
        full = self._resolve(run_id.strip())
        if full is None:
            return None
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM eval_runs WHERE run_id = %s", (full,))
        return _run(rows[0]) if rows else None

    def list_runs(self, *, name: str | None = None, limit: int | None = 50) -> list[EvalRun]:
        sql = f"SELECT {_RUN_COLUMNS} FROM eval_runs"
        params: list[Any] = []
        if name is not None:
            sql += " WHERE name = %s"
            params.append(name)
        sql += " ORDER BY created_at DESC, seq DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(int(limit))
        return [_run(r) for r in self._query(sql, params)]

    def update_run(self, run: EvalRun) -> None:
        count = self._execute(
            "UPDATE eval_runs SET status = %s, finished_at = %s, summary = %s, "
            "items_total = %s, prompts = %s, models = %s WHERE run_id = %s",
            (
                run.status,
                run.finished_at,
                _json(run.summary),
                run.items_total,
                _json(run.prompts),
                _json(run.models),
                run.run_id,
            ),
        )
        if count == 0:
            raise StoreError(f"evaluation run {run.run_id!r} does not exist")

    def delete_run(self, run_id: str) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM eval_items WHERE run_id = %s", (run_id,))
            return conn.execute("DELETE FROM eval_runs WHERE run_id = %s", (run_id,)).rowcount > 0

    def save_items(self, run_id: str, items: Sequence[ItemResult]) -> None:
        if not items:
            return
        columns = _ITEM_COLUMNS.split(", ")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "item_id")
        missing = False
        with self._tx() as conn:
            if not conn.execute(
                "SELECT 1 FROM eval_runs WHERE run_id = %s FOR SHARE", (run_id,)
            ).fetchone():
                missing = True
            else:
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO eval_items (run_id, {_ITEM_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        f"ON CONFLICT (run_id, item_id) DO UPDATE SET {updates}",
                        [
                            (
                                run_id,
                                it.item_id,
                                it.ordinal,
                                _json(it.input),
                                it.output,
                                _json(it.retrieved),
                                _json(it.scores),
                                _json(it.details),
                                it.error,
                                float(it.duration_s),
                                it.created_at,
                            )
                            for it in items
                        ],
                    )
        if missing:
            raise StoreError(f"evaluation run {run_id!r} does not exist")

    def get_items(self, run_id: str) -> list[ItemResult]:
        rows = self._query(
            f"SELECT {_ITEM_COLUMNS} FROM eval_items WHERE run_id = %s "
            'ORDER BY ordinal, item_id COLLATE "C"',
            (run_id,),
        )
        return [_item(r) for r in rows]

    def completed_item_ids(self, run_id: str) -> set[str]:
        rows = self._query(
            "SELECT item_id FROM eval_items WHERE run_id = %s AND error IS NULL", (run_id,)
        )
        return {r[0] for r in rows}


__all__ = ["PostgresEvalStore"]
