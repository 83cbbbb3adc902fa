"""Synthetic QA for training, with a review loop: generate, filter, deduplicate, review.

``ragline data synth -c COLLECTION -o review.jsonl`` runs the synthetic QA generator of the
evaluation harness (:mod:`ragline.evaluate.synthetic`: one question and short answer per
sampled passage, structured output through the gateway), then keeps a pair only when

1. **answerable**: the citation checker (:class:`ragline.answer.citations.CitationChecker`,
   the one that checks live answers) finds the statement "question + answer" backed by its
   passage (content-word overlap, cosine and facts, at ``answer.min_lexical`` /
   ``min_semantic``) and every content word of the answer is in the passage;
2. (with ``--judge``) the AI judge, shown the question and the passage as the answer, rates
   the passage as answering it at least ``data.judge_min_rating``;
3. it is not a duplicate of an earlier kept pair: exact and near-duplicate questions
   (MinHash), then semantic duplicates (question + answer embedded, cosine at
   ``data.semantic_threshold``).

Kept pairs are written with ``"review": null``; a person marks them with ``ragline data
review FILE --accept ID… --reject ID…`` (``--accept-all`` for the rest), and ``ragline data
export --from synthetic`` exports the accepted ones only. What was filtered, and why, goes
to the data card (and ``--report``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragline.data.dedup import find_duplicates
from ragline.data.semantic import semantic_duplicates
from ragline.errors import DatasetError

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.evaluate.judge import Judge
    from ragline.models.embedder import Embedder

REVIEW_VALUES = ("accepted", "rejected", None)


@dataclass(frozen=True, slots=True)
class PairAnswerability:
    ok: bool
    lexical: float
    semantic: float
    facts_ok: bool
    answer_in_passage: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lexical": round(self.lexical, 3),
            "semantic": round(self.semantic, 3),
            "facts_ok": self.facts_ok,
            "answer_in_passage": self.answer_in_passage,
        }


class AnswerabilityChecker:
    """Is a question answered by its passage, with this answer? (see the module docstring)"""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        from ragline.retrieve.analyzer import Analyzer

        self.settings = settings.answer
        self.embedder = embedder
        self.analyzer = Analyzer()

    def check(self, question: str, answer: str, passage: str) -> PairAnswerability:
        from ragline.answer.citations import CitationChecker
        from ragline.types import Chunk, Passage

        chunk = Chunk(id="p1", document_id="p1", ordinal=0, text=passage, source="")
        checker = CitationChecker(
            self.settings, self.embedder, self.analyzer, question, [Passage(1, chunk, passage, 1.0)]
        )
        statement = f"{question.strip().rstrip('?')} {answer.strip()}"
        s = checker.support(statement)[0]
        in_passage = checker.terms(answer) <= checker.terms(passage)
        ok = s.passes(self.settings.min_lexical, self.settings.min_semantic) and in_passage
        return PairAnswerability(ok, s.lexical, s.semantic, s.facts_ok, in_passage)


@dataclass(slots=True)
class SynthReport:
    kept: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = field(default_factory=list)
    generated: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rejected:
            out[r["reason"]] = out.get(r["reason"], 0) + 1
        return out


def review_candidates(
    items: Sequence[dict[str, Any]],
    checker: AnswerabilityChecker,
    *,
    judge: Judge | None,
    judge_min_rating: int,
    dedup_threshold: float,
    dedup_ngram: int,
    semantic_threshold: float,
    embedder: Embedder,
    progress: Callable[[int], None] | None = None,
) -> SynthReport:
    """Filter generated items (answerability, judge, duplicates) into a review list."""
    report = SynthReport(kept=[], generated=len(items))
    passed: list[dict[str, Any]] = []
    for item in items:
        q, a = str(item.get("question", "")), str(item.get("answer", ""))
        passage = str(item.get("source_passage", ""))
        verdict = checker.check(q, a, passage)
        checks: dict[str, Any] = {"answerable": verdict.to_dict()}
        reason = None if verdict.ok else "not answerable by its passage"
        if reason is None and judge is not None:
            rating = judge.rate(q, passage)
            checks["judge"] = rating.value
            if rating.value is not None and int(rating.value) < judge_min_rating:
                reason = f"judge rated the passage {rating.value} < {judge_min_rating}"
        out = {**item, "checks": checks}
        if reason:
            report.rejected.append(
                {
                    "id": item.get("id"),
                    "reason": reason.split(" <")[0],
                    "question": q,
                    "answer": a,
                    "checks": checks,
                }
            )
        else:
            passed.append(out)
        if progress is not None:
            progress(1)
    if len(passed) > 1:
        questions = [str(p.get("question", "")) for p in passed]
        near = find_duplicates(questions, threshold=dedup_threshold, ngram=dedup_ngram)
        pairs = [f"{p.get('question', '')}\n{p.get('answer', '')}" for p in passed]
        sem = semantic_duplicates(pairs, embedder, threshold=semantic_threshold, keep=near.keep)
        kept_of = {**near.kept_of(), **sem.kept_of()}
        for i, p in enumerate(passed):
            if i in kept_of:
                report.rejected.append(
                    {
                        "id": p.get("id"),
                        "reason": "duplicate",
                        "of": passed[kept_of[i]].get("id"),
                        "question": p.get("question"),
                        "answer": p.get("answer"),
                    }
                )
            else:
                report.kept.append(p)
    else:
        report.kept.extend(passed)
    for p in report.kept:
        p["review"] = None
    return report


def apply_review(
    items: list[dict[str, Any]],
    *,
    accept: Sequence[str] = (),
    reject: Sequence[str] = (),
    accept_rest: bool = False,
    reject_rest: bool = False,
) -> dict[str, int]:
    """Mark items by id (in place); unknown ids are an error naming them."""
    ids = {str(it.get("id")) for it in items}
    unknown = sorted((set(accept) | set(reject)) - ids)
    if unknown:
        raise DatasetError(
            f"no item with id {', '.join(unknown[:5])}" + (" …" if len(unknown) > 5 else ""),
            hint="ids are the `id` field of the review file's lines",
        )
    both = sorted(set(accept) & set(reject))
    if both:
        raise DatasetError(f"{', '.join(both[:5])}: both accepted and rejected")
    if accept_rest and reject_rest:
        raise DatasetError("give --accept-rest or --reject-rest, not both")
    for it in items:
        i = str(it.get("id"))
        if i in accept:
            it["review"] = "accepted"
        elif i in reject:
            it["review"] = "rejected"
        elif it.get("review") is None and (accept_rest or reject_rest):
            it["review"] = "accepted" if accept_rest else "rejected"
    counts = {"accepted": 0, "rejected": 0, "pending": 0}
    for it in items:
        value = it.get("review")
        counts["pending" if value is None else str(value)] = (
            counts.get("pending" if value is None else str(value), 0) + 1
        )
    return counts


__all__ = [
    "REVIEW_VALUES",
    "AnswerabilityChecker",
    "PairAnswerability",
    "SynthReport",
    "apply_review",
    "review_candidates",
]
