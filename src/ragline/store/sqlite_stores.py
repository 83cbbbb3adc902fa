"""The built-in ``sqlite`` store backend: every store in one SQLite file.

Registered in ragline's own ``pyproject.toml`` under ``ragline.stores`` like any plugin;
:mod:`ragline.store.factory` finds it by the ``sqlite`` scheme of ``store.url``.
URLs follow SQLAlchemy: ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragline.errors import ConfigError

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.store.sqlite import SQLiteStore
    from ragline.store.sqlite_agent import SQLiteAgentRunStore
    from ragline.store.sqlite_cache import SQLiteCacheStore
    from ragline.store.sqlite_evals import SQLiteEvalStore
    from ragline.store.sqlite_handoff import SQLiteHandoffStore
    from ragline.store.sqlite_keys import SQLiteKeyStore
    from ragline.store.sqlite_limits import SQLiteLimitStore
    from ragline.store.sqlite_memory import SQLiteMemoryStore
    from ragline.store.sqlite_traces import SQLiteTraceStore


def path_of(url: str) -> Path:
    """The file of a ``sqlite:///…`` URL."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+", 1)[0].lower() != "sqlite" or not rest.startswith("/") or rest == "/":
        raise ConfigError(
            f"store.url {url!r} is not a SQLite URL with a file",
            hint="write sqlite:///relative/ragline.db or sqlite:////absolute/ragline.db",
        )
    return Path(rest[1:]).expanduser()


class SQLiteStores:
    """Opens the documents, traces, evals, keys, key-limits, handoff, cache, agent-run and memory
    stores of one SQLite file."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        self.url = url
        self.path = path_of(url)
        self.settings = settings

    def migrate(self) -> list[str]:
        """Apply the pending migrations (creating the file if needed); the names applied."""
        from ragline.store.sqlite import SQLiteStore

        store = SQLiteStore(self.path)
        store.close()
        return store.newly_applied

    def documents(self) -> SQLiteStore:
        from ragline.store.sqlite import SQLiteStore

        return SQLiteStore(self.path)

    def traces(self) -> SQLiteTraceStore:
        from ragline.store.sqlite_traces import SQLiteTraceStore

        return SQLiteTraceStore(self.path)

    def evals(self) -> SQLiteEvalStore:
        from ragline.store.sqlite_evals import SQLiteEvalStore

        return SQLiteEvalStore(self.path)

    def keys(self) -> SQLiteKeyStore:
        from ragline.store.sqlite_keys import SQLiteKeyStore

        return SQLiteKeyStore(self.path)

    def limits(self) -> SQLiteLimitStore:
        from ragline.store.sqlite_limits import SQLiteLimitStore

        return SQLiteLimitStore(self.path)

    def handoffs(self) -> SQLiteHandoffStore:
        from ragline.store.sqlite_handoff import SQLiteHandoffStore

        return SQLiteHandoffStore(self.path)

    def cache(self) -> SQLiteCacheStore:
        from ragline.store.sqlite_cache import SQLiteCacheStore

        return SQLiteCacheStore(self.path)

    def agent_runs(self) -> SQLiteAgentRunStore:
        from ragline.store.agent_base import retention_of
        from ragline.store.sqlite_agent import SQLiteAgentRunStore

        return SQLiteAgentRunStore(self.path, retention=retention_of(self.settings))

    def memory(self) -> SQLiteMemoryStore:
        from ragline.store.sqlite_memory import SQLiteMemoryStore

        return SQLiteMemoryStore(self.path)


__all__ = ["SQLiteStores", "path_of"]
