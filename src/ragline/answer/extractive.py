"""The extractive reader: the passage sentence that answers the question, and its span.

A small model paraphrases, pads and invents; quoting the passage cannot. The reader scores
every sentence of the packed passages' chunks (not only the excerpt the model would see)
with a logistic model over features that are cheap once the sentence vectors exist (they
are cached and shared with the citation checker):

* ``cos``: MiniLM cosine of question and sentence, and its gap to the best sentence;
* ``lex`` / ``lex_title``: share of the question's content terms in the sentence (with the
  document title), ``bigram``: share of the question's adjacent term pairs, and the gap to
  the best ``lex``;
* ``type_found`` / ``type_missing``: the question expects an answer type (*who* → a name,
  *when* → a date, *how many* → a number, *where* → a place) and the sentence has one that
  the question does not already name;
* ``novel``: how much the sentence says besides the question's words; the passage's
  ``relevance`` and rank; whether the sentence opens its chunk; its length.

The weights come from ``benchmarks/train_qa.py`` (SQuAD 2.0, tuning half; label: the
sentence contains a reference answer). The answer leads with the typed span when there is
one (``1973: "The oil crisis began in October 1973 …" [1]``), then quotes the sentence.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ragline.answer.context import SentenceVectors
from ragline.answer.logistic import Logistic
from ragline.answer.text import passage_sentences
from ragline.retrieve.analyzer import ENGLISH_STOPWORDS, Analyzer
from ragline.types import Passage

AnswerType = Literal["person", "date", "number", "place"]

#: The reader model's features, in the weights file's order (see the module docstring).
READER_FEATURES = (
    "cos",
    "cos_gap",
    "lex",
    "lex_title",
    "lex_gap",
    "lex_idf",
    "lex_idf_gap",
    "bigram",
    "type_found",
    "type_missing",
    "novel",
    "relevance",
    "passage_rank",
    "first",
    "length",
)

_TYPE_PATTERNS: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|long|far|old|big|large|tall|high|fast|often|wide|deep|heavy)\b|"
            r"\bwhat (?:percentage|percent|proportion|number|amount|fraction)\b",
            re.I,
        ),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which|in what) (?:year|date|century|decade|month|day|era)\b",
            re.I,
        ),
    ),
    ("person", re.compile(r"\bwho(?:m|se)?\b", re.I)),
    ("place", re.compile(r"\bwhere\b|\b(?:what|which) (?:country|city|state|region)\b", re.I)),
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|half"
)
_DATE = re.compile(
    rf"\b(?:(?:early|late|mid)[- ])?(?:(?:\d{{1,2}} )?(?:{_MONTHS})(?: \d{{1,2}})?,? )?"
    rf"(?:1\d{{3}}|20\d{{2}}|\d{{3}})s?\b|\b\d{{1,2}}(?:st|nd|rd|th) century\b|"
    rf"\b(?:{_MONTHS}) \d{{1,2}}\b",
    re.I,
)
_NUMBER = re.compile(
    rf"\b(?:\d[\d,.]*%?|(?:{_NUMBER_WORDS}))(?:[ -](?:{_NUMBER_WORDS}))*"
    r"(?: (?!and\b|or\b|the\b|of\b|in\b)[a-z]+)?",
    re.I,
)
_NAME = re.compile(
    r"\b[A-Z][\w'.-]*(?:\s+(?:of|de|la|von|van|the|du|al|bin|and)?\s*[A-Z][\w'.-]*)*"
)


# The word before a span that marks it as the answer: a passive's agent, a place's preposition.
_LEAD_IN: dict[str, frozenset[str]] = {
    "person": frozenset({"by"}),
    "place": frozenset({"in", "at", "from", "near", "to"}),
    "date": frozenset({"in", "on", "since", "until", "by"}),
    "number": frozenset(),
}


def answer_type(question: str) -> AnswerType | None:
    """What kind of answer the question expects, from its wh-phrase (None: another kind)."""
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(question):
            return kind
    return None


def typed_spans(sentence: str, kind: AnswerType) -> list[tuple[int, int]]:
    """Character spans of ``sentence`` that could be an answer of type ``kind``."""
    if kind == "date":
        pattern = _DATE
    elif kind == "number":
        pattern = _NUMBER
    else:
        pattern = _NAME
    spans = []
    for m in pattern.finditer(sentence):
        text = m.group(0).strip(" ,.;:")
        if kind == "number":  # "five to six" -> "five"; "674 steps" keeps its unit
            words = text.split()
            while len(words) > 1 and words[-1].lower() in ENGLISH_STOPWORDS:
                words.pop()
            text = " ".join(words)
        if kind in ("person", "place") and text.lower() in _MONTHS.split("|"):
            continue  # "May" is a month here, not a name
        if not text:
            continue
        if kind in ("person", "place") and m.start() == 0 and " " not in text:
            continue  # the capital of a sentence's first word is no name
        spans.append((m.start(), m.start() + len(text)))
    return spans


@dataclass(frozen=True, slots=True)
class Candidate:
    """One passage sentence the reader scored (best first in :meth:`SentenceReader.read`)."""

    passage: Passage
    sentence: str
    index: int
    features: dict[str, float]
    score: float = 0.0
    #: The typed answer within the sentence (a name, date or number), when one was found.
    span: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reader found for one question: its candidates (best first), the question's
    expected answer type and terms, and the question vector."""

    question: str
    kind: AnswerType | None
    candidates: tuple[Candidate, ...]
    question_terms: frozenset[str] = field(default_factory=frozenset)
    #: Rarity of each question term among the candidate sentences (1: in all of them; a
    #: term in none has the highest value).
    idf: dict[str, float] = field(default_factory=dict)
    #: Every content term of the candidate sentences and their titles.
    passage_terms: frozenset[str] = field(default_factory=frozenset)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class SentenceReader:
    """Scores the sentences of the packed passages with the shipped reader model."""

    def __init__(self, model: Logistic, analyzer: Analyzer, vectors: SentenceVectors) -> None:
        self.model = model
        self.analyzer = analyzer
        self.vectors = vectors

    def terms(self, text: str) -> list[str]:
        return self.analyzer.terms(text)

    def read(
        self,
        question: str,
        passages: Sequence[Passage],
        question_vector: np.ndarray | None = None,
    ) -> Reading:
        """Every sentence of ``passages``' chunks, scored and sorted best first."""
        kind = answer_type(question)
        qlist = self.terms(question)
        qterms = frozenset(qlist)
        qbigrams = set(itertools.pairwise(qlist))
        qlower = question.lower()
        rows: list[tuple[Passage, int, str]] = []
        for p in passages:
            sents = passage_sentences(p.chunk.text) or [" ".join(p.chunk.text.split())]
            rows.extend((p, i, s) for i, s in enumerate(sents))
        if not rows:
            return Reading(question, kind, (), qterms)
        texts = [s for _, _, s in rows]
        # Rarity of a question term among these sentences: a rare shared word ("Rollo")
        # says more than a common one ("Normans" in every sentence of the article).
        sent_terms = [set(self.terms(s)) for s in texts]
        idf = {
            t: math.log((1 + len(texts)) / (1 + sum(t in st for st in sent_terms))) + 1.0
            for t in qterms
        }
        idf_total = sum(idf.values()) or 1.0
        if question_vector is None:
            vecs = self.vectors.embed([question, *texts])
            question_vector, vecs = vecs[0], vecs[1:]
        else:
            vecs = self.vectors.embed(texts)
        cos = vecs @ question_vector
        feats: list[dict[str, float]] = []
        spans: list[str | None] = []
        for (p, i, s), c, sterms in zip(rows, cos, sent_terms, strict=True):
            slist = self.terms(s)
            title_terms = set(self.terms(p.chunk.title)) if p.chunk.title else set()
            n_q = max(1, len(qterms))
            span = self.span(s, kind, qlower) if kind else None
            spans.append(span)
            feats.append(
                {
                    "cos": float(c),
                    "lex": len(qterms & sterms) / n_q,
                    "lex_title": len(qterms & (sterms | title_terms)) / n_q,
                    "lex_idf": sum(idf[t] for t in qterms & sterms) / idf_total,
                    "bigram": (
                        len(qbigrams & set(itertools.pairwise(slist))) / len(qbigrams)
                        if qbigrams
                        else 0.0
                    ),
                    "type_found": float(kind is not None and span is not None),
                    "type_missing": float(kind is not None and span is None),
                    "novel": math.log1p(len(sterms - qterms)),
                    "relevance": float(p.relevance),
                    "passage_rank": 1.0 / p.number,
                    "first": float(i == 0),
                    "length": math.log1p(len(s.split())),
                }
            )
        best_cos = max(f["cos"] for f in feats)
        best_lex = max(f["lex"] for f in feats)
        best_idf = max(f["lex_idf"] for f in feats)
        for f in feats:
            f["cos_gap"] = f["cos"] - best_cos
            f["lex_gap"] = f["lex"] - best_lex
            f["lex_idf_gap"] = f["lex_idf"] - best_idf
        scored = [
            Candidate(p, s, i, f, self.model.logit(f), span)
            for (p, i, s), f, span in zip(rows, feats, spans, strict=True)
        ]
        scored.sort(key=lambda c: (-c.score, c.passage.number, c.index))
        every = frozenset().union(*sent_terms)
        for p in passages:
            if p.chunk.title:
                every |= frozenset(self.terms(p.chunk.title))
        return Reading(question, kind, tuple(scored), qterms, idf, every)

    def span(self, sentence: str, kind: AnswerType, question_lower: str) -> str | None:
        """The typed span of ``sentence`` that the question does not already contain,
        nearest the question's words in the sentence (None: no such span)."""
        qterms = set(self.terms(question_lower))
        anchors = [
            m.start() for m in re.finditer(r"\w+", sentence) if set(self.terms(m.group(0))) & qterms
        ]
        best: tuple[float, str] | None = None
        for start, end in typed_spans(sentence, kind):
            text = sentence[start:end]
            words = set(self.terms(text))
            if text.lower() in question_lower or (words and words <= qterms):
                continue
            distance: float = min((abs(a - start) for a in anchors), default=0)
            before = sentence[max(0, start - 6) : start].lower().split()
            if before and before[-1] in _LEAD_IN[kind]:
                distance /= 4  # "discovered by Asaph Hall", "born in Warsaw"
            if kind == "number" and words & qterms:
                distance /= 4  # "how many steps": "674 steps" over "two levels"
            if best is None or distance < best[0]:
                best = (distance, text)
        return best[1] if best else None


def quote(candidate: Candidate) -> str:
    """The answer text: the span first (when there is one), then the quoted sentence."""
    sentence = " ".join(candidate.sentence.split())
    if candidate.span and candidate.span.strip() != sentence:
        return f'{candidate.span}: "{sentence}"'
    return f'"{sentence}"'


__all__ = [
    "READER_FEATURES",
    "AnswerType",
    "Candidate",
    "Reading",
    "SentenceReader",
    "answer_type",
    "quote",
    "typed_spans",
]
