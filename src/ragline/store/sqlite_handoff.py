"""The human handoff inbox on the store's SQLite file (``handoff_items``, ``handoff_messages``).

All handoff SQL lives here. Each change (a new item, a message, a status) is one
``BEGIN IMMEDIATE`` transaction, so a message's ``seq`` (the thread's next number) is never
taken twice, even by two processes on one file. The schema belongs to
``ragline.store.migrations`` (``0006_handoff``): on open, the document store is opened once to
apply any pending migration.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_base import SQLiteBackend

_ITEM = (
    "id, kind, status, created_at, updated_at, question, collection, conversation_id, owner, "
    "guard, reason, trace_id, details, resolution"
)
_MESSAGE = "seq, role, text, created_at, author"


def _item(row: Sequence[Any], messages: tuple[HandoffMessage, ...] = ()) -> HandoffItem:
    return HandoffItem(
        id=row[0],
        kind=row[1],
        status=row[2],
        created_at=row[3],
        updated_at=row[4],
        question=row[5],
        collection=row[6],
        conversation_id=row[7],
        owner=row[8],
        guard=row[9],
        reason=row[10],
        trace_id=row[11],
        details=json.loads(row[12] or "{}"),
        resolution=row[13],
        messages=messages,
    )


def _message(row: Sequence[Any]) -> HandoffMessage:
    return HandoffMessage(seq=row[0], role=row[1], text=row[2], created_at=row[3], author=row[4])


class SQLiteHandoffStore(SQLiteBackend):
    """:class:`ragline.store.handoff_base.HandoffStore` on the store's SQLite file."""

    what = "handoff store"

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        SQLiteStore(path, timeout_s=timeout_s).close()  # creates the file, applies migrations
        super().__init__(path, timeout_s=timeout_s)

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
        with self._tx() as conn:
            conn.execute(
                f"INSERT INTO handoff_items ({_ITEM}) "
                "VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
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
        with self._tx() as conn:
            status = self._status(conn, item_id)
            if status != "closed":
                note = f"closed by {author}" if author else "closed"
                if resolution:
                    note += f" ({resolution})"
                conn.execute(
                    "UPDATE handoff_items SET status = 'closed', updated_at = ?, resolution = ? "
                    "WHERE id = ?",
                    (now, resolution, item_id),
                )
                self._append(conn, item_id, "system", note, author, now)
        item = self.get_item(item_id)
        assert item is not None
        return item

    def claim(self, item_id: str, owner: str) -> bool:
        with self._tx() as conn:
            return (
                conn.execute(
                    "UPDATE handoff_items SET owner = ? WHERE id = ? AND owner IS NULL",
                    (owner, item_id),
                ).rowcount
                == 1
            )

    def _post(
        self, item_id: str, role: HandoffRole, text: str, author: str | None, status: str
    ) -> HandoffMessage:
        now = now_iso()
        with self._tx() as conn:
            if self._status(conn, item_id) == "closed":
                raise closed_error(item_id)
            seq = self._append(conn, item_id, role, text, author, now)
            conn.execute(
                "UPDATE handoff_items SET status = ?, updated_at = ? WHERE id = ?",
                (status, now, item_id),
            )
        return HandoffMessage(seq, role, text, now, author)

    @staticmethod
    def _status(conn: sqlite3.Connection, item_id: str) -> str:
        row = conn.execute("SELECT status FROM handoff_items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise not_found(item_id)
        return str(row[0])

    @staticmethod
    def _append(
        conn: sqlite3.Connection,
        item_id: str,
        role: HandoffRole,
        text: str,
        author: str | None,
        now: str,
    ) -> int:
        (last,) = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM handoff_messages WHERE item_id = ?", (item_id,)
        ).fetchone()
        seq = int(last) + 1
        conn.execute(
            "INSERT INTO handoff_messages (item_id, seq, role, author, text, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (item_id, seq, role, author, text, now),
        )
        return seq

    # reads ----------------------------------------------------------------------------------

    def get_item(self, item_id: str, *, messages: bool = True) -> HandoffItem | None:
        rows = self._query(f"SELECT {_ITEM} FROM handoff_items WHERE id = ?", (item_id,))
        if not rows or not messages:
            return _item(rows[0]) if rows else None
        thread = self._query(
            f"SELECT {_MESSAGE} FROM handoff_messages WHERE item_id = ? ORDER BY seq", (item_id,)
        )
        return _item(rows[0], tuple(_message(m) for m in thread))

    def list_items(self, query: HandoffQuery | None = None) -> list[HandoffItem]:
        q = query or HandoffQuery()
        where: list[str] = []
        params: list[Any] = []
        if q.status is not None:
            where.append("status = ?")
            params.append(q.status)
        if q.kind is not None:
            where.append("kind = ?")
            params.append(q.kind)
        if q.owner is not None:
            where.append("owner = ?")
            params.append(q.owner)
        if q.collections is not None:
            names = list(q.collections)
            if not names:
                return []
            where.append(f"collection IN ({', '.join('?' * len(names))})")
            params.extend(names)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {_ITEM} FROM handoff_items{clause} ORDER BY n DESC LIMIT ? OFFSET ?",
            (*params, q.limit, q.offset),
        )
        return [_item(r) for r in rows]

    def messages_since(self, item_id: str, after: int = 0) -> list[HandoffMessage]:
        if not self._query("SELECT 1 FROM handoff_items WHERE id = ?", (item_id,)):
            raise not_found(item_id)
        rows = self._query(
            f"SELECT {_MESSAGE} FROM handoff_messages WHERE item_id = ? AND seq > ? ORDER BY seq",
            (item_id, int(after)),
        )
        return [_message(r) for r in rows]


__all__ = ["SQLiteHandoffStore"]
