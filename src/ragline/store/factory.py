"""One factory for every store, keyed by the store URL in :class:`~ragline.config.Settings`.

The CLI, the server and :class:`~ragline.api.Ragline` open the documents, traces,
evaluations, API-key, key-limit, handoff and memory stores (and the invalidation channel)
here, never by naming a backend class. The URL's scheme picks the backend through the
``ragline.stores`` plugin group (:mod:`ragline.plugins`): ``sqlite`` is built in
(``sqlite:///relative.db``, ``sqlite:////absolute/path.db``) and a package adds another
(``postgresql``) by registering a factory under its scheme::

    [project.entry-points."ragline.stores"]
    postgresql = "ragline_postgres:open_backend"   # (url, settings) -> StoreBackend

>>> docs = open_documents(settings)          # doctest: +SKIP
>>> with open_evals(settings) as runs: ...   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ragline.errors import ConfigError

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.store.agent_base import AgentRunStore
    from ragline.store.base import Store
    from ragline.store.cache_base import CacheStore
    from ragline.store.evals_base import EvalStore
    from ragline.store.handoff_base import HandoffStore
    from ragline.store.invalidation import Invalidation
    from ragline.store.keys_base import ApiKeyStore
    from ragline.store.limits_base import LimitStore
    from ragline.store.memory_base import MemoryStore
    from ragline.store.traces_base import TraceStore


class StoreBackend(Protocol):
    """What a ``ragline.stores`` plugin's factory returns: one opener per kind of store.

    Each returns a new, open store that the caller closes (each store also works as a
    context manager)."""

    def documents(self) -> Store: ...

    def traces(self) -> TraceStore: ...

    def evals(self) -> EvalStore: ...

    def keys(self) -> ApiKeyStore: ...

    def limits(self) -> LimitStore: ...

    def handoffs(self) -> HandoffStore: ...
    def cache(self) -> CacheStore: ...

    def agent_runs(self) -> AgentRunStore: ...


def scheme_of(url: str) -> str:
    """``sqlite`` of ``sqlite:///x.db``; ``postgresql`` of ``postgresql+psycopg://…``."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ConfigError(
            f"store.url {url!r} is not a URL",
            hint="write it as SCHEME://…, e.g. sqlite:////abs/path/ragline.db "
            "(RAGLINE_STORE__URL or [store] url in config.toml)",
        )
    return scheme.split("+", 1)[0].lower()


def backend(settings: Settings) -> StoreBackend:
    """The backend that ``settings.store_url`` names (a clear error for an unknown scheme)."""
    from ragline import plugins

    url = settings.store_url
    scheme = scheme_of(url)
    if not plugins.has("stores", scheme):
        known = ", ".join(plugins.names("stores")) or "none"
        raise ConfigError(
            f"store.url {url!r}: no store backend for the scheme {scheme!r} "
            f"(known schemes: {known})",
            hint="set store.url (RAGLINE_STORE__URL) to a URL of a known scheme, e.g. "
            "sqlite:////path/ragline.db, or install the package that provides the backend",
        )
    factory: Any = plugins.load("stores", scheme)
    return factory(url, settings)


def migrate(settings: Settings) -> list[str]:
    """Apply the pending schema migrations of the store ``settings.store_url`` names; the
    names applied (empty: it was up to date). A backend without a ``migrate`` method
    migrates when a store opens."""
    b = backend(settings)
    run = getattr(b, "migrate", None)
    if run is not None:
        return list(run())
    b.documents().close()
    return []


def open_documents(settings: Settings) -> Store:
    """The document store (collections, chunks, vectors)."""
    return backend(settings).documents()


def open_traces(settings: Settings) -> TraceStore:
    """Where traces and feedback are kept."""
    return backend(settings).traces()


def open_evals(settings: Settings) -> EvalStore:
    """Evaluation runs and their items."""
    return backend(settings).evals()


def open_keys(settings: Settings) -> ApiKeyStore:
    """The HTTP server's API keys."""
    return backend(settings).keys()


def open_limits(settings: Settings) -> LimitStore:
    """What each API key has used of its limits (rate, tokens, spend): in Redis when
    ``redis.url`` is set (shared by every replica; a clear error now if it does not
    answer), else the store backend's."""
    if settings.redis.url:
        from ragline.store.redis_limits import RedisLimitStore

        return RedisLimitStore.from_settings(settings.redis)
    return backend(settings).limits()


def open_handoffs(settings: Settings) -> HandoffStore:
    """The human handoff inbox: items a guard or the router handed to a person."""
    return backend(settings).handoffs()


def open_agent_runs(settings: Settings) -> AgentRunStore:
    """Checkpoints of agent runs, pruned by ``agent.keep_runs`` / ``agent.keep_days``."""
    opener = getattr(backend(settings), "agent_runs", None)
    if opener is None:
        raise ConfigError(
            f"the store backend of {settings.store_url!r} keeps no agent runs",
            hint="use a store backend that does (sqlite://, postgresql://)",
        )
    return opener()


def open_memory(settings: Settings) -> MemoryStore:
    """Long-term memory: each user's remembered facts and their history (the store at
    ``store.url``; a backend without one is a clear error)."""
    store_backend = backend(settings)
    opener = getattr(store_backend, "memory", None)
    if opener is None:
        raise ConfigError(
            f"the store backend of {settings.store_url!r} keeps no long-term memory",
            hint="use a store that has one (sqlite, postgresql), or turn long-term memory "
            "off (RAGLINE_MEMORY__LONG_TERM=false)",
        )
    return opener()


def open_invalidation(settings: Settings) -> Invalidation:
    """Where collection changes are announced: a Redis channel when ``redis.url`` is set
    (every replica hears them), else this process only."""
    if settings.redis.url:
        from ragline.store.redis_invalidation import RedisInvalidation

        return RedisInvalidation.from_settings(settings.redis)
    from ragline.store.invalidation import LocalInvalidation

    return LocalInvalidation()


def open_cache(settings: Settings) -> CacheStore:
    """Where the answer caches keep their entries: ``cache.url`` when set (its scheme picks a
    ``ragline.cache_backends`` plugin, e.g. ``redis``), else the store at ``store.url``."""
    from ragline import plugins

    url = settings.cache.url
    if url is not None:
        scheme = scheme_of(url)
        if plugins.has("cache_backends", scheme):
            factory: Any = plugins.load("cache_backends", scheme)
            return factory(url, settings)
        if scheme != scheme_of(settings.store_url):
            known = ", ".join(plugins.names("cache_backends")) or "none"
            raise ConfigError(
                f"cache.url {url!r}: no cache backend for the scheme {scheme!r} "
                f"(registered: {known})",
                hint="leave cache.url unset to keep the cache in the store, or install the "
                "package that provides the backend",
            )
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"url": url})}
        )
    store_backend = backend(settings)
    opener = getattr(store_backend, "cache", None)
    if opener is None:
        raise ConfigError(
            f"the store backend of {settings.store_url!r} keeps no cache",
            hint="set cache.url to a cache backend's URL, or turn the cache off "
            "(RAGLINE_CACHE__ENABLED=false)",
        )
    return opener()


__all__ = [
    "StoreBackend",
    "backend",
    "migrate",
    "open_agent_runs",
    "open_cache",
    "open_documents",
    "open_evals",
    "open_handoffs",
    "open_invalidation",
    "open_keys",
    "open_limits",
    "open_memory",
    "open_traces",
    "scheme_of",
]
