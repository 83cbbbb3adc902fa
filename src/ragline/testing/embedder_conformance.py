"""Conformance suites of the :class:`~ragline.models.embedder.Embedder` and
:class:`~ragline.retrieve.rerank.Reranker` Protocols.

A backend's tests inherit the class and supply an ``embedder`` (or ``reranker``) fixture.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragline.models.embedder import Embedder
from ragline.retrieve.rerank import Reranker
from ragline.types import Chunk, Hit


class EmbedderConformance:
    @pytest.fixture
    def embedder(self) -> Embedder:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    def test_is_an_embedder(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert embedder.dim > 0 and embedder.max_tokens > 0 and embedder.name

    def test_shapes_and_unit_norm(self, embedder: Embedder) -> None:
        texts = ["short", "a somewhat longer sentence about cats and dogs", "x " * 2000]
        vecs = embedder.embed(texts)
        assert vecs.shape == (3, embedder.dim) and vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
        assert embedder.embed([]).shape == (0, embedder.dim)

    def test_order_and_batch_independence(self, embedder: Embedder) -> None:
        texts = [f"document number {i} about topic {i % 3}" for i in range(40)]
        together = embedder.embed(texts)
        alone = np.vstack([embedder.embed([t]) for t in texts[:5]])
        np.testing.assert_allclose(together[:5], alone, atol=1e-4)

    def test_semantics(self, embedder: Embedder) -> None:
        a, b, c = embedder.embed(
            ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell."]
        )
        assert float(a @ b) > float(a @ c) + 0.2

    def test_count_tokens(self, embedder: Embedder) -> None:
        assert embedder.count_tokens("") == 0
        short, long = embedder.count_tokens("hello"), embedder.count_tokens("hello " * 50)
        assert 0 < short < long


class RerankerConformance:
    @pytest.fixture
    def reranker(self) -> Reranker:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    @staticmethod
    def hits(n: int) -> list[Hit]:
        return [
            Hit(
                chunk=Chunk(id=f"c{i}", document_id="d", ordinal=i, text=f"text {i}", source="s"),
                score=1.0 / (i + 1),
                rank=i + 1,
                mode="hybrid",
            )
            for i in range(n)
        ]

    def test_is_a_reranker(self, reranker: Reranker) -> None:
        assert isinstance(reranker, Reranker) and reranker.name

    def test_keeps_at_most_k_of_the_given_hits(self, reranker: Reranker) -> None:
        hits = self.hits(8)
        out = reranker.rerank("query", hits, 5)
        assert len(out) == 5
        assert {h.chunk.id for h in out} <= {h.chunk.id for h in hits}
        assert reranker.rerank("query", [], 5) == []
