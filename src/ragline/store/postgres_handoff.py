"""The human handoff inbox on PostgreSQL (``handoff_items``, ``handoff_messages``).

The same records and rules as :mod:`ragline.store.sqlite_handoff` (the rows mirror it column
for column; the schema is ``0006_handoff`` of :mod:`ragline.store.postgres_migrations`). Each
change is one transaction that first locks the item's row (``SELECT … FOR UPDATE``): two
messages posted at once to one item, through one process or several server replicas, wait on
each other, so a message's ``seq`` (the thread's next number) is never taken twice and a
close cannot slip between the status check and the insert. The inbox lists newest first by
the identity column ``n``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ragline.store.handoff_base import (
    HandoffItem,
    HandoffKind,
    HandoffMessage,
    HandoffQuery,
    HandoffRole,
    check_kind,
    check_text,
    closed_error,
    new_item_id,
    not_found,
)
from ragline.store.keys_base import now_iso
from ragline.store.postgres_base import PgOptions, PostgresBackend
from ragline.store.sqlite_handoff import _ITEM, _MESSAGE, _item, _message

if TYPE_CHECKING:
    import psycopg


class PostgresHandoffStore(PostgresBackend):
    """:class:`ragline.store.handoff_base.HandoffStore` on PostgreSQL."""

    what = "handoff store"

    def __init__(self, url: str, opts: PgOptions) -> None:
        super().__init__(url, opts)

    # writes ---------------------------------------------------------------------------------

    def open_item(
        self,
        *,
        question: str,
        kind: HandoffKind = "handoff",
        collection: str | None = None,
        conversation_id: str | None = None,
        owner: str | None = None,
        guard: str | None = None,
        reason: str = "",
        trace_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> HandoffItem:
        text = check_text(question, "a handoff item's question")
        kind = check_kind(kind)
        now = now_iso()
        item_id = new_item_id()
        note = f"handed to a person: {reason}" if reason else "handed to a person"
        with self._tx("open an item") as conn:
            conn.execute(
                f"INSERT INTO handoff_items ({_ITEM}) "
                "VALUES (%s, %s, 'open', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL)",
                (
                    item_id,
                    kind,
                    now,
                    now,
                    text,
                    collection,
                    conversation_id,
                    owner,
                    guard,
                    reason or "",
                    trace_id,
                    json.dumps(dict(details or {}), ensure_ascii=False, default=str),
                ),
            )
            self._append(conn, item_id, "user", text, None, now)
            self._append(conn, item_id, "system", note, None, now)
        item = self.get_item(item_id)
        assert item is not None
        return item

    def add_message(self, item_id: str, text: str) -> HandoffMessage:
        return self._post(item_id, "user", check_text(text), None, "open")

    def reply(self, item_id: str, text: str, *, author: str) -> HandoffMessage:
        who = (author or "").strip() or "operator"
        return self._post(item_id, "human", check_text(text, "a reply"), who, "answered")

    def close_item(
        self, item_id: str, *, author: str | None = None, resolution: str | None = None
    ) -> HandoffItem:
        now = now_iso()
        with self._tx("close an item") as conn:
            if self._lock(conn, item_id) != "closed":
                note = f"closed by {author}" if author else "closed"
                if resolution:
                    note += f" ({resolution})"
                conn.execute(
                    "UPDATE handoff_items SET status = 'closed', updated_at = %s, "
                    "resolution = %s WHERE id = %s",
                    (now, resolution, item_id),
                )
                self._append(conn, item_id, "system", note, author, now)
        item = self.get_item(item_id)
        assert item is not None
        return item

    def claim(self, item_id: str, owner: str) -> bool:
        # one statement: the row lock makes a second claimant see the owner the first set
        return (
            self._execute(
                "UPDATE handoff_items SET owner = %s WHERE id = %s AND owner IS NULL",
                (owner, item_id),
            )
            == 1
        )

    def _post(
        self, item_id: str, role: HandoffRole, text: str, author: str | None, status: str
    ) -> HandoffMessage:
        now = now_iso()
        with self._tx("add a message") as conn:
            if self._lock(conn, item_id) == "closed":
                raise closed_error(item_id)
            seq = self._append(conn, item_id, role, text, author, now)
            conn.execute(
                "UPDATE handoff_items SET status = %s, updated_at = %s WHERE id = %s",
                (status, now, item_id),
            )
        return HandoffMessage(seq, role, text, now, author)

    @staticmethod
    def _lock(conn: psycopg.Connection, item_id: str) -> str:
        """The item's status, its row locked until the transaction ends."""
        row = conn.execute(
            "SELECT status FROM handoff_items WHERE id = %s FOR UPDATE", (item_id,)
        ).fetchone()
        if row is None:
            raise not_found(item_id)
        return str(row[0])

    @staticmethod
    def _append(
        conn: psycopg.Connection,
        item_id: str,
        role: HandoffRole,
        text: str,
        author: str | None,
        now: str,
    ) -> int:
        """Append to the thread; the caller holds the item's row lock (or just made it)."""
        row = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM handoff_messages WHERE item_id = %s", (item_id,)
        ).fetchone()
        seq = int(row[0] if row else 0) + 1
        conn.execute(
            "INSERT INTO handoff_messages (item_id, seq, role, author, text, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (item_id, seq, role, author, text, now),
        )
        return seq

    # reads ----------------------------------------------------------------------------------

    def get_item(self, item_id: str, *, messages: bool = True) -> HandoffItem | None:
        rows = self._query(f"SELECT {_ITEM} FROM handoff_items WHERE id = %s", (item_id,))
        if not rows or not messages:
            return _item(rows[0]) if rows else None
        thread = self._query(
            f"SELECT {_MESSAGE} FROM handoff_messages WHERE item_id = %s ORDER BY seq",
            (item_id,),
        )
        return _item(rows[0], tuple(_message(m) for m in thread))

    def list_items(self, query: HandoffQuery | None = None) -> list[HandoffItem]:
        q = query or HandoffQuery()
        where: list[str] = []
        params: list[Any] = []
        if q.status is not None:
            where.append("status = %s")
            params.append(q.status)
        if q.kind is not None:
            where.append("kind = %s")
            params.append(q.kind)
        if q.owner is not None:
            where.append("owner = %s")
            params.append(q.owner)
        if q.collections is not None:
            names = list(q.collections)
            if not names:
                return []
            where.append("collection = ANY(%s)")
            params.append(names)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {_ITEM} FROM handoff_items{clause} ORDER BY n DESC LIMIT %s OFFSET %s",
            (*params, q.limit, q.offset),
        )
        return [_item(r) for r in rows]

    def messages_since(self, item_id: str, after: int = 0) -> list[HandoffMessage]:
        if not self._query("SELECT 1 FROM handoff_items WHERE id = %s", (item_id,)):
            raise not_found(item_id)
        rows = self._query(
            f"SELECT {_MESSAGE} FROM handoff_messages WHERE item_id = %s AND seq > %s ORDER BY seq",
            (item_id, int(after)),
        )
        return [_message(r) for r in rows]


__all__ = ["PostgresHandoffStore"]
