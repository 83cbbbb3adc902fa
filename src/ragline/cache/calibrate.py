"""Calibrating the semantic cache on a user's own question pairs, and probing it.

A pairs file has one JSON object per line: ``{"q1": …, "q2": …, "duplicate": true|false}``
(``duplicate`` is optional for a probe; an ``id`` is carried through; other fields are
ignored). :func:`read_pairs` reads it and reports each malformed line with its number and
what is wrong, and the batch goes on without it.

:func:`calibrate` scores every pair once (cosine of the two question embeddings, the near-miss
gate's verdict, and the retrieval check: the first passage retrieved for ``q1``, the one its
answer would cite, among the top ``cache.agreement_k`` passages of ``q2``), then reports the hit
rate on duplicates and the false-hit rate on non-duplicates at each threshold, with and
without the gate, and recommends the lowest threshold whose false-hit rate with the gate stays
within ``cache.calibrate_max_false_hits`` (the lowest keeps the most true hits).

:func:`probe` runs the configured cache as ``ask`` would: ``q1``'s answer is stored (a stand-in
citing ``q1``'s first passage: no generation is needed to test a lookup), then ``q2`` is
looked up, each pair in its own scope of a temporary cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragline.cache.answers import AnswerCache, CacheLookup
from ragline.cache.duplicate import Pair, judge
from ragline.config import Settings
from ragline.errors import MalformedInputError
from ragline.models.embedder import Embedder
from ragline.retrieve.retriever import Retriever
from ragline.store.cache_base import CacheStore
from ragline.types import Answer, Citation, Passage


def parse_pairs(lines: Iterable[str], *, source: str = "pairs") -> tuple[list[Pair], list[str]]:
    """Pairs from JSON lines, and one error message per malformed line."""
    pairs: list[Pair] = []
    errors: list[str] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        missing = [k for k in ("q1", "q2") if not isinstance(obj.get(k), str) or not obj[k].strip()]
        if missing:
            errors.append(f"{where}: {' and '.join(missing)} must be non-empty strings")
            continue
        dup = obj.get("duplicate")
        if dup is not None and not isinstance(dup, bool):
            errors.append(f"{where}: duplicate must be true or false, not {dup!r}")
            continue
        extra = {k: v for k, v in obj.items() if k not in ("q1", "q2", "duplicate", "id")}
        pid = obj.get("id")
        pairs.append(
            Pair(obj["q1"], obj["q2"], dup, str(pid) if pid is not None else None, n, extra)
        )
    return pairs, errors


def read_pairs(path: Path) -> tuple[list[Pair], list[str]]:
    """:func:`parse_pairs` of a file (an unreadable file is a
    :class:`~ragline.errors.MalformedInputError`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(path), f"cannot read the pairs file: {exc}") from exc
    return parse_pairs(text.splitlines(), source=str(path))


@dataclass(frozen=True, slots=True)
class PairScore:
    """What the cache sees in one pair."""

    pair: Pair
    cosine: float
    gate: str | None
    agrees: bool

    def hit(self, threshold: float, *, gate: bool = True) -> bool:
        if self.cosine < threshold:
            return False
        return not gate or (self.gate is None and self.agrees)

    @property
    def reason(self) -> str | None:
        if self.gate is not None:
            return f"gate:{self.gate}"
        return None if self.agrees else "retrieval"


def score_pairs(
    pairs: Sequence[Pair],
    embedder: Embedder,
    retriever: Retriever | None,
    settings: Settings,
    *,
    collection: str | None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[PairScore]:
    """Cosine, gate and retrieval agreement of each pair (retrieval skipped, and counted as
    agreeing, without a collection or with ``cache.retrieval_check`` off)."""
    cfg = settings.cache
    out: list[PairScore] = []
    for start in range(0, len(pairs), batch_size):
        part = pairs[start : start + batch_size]
        v1 = embedder.embed([p.q1 for p in part])
        v2 = embedder.embed([p.q2 for p in part])
        cos = np.einsum("ij,ij->i", v1, v2)
        agree = [True] * len(part)
        if retriever is not None and collection is not None and cfg.retrieval_check:
            mode = settings.answer.mode
            r1 = retriever.rank([p.q1 for p in part], collection=collection, mode=mode, k=1)
            r2 = retriever.rank(
                [p.q2 for p in part], collection=collection, mode=mode, k=cfg.agreement_k
            )
            agree = [
                not a.chunk_ids or a.chunk_ids[0] in set(b.chunk_ids)
                for a, b in zip(r1, r2, strict=True)
            ]
        for p, c, ok in zip(part, cos, agree, strict=True):
            out.append(PairScore(p, float(c), judge(p.q1, p.q2, float(c)), ok))
        if progress is not None:
            progress(len(part))
    return out


def rates(scores: Sequence[PairScore], threshold: float, *, gate: bool) -> dict[str, Any]:
    dups = [s for s in scores if s.pair.duplicate is True]
    nons = [s for s in scores if s.pair.duplicate is False]
    hits = sum(s.hit(threshold, gate=gate) for s in dups)
    false = sum(s.hit(threshold, gate=gate) for s in nons)
    return {
        "threshold": round(threshold, 4),
        "gate": gate,
        "duplicates": len(dups),
        "non_duplicates": len(nons),
        "hit_rate": hits / len(dups) if dups else None,
        "false_hit_rate": false / len(nons) if nons else None,
        "hits": hits,
        "false_hits": false,
    }


def thresholds(low: float = 0.6, high: float = 0.99, step: float = 0.01) -> list[float]:
    return [round(t, 4) for t in np.arange(low, high + step / 2, step)]


def calibrate(
    scores: Sequence[PairScore], settings: Settings, *, grid: Sequence[float] | None = None
) -> dict[str, Any]:
    """Rates at each threshold with and without the gate, and the recommended threshold."""
    grid = list(grid or thresholds())
    table = [
        {
            "threshold": t,
            "with_gate": rates(scores, t, gate=True),
            "without_gate": rates(scores, t, gate=False),
        }
        for t in grid
    ]
    limit = settings.cache.calibrate_max_false_hits
    ok = [
        row
        for row in table
        if (row["with_gate"]["false_hit_rate"] or 0.0) <= limit
        and row["with_gate"]["hit_rate"] is not None
    ]
    best = min(ok, key=lambda r: r["threshold"]) if ok else None
    reasons: dict[str, int] = {}
    for s in scores:
        if s.pair.duplicate is False and s.reason is not None:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
    return {
        "pairs": len(scores),
        "configured_threshold": settings.cache.threshold,
        "max_false_hit_rate": limit,
        "recommended_threshold": best["threshold"] if best else None,
        "at_recommended": best,
        "at_configured": {
            "with_gate": rates(scores, settings.cache.threshold, gate=True),
            "without_gate": rates(scores, settings.cache.threshold, gate=False),
        },
        "rejections_on_non_duplicates": dict(sorted(reasons.items())),
        "table": table,
    }


def stand_in_answer(question: str, passage: Passage) -> Answer:
    """An answer citing ``passage`` (what a probe stores for ``q1``: no generation needed)."""
    citation = Citation(1, passage, passage.text, 1.0, 1.0, True)
    return Answer(
        question=question,
        text=f"(probe) {passage.text[:80]} [1]",
        declined=False,
        citations=(citation,),
        passages=(passage,),
        query=question,
        style="extractive",
    )


@dataclass(frozen=True, slots=True)
class ProbeResult:
    pair: Pair
    lookup: CacheLookup

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pair.id is not None:
            out["id"] = self.pair.id
        out.update(
            q1=self.pair.q1,
            q2=self.pair.q2,
            hit=self.lookup.hit,
            kind=self.lookup.kind,
            score=round(self.lookup.score, 4) if self.lookup.score is not None else None,
            reason=self.lookup.reason,
        )
        return out


def probe(
    pairs: Sequence[Pair],
    *,
    settings: Settings,
    retriever: Retriever,
    embedder: Callable[[], Embedder],
    open_store: Callable[[], CacheStore],
    collection: str,
    scope: str,
    progress: Callable[[int], None] | None = None,
) -> list[ProbeResult]:
    """Store ``q1``, look ``q2`` up, pair by pair (see the module docstring)."""
    cache = AnswerCache(settings, retriever, embedder, open_store=open_store)
    version = retriever.store.collection_version(collection)
    out: list[ProbeResult] = []
    try:
        for i, pair in enumerate(pairs):
            pair_scope = f"{scope}:probe:{i}"
            hits = retriever.search(pair.q1, collection=collection, mode=settings.answer.mode, k=1)
            if hits:
                hit = hits[0]
                passage = Passage(1, hit.chunk, hit.chunk.text, float(hit.score))
                cache.put(
                    pair.q1,
                    stand_in_answer(pair.q1, passage),
                    collection=collection,
                    scope=pair_scope,
                    version=version,
                )
                lookup = cache.lookup(pair.q2, collection=collection, scope=pair_scope)
            else:
                lookup = CacheLookup(None, "no_entry")
            out.append(ProbeResult(pair, lookup))
            if progress is not None:
                progress(1)
    finally:
        cache.close()
    return out


__all__ = [
    "Pair",
    "PairScore",
    "ProbeResult",
    "calibrate",
    "parse_pairs",
    "probe",
    "rates",
    "read_pairs",
    "score_pairs",
    "stand_in_answer",
    "thresholds",
]
