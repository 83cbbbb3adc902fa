"""Deduplication: exact (normalised hash) and near-duplicate (MinHash + LSH) clusters.

Each text is normalised (NFKC, case-folded, its ``\\w+`` words joined by one space):

1. **exact**: texts whose normalised form has the same hash are one cluster (similarity 1);
2. **near**: one text per exact cluster is shingled (word n-grams by default, see
   :data:`ragline.config.DataSettings`), sketched with R-MinHash (``rensa``, a Rust MinHash
   with batch digests) and put through LSH banding; a candidate pair is a duplicate when the
   sketches' estimated Jaccard similarity reaches the threshold.

Clusters are formed greedily in input order, so they read simply: a record is removed when
it is a duplicate of an earlier *kept* record (the most similar one, if several), and the
kept one is the cluster's representative. Every removed record is thus within the threshold
of the record it was removed for (no chains of A~B~C with A and C far apart). The first
record of a cluster in the file is the one kept, unchanged.

``engine="datasketch"`` runs the same clustering on ``datasketch``'s MinHash and MinHashLSH,
the reference implementation (tests check that both agree; ``benchmarks/bench_data.py``
times both). LSH bands: the (bands, rows) pair that minimises the sum of false-positive and
false-negative probability mass around the threshold, as datasketch chooses it. A bucket
shared by more than ``MAX_BUCKET`` texts pairs each of them with its next ``MAX_BUCKET``
members (in input order) and with the bucket's first member only, which bounds the work on
inputs with thousands of copies of one text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ragline.errors import ConfigError, MissingDependencyError

MinHashEngine = Literal["rensa", "datasketch"]
ShingleKind = Literal["word", "char"]
DupReason = Literal["exact", "near", "semantic"]
#: Pairs one LSH bucket may contribute per member (see the module docstring).
MAX_BUCKET = 64
_WORD = re.compile(r"\w+")
_PAIR_BLOCK = 1 << 20


# --------------------------------------------------------------------------- text


# ASCII fast path: one translate lowercases and blanks every non-word character.
_ASCII_WORDS = str.maketrans(
    {i: (chr(i).lower() if chr(i).isalnum() or chr(i) == "_" else " ") for i in range(128)}
)


def words(text: str) -> list[str]:
    """The normalised words of ``text``: NFKC, case-folded ``\\w+`` runs."""
    if text.isascii():
        return text.translate(_ASCII_WORDS).split()
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def exact_key(tokens: Sequence[str]) -> str:
    """The hash two texts share when they differ only in case, spacing and punctuation."""
    return hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=16).hexdigest()


def shingles(tokens: Sequence[str], *, kind: ShingleKind, n: int) -> list[str]:
    """Word n-grams (``kind="word"``) or character n-grams of the normalised text.

    A text shorter than one n-gram is one shingle (itself), so short texts still compare.
    """
    if not tokens:
        return []
    if kind == "char":
        s = " ".join(tokens)
        return [s] if len(s) <= n else [s[i : i + n] for i in range(len(s) - n + 1)]
    if len(tokens) <= n:
        return [" ".join(tokens)]
    if n == 1:
        return list(tokens)
    return [" ".join(g) for g in zip(*(tokens[i:] for i in range(n)), strict=False)]


# --------------------------------------------------------------------------- LSH


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the probability mass of
    false positives (similarity below the threshold, yet a candidate) plus false negatives."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"a similarity threshold is between 0 and 1, got {threshold}")
    grid = np.linspace(0.0, 1.0, 1001)
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - grid**r) ** b
            below, above = grid <= threshold, grid > threshold
            err = p[below].sum() / 1000 + (1.0 - p[above]).sum() / 1000
            if err < best_err:
                best, best_err = (b, r), err
    return best


def _band_pairs(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j``, sharing at least one band (unique, int64)."""
    n = sig.shape[0]
    rng = np.random.default_rng(0x5EED)
    found: list[np.ndarray] = []
    for b in range(bands):
        block = sig[:, b * rows : (b + 1) * rows].astype(np.uint64)
        mult = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):
            keys = (block * mult).sum(axis=1, dtype=np.uint64)
            keys ^= block[:, 0] << np.uint64(32)
        # members of a bucket are contiguous in key order, and in input order within it
        # (stable sort): pair each with its next MAX_BUCKET neighbours, one offset at a time
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        # ... and with the bucket's first member (the earliest text, most often the kept one)
        starts = np.concatenate(([True], sk[1:] != sk[:-1]))
        head = np.flatnonzero(starts)[np.cumsum(starts) - 1]
        far = np.flatnonzero(np.arange(n) - head > MAX_BUCKET)
        if far.size:
            found.append(order[head[far]].astype(np.int64) * n + order[far])
        for d in range(1, MAX_BUCKET + 1):
            same = sk[d:] == sk[:-d]
            if not same.any():
                break  # buckets are contiguous: none is longer than d
            i, j = order[:-d][same], order[d:][same]
            found.append(i.astype(np.int64) * n + j)
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack((codes // n, codes % n), axis=1)


def _estimated_similarity(sig: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), _PAIR_BLOCK):
        p = pairs[s : s + _PAIR_BLOCK]
        out[s : s + len(p)] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


def rensa_signatures(shingle_sets: Sequence[Sequence[str]], num_perm: int, seed: int) -> np.ndarray:
    """R-MinHash signatures (one uint32 row per set) in one batch call to ``rensa``."""
    try:
        import rensa
    except ImportError as exc:  # pragma: no cover - rensa is a dependency of ragline[data]
        raise MissingDependencyError(
            "near-duplicate detection needs rensa",
            hint="pip install rensa (a dependency of ragline)",
        ) from exc
    matrix = rensa.RMinHash.digest_matrix_from_token_sets(list(shingle_sets), num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(shingle_sets), num_perm)


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


def word_shingle_hashes(
    token_lists: Sequence[Sequence[str]], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word n-grams of each token list, flat, with row offsets.

    The same sets as :func:`shingles` (``kind="word"``), hashed in numpy instead of joined
    as strings: each word is hashed once (rensa's FxHash) and each n-gram mixes its words'
    hashes. A list shorter than n words is one shingle (all its words).
    """
    import itertools

    import rensa

    hashed = rensa.RMinHash.hash_token_sets(token_lists)
    lens = np.fromiter(map(len, hashed), dtype=np.int64, count=len(hashed))
    flat = np.fromiter(
        itertools.chain.from_iterable(hashed), dtype=np.uint64, count=int(lens.sum())
    )
    del hashed  # ten million Python ints for 100k chunks: let them go before the numpy work
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    width = np.minimum(lens, n)  # a short list: one shingle of all its words
    counts = np.maximum(lens - n + 1, 1)
    counts[lens == 0] = 0
    row = np.repeat(np.arange(len(lens)), counts)
    first = np.repeat(starts, counts) + (
        np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    out = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            valid = j < width[row]
            idx = np.where(valid, first + j, 0)
            step = (out ^ flat[idx]) * _MIX[j % 2]
            out = np.where(valid, step ^ (step >> np.uint64(31)), out)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)
    return out, offsets


def _rensa_signatures_from_hashes(
    flat: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int
) -> np.ndarray:
    import rensa

    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(offsets) - 1, num_perm)


def _rensa_pairs(
    shingle_sets: Sequence[Sequence[str]] | np.ndarray,
    threshold: float,
    num_perm: int,
    seed: int,
) -> Iterable[tuple[int, int, float]]:
    sig = (
        shingle_sets
        if isinstance(shingle_sets, np.ndarray)
        else rensa_signatures(shingle_sets, num_perm, seed)
    )
    bands, rows = optimal_bands(threshold, num_perm)
    pairs = _band_pairs(sig, bands, rows)
    sims = _estimated_similarity(sig, pairs)
    ok = sims >= threshold
    return zip(pairs[ok, 0].tolist(), pairs[ok, 1].tolist(), sims[ok].tolist(), strict=True)


def _datasketch_pairs(
    shingle_sets: Sequence[Sequence[str]], threshold: float, num_perm: int, seed: int
) -> Iterable[tuple[int, int, float]]:
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError as exc:
        raise MissingDependencyError(
            "the reference engine needs datasketch", hint="pip install datasketch"
        ) from exc
    sketches = []
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, sh in enumerate(shingle_sets):
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch([s.encode("utf-8") for s in sh])
        sketches.append(m)
        lsh.insert(i, m)
    out = []
    for j, m in enumerate(sketches):
        for i in lsh.query(m):
            if i < j:
                sim = float(sketches[i].jaccard(m))
                if sim >= threshold:
                    out.append((i, j, sim))
    return out


# --------------------------------------------------------------------------- clusters


@dataclass(slots=True)
class DupMember:
    index: int
    similarity: float
    reason: DupReason


@dataclass(slots=True)
class DupCluster:
    """One kept record (by position) and those removed as its duplicates."""

    kept: int
    removed: list[DupMember] = field(default_factory=list)


@dataclass(slots=True)
class DedupResult:
    """The outcome over ``n`` texts: which to keep, and the clusters with more than one."""

    n: int
    keep: list[bool]
    clusters: list[DupCluster]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def removed(self) -> int:
        return self.keep.count(False)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.clusters:
            for r in c.removed:
                out[r.reason] = out.get(r.reason, 0) + 1
        return out

    def kept_of(self) -> dict[int, int]:
        """DupMember position -> the position of the record kept for it."""
        return {r.index: c.kept for c in self.clusters for r in c.removed}


def greedy_clusters(
    n: int,
    pairs: Iterable[tuple[int, int, float]],
    *,
    reason: DupReason,
    candidates: Sequence[int] | None = None,
) -> tuple[list[bool], dict[int, list[DupMember]]]:
    """Greedy clustering in input order (see the module docstring).

    ``pairs`` are ``(i, j, similarity)`` over positions of ``candidates`` (default: all n
    positions). Returns the keep mask over the candidates' positions and, per kept position,
    what was removed for it.
    """
    neighbours: dict[int, list[tuple[int, float]]] = {}
    for i, j, sim in pairs:
        a, b = (i, j) if i < j else (j, i)
        neighbours.setdefault(b, []).append((a, sim))
    keep = [True] * n
    removed: dict[int, list[DupMember]] = {}
    for j in sorted(neighbours):
        best: tuple[float, int] | None = None
        for i, sim in neighbours[j]:
            if keep[i] and (best is None or (sim, -i) > (best[0], -best[1])):
                best = (sim, i)
        if best is not None:
            keep[j] = False
            removed.setdefault(best[1], []).append(DupMember(j, round(best[0], 4), reason))
    return keep, removed


def find_duplicates(
    texts: Sequence[str],
    *,
    threshold: float,
    shingle: ShingleKind = "word",
    ngram: int = 3,
    num_perm: int = 128,
    seed: int = 1,
    engine: MinHashEngine = "rensa",
    near: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DedupResult:
    """Exact, then near-duplicate clusters of ``texts`` (see the module docstring)."""
    if ngram < 1:
        raise ConfigError(f"the shingle size is at least 1, got {ngram}")
    if num_perm < 8:
        raise ConfigError(f"use at least 8 MinHash permutations, got {num_perm}")
    note = progress or (lambda _msg: None)
    n = len(texts)
    note("normalising")
    tokens = [words(t) for t in texts]
    keep = [True] * n
    clusters: dict[int, DupCluster] = {}
    first: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        if not tok:
            continue  # no words: nothing to compare it on
        key = exact_key(tok)
        if key in first:
            keep[i] = False
            rep = first[key]
            clusters.setdefault(rep, DupCluster(rep)).removed.append(DupMember(i, 1.0, "exact"))
        else:
            first[key] = i
    reps = [i for i in first.values()]
    if near and len(reps) > 1:
        note("shingling")
        if engine == "rensa" and shingle == "word":
            flat, offsets = word_shingle_hashes([tokens[i] for i in reps], ngram)
            del tokens  # not needed past here; the largest Python structure of a run
            note(f"sketching {len(reps)} texts ({engine})")
            sig = _rensa_signatures_from_hashes(flat, offsets, num_perm, seed)
            pairs = _rensa_pairs(sig, threshold, num_perm, seed)
        else:
            sets = [shingles(tokens[i], kind=shingle, n=ngram) for i in reps]
            note(f"sketching {len(reps)} texts ({engine})")
            run = _rensa_pairs if engine == "rensa" else _datasketch_pairs
            pairs = run(sets, threshold, num_perm, seed)
        note("clustering")
        rep_keep, rep_removed = greedy_clusters(len(reps), pairs, reason="near")
        for k, kept_pos in enumerate(rep_keep):
            if not kept_pos:
                keep[reps[k]] = False
        for kept_k, members in rep_removed.items():
            kept = reps[kept_k]
            cluster = clusters.setdefault(kept, DupCluster(kept))
            for m in members:
                j = reps[m.index]
                cluster.removed.append(DupMember(j, m.similarity, "near"))
                # the exact copies of a removed text go with it, at its similarity
                for r in clusters.pop(j, DupCluster(j)).removed:
                    cluster.removed.append(DupMember(r.index, m.similarity, "near"))
    ordered = [clusters[k] for k in sorted(clusters)]
    for c in ordered:
        c.removed.sort(key=lambda r: r.index)
    params = {
        "threshold": threshold,
        "shingle": f"{shingle}-{ngram}",
        "num_perm": num_perm,
        "engine": engine,
        "near": near,
    }
    if near:
        params["lsh_bands"], params["lsh_rows"] = optimal_bands(threshold, num_perm)
    return DedupResult(n, keep, ordered, params)


__all__ = [
    "MAX_BUCKET",
    "DedupResult",
    "DupCluster",
    "DupMember",
    "DupReason",
    "MinHashEngine",
    "ShingleKind",
    "exact_key",
    "find_duplicates",
    "greedy_clusters",
    "optimal_bands",
    "rensa_signatures",
    "shingles",
    "word_shingle_hashes",
    "words",
]
