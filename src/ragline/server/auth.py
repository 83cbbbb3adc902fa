"""Access control: who is calling (an API key, or nobody on an open loopback server).

A request names its key as ``Authorization: Bearer rl_…`` (what OpenAI clients send) or
``X-API-Key: rl_…``. Decided on every request, failing closed: the server is open (answers
without a key) only while it listens on loopback *and* no key was ever created in its home —
a revoked or expired key still counts. Otherwise every request needs a valid key: none, an
unknown, revoked or expired one → 401; a key whose role or collections do not cover the
request → 403; a key over its requests per minute → 429 with ``Retry-After``. So revoking the
last key of a server on ``0.0.0.0`` leaves it answering 401 to everyone until a new key
exists. The check costs one indexed SQLite lookup (the "ever had keys" answer is cached once
true: keys are never deleted). Limits on models, tokens and spend: ``ragline.server.policy``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fastapi import Depends, Request

from ragline.server.context import ServerContext, get_context
from ragline.server.problems import AuthenticationError, PermissionDeniedError, ServerBusyError
from ragline.store.keys_base import ApiKey, Role
from ragline.store.limits_base import REQUESTS

MINUTE_S = 60.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``key`` is None on an open server (no keys exist)."""

    key: ApiKey | None

    @property
    def open(self) -> bool:
        return self.key is None

    def require(self, role: Role) -> None:
        if self.key is not None and not self.key.allows(role):
            raise PermissionDeniedError(
                f"key {self.key.id} has role {self.key.role!r}; this needs {role!r}",
                hint="use a key with that role (`ragline keys create --role ...`)",
            )

    def check_collection(self, name: str) -> None:
        if self.key is not None and not self.key.may_use(name):
            raise PermissionDeniedError(
                f"key {self.key.id} may not use collection {name!r}",
                hint=f"it may use: {', '.join(self.key.collections)}",
            )

    def visible(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.key is None or self.key.may_use(n)]

    def memory_user(self, default: str) -> str:
        """Whose long-term memory this caller reads and writes: the calling key's
        (``key:<id>``), or ``default`` (``memory.default_user``) on an open server. Taken from
        the credential only, never from a field of the request, so one key cannot reach
        another's memory."""
        return f"key:{self.key.id}" if self.key is not None else default

    def may_read(self, collection: str | None) -> bool:
        """Whether the caller may read what belongs to ``collection`` (a trace, its
        feedback); a record of no collection (a plain model call) needs every collection."""
        if self.key is None:
            return True
        return self.key.all_collections if collection is None else self.key.may_use(collection)


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def server_open(ctx: ServerContext) -> bool:
    """Open (no key needed) only on loopback while no key was ever created in the home."""
    if not is_loopback(ctx.listen_host):
        return False
    if not ctx.keys_seen:
        ctx.keys_seen = ctx.keys.ever_had_keys()  # once true, true for good
    return not ctx.keys_seen


def authenticate(request: Request, ctx: ServerContext) -> Principal:
    """The principal of ``request``; raises :class:`AuthenticationError` (401), or
    :class:`ServerBusyError` (429) past the key's requests per minute."""
    if server_open(ctx):
        return Principal(None)
    secret = _credential(request)
    if secret is None:
        raise AuthenticationError()
    key = ctx.keys.verify(secret)
    if key is None:
        raise AuthenticationError("the API key is unknown, revoked or expired")
    if key.policy.rpm is not None:
        grant = ctx.limits.consume(key.id, REQUESTS, 1, limit=key.policy.rpm, window_s=MINUTE_S)
        if not grant.allowed:
            raise ServerBusyError(
                f"key {key.id} is over its limit of {key.policy.rpm} requests per minute",
                status=429,
                retry_after_s=grant.retry_after_s or MINUTE_S,
            )
    return Principal(key)


def need(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency: an authenticated principal holding ``role``."""

    async def dependency(request: Request, ctx: ServerContext = Depends(get_context)) -> Principal:
        principal = authenticate(request, ctx)
        principal.require(role)
        return principal

    return dependency


def need_collection(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency: ``need(role)`` plus access to the ``{name}`` collection of the path."""

    async def dependency(
        name: str, request: Request, ctx: ServerContext = Depends(get_context)
    ) -> Principal:
        principal = authenticate(request, ctx)
        principal.require(role)
        principal.check_collection(name)
        return principal

    return dependency


__all__ = [
    "Principal",
    "authenticate",
    "is_loopback",
    "need",
    "need_collection",
    "server_open",
]
