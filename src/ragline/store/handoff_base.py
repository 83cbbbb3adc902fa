"""The human handoff inbox: the :class:`HandoffStore` Protocol and its records.

When a guard (or the router) decides ``handoff``, the answer flow opens an *item*
(:class:`HandoffItem`) through a :class:`~ragline.guard.base.HandoffSink` and tells the user
its id. A person reads the inbox (``ragline handoff``, ``/api/handoff``, the web UI's Handoff
page) and replies; the user's client polls :meth:`HandoffStore.messages_since` for the reply
and may add messages while it waits. So an item carries a thread of :class:`HandoffMessage`:
the user's messages (``user``), the person's replies (``human``, with an author) and notes of
the system (``system``: why it was handed over, who closed it).

Status: ``open`` (waiting for a person) → ``answered`` (a person replied; a new user message
makes it ``open`` again) → ``closed`` (nothing more may be added; closing twice keeps the
first close). ``kind`` is ``handoff`` for a conversation, ``approval`` for a step of an agent
that waits for a person's approve/reject (its ``details`` describe the step, its
``resolution`` at close says ``approved`` or ``rejected``).

``owner`` is the id of the API key whose conversation it is (None: the CLI, Python, an open
server). The HTTP layer decides who may see an item (``ragline.server.handoff``); a store
only filters by owner and collection when asked. ``ragline.testing.handoff_conformance``
holds the tests every backend must pass.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ragline.errors import ConfigError, ConflictError, ResourceNotFoundError

HandoffKind = Literal["handoff", "approval"]
HandoffStatus = Literal["open", "answered", "closed"]
HandoffRole = Literal["user", "human", "system"]
HANDOFF_KINDS: tuple[HandoffKind, ...] = ("handoff", "approval")
HANDOFF_STATUSES: tuple[HandoffStatus, ...] = ("open", "answered", "closed")
HANDOFF_ROLES: tuple[HandoffRole, ...] = ("user", "human", "system")


def new_item_id() -> str:
    """A fresh item id: ``h`` and 10 hex characters (40 random bits), short enough to type."""
    return "h" + secrets.token_hex(5)


def check_text(text: str, what: str = "a message") -> str:
    """``text`` stripped; a :class:`ConfigError` when nothing is left."""
    stripped = (text or "").strip()
    if not stripped:
        raise ConfigError(f"{what} needs some text", hint="write the message to send")
    return stripped


def check_status(status: str | None) -> HandoffStatus | None:
    """A status filter: one of :data:`HANDOFF_STATUSES`, or None / ``all`` for every status."""
    if status is None or status == "all":
        return None
    if status not in HANDOFF_STATUSES:
        raise ConfigError(
            f"unknown handoff status {status!r}",
            hint=f"use one of {', '.join(HANDOFF_STATUSES)}, all",
        )
    return status  # type: ignore[return-value]


def check_kind(kind: str) -> HandoffKind:
    if kind not in HANDOFF_KINDS:
        raise ConfigError(
            f"unknown handoff kind {kind!r}", hint=f"use one of {', '.join(HANDOFF_KINDS)}"
        )
    return kind  # type: ignore[return-value]


def not_found(item_id: str) -> ResourceNotFoundError:
    """The one error for an unknown item (also for one the caller may not see)."""
    return ResourceNotFoundError(
        f"no handoff item {item_id!r}",
        hint="list the items with `ragline handoff list --status all` (or GET /api/handoff)",
    )


def closed_error(item_id: str) -> ConflictError:
    return ConflictError(
        f"handoff item {item_id!r} is closed",
        hint="a closed item takes no more messages; the user can ask again",
    )


@dataclass(frozen=True, slots=True)
class HandoffMessage:
    """One message of an item's thread; ``seq`` counts from 1 within the item."""

    seq: int
    role: HandoffRole
    text: str
    created_at: str
    author: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "role": self.role,
            "author": self.author,
            "text": self.text,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class HandoffItem:
    """One conversation (or agent step) waiting for, or answered by, a person."""

    id: str
    kind: HandoffKind
    status: HandoffStatus
    created_at: str
    updated_at: str
    #: The user's question as the flow saw it (already redacted by the guards).
    question: str
    collection: str | None = None
    conversation_id: str | None = None
    #: The API key id whose conversation this is (None: no key).
    owner: str | None = None
    #: The guard whose flag decided the handoff (or ``router``), and its reason.
    guard: str | None = None
    reason: str = ""
    trace_id: str | None = None
    #: The decision (``Decision.to_dict()``) or, for an approval, the step to approve.
    details: Mapping[str, Any] = field(default_factory=dict)
    #: Set at close (``approved`` / ``rejected`` for an approval; free text otherwise).
    resolution: str | None = None
    #: The thread, oldest first: filled by ``get_item``; empty in listings.
    messages: tuple[HandoffMessage, ...] = ()

    def to_dict(self, *, messages: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "question": self.question,
            "collection": self.collection,
            "conversation_id": self.conversation_id,
            "owner": self.owner,
            "guard": self.guard,
            "reason": self.reason,
            "trace_id": self.trace_id,
            "details": dict(self.details),
            "resolution": self.resolution,
        }
        if messages:
            out["messages"] = [m.to_dict() for m in self.messages]
        return out


@dataclass(frozen=True, slots=True)
class HandoffQuery:
    """A listing: newest first, ``limit`` items after skipping ``offset``.

    ``status`` None is every status; ``collections`` (None: any) keeps items of those
    collections only (an item of no collection never matches a list); ``owner`` keeps one
    key's items."""

    status: HandoffStatus | None = "open"
    kind: HandoffKind | None = None
    collections: Sequence[str] | None = None
    owner: str | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        check_status(self.status)
        if self.kind is not None:
            check_kind(self.kind)
        if not 1 <= self.limit <= 1000:
            raise ConfigError(f"limit must be 1..1000, got {self.limit}", hint="e.g. --limit 50")
        if self.offset < 0:
            raise ConfigError(f"offset must be 0 or more, got {self.offset}")


@runtime_checkable
class HandoffStore(Protocol):
    """Where handoff (and approval) items and their threads live."""

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
        """A new ``open`` item whose thread starts with the question (``user``) and a
        ``system`` note of the reason; a :class:`ConfigError` for an empty question."""
        ...

    def get_item(self, item_id: str, *, messages: bool = True) -> HandoffItem | None:
        """The item with its whole thread (``messages=False``: without, one cheap read), or
        None."""
        ...

    def list_items(self, query: HandoffQuery | None = None) -> list[HandoffItem]:
        """Items without their threads, newest first (``HandoffQuery()``: open ones)."""
        ...

    def add_message(self, item_id: str, text: str) -> HandoffMessage:
        """The user adds a message while waiting; the item becomes ``open`` again.
        :class:`ResourceNotFoundError` (unknown), :class:`ConflictError` (closed),
        :class:`ConfigError` (empty text)."""
        ...

    def reply(self, item_id: str, text: str, *, author: str) -> HandoffMessage:
        """A person's reply (``human``); the item becomes ``answered``. Errors as
        :meth:`add_message`."""
        ...

    def close_item(
        self, item_id: str, *, author: str | None = None, resolution: str | None = None
    ) -> HandoffItem:
        """Close the item (a ``system`` note says who closed it); closing a closed item
        returns it unchanged. :class:`ResourceNotFoundError` for an unknown id."""
        ...

    def messages_since(self, item_id: str, after: int = 0) -> list[HandoffMessage]:
        """The thread's messages with ``seq > after``, oldest first (what a client polling
        for the reply asks). :class:`ResourceNotFoundError` for an unknown id."""
        ...

    def claim(self, item_id: str, owner: str) -> bool:
        """Give an item opened without an owner to ``owner`` (the server does it for the key
        whose answer opened it); False when it has an owner already or does not exist."""
        ...

    def close(self) -> None: ...


__all__ = [
    "HANDOFF_KINDS",
    "HANDOFF_ROLES",
    "HANDOFF_STATUSES",
    "HandoffItem",
    "HandoffKind",
    "HandoffMessage",
    "HandoffQuery",
    "HandoffRole",
    "HandoffStatus",
    "HandoffStore",
    "check_kind",
    "check_status",
    "check_text",
    "closed_error",
    "new_item_id",
    "not_found",
]
