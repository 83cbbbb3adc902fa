"""The semantic index's Hamming prefilter against an exact scan, and against the previous
prefilter (the ``m`` nearest codes by ``argpartition``)."""

from __future__ import annotations

import numpy as np

from ragline.cache.index import ScopeIndex, sign_codes
from ragline.store.cache_base import VectorBatch


class _Store:
    def __init__(self, vectors: np.ndarray) -> None:
        self.v = vectors

    def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
        n = len(self.v)
        if after >= n:
            return VectorBatch(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32))
        return VectorBatch(
            np.arange(after + 1, n + 1, dtype=np.int64),
            [f"k{i}" for i in range(after, n)],
            self.v[after:],
        )


def _data(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors sharing a common direction (as MiniLM's do), and queries that are
    noisy copies of stored rows (cosine about 0.9 to their source)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=384)
    centres = rng.normal(size=(50, 384)) + 2 * common
    v = centres[rng.integers(0, 50, n)] + 1.5 * rng.normal(size=(n, 384))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    src = rng.integers(0, n, queries)
    q = v[src] + 0.03 * rng.normal(size=(queries, 384))
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    return v, q


def _old_prefilter_top1(index: ScopeIndex, v: np.ndarray, q: np.ndarray, m: int) -> int:
    """The previous search: the ``m`` smallest Hamming distances by ``argpartition``."""
    codes = index._codes[:, : index.size]
    qc = sign_codes(q[None, :] - index._center)[:, 0]
    dist = sum(np.bitwise_count(codes[w] ^ qc[w]).astype(np.int32) for w in range(len(qc)))
    rows = np.argpartition(dist, m - 1)[:m]
    return int(rows[np.argmax(v[rows] @ q)])


def test_prefilter_top1_matches_an_exact_scan_at_least_as_often_as_before():
    v, queries = _data(20_000, 300)
    index = ScopeIndex("c", "s")
    assert index.sync(_Store(v)) == len(v)  # type: ignore[arg-type]
    m = 64
    new = old = 0
    for q in queries:
        found, best = index.search(
            q, threshold=-1.0, n=1, prefilter_above=4096, prefilter_candidates=m
        )
        exact = int(np.argmax(v @ q))
        new += found[0][0] == f"k{exact}"
        old += _old_prefilter_top1(index, v, q, m) == exact
        assert best == found[0][1]
    assert new >= old
    assert new / len(queries) >= 0.98, new


def test_forgotten_and_replaced_rows_are_never_returned_through_the_prefilter():
    v, _ = _data(6000, 0, seed=1)
    rng = np.random.default_rng(2)
    queries = v[rng.integers(0, 3000, 50) * 2 + 1] + 0.01 * rng.normal(size=(50, 384))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    index = ScopeIndex("c", "s")
    index.sync(_Store(v))  # type: ignore[arg-type]
    assert index.live == 6000
    for i in range(0, 6000, 2):
        index.forget(f"k{i}")
    assert index.live == 3000
    for q in queries:
        found, _ = index.search(
            q, threshold=-1.0, n=5, prefilter_above=100, prefilter_candidates=32
        )
        assert found and all(int(k[1:]) % 2 == 1 for k, _ in found)
        alive = np.arange(1, 6000, 2)
        exact = int(alive[np.argmax(v[alive] @ q)])
        assert found[0][0] == f"k{exact}"
