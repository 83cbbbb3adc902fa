"""ragline: trustworthy talk-to-your-documents assistants, offline by default.

The public API::

    from ragline import Ragline
    with Ragline() as rag:
        rag.ingest(["docs/"], collection="handbook")
        hits = rag.search("vacation policy", collection="handbook")
"""

from ragline.api import Ragline
from ragline.config import Settings, load_settings
from ragline.errors import RaglineError
from ragline.types import Chunk, Hit, IngestReport, LoadedDocument, SearchFilters

__version__ = "0.1.0"

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
