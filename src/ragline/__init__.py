"""ragline: trustworthy talk-to-your-documents assistants, offline by default.

The public API::

    from ragline import Ragline
    with Ragline() as rag:
        rag.ingest(["docs/"], collection="handbook")
        hits = rag.search("vacation policy", collection="handbook")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragline.api import Ragline
    from ragline.config import Settings, load_settings
    from ragline.errors import RaglineError
    from ragline.types import Chunk, Hit, IngestReport, LoadedDocument, SearchFilters

__version__ = "0.1.0"

# Imported on first use (PEP 562): ``import ragline.errors`` or the CLI's ``--help`` must not
# pay for the models, the answer flow and the HTTP client that ``Ragline`` brings in.
_LAZY = {
    "Ragline": "ragline.api",
    "Settings": "ragline.config",
    "load_settings": "ragline.config",
    "RaglineError": "ragline.errors",
    "Chunk": "ragline.types",
    "Hit": "ragline.types",
    "IngestReport": "ragline.types",
    "LoadedDocument": "ragline.types",
    "SearchFilters": "ragline.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ragline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(n for n in globals() if n.startswith("_"))})


__all__ = [
    "Chunk",
    "Hit",
    "IngestReport",
    "LoadedDocument",
    "Ragline",
    "RaglineError",
    "SearchFilters",
    "Settings",
    "__version__",
    "load_settings",
]
