"""Storage backends behind the Protocols of :mod:`ragline.store.base` (documents),
:mod:`~ragline.store.traces_base`, :mod:`~ragline.store.evals_base` and
:mod:`~ragline.store.keys_base`. Open them through :mod:`ragline.store.factory`, which picks
the backend by the scheme of ``store.url`` (``sqlite`` built in)."""

from __future__ import annotations

from ragline.config import Settings
from ragline.store.base import DocumentWrite, IndexData, Store, StoredDocument
from ragline.store.factory import open_documents, open_evals, open_keys, open_traces


def open_store(settings: Settings) -> Store:
    """Open (creating and migrating if needed) the document store ``settings`` points at."""
    return open_documents(settings)


__all__ = [
    "DocumentWrite",
    "IndexData",
    "Store",
    "StoredDocument",
    "open_documents",
    "open_evals",
    "open_keys",
    "open_store",
    "open_traces",
]
