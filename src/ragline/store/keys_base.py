"""API keys of the HTTP server: the :class:`ApiKeyStore` Protocol and its records.

A key is ``rl_<id>_<secret>``: ``id`` (8 hex characters) names the key in listings and
``revoke``; the whole string is 256 bits of randomness after the id. Only the SHA-256 of the
whole key is stored; the key itself is shown once, by :meth:`ApiKeyStore.create_key`. A slow
password hash is not needed: the key is random, not chosen by a person, so it cannot be
guessed from its hash.

Roles are ordered: ``read`` (list, search, ask, chat, embed, feedback) < ``ingest`` (also create
collections and add documents) < ``admin`` (also delete collections). ``collections`` names
what a key may use; ``("*",)`` is every collection.

A key also carries its policy (:class:`KeyPolicy`): the models it may name (``("*",)``: any;
``fnmatch`` patterns such as ``openai:*`` work), requests and tokens per minute, a spend
budget in USD and an expiry time. The server enforces them (``ragline.server.policy``)
through a :class:`~ragline.store.limits_base.LimitStore`. An expired key works like a revoked
one: it is refused, and it still counts as "a key was created in this home", so the server
stays closed (:func:`home_access`).
``ragline.testing.keys_conformance`` holds the tests every backend must pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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


ALL_MODELS = "*"
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def now_iso() -> str:
    """The current UTC time as stores record it (ISO 8601, seconds): strings compare in order."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def parse_expiry(text: str | None, *, now: dt.datetime | None = None) -> str | None:
    """``--expires``: ``30d``, ``12h``, ``90m``, ``2w`` from now, or an ISO date/time (UTC
    when it names no zone) -> the ISO time stores keep; None/empty: never expires."""
    if text is None or not text.strip():
        return None
    now = now or dt.datetime.now(dt.UTC)
    match = _DURATION_RE.match(text)
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise ConfigError(f"--expires {text!r} is not in the future", hint="e.g. 30d")
        when = now + dt.timedelta(**{_UNITS[match.group(2)]: amount})
    else:
        try:
            when = dt.datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise ConfigError(
                f"cannot read --expires {text!r}",
                hint="write a duration (90m, 12h, 30d, 2w) or an ISO date (2026-01-31)",
            ) from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when <= now:
            raise ConfigError(f"--expires {text!r} is in the past", hint="e.g. 30d")
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


def normalize_models(models: Iterable[str] | None) -> tuple[str, ...]:
    """Sorted unique model names or patterns; ``None``, empty or any ``*``: every model."""
    names = [m.strip() for m in (models or ()) if m and m.strip()]
    if not names or ALL_MODELS in names:
        return (ALL_MODELS,)
    return tuple(sorted(set(names)))


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{name} must be above 0, got {value}", hint=f"omit {name} for no limit")


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a key may spend: models (``("*",)``: any; ``fnmatch`` patterns work), requests
    and tokens per minute, a budget in USD (None: no limit) and an expiry (ISO UTC)."""

    models: tuple[str, ...] = (ALL_MODELS,)
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    expires_at: str | None = None

    @classmethod
    def of(
        cls,
        *,
        models: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        budget_usd: float | None = None,
        expires_at: str | None = None,
    ) -> KeyPolicy:
        """A validated, normalized policy (a clear :class:`ConfigError` on a bad value)."""
        for name, value in (("--rpm", rpm), ("--tpm", tpm), ("--budget-usd", budget_usd)):
            _positive(name, value)
        return cls(normalize_models(models), rpm, tpm, budget_usd, expires_at)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret. ``revoked_at`` is None while the key works."""

    id: str
    name: str
    role: Role
    collections: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None
    policy: KeyPolicy = field(default_factory=KeyPolicy)

    @property
    def expired(self) -> bool:
        return self.policy.expires_at is not None and self.policy.expires_at <= now_iso()

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and not self.expired

    def may_call(self, model: str) -> bool:
        """Whether the key's model allowlist covers ``model`` (exact name or pattern)."""
        return any(p == ALL_MODELS or fnmatchcase(model, p) for p in self.policy.models)

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
            "models": list(self.policy.models),
            "rpm": self.policy.rpm,
            "tpm": self.policy.tpm,
            "budget_usd": self.policy.budget_usd,
            "expires_at": self.policy.expires_at,
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
        self,
        name: str,
        role: Role,
        collections: Sequence[str] | None = None,
        *,
        policy: KeyPolicy | None = None,
    ) -> NewApiKey:
        """A new key; ``collections`` None or ``["*"]``: every collection; ``policy`` None:
        any model, no limits, no expiry."""
        ...

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys, oldest first; revoked ones only with ``include_revoked`` (expired ones are
        listed: their ``active`` is False)."""
        ...

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke by id (or the whole key); raises :class:`ConfigError` if unknown."""
        ...

    def verify(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` is, or None (unknown, malformed, revoked or expired)."""
        ...

    def has_active_keys(self) -> bool:
        """Whether any key works (neither revoked nor expired)."""
        ...

    def ever_had_keys(self) -> bool:
        """Whether any key was ever created here, revoked and expired ones included: once
        true, the server is closed for good (a request without a valid key gets 401)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HomeAccess:
    """Whether a server on this home answers callers without a key, and why."""

    open: bool
    reason: str


def home_access(keys: Sequence[ApiKey]) -> HomeAccess:
    """Open or closed, from every key ever created (``list_keys(include_revoked=True)``).

    Open only while no key was ever created, and then only on loopback (``ragline serve``
    refuses another address). Once a key exists the home is closed for good: revoking or
    outliving every key leaves a server that answers 401 to everyone until a new key exists.
    """
    if not keys:
        return HomeAccess(
            True,
            "no key was ever created: `ragline serve` answers without a key, on loopback "
            "only (create one with `ragline keys create` to require keys)",
        )
    active = sum(k.active for k in keys)
    if active:
        return HomeAccess(False, f"{active} active key(s): every request needs one")
    revoked = sum(k.revoked_at is not None for k in keys)
    expired = len(keys) - revoked
    return HomeAccess(
        False,
        f"no active key ({revoked} revoked, {expired} expired): every request gets 401 "
        "until you create one with `ragline keys create`",
    )


__all__ = [
    "ALL_COLLECTIONS",
    "ALL_MODELS",
    "ROLES",
    "ApiKey",
    "ApiKeyStore",
    "HomeAccess",
    "KeyPolicy",
    "NewApiKey",
    "Role",
    "check_role",
    "hash_secret",
    "home_access",
    "looks_like_key",
    "new_secret",
    "normalize_collections",
    "normalize_models",
    "now_iso",
    "parse_expiry",
]
