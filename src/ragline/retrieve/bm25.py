"""BM25 (Lucene variant) over the postings the store persists.

The store keeps each chunk's term frequencies, written once at ingest time, so adding or
replacing documents only touches their own rows. :class:`BM25Index` turns those postings into
a term-major sparse matrix of precomputed per-term scores (as bm25s does): a query then sums a
few matrix rows with one ``np.bincount``. The matrix is built once per collection version and
reused by every query until the collection changes.

Scoring: ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``score(t, d) = idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))``.
"""

from __future__ import annotations

import numpy as np

from ragline.retrieve.analyzer import Analyzer
from ragline.store.base import IndexData


class BM25Index:
    """Precomputed BM25 scores for one collection version."""

    def __init__(self, data: IndexData, analyzer: Analyzer, k1: float = 1.5, b: float = 0.75):
        self.analyzer = analyzer
        self.size = n = len(data.chunk_ids)
        self._vocab = data.vocabulary
        self._row_of: dict[str, int] = {}
        if n == 0 or data.term_ids.size == 0:
            self._local = np.zeros(0, dtype=np.int64)
            self._global_ids = np.zeros(0, dtype=np.int64)
            self._indptr = np.zeros(1, dtype=np.int64)
            self._docs = np.zeros(0, dtype=np.int32)
            self._scores = np.zeros(0, dtype=np.float32)
            return
        # Map global term ids to compact local rows.
        global_ids, local = np.unique(data.term_ids, return_inverse=True)
        doc_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(data.indptr))
        df = np.bincount(local, minlength=global_ids.size).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        lengths = data.lengths.astype(np.float64)
        avgdl = max(lengths.mean(), 1e-9)
        tf = data.tfs.astype(np.float64)
        norm = k1 * (1.0 - b + b * lengths[doc_of] / avgdl)
        scores = idf[local] * tf / (tf + norm)
        # Sort postings term-major (CSR over terms).
        order = np.argsort(local, kind="stable")
        self._docs = doc_of[order]
        self._scores = scores[order].astype(np.float32)
        self._indptr = np.zeros(global_ids.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(local, minlength=global_ids.size), out=self._indptr[1:])
        self._global_ids = global_ids
        self.avgdl = float(avgdl)
        # term -> row, for the terms of this collection only.
        row_of_gid = {int(g): i for i, g in enumerate(global_ids.tolist())}
        self._row_of = {t: row_of_gid[g] for t, g in self._vocab.items() if g in row_of_gid}

    def _rows(self, terms: list[str]) -> list[int]:
        row_of = self._row_of
        return [row_of[t] for t in terms if t in row_of]

    def score(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (length ``size``)."""
        rows = self._rows(self.analyzer.terms(query))
        if not rows or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        ip = self._indptr
        if len(rows) == 1:
            r = rows[0]
            out = np.zeros(self.size, dtype=np.float32)
            out[self._docs[ip[r] : ip[r + 1]]] = self._scores[ip[r] : ip[r + 1]]
            return out
        sl = [slice(ip[r], ip[r + 1]) for r in rows]
        docs = np.concatenate([self._docs[s] for s in sl])
        vals = np.concatenate([self._scores[s] for s in sl])
        return np.bincount(docs, weights=vals, minlength=self.size)


def top_k(
    scores: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best entries (ties broken by index), best first.

    ``mask`` (bool) limits the candidates; entries with score ``-inf`` are dropped.
    """
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    idx = idx[np.lexsort((idx, -scores[idx]))]
    keep = np.isfinite(scores[idx])
    return idx[keep], scores[idx][keep]
