"""Long-term memory on PostgreSQL (``memory_facts``).

The same records and rules as :mod:`ragline.store.sqlite_memory` (the rows mirror it column
for column; the schema is ``0009_memory`` of :mod:`ragline.store.postgres_migrations`).
Remembering is one transaction that first takes a transaction-scoped advisory lock on the
(user, key) pair: two replicas remembering the same key at once wait on each other, so a key
never has two current facts (the partial unique index would refuse the second anyway).
Every statement filters by ``user_id``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

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
)
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_memory import FACT_COLUMNS, fact_of, insert_row


class PostgresMemoryStore(PostgresBackend):
    """:class:`ragline.store.memory_base.MemoryStore` on PostgreSQL."""

    what = "memory store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

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
        with self._tx("remember a fact") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{user}\n{key}",)
            )
            row = conn.execute(
                f"SELECT {FACT_COLUMNS} FROM memory_facts "
                "WHERE user_id = %s AND key = %s AND superseded_by IS NULL",
                (user, key),
            ).fetchone()
            if row is not None and same_value(row[3], value):
                return Remembered(fact_of(row), (), written=False)
            ids = [str(i) for i in replaces if i]
            old = conn.execute(
                f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = %s "
                "AND superseded_by IS NULL AND (key = %s OR id = ANY(%s)) ORDER BY n "
                "FOR UPDATE",
                (user, key, ids),
            ).fetchall()
            if old:
                conn.execute(
                    "UPDATE memory_facts SET superseded_by = %s, superseded_at = %s "
                    "WHERE user_id = %s AND id = ANY(%s)",
                    (new_id, now, user, [r[0] for r in old]),
                )
            values = insert_row(new_id, user, key, value, statement, kind, source, now, vector)
            conn.execute(
                f"INSERT INTO memory_facts ({FACT_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})",
                values,
            )
        superseded = tuple(
            dataclasses.replace(fact_of(r), superseded_by=new_id, superseded_at=now) for r in old
        )
        return Remembered(fact_of(values), superseded)

    def get(self, user_id: str, fact_id: str) -> MemoryFact | None:
        rows = self._query(
            f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = %s AND id = %s",
            (check_user(user_id), fact_id.strip()),
        )
        return fact_of(rows[0]) if rows else None

    def facts(
        self, user_id: str, *, history: bool = False, key: str | None = None
    ) -> list[MemoryFact]:
        where, params = ["user_id = %s"], [check_user(user_id)]
        if not history:
            where.append("superseded_by IS NULL")
        if key is not None:
            where.append("key = %s")
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
        return self._execute(
            "DELETE FROM memory_facts WHERE user_id = %s AND id = ANY(%s)", (user, ids)
        )

    def forget_all(self, user_id: str) -> int:
        return self._execute("DELETE FROM memory_facts WHERE user_id = %s", (check_user(user_id),))

    def users(self) -> list[str]:
        rows = self._query("SELECT DISTINCT user_id FROM memory_facts ORDER BY user_id")
        return [r[0] for r in rows]


__all__ = ["PostgresMemoryStore"]
