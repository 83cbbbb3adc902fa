"""The built-in ``postgresql`` store backend: every store in one PostgreSQL database with
pgvector (``pip install 'ragline[postgres]'``).

Registered in ragline's ``pyproject.toml`` under ``ragline.stores`` as ``postgresql`` and
``postgres``; :mod:`ragline.store.factory` picks it by the scheme of ``store.url``
(``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE``). The stores of one process share one
connection pool per URL (``store.pool_min_size`` / ``store.pool_max_size``). Pending
migrations are applied on first open (``store.auto_migrate``) or by ``ragline migrate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragline.store.postgres_base import PgOptions, apply_pg_migrations, conninfo_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ragline.config import Settings
    from ragline.store.postgres import PostgresStore
    from ragline.store.postgres_agent import PostgresAgentRunStore
    from ragline.store.postgres_cache import PostgresCacheStore
    from ragline.store.postgres_evals import PostgresEvalStore
    from ragline.store.postgres_handoff import PostgresHandoffStore
    from ragline.store.postgres_keys import PostgresKeyStore, PostgresLimitStore
    from ragline.store.postgres_memory import PostgresMemoryStore
    from ragline.store.postgres_traces import PostgresTraceStore


class PostgresStores:
    """Opens the documents, traces, evals, keys, key-limits, handoff, cache, agent-run and memory
    stores of one database."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        from ragline.config import load_settings

        conninfo_of(url)  # a malformed URL fails here, before anything connects
        self.url = url
        self.settings = settings if settings is not None else load_settings()
        self.opts = PgOptions.of(self.settings)

    def migrate(self) -> list[str]:
        """Apply the pending migrations; the names applied."""
        return apply_pg_migrations(self.url, self.opts, apply=True)

    def documents(self) -> PostgresStore:
        from ragline.store.postgres import PostgresStore

        return PostgresStore(self.url, self.opts)

    def traces(self) -> PostgresTraceStore:
        from ragline.store.postgres_traces import PostgresTraceStore

        return PostgresTraceStore(self.url, self.opts)

    def evals(self) -> PostgresEvalStore:
        from ragline.store.postgres_evals import PostgresEvalStore

        return PostgresEvalStore(self.url, self.opts)

    def keys(self) -> PostgresKeyStore:
        from ragline.store.postgres_keys import PostgresKeyStore

        return PostgresKeyStore(self.url, self.opts)

    def limits(self, *, clock: Callable[[], float] | None = None) -> PostgresLimitStore:
        from ragline.store.postgres_keys import PostgresLimitStore

        if clock is None:
            return PostgresLimitStore(self.url, self.opts)
        return PostgresLimitStore(self.url, self.opts, clock=clock)

    def handoffs(self) -> PostgresHandoffStore:
        from ragline.store.postgres_handoff import PostgresHandoffStore

        return PostgresHandoffStore(self.url, self.opts)

    def cache(self) -> PostgresCacheStore:
        from ragline.store.postgres_cache import PostgresCacheStore

        return PostgresCacheStore(self.url, self.opts)

    def agent_runs(self) -> PostgresAgentRunStore:
        from ragline.store.agent_base import retention_of
        from ragline.store.postgres_agent import PostgresAgentRunStore

        return PostgresAgentRunStore(self.url, self.opts, retention=retention_of(self.settings))

    def memory(self) -> PostgresMemoryStore:
        from ragline.store.postgres_memory import PostgresMemoryStore

        return PostgresMemoryStore(self.url, self.opts)


__all__ = ["PostgresStores"]
