"""RAG metrics without an LLM judge: context precision and recall, faithfulness, relevance.

* **context precision** — the rank-aware average precision Ragas uses: over the retrieved
  passages, ``sum_k precision@k * rel_k / (relevant passages retrieved)``; 0 when none is
  relevant. A relevant passage high in the ranking counts more than one low in it.
* **context recall** — the share of the reference contexts matched by some retrieved passage.
* **faithfulness** — the share of the answer's claims (its sentences with content words,
  citation markers and "The answer is"-style framing removed) that some retrieved passage
  supports, by the grounded-answer checker of :mod:`ragline.answer.citations` (content
  words, numbers and names in one passage sentence, and a MiniLM cosine, at the
  ``AnswerSettings`` thresholds ``min_lexical`` / ``min_semantic``).
* **answer relevance** — the cosine of the question and the answer embeddings; or, given
  questions generated back from the answer (Ragas' variant), the mean cosine of the
  question and those.

A retrieved passage is *relevant* when it matches a reference context: by id (exactly or as
a path suffix, as retrieval metrics match document ids), else by text — the share of the
shorter text's SQuAD-normalised tokens found in the other (``min_overlap``), or, with an
embedder, the cosine of both texts (``min_cosine``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragline.errors import ConfigError
from ragline.evaluate.metrics.semantic import cosine_matrix, default_embedder
from ragline.evaluate.metrics.text import normalize_answer
from ragline.models.embedder import Embedder

DEFAULT_MIN_OVERLAP = 0.5
DEFAULT_MIN_COSINE = 0.8


@dataclass(frozen=True, slots=True)
class RetrievedContext:
    """A passage: its id (document or chunk id) and/or its text."""

    text: str = ""
    id: str | None = None


ContextLike = str | RetrievedContext | Mapping[str, Any]


def as_context(value: ContextLike) -> RetrievedContext:
    """A :class:`RetrievedContext` from a string (its text), a mapping (``id``/``doc_id``/
    ``passage_id`` and ``text``/``content``/``passage``), or a :class:`RetrievedContext`."""
    if isinstance(value, RetrievedContext):
        return value
    if isinstance(value, str):
        return RetrievedContext(text=value)
    if isinstance(value, Mapping):
        ident = next((value[k] for k in ("id", "doc_id", "passage_id") if value.get(k)), None)
        text = next((value[k] for k in ("text", "content", "passage") if value.get(k)), "")
        return RetrievedContext(text=str(text), id=None if ident is None else str(ident))
    raise ConfigError(
        f"cannot read a context from {type(value).__name__}",
        hint="give a string, or an object with 'id' and/or 'text'",
    )


def as_ids(values: Sequence[Any]) -> list[RetrievedContext]:
    """Contexts known by id only (ranked document ids)."""
    return [RetrievedContext(id=str(v)) for v in values]


def _ids_match(a: str, b: str) -> bool:
    return a == b or a.endswith(("/" + b, "\\" + b)) or b.endswith(("/" + a, "\\" + a))


def token_overlap(a: str, b: str) -> float:
    """Share of the shorter text's normalised tokens (with multiplicity) found in the other."""
    ta, tb = Counter(normalize_answer(a).split()), Counter(normalize_answer(b).split())
    shorter = min(sum(ta.values()), sum(tb.values()))
    if shorter == 0:
        return 0.0
    return sum((ta & tb).values()) / shorter


def relevance_matrix(
    retrieved: Sequence[ContextLike],
    references: Sequence[ContextLike],
    *,
    embedder: Embedder | None = None,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    min_cosine: float = DEFAULT_MIN_COSINE,
) -> np.ndarray:
    """``(len(retrieved), len(references))`` booleans: does passage i match reference j?

    Ids decide when both sides have one; a bare string on one side also matches the other
    side's id; otherwise texts (token overlap, or the embedding cosine as well when an
    ``embedder`` is given).
    """
    ret = [as_context(c) for c in retrieved]
    refs = [as_context(c) for c in references]
    out = np.zeros((len(ret), len(refs)), dtype=bool)
    text_pairs: list[tuple[int, int]] = []
    for i, r in enumerate(ret):
        for j, g in enumerate(refs):
            if r.id is not None and g.id is not None:
                out[i, j] = _ids_match(r.id, g.id)
            elif r.id is not None and _ids_match(r.id, g.text.strip()):
                out[i, j] = True  # a reference given as a bare string may be an id
            elif g.id is not None and _ids_match(g.id, r.text.strip()):
                out[i, j] = True
            elif r.text.strip() and g.text.strip():
                if token_overlap(r.text, g.text) >= min_overlap:
                    out[i, j] = True
                else:
                    text_pairs.append((i, j))
    if embedder is not None and text_pairs:
        li = sorted({i for i, _ in text_pairs})
        lj = sorted({j for _, j in text_pairs})
        sims = cosine_matrix(embedder, [ret[i].text for i in li], [refs[j].text for j in lj])
        pos_i, pos_j = {i: n for n, i in enumerate(li)}, {j: n for n, j in enumerate(lj)}
        for i, j in text_pairs:
            out[i, j] = sims[pos_i[i], pos_j[j]] >= min_cosine
    return out


def average_precision(relevant: Sequence[bool]) -> float:
    """Ragas context precision of a ranking given each passage's relevance (0 if none)."""
    hits, total = 0, 0.0
    for k, rel in enumerate(relevant, 1):
        if rel:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


@dataclass(frozen=True, slots=True)
class ContextScores:
    """Context precision and recall of one ranking, and which passages matched."""

    precision: float
    recall: float | None  # None: no reference contexts
    relevant: tuple[bool, ...]  # per retrieved passage
    found: tuple[bool, ...]  # per reference context


def context_scores(
    retrieved: Sequence[ContextLike],
    references: Sequence[ContextLike],
    *,
    embedder: Embedder | None = None,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    min_cosine: float = DEFAULT_MIN_COSINE,
) -> ContextScores:
    """Both context metrics from one :func:`relevance_matrix`."""
    m = relevance_matrix(
        retrieved, references, embedder=embedder, min_overlap=min_overlap, min_cosine=min_cosine
    )
    relevant = tuple(bool(x) for x in m.any(axis=1)) if m.size else (False,) * len(retrieved)
    found = tuple(bool(x) for x in m.any(axis=0)) if m.size else (False,) * len(references)
    recall = sum(found) / len(found) if found else None
    return ContextScores(average_precision(relevant), recall, relevant, found)


def context_precision(
    retrieved: Sequence[ContextLike], references: Sequence[ContextLike], **options: Any
) -> float:
    """Rank-aware precision of the retrieved passages (see :func:`average_precision`)."""
    return context_scores(retrieved, references, **options).precision


def context_recall(
    retrieved: Sequence[ContextLike], references: Sequence[ContextLike], **options: Any
) -> float | None:
    """Share of the reference contexts found among the retrieved passages (None: none given)."""
    return context_scores(retrieved, references, **options).recall


# --------------------------------------------------------------------------- faithfulness


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence of the answer and whether a passage supports it (``passage``: 1-based)."""

    text: str
    supported: bool
    passage: int | None
    lexical: float
    semantic: float


@dataclass(frozen=True, slots=True)
class Faithfulness:
    """Share of supported claims (None: the answer makes no claim), with the claims."""

    score: float | None
    claims: tuple[Claim, ...]

    @property
    def unsupported(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if not c.supported)


def faithfulness(
    answer: str,
    passages: Sequence[ContextLike],
    *,
    question: str = "",
    embedder: Embedder | None = None,
    settings: Any = None,
) -> Faithfulness:
    """Which sentences of ``answer`` the passages support, by the grounded-answer checker.

    A claim is a sentence with content words that is neither a question nor a statement that
    the answer is missing. ``settings`` is an :class:`~ragline.config.AnswerSettings` (its
    ``min_lexical`` / ``min_semantic`` decide support); ``question`` lets the checker read a
    short answer ("674.") together with the question, as it does for grounded answers.
    """
    from ragline.answer.citations import META_WORDS, CitationChecker, unframe
    from ragline.answer.text import answer_sentences, is_decline, strip_citations
    from ragline.config import load_settings
    from ragline.retrieve.analyzer import Analyzer
    from ragline.types import Chunk, Passage

    settings = settings if settings is not None else load_settings().answer
    ctxs = [as_context(p) for p in passages]
    chunks = [
        Passage(
            n,
            Chunk(
                id=c.id or f"p{n}",
                document_id=c.id or f"p{n}",
                ordinal=0,
                text=c.text,
                source=c.id or "",
            ),
            c.text,
            1.0,
        )
        for n, c in enumerate((c for c in ctxs if c.text.strip()), 1)
    ]
    checker = CitationChecker(
        settings, embedder or default_embedder(), Analyzer(), question, chunks
    )
    meta = checker.terms(META_WORDS)
    claims: list[Claim] = []
    for raw in answer_sentences(answer):
        text = unframe(strip_citations(raw).text)
        if not (checker.terms(text) - meta) or is_decline(text) or text.rstrip().endswith("?"):
            continue
        if not chunks:
            claims.append(Claim(text, False, None, 0.0, 0.0))
            continue
        supports = checker.support(text)
        best = max(
            range(len(supports)),
            key=lambda i: (supports[i].strength, supports[i].lexical + supports[i].semantic),
        )
        ok = [
            i
            for i, s in enumerate(supports)
            if s.passes(settings.min_lexical, settings.min_semantic)
        ]
        pick = ok[0] if ok else best
        s = supports[pick]
        claims.append(Claim(text, bool(ok), pick + 1 if ok else None, s.lexical, s.semantic))
    score = sum(c.supported for c in claims) / len(claims) if claims else None
    return Faithfulness(score, tuple(claims))


# --------------------------------------------------------------------------- relevance


def answer_relevance(
    question: str,
    answer: str,
    *,
    embedder: Embedder | None = None,
    generated_questions: Sequence[str] | None = None,
) -> float:
    """Cosine of question and answer; or, with ``generated_questions`` (questions a model
    wrote for the answer, as Ragas does), the mean cosine of the question and those."""
    if not question.strip() or not answer.strip():
        return 0.0
    emb = embedder or default_embedder()
    generated = [q for q in generated_questions or () if q.strip()]
    sims = cosine_matrix(emb, [question], generated or [answer])
    return float(np.clip(sims.mean(), -1.0, 1.0))


__all__ = [
    "DEFAULT_MIN_COSINE",
    "DEFAULT_MIN_OVERLAP",
    "Claim",
    "ContextScores",
    "Faithfulness",
    "RetrievedContext",
    "answer_relevance",
    "as_context",
    "as_ids",
    "average_precision",
    "context_precision",
    "context_recall",
    "context_scores",
    "faithfulness",
    "relevance_matrix",
    "token_overlap",
]
