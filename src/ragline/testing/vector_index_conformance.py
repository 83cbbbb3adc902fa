"""The conformance suite of the :class:`ragline.store.base.VectorIndex` Protocol.

A store that answers dense search from an index of its own inherits
:class:`VectorIndexConformance` and supplies ``store``: a fresh, empty store that is both a
:class:`~ragline.store.base.Store` and a ``VectorIndex``::

    class TestMyIndex(VectorIndexConformance):
        @pytest.fixture
        def store(self, pg_url):
            s = MyStore(pg_url)
            yield s
            s.close()
"""

from __future__ import annotations

import numpy as np
import pytest

from ragline.errors import CollectionNotFoundError
from ragline.store.base import Store, VectorIndex
from ragline.testing.store_conformance import make_write


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


class VectorIndexConformance:
    """Every vector index answers like an exact cosine search, collection by collection."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - supplied by subclasses
        raise NotImplementedError

    def test_is_a_vector_index(self, store: Store) -> None:
        assert isinstance(store, VectorIndex) and isinstance(store, Store)

    def test_nearest_first_with_cosine_scores(self, store: Store) -> None:
        index: VectorIndex = store  # type: ignore[assignment]
        store.create_collection("c")
        writes = [make_write(f"d{i}", [f"text {i}"], dim=16, seed=i) for i in range(40)]
        store.write_documents("c", writes)
        vectors = {w.chunks[0].id: w.embeddings[0] for w in writes}
        rng = np.random.default_rng(7)
        for _ in range(5):
            q = _unit(rng, 16)
            got = index.dense_search("c", q, 5)
            exact = sorted(vectors, key=lambda c: -float(vectors[c] @ q))[:5]
            assert [c for c, _ in got] == exact  # 40 points: the index must be exact here
            for cid, score in got:
                assert score == pytest.approx(float(vectors[cid] @ q), abs=1e-5)
            scan = index.dense_search("c", q, 5, exact=True)
            assert [c for c, _ in scan] == exact
            assert [s for _, s in scan] == pytest.approx([s for _, s in got])

    def test_k_larger_than_the_collection_and_empty_collections(self, store: Store) -> None:
        index: VectorIndex = store  # type: ignore[assignment]
        store.create_collection("empty")
        assert index.dense_search("empty", np.ones(4, np.float32) / 2, 3) == []
        store.create_collection("c")
        store.write_documents("c", [make_write("a", ["one", "two"])])
        assert len(index.dense_search("c", np.ones(4, np.float32) / 2, 10)) == 2

    def test_collections_are_isolated_and_replacements_seen(self, store: Store) -> None:
        index: VectorIndex = store  # type: ignore[assignment]
        store.create_collection("a")
        store.create_collection("b")
        wa = make_write("x", ["alpha"], seed=1)
        store.write_documents("a", [wa])
        store.write_documents("b", [make_write("y", ["beta"], seed=2)])
        q = wa.embeddings[0]
        assert [c for c, _ in index.dense_search("a", q, 5)] == [wa.chunks[0].id]
        replaced = make_write("x", ["alpha again"], seed=3)
        store.write_documents("a", [replaced])
        assert [c for c, _ in index.dense_search("a", q, 5)] == [replaced.chunks[0].id]
        store.delete_documents("a", ["x"])
        assert index.dense_search("a", q, 5) == []

    def test_unknown_collection_raises(self, store: Store) -> None:
        with pytest.raises(CollectionNotFoundError):
            store.dense_search("nope", np.ones(4, np.float32), 3)  # type: ignore[attr-defined]


__all__ = ["VectorIndexConformance"]
