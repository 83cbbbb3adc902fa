"""API keys of the HTTP server: the :class:`ApiKeyStore` Protocol and its records.

A key is ``rl_<id>_<secret>``: ``id`` (8 hex characters) names the key in listings and
``revoke``; the whole string is 256 bits of randomness after the id. Only the SHA-256 of the
whole key is stored; the key itself is shown once, by :meth:`ApiKeyStore.create_key`. A slow
password hash is not needed: the key is random, not chosen by a person, so it cannot be
guessed from its hash.

Roles are ordered: ``read`` (list, search, ask, chat, embed, feedback) < ``ingest`` (also create
collections and add documents) < ``admin`` (also delete collections). ``collections`` names
what a key may use; ``("*",)`` is every collection.
``ragline.testing.keys_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ragline.errors import ConfigError

Role = Literal["read", "ingest", "admin"]
ROLES: tuple[Role, ...] = ("read", "ingest", "admin")
ALL_COLLECTIONS = "*"
KEY_PREFIX = "rl_"
_KEY_RE = re.compile(r"^rl_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a whole key: what a store keeps and looks keys up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> tuple[str, str]:
    """A fresh ``(key_id, key)`` pair."""
    key_id = secrets.token_hex(4)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has the shape of a ragline key (cheap check before any lookup)."""
    return bool(_KEY_RE.match(text))


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def normalize_collections(collections: Iterable[str] | None) -> tuple[str, ...]:
    """Sorted unique names; ``None``, empty or any ``*`` means every collection."""
    names = [c.strip() for c in (collections or ()) if c and c.strip()]
    if not names or ALL_COLLECTIONS in names:
        return (ALL_COLLECTIONS,)
    return tuple(sorted(set(names)))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret. ``revoked_at`` is None while the key works."""

    id: str
    name: str
    role: Role
    collections: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def all_collections(self) -> bool:
        return ALL_COLLECTIONS in self.collections

    def allows(self, role: Role) -> bool:
        """Whether this key's role includes ``role`` (admin ⊇ ingest ⊇ read)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def may_use(self, collection: str) -> bool:
        return self.all_collections or collection in self.collections

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "collections": list(self.collections),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """What :meth:`ApiKeyStore.create_key` returns: the record and the key, shown once."""

    key: ApiKey
    secret: str

    def __repr__(self) -> str:  # the secret never reaches a log or a traceback
        return f"NewApiKey(key={self.key!r}, secret='rl_{self.key.id}_…')"


@runtime_checkable
class ApiKeyStore(Protocol):
    """Where API keys live. Backends keep hashes only, never a key."""

    def create_key(
        self, name: str, role: Role, collections: Sequence[str] | None = None
    ) -> NewApiKey:
        """A new key; ``collections`` None or ``["*"]``: every collection."""
        ...

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys, oldest first."""
        ...

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke by id (or the whole key); raises :class:`ConfigError` if unknown."""
        ...

    def verify(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` is, or None (unknown, malformed or revoked)."""
        ...

    def has_active_keys(self) -> bool:
        """Whether any key works: without one the server runs open, on loopback only."""
        ...

    def close(self) -> None: ...


__all__ = [
    "ALL_COLLECTIONS",
    "ROLES",
    "ApiKey",
    "ApiKeyStore",
    "NewApiKey",
    "Role",
    "check_role",
    "hash_secret",
    "looks_like_key",
    "new_secret",
    "normalize_collections",
]
