"""The reranking slot: a :class:`Reranker` Protocol and the pass-through default.

No cross-encoder ships inside a PyPI package today (flashrank downloads its model at run
time), so the default keeps the fused order. A reranker receives the query and the fused
hits and returns them re-scored; plug one in with :func:`ragline.retrieve.Retriever`'s
``reranker`` argument.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ragline.types import Hit


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        """Return at most ``k`` hits, best first, with ``rank`` renumbered from 1."""
        ...


class NoopReranker:
    """Keeps the order it is given."""

    name = "none"

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        return hits[:k]
