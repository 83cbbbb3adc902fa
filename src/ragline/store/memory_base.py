"""Long-term memory: the :class:`MemoryStore` Protocol and its records.

A *fact* is something a user said about themselves, normalised to a key and a value
(``location`` = ``Lyon``, ``preference:sushi`` = ``dislikes sushi``) by an extractor
(:mod:`ragline.memory.facts`), with the turn it came from (:class:`FactSource`). Each user has
at most one *current* fact per key: remembering a new value for a key supersedes the current
fact in the same transaction (its ``superseded_by`` names the new fact), so "I moved to Lyon"
replaces "I live in Paris" and the old fact stays listable as history. Remembering the value
a key already has changes nothing.

Every read and every change names a ``user_id`` and touches that user's facts only: a fact id
of another user is unknown (None, or 0 rows forgotten). Who the user is belongs to the caller
(the server takes it from the API key). ``ragline.testing.memory_store_conformance`` holds
the tests every backend must pass.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ragline.errors import ConfigError, ResourceNotFoundError

FactKind = Literal["fact", "preference", "note"]
FACT_KINDS: tuple[FactKind, ...] = ("fact", "preference", "note")


def new_fact_id() -> str:
    """A fresh fact id: ``m`` and 10 hex characters (40 random bits), short enough to type."""
    return "m" + secrets.token_hex(5)


def check_user(user_id: str | None) -> str:
    """``user_id`` stripped; a :class:`ConfigError` when it is empty (memory is per user)."""
    user = (user_id or "").strip()
    if not user:
        raise ConfigError(
            "long-term memory needs a user id",
            hint="name the user (`--user NAME`, or an API key on the server)",
        )
    return user


def fact_not_found(fact_id: str) -> ResourceNotFoundError:
    """The one error for an unknown fact id (also one of another user)."""
    return ResourceNotFoundError(
        f"no remembered fact {fact_id!r} for this user",
        hint="list the facts with `ragline memory list --user U --history` "
        "(or GET /api/memory?history=true)",
    )


def same_value(a: str, b: str) -> bool:
    """Whether two values say the same (case and spaces aside)."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


@dataclass(frozen=True, slots=True)
class FactSource:
    """The user turn a fact was taken from."""

    text: str
    conversation_id: str | None = None
    turn_index: int | None = None
    #: When the user said it (ISO 8601; empty: when it was stored).
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "turn_index": self.turn_index,
            "text": self.text,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class MemoryFact:
    """One remembered fact of one user; current while ``superseded_by`` is None."""

    id: str
    user_id: str
    key: str
    value: str
    #: The fact as a sentence in the user's voice ("I live in Lyon"): what is embedded and
    #: what goes into a prompt.
    statement: str
    kind: FactKind
    source: FactSource
    created_at: str
    superseded_by: str | None = None
    superseded_at: str | None = None
    #: The statement's embedding (unit length), or None when stored without one.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def current(self) -> bool:
        return self.superseded_by is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "key": self.key,
            "value": self.value,
            "statement": self.statement,
            "kind": self.kind,
            "current": self.current,
            "superseded_by": self.superseded_by,
            "superseded_at": self.superseded_at,
            "created_at": self.created_at,
            "source": self.source.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Remembered:
    """What :meth:`MemoryStore.remember` did: the current fact for the key (new, or the one
    that already said so), the facts it superseded, and whether anything was written."""

    fact: MemoryFact
    superseded: tuple[MemoryFact, ...] = ()
    written: bool = True


@runtime_checkable
class MemoryStore(Protocol):
    """Where each user's remembered facts, and their history, live."""

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
        """Store a fact as the user's current one for ``key``, superseding the current fact
        of that key (and the user's current facts named in ``replaces``) in one transaction.
        The same value as the current one writes nothing (``written=False``). A
        :class:`ConfigError` for an empty user, key, value or an unknown kind."""
        ...

    def get(self, user_id: str, fact_id: str) -> MemoryFact | None:
        """The user's fact (current or superseded), or None (also for another user's id)."""
        ...

    def facts(
        self, user_id: str, *, history: bool = False, key: str | None = None
    ) -> list[MemoryFact]:
        """The user's current facts (``history``: superseded ones too), oldest first;
        ``key``: that key's only."""
        ...

    def forget(self, user_id: str, fact_ids: Sequence[str]) -> int:
        """Delete these facts of the user (ids of other users are ignored); how many."""
        ...

    def forget_all(self, user_id: str) -> int:
        """Delete every fact of the user, history included; how many."""
        ...

    def users(self) -> list[str]:
        """The user ids that have facts, sorted (for operators: ``ragline memory users``)."""
        ...

    def close(self) -> None: ...


def check_fact(user_id: str, key: str, value: str, kind: str) -> tuple[str, str, str]:
    """The user, key and value stripped; a :class:`ConfigError` naming what is wrong."""
    user = check_user(user_id)
    k, v = " ".join((key or "").split()), " ".join((value or "").split())
    if not k or not v:
        raise ConfigError("a fact needs a key and a value", hint="e.g. key 'location', 'Lyon'")
    if kind not in FACT_KINDS:
        raise ConfigError(f"unknown fact kind {kind!r}", hint=f"one of {', '.join(FACT_KINDS)}")
    return user, k, v


def vector_bytes(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def vector_of(blob: bytes | memoryview | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(bytes(blob), dtype=np.float32)


__all__ = [
    "FACT_KINDS",
    "FactKind",
    "FactSource",
    "MemoryFact",
    "MemoryStore",
    "Remembered",
    "check_fact",
    "check_user",
    "fact_not_found",
    "new_fact_id",
    "same_value",
    "vector_bytes",
    "vector_of",
]
