"""Evaluation runs and their item results in the same SQLite file as the documents.

All evaluation SQL lives here. Like the trace store, this store keeps a connection of its own
(WAL lets it write while searches read); the schema belongs to ``ragline.store.migrations``
(``0004_eval_runs``): on open, the document store is opened once to apply pending migrations.
Item results are written as they finish, each call one transaction, so a killed run loses at
most the items in flight.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragline.errors import InvalidQueryError, StoreError
from ragline.store.evals_base import EvalRun, ItemResult
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

_RUN_COLUMNS = (
    "run_id, name, spec_hash, config, prompts, models, status, created_at, finished_at, "
    "items_total, summary"
)
_ITEM_COLUMNS = (
    "item_id, ordinal, input, output, retrieved, scores, details, error, duration_s, created_at"
)


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _run(row: Sequence[Any]) -> EvalRun:
    return EvalRun(
        run_id=row[0],
        name=row[1],
        spec_hash=row[2],
        config=json.loads(row[3]),
        prompts=json.loads(row[4]),
        models=json.loads(row[5]),
        status=row[6],
        created_at=row[7],
        finished_at=row[8],
        items_total=int(row[9]),
        summary=json.loads(row[10]),
    )


def _item(row: Sequence[Any]) -> ItemResult:
    return ItemResult(
        item_id=row[0],
        ordinal=int(row[1]),
        input=json.loads(row[2]),
        output=row[3],
        retrieved=json.loads(row[4]),
        scores=json.loads(row[5]),
        details=json.loads(row[6]),
        error=row[7],
        duration_s=float(row[8]),
        created_at=row[9],
    )


class SQLiteEvalStore(SQLiteBackend):
    """:class:`ragline.store.evals_base.EvalStore` on the store's SQLite file."""

    what = "evaluation store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

    def __enter__(self) -> SQLiteEvalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs ----------------------------------------------------------------------------------
    def create_run(self, run: EvalRun) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    f"INSERT INTO eval_runs ({_RUN_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise StoreError(
                    f"evaluation run {run.run_id!r} already exists",
                    hint="pick another run id, or resume it",
                ) from exc
            raise

    def _resolve(self, run_id: str) -> str | None:
        if self._query("SELECT 1 FROM eval_runs WHERE run_id = ?", (run_id,)):
            return run_id
        if not run_id:
            return None
        rows = self._query(
            "SELECT run_id FROM eval_runs WHERE substr(run_id, 1, ?) = ? LIMIT 2",
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
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM eval_runs WHERE run_id = ?", (full,))
        return _run(rows[0]) if rows else None

    def list_runs(self, *, name: str | None = None, limit: int | None = 50) -> list[EvalRun]:
        sql = f"SELECT {_RUN_COLUMNS} FROM eval_runs"
        params: list[Any] = []
        if name is not None:
            sql += " WHERE name = ?"
            params.append(name)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_run(r) for r in self._query(sql, params)]

    def update_run(self, run: EvalRun) -> None:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE eval_runs SET status = ?, finished_at = ?, summary = ?, items_total = ?, "
                "prompts = ?, models = ? WHERE run_id = ?",
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
            if cur.rowcount == 0:
                raise StoreError(f"evaluation run {run.run_id!r} does not exist")

    def delete_run(self, run_id: str) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM eval_items WHERE run_id = ?", (run_id,))
            cur = conn.execute("DELETE FROM eval_runs WHERE run_id = ?", (run_id,))
            return cur.rowcount > 0

    # items ---------------------------------------------------------------------------------
    def save_items(self, run_id: str, items: Sequence[ItemResult]) -> None:
        if not items:
            return
        with self._tx() as conn:
            if not conn.execute("SELECT 1 FROM eval_runs WHERE run_id = ?", (run_id,)).fetchone():
                raise StoreError(f"evaluation run {run_id!r} does not exist")
            conn.executemany(
                f"INSERT OR REPLACE INTO eval_items (run_id, {_ITEM_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def get_items(self, run_id: str) -> list[ItemResult]:
        rows = self._query(
            f"SELECT {_ITEM_COLUMNS} FROM eval_items WHERE run_id = ? ORDER BY ordinal, item_id",
            (run_id,),
        )
        return [_item(r) for r in rows]

    def completed_item_ids(self, run_id: str) -> set[str]:
        rows = self._query(
            "SELECT item_id FROM eval_items WHERE run_id = ? AND error IS NULL", (run_id,)
        )
        return {r[0] for r in rows}


def open_eval_store(database: Path | str) -> SQLiteEvalStore:
    """The evaluation store in the SQLite file at ``database`` (``settings.database_path``)."""
    return SQLiteEvalStore(database)


__all__ = ["SQLiteEvalStore", "open_eval_store"]
