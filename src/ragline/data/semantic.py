"""Semantic deduplication: QA pairs that ask the same thing in other words.

MinHash finds texts that share their wording; two questions can ask the same thing with
few words in common ("How long is the warranty?" / "For how many years is the product
covered?"). Here each text (a QA pair's question and answer, or any record's text) is
embedded with the configured embedder (the default: all-MiniLM-L6-v2, unit vectors) and a
pair whose cosine reaches ``threshold`` (``data.semantic_threshold``) is a duplicate.
Clusters are formed as in :mod:`ragline.data.dedup`: greedily in input order, a record
removed for the most similar earlier kept record. All pairs are compared in blocks of rows
(a few thousand QA pairs take well under a second after embedding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragline.data.dedup import DedupResult, DupCluster, greedy_clusters
from ragline.errors import ConfigError
from ragline.models.embedder import Embedder

_BLOCK = 1024


def similar_pairs(vectors: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """``(i, j, cosine)`` with ``i < j`` and cosine >= threshold (unit-length rows)."""
    out: list[tuple[int, int, float]] = []
    n = len(vectors)
    for start in range(0, n, _BLOCK):
        sims = vectors[start : start + _BLOCK] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                out.append((i, c, float(sims[r, c])))
    return out


def semantic_duplicates(
    texts: Sequence[str],
    embedder: Embedder,
    *,
    threshold: float,
    keep: Sequence[bool] | None = None,
) -> DedupResult:
    """Clusters of texts whose embeddings' cosine reaches ``threshold``.

    ``keep`` limits the comparison to texts still kept by an earlier step (exact and
    near-duplicate removal); the others keep their places and stay removed.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"a cosine threshold is in (0, 1], got {threshold}")
    positions = [i for i in range(len(texts)) if keep is None or keep[i]]
    vectors = embedder.embed([texts[i] for i in positions])
    pairs = similar_pairs(np.asarray(vectors, dtype=np.float32), threshold)
    sub_keep, removed = greedy_clusters(len(positions), pairs, reason="semantic")
    mask = list(keep) if keep is not None else [True] * len(texts)
    for k, kept in enumerate(sub_keep):
        if not kept:
            mask[positions[k]] = False
    clusters = []
    for kept_k in sorted(removed):
        cluster = DupCluster(positions[kept_k])
        for m in removed[kept_k]:
            m.index = positions[m.index]
            cluster.removed.append(m)
        clusters.append(cluster)
    params = {"semantic_threshold": threshold, "embedder": getattr(embedder, "name", "")}
    return DedupResult(len(texts), mask, clusters, params)


__all__ = ["semantic_duplicates", "similar_pairs"]
