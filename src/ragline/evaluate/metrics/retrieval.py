"""Ranked-retrieval metrics with trec_eval's conventions: nDCG@k, Recall@k, MRR, hit@k.

``qrels`` map a query id to ``{doc_id: relevance}``; a run maps a query id to
``{doc_id: score}`` (as ``pytrec_eval`` takes it) or to a ranked list of doc ids. The
conventions are trec_eval's, so that numbers agree with ``pytrec_eval`` and published BEIR
results:

* a run is ranked by score, highest first, ties broken by doc id in *descending* order;
* a document is relevant when its relevance is at least ``relevance_level`` (1);
* nDCG uses the graded relevance as gain (negative gains count 0) with a ``log2(rank + 1)``
  discount, the ideal ranking coming from the qrels (``ndcg_cut``);
* Recall@k is relevant retrieved in the top k over all relevant (``recall_k``);
* MRR is the reciprocal rank of the first relevant document anywhere in the ranking
  (``recip_rank``), or within the top k if a cutoff is given;
* hit@k is 1 if any relevant document is in the top k.

A query without relevant documents scores 0 on every measure. :func:`evaluate_run` scores
the queries that have qrels; a query of the qrels missing from the run scores 0 when
``missing="zero"`` (trec_eval ``-c``) and is left out when ``missing="skip"`` (pytrec_eval).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ragline.errors import ConfigError

Qrels = Mapping[str, Mapping[str, int]]
RankedRun = Mapping[str, Sequence[str]]
ScoredRun = Mapping[str, Mapping[str, float]]

DEFAULT_CUTOFFS = (1, 3, 5, 10, 100)


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Doc ids ordered as trec_eval orders them: score descending, then doc id descending."""
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


def _ranking(run_entry: Mapping[str, float] | Sequence[str]) -> list[str]:
    if isinstance(run_entry, Mapping):
        return rank_documents(run_entry)
    if isinstance(run_entry, str):
        raise ConfigError("a ranked run entry must be a list of doc ids, not a string")
    seen: set[str] = set()
    ranking = []
    for doc in run_entry:  # a doc listed twice counts once, at its first rank
        if doc not in seen:
            seen.add(doc)
            ranking.append(doc)
    return ranking


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"cutoff k must be a positive integer, got {k!r}")


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain: ``sum(gain_i / log2(i + 1))`` for ranks i = 1, 2, ..."""
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, 1) if g > 0)


def ndcg_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """nDCG@k of one ranked list (trec_eval ``ndcg_cut.k``)."""
    _check_k(k)
    ideal = dcg(sorted((max(r, 0) for r in relevance.values()), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg(max(relevance.get(doc, 0), 0) for doc in ranking[:k]) / ideal


def recall_at_k(
    ranking: Sequence[str], relevance: Mapping[str, int], k: int, *, relevance_level: int = 1
) -> float:
    """Relevant documents in the top k over all relevant documents (trec_eval ``recall.k``)."""
    _check_k(k)
    relevant = {d for d, r in relevance.items() if r >= relevance_level}
    if not relevant:
        return 0.0
    return sum(1 for doc in ranking[:k] if doc in relevant) / len(relevant)


def reciprocal_rank(
    ranking: Sequence[str],
    relevance: Mapping[str, int],
    k: int | None = None,
    *,
    relevance_level: int = 1,
) -> float:
    """1 / rank of the first relevant document (within the top k if given), else 0."""
    if k is not None:
        _check_k(k)
    for rank, doc in enumerate(ranking if k is None else ranking[:k], 1):
        if relevance.get(doc, 0) >= relevance_level:
            return 1.0 / rank
    return 0.0


def hit_at_k(
    ranking: Sequence[str], relevance: Mapping[str, int], k: int, *, relevance_level: int = 1
) -> float:
    """1.0 if a relevant document is in the top k, else 0.0."""
    _check_k(k)
    return float(any(relevance.get(doc, 0) >= relevance_level for doc in ranking[:k]))


@dataclass(frozen=True, slots=True)
class QueryScores:
    """The measures of one query, keyed like ``ndcg@10``, ``recall@100``, ``mrr``, ``hit@1``."""

    query_id: str
    values: dict[str, float]
    relevant: int
    retrieved: int


@dataclass(frozen=True, slots=True)
class RetrievalReport:
    """Per-query measures and their means over the evaluated queries."""

    means: dict[str, float]
    per_query: dict[str, QueryScores]
    cutoffs: tuple[int, ...]
    #: query ids with qrels but no run entry (scored 0, or skipped: see ``missing``)
    missing_queries: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "queries": len(self.per_query),
            "cutoffs": list(self.cutoffs),
            "means": self.means,
            "missing_queries": list(self.missing_queries),
        }


def score_query(
    ranking: Sequence[str],
    relevance: Mapping[str, int],
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    *,
    relevance_level: int = 1,
    mrr_cutoff: int | None = None,
) -> dict[str, float]:
    """All measures of one ranked list against one query's qrels."""
    values: dict[str, float] = {}
    for k in cutoffs:
        values[f"ndcg@{k}"] = ndcg_at_k(ranking, relevance, k)
        values[f"recall@{k}"] = recall_at_k(ranking, relevance, k, relevance_level=relevance_level)
        values[f"hit@{k}"] = hit_at_k(ranking, relevance, k, relevance_level=relevance_level)
    values["mrr"] = reciprocal_rank(ranking, relevance, mrr_cutoff, relevance_level=relevance_level)
    return values


def evaluate_run(
    qrels: Qrels,
    run: ScoredRun | RankedRun,
    *,
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    relevance_level: int = 1,
    mrr_cutoff: int | None = None,
    missing: Literal["zero", "skip"] = "zero",
) -> RetrievalReport:
    """Score a run against qrels, per query and on average.

    Only queries that appear in ``qrels`` are scored; run entries for other queries are
    ignored (as trec_eval does).
    """
    cutoffs = tuple(sorted(set(cutoffs)))
    for k in cutoffs:
        _check_k(k)
    if missing not in ("zero", "skip"):
        raise ConfigError(f"missing must be 'zero' or 'skip', got {missing!r}")
    per_query: dict[str, QueryScores] = {}
    absent = []
    for query_id in sorted(qrels):
        relevance = qrels[query_id]
        if query_id not in run:
            absent.append(query_id)
            if missing == "skip":
                continue
        ranking = _ranking(run.get(query_id, ()))
        per_query[query_id] = QueryScores(
            query_id=query_id,
            values=score_query(
                ranking,
                relevance,
                cutoffs,
                relevance_level=relevance_level,
                mrr_cutoff=mrr_cutoff,
            ),
            relevant=sum(1 for r in relevance.values() if r >= relevance_level),
            retrieved=len(ranking),
        )
    names = next(iter(per_query.values())).values.keys() if per_query else ()
    n = len(per_query)
    means = {name: sum(q.values[name] for q in per_query.values()) / n for name in names}
    return RetrievalReport(
        means=means, per_query=per_query, cutoffs=cutoffs, missing_queries=tuple(absent)
    )


def load_qrels(path: str, *, min_relevance: int | None = None) -> dict[str, dict[str, int]]:
    """Read BEIR (``query-id corpus-id score`` with a header) or TREC (4 columns) qrels."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 4:
                query_id, _, doc_id, rel = parts
            elif len(parts) == 3:
                query_id, doc_id, rel = parts
            else:
                raise ConfigError(f"{path}:{number}: expected 3 or 4 columns, got {len(parts)}")
            try:
                relevance = int(rel)
            except ValueError:
                if number == 1:  # header line
                    continue
                raise ConfigError(f"{path}:{number}: relevance {rel!r} is not an integer") from None
            if min_relevance is not None and relevance < min_relevance:
                continue
            qrels.setdefault(query_id, {})[doc_id] = relevance
    return qrels


__all__ = [
    "DEFAULT_CUTOFFS",
    "Qrels",
    "QueryScores",
    "RankedRun",
    "RetrievalReport",
    "ScoredRun",
    "dcg",
    "evaluate_run",
    "hit_at_k",
    "load_qrels",
    "ndcg_at_k",
    "rank_documents",
    "recall_at_k",
    "reciprocal_rank",
    "score_query",
]
