"""Access control: who is calling (an API key, or nobody on an open loopback server).

A request names its key as ``Authorization: Bearer rl_…`` (what OpenAI clients send) or
``X-API-Key: rl_…``. While the store holds no active key the server is open — it then
listens on loopback only (see ``ragline.cli.serve``). Once a key exists every request
needs one: no key or an unknown one → 401; a key whose role or collections do not cover the
request → 403. The check costs one indexed SQLite lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fastapi import Depends, Request

from ragline.server.context import ServerContext, get_context
from ragline.server.problems import AuthenticationError, PermissionDeniedError
from ragline.store.keys_base import ApiKey, Role


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


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def authenticate(request: Request, ctx: ServerContext) -> Principal:
    """The principal of ``request``; raises :class:`AuthenticationError` (401)."""
    if not ctx.keys.has_active_keys():
        return Principal(None)
    secret = _credential(request)
    if secret is None:
        raise AuthenticationError()
    key = ctx.keys.verify(secret)
    if key is None:
        raise AuthenticationError("the API key is unknown or revoked")
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


__all__ = ["Principal", "authenticate", "need", "need_collection"]
