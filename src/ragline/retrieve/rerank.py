"""The reranking slot: a :class:`Reranker` Protocol and the pass-through default.

No cross-encoder ships inside a PyPI package today (flashrank downloads its model at run
time), so the default keeps the fused order. A reranker receives the query and the fused
hits and returns them re-scored. ``retrieval.reranker`` names one of the ``ragline.rerankers``
plugin group (:mod:`ragline.plugins`; ``none`` is built in), whose factory is called with
the :class:`~ragline.config.Settings`; or pass one to :class:`~ragline.retrieve.Retriever`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ragline.types import Hit

if TYPE_CHECKING:
    from ragline.config import Settings


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        """Return at most ``k`` hits, best first, with ``rank`` renumbered from 1."""
        ...


class NoopReranker:
    """Keeps the order it is given."""

    name = "none"

    def __init__(self, settings: Settings | None = None) -> None:
        pass

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        return hits[:k]


def create_reranker(settings: Settings) -> Reranker:
    """The reranker ``settings.retrieval.reranker`` names, from the plugin registry."""
    from ragline import plugins

    factory = plugins.load("rerankers", settings.retrieval.reranker)
    return factory(settings)
