"""Long-term memory on the store's SQLite file (``memory_facts``).

All memory SQL of SQLite lives here. Remembering is one ``BEGIN IMMEDIATE`` transaction that
reads the user's current fact of the key, marks it superseded and inserts the new one, so two
processes on one file never leave two current facts for a key (a partial unique index
enforces it too). Every statement filters by ``user_id``. The schema is ``0009_memory`` of
:mod:`ragline.store.migrations`: on open, the document store is opened once to apply any
pending migration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragline.store.keys_base import now_iso
from ragline.store.memory_base import (
    FactKind,
    FactSource,
    MemoryFact,
    Remembered,
    check_fact,
    check_user,
    new_fact_id,
    same_value,
    vector_bytes,
    vector_of,
)
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

#: The columns of a fact, in the order :func:`fact_of` reads them.
FACT_COLUMNS = (
    "id, user_id, key, value, statement, kind, conversation_id, turn_index, source_text, "
    "source_at, created_at, superseded_by, superseded_at, vector"
)


def fact_of(row: Sequence[Any]) -> MemoryFact:
    return MemoryFact(
        id=row[0],
        user_id=row[1],
        key=row[2],
        value=row[3],
        statement=row[4],
        kind=row[5],
        source=FactSource(text=row[8], conversation_id=row[6], turn_index=row[7], at=row[9] or ""),
        created_at=row[10],
        superseded_by=row[11],
        superseded_at=row[12],
        vector=vector_of(row[13]),
    )


def insert_row(
    fact_id: str,
    user: str,
    key: str,
    value: str,
    statement: str,
    kind: str,
    source: FactSource,
    now: str,
    vector: np.ndarray | None,
) -> tuple[Any, ...]:
    """The values of a new fact's row, in :data:`FACT_COLUMNS` order (no supersession)."""
    return (
        fact_id,
        user,
        key,
        value,
        " ".join(statement.split()) or f"my {key} is {value}",
        kind,
        source.conversation_id,
        source.turn_index,
        source.text,
        source.at or now,
        now,
        None,
        None,
        vector_bytes(vector),
    )


class SQLiteMemoryStore(SQLiteBackend):
    """:class:`ragline.store.memory_base.MemoryStore` on the store's SQLite file."""

    what = "memory store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

    def remember(
        self,
        user_id: str,
        *,
        key: str,
        value: str,
        statement: str,
        source: FactSource,
        kind: FactKind = "fact",
        vector: np.ndarray | None = None,
        replaces: Sequence[str] = (),
    ) -> Remembered:
        user, key, value = check_fact(user_id, key, value, kind)
        now = now_iso()
        new_id = new_fact_id()
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {FACT_COLUMNS} FROM memory_facts "
                "WHERE user_id = ? AND key = ? AND superseded_by IS NULL",
                (user, key),
            ).fetchone()
            if row is not None and same_value(row[3], value):
                return Remembered(fact_of(row), (), written=False)
            ids = [str(i) for i in replaces if i]
            marks = ", ".join("?" * len(ids))
            extra = f" OR id IN ({marks})" if ids else ""
            old = conn.execute(
                f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = ? "
                f"AND superseded_by IS NULL AND (key = ?{extra}) ORDER BY n",
                (user, key, *ids),
            ).fetchall()
            if old:
                conn.execute(
                    "UPDATE memory_facts SET superseded_by = ?, superseded_at = ? "
                    f"WHERE user_id = ? AND id IN ({', '.join('?' * len(old))})",
                    (new_id, now, user, *(r[0] for r in old)),
                )
            values = insert_row(new_id, user, key, value, statement, kind, source, now, vector)
            conn.execute(
                f"INSERT INTO memory_facts ({FACT_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                values,
            )
        superseded = tuple(
            dataclasses.replace(fact_of(r), superseded_by=new_id, superseded_at=now) for r in old
        )
        return Remembered(fact_of(values), superseded)

    def get(self, user_id: str, fact_id: str) -> MemoryFact | None:
        rows = self._query(
            f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = ? AND id = ?",
            (check_user(user_id), fact_id.strip()),
        )
        return fact_of(rows[0]) if rows else None

    def facts(
        self, user_id: str, *, history: bool = False, key: str | None = None
    ) -> list[MemoryFact]:
        where, params = ["user_id = ?"], [check_user(user_id)]
        if not history:
            where.append("superseded_by IS NULL")
        if key is not None:
            where.append("key = ?")
            params.append(key)
        rows = self._query(
            f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE {' AND '.join(where)} ORDER BY n",
            params,
        )
        return [fact_of(r) for r in rows]

    def forget(self, user_id: str, fact_ids: Sequence[str]) -> int:
        user = check_user(user_id)
        ids = [i.strip() for i in fact_ids if i and i.strip()]
        if not ids:
            return 0
        with self._tx() as conn:
            return int(
                conn.execute(
                    f"DELETE FROM memory_facts WHERE user_id = ? "
                    f"AND id IN ({', '.join('?' * len(ids))})",
                    (user, *ids),
                ).rowcount
            )

    def forget_all(self, user_id: str) -> int:
        user = check_user(user_id)
        with self._tx() as conn:
            return int(conn.execute("DELETE FROM memory_facts WHERE user_id = ?", (user,)).rowcount)

    def users(self) -> list[str]:
        rows = self._query("SELECT DISTINCT user_id FROM memory_facts ORDER BY user_id")
        return [r[0] for r in rows]


__all__ = ["FACT_COLUMNS", "SQLiteMemoryStore", "fact_of", "insert_row"]
