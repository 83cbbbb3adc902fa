"""The semantic cache's in-memory index: one matrix of question vectors per
``(collection, scope)``, kept in sync with the :class:`~ragline.store.cache_base.CacheStore`.

:meth:`ScopeIndex.sync` reads only the rows stored after the last one it holds (one indexed
query), so an entry written by another process or replica is seen at the next lookup. A key
stored again replaces its row; a key found gone when fetched is dropped (:meth:`forget`).

Scoring: up to ``prefilter_above`` rows, one exact cosine per row. Beyond, a Hamming
prefilter on 384-bit sign codes of the centred vectors (six 64-bit words per row,
``np.bitwise_count``) picks the ``prefilter_candidates`` nearest rows, and only those are
scored exactly: at 100k entries the prefilter reads 4.8 MB instead of 150 MB (see
``benchmarks/bench_cache.py`` for its recall).
"""

from __future__ import annotations

import threading

import numpy as np

from ragline.store.cache_base import CacheStore


def sign_codes(vectors: np.ndarray) -> np.ndarray:
    """``(words, n)`` uint64: bit ``j`` of row ``i`` is ``vectors[i, j] > 0``."""
    n, dim = vectors.shape
    pad = (-dim) % 64
    bits = vectors > 0
    if pad:
        bits = np.concatenate([bits, np.zeros((n, pad), dtype=bool)], axis=1)
    packed = np.packbits(bits, axis=1).view(np.uint64)  # (n, words)
    return np.ascontiguousarray(packed.T)


class ScopeIndex:
    """Question vectors of one ``(collection, scope)``."""

    def __init__(self, collection: str, scope: str) -> None:
        self.collection = collection
        self.scope = scope
        self.last_seq = 0
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._codes = np.zeros((0, 0), dtype=np.uint64)
        self._alive = np.zeros(0, dtype=bool)
        self._live_count = 0
        self._buf = np.zeros(0, dtype=np.uint64)
        self._count = np.zeros(0, dtype=np.uint8)
        self._dist = np.zeros(0, dtype=np.uint16)
        self.size = 0
        #: Subtracted before taking sign bits (MiniLM's vectors share a direction; their raw
        #: signs carry less): the mean of the rows when the prefilter is first needed.
        self._center: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def live(self) -> int:
        return self._live_count

    def _grow(self, extra: int, dim: int) -> None:
        need = self.size + extra
        if self._vectors.shape[1] != dim and self.size == 0:
            self._vectors = np.zeros((0, dim), dtype=np.float32)
        if need <= self._vectors.shape[0]:
            return
        cap = max(need, 2 * self._vectors.shape[0], 64)
        vectors = np.zeros((cap, dim), dtype=np.float32)
        words = (dim + 63) // 64
        codes = np.zeros((words, cap), dtype=np.uint64)
        alive = np.zeros(cap, dtype=bool)
        if self.size:
            vectors[: self.size] = self._vectors[: self.size]
            codes[:, : self.size] = self._codes[:, : self.size]
            alive[: self.size] = self._alive[: self.size]
        self._vectors, self._codes, self._alive = vectors, codes, alive

    def sync(self, store: CacheStore) -> int:
        """Read the rows stored since the last sync; returns how many."""
        batch = store.vectors(self.collection, self.scope, after=self.last_seq)
        if not batch.keys:
            return 0
        with self._lock:
            if batch.last_seq <= self.last_seq:  # another thread got there first
                return 0
            fresh = batch.seqs > self.last_seq
            keys = [k for k, f in zip(batch.keys, fresh, strict=True) if f]
            vectors = batch.vectors[fresh]
            dim = vectors.shape[1]
            if self.size and dim != self._vectors.shape[1]:
                # another embedder: the old rows cannot be compared with the new ones
                self.__init__(self.collection, self.scope)  # type: ignore[misc]
            self._grow(len(keys), dim)
            start = self.size
            for i, key in enumerate(keys):
                old = self.rows.get(key)
                if old is not None and self._alive[old]:
                    self._alive[old] = False
                    self._live_count -= 1
                self.rows[key] = start + i
            self.keys.extend(keys)
            end = start + len(keys)
            self._vectors[start:end] = vectors
            self._codes[:, start:end] = sign_codes(self._centered(vectors))
            self._alive[start:end] = True
            self._live_count += len(keys)
            self.size = end
            self.last_seq = batch.last_seq
        return len(keys)

    def _centered(self, vectors: np.ndarray) -> np.ndarray:
        return vectors if self._center is None else vectors - self._center

    def forget(self, key: str) -> None:
        with self._lock:
            row = self.rows.pop(key, None)
            if row is not None and self._alive[row]:
                self._alive[row] = False
                self._live_count -= 1

    def _prefilter(self, q: np.ndarray, size: int, m: int) -> np.ndarray:
        """Rows whose Hamming distance to ``q`` is among the ``m`` smallest (ties at the cut
        kept, up to ``2 m``), dead rows left out. No Python loop over rows: per 64-bit word
        one XOR and one ``bitwise_count`` into preallocated buffers.

        Two stages on a large index: the first half of the words ranks every row and keeps
        the nearest ``size / 16`` (at least ``8 m``); the other half completes the distance
        of those only. A near duplicate differs in far fewer bits than a random row, so it
        survives the first stage (``benchmarks/bench_cache.py`` measures the top-1 recall);
        the memory read per lookup halves."""
        words = self._codes.shape[0]
        if self._buf.shape[0] < size:
            self._buf = np.empty(self._codes.shape[1], dtype=np.uint64)
            self._count = np.empty(self._codes.shape[1], dtype=np.uint8)
            self._dist = np.empty(self._codes.shape[1], dtype=np.uint16)
        keep = max(8 * m, size // 32)
        first = words // 2 if words >= 2 and size > 2 * keep else words
        buf, count, dist = self._buf[:size], self._count[:size], self._dist[:size]
        for w in range(first):
            np.bitwise_xor(self._codes[w, :size], q[w], out=buf)
            np.bitwise_count(buf, out=count)
            if w == 0:
                dist[:] = count
            else:
                np.add(dist, count, out=dist)
        alive = self._alive[:size]
        dead = size - self._live_count
        if dead:
            dist[~alive] = np.iinfo(np.uint16).max
        if first < words:  # second stage: the nearest `keep` rows, all their words
            rows = np.flatnonzero(dist <= self._cut(dist, keep, margin=1))
            part = dist[rows]
            for w in range(first, words):  # 1-D takes: far cheaper than a 2-D fancy index
                part += np.bitwise_count(np.take(self._codes[w], rows) ^ q[w])
            if dead:
                part[~alive[rows]] = np.iinfo(np.uint16).max
            if rows.size > m:
                near = np.argpartition(part, m - 1)[:m]
                rows = rows[near]
            return rows[alive[rows]] if dead else rows
        cut = self._cut(dist, m)
        rows = np.flatnonzero(dist <= cut)
        if rows.size > 2 * m:  # many ties at the cut: the m nearest of them
            rows = rows[np.argpartition(dist[rows], m - 1)[:m]]
        if dead:
            rows = rows[alive[rows]]
        return rows

    def _cut(self, dist: np.ndarray, m: int, margin: int = 2) -> int:
        """A distance with at least ``m`` rows at or under it, and not many more.

        Estimated from every ``k``-th row (about 4,096 of them): the sample's own
        ``margin * m / k``-th smallest distance, so about ``margin`` times ``m`` rows pass and
        the true ``m`` nearest are among them; checked on the whole array (one count), and
        found exactly from the histogram when the estimate keeps too few (a skewed sample)."""
        size = dist.shape[0]
        k = size // 4096
        if k >= 4 and m < size // 2:
            sample = dist[::k]
            j = min(sample.shape[0] - 1, -(-margin * m // k))
            cut = int(np.partition(sample, j)[j])
            if np.count_nonzero(dist <= cut) >= m:
                return cut
        bits = 64 * self._codes.shape[0]
        hist = np.bincount(dist, minlength=bits + 1)[: bits + 1]
        return int(np.searchsorted(np.cumsum(hist), m))

    def search(
        self,
        vector: np.ndarray,
        *,
        threshold: float,
        n: int,
        prefilter_above: int,
        prefilter_candidates: int,
    ) -> tuple[list[tuple[str, float]], float | None]:
        """The best ``n`` keys with cosine ``>= threshold``, best first, and the best cosine
        seen (None: the index is empty)."""
        with self._lock:
            size = self.size
            if size == 0 or vector.shape[0] != self._vectors.shape[1]:
                return [], None
            vectors, alive = self._vectors, self._alive
            if size > prefilter_above:
                if self._center is None:
                    self._center = vectors[:size][alive[:size]].mean(axis=0)
                    self._codes[:, :size] = sign_codes(vectors[:size] - self._center)
                q = sign_codes(self._centered(vector[None, :]))[:, 0]
                rows = self._prefilter(q, size, min(prefilter_candidates, size))
            else:
                rows = np.flatnonzero(alive[:size])
            if rows.size == 0:
                return [], None
            scores = vectors[rows] @ vector
            top = np.argpartition(-scores, n - 1)[:n] if scores.size > n else np.arange(scores.size)
            top = top[np.argsort(-scores[top])]
            best = float(scores[top[0]])
            found = [
                (self.keys[int(rows[i])], float(scores[i])) for i in top if scores[i] >= threshold
            ]
        return found, best


__all__ = ["ScopeIndex", "sign_codes"]
