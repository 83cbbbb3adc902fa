"""Storage backends behind the :class:`~ragline.store.base.Store` Protocol."""

from __future__ import annotations

from ragline.config import Settings
from ragline.store.base import DocumentWrite, IndexData, Store, StoredDocument
from ragline.store.sqlite import SQLiteStore


def open_store(settings: Settings) -> SQLiteStore:
    """Open (creating and migrating if needed) the store that ``settings`` points at."""
    return SQLiteStore(settings.database_path)


__all__ = ["DocumentWrite", "IndexData", "SQLiteStore", "Store", "StoredDocument", "open_store"]
