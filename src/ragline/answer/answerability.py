"""Answerability: answer, or decline with a reason, from several signals at once.

The relevance gate (``answer/context.py``) only asks "is anything on topic?". A question
written to look answerable from an on-topic passage ("When did the Normans conquer
Scotland?") passes it. This model decides from the signals together, after the reader:

* ``relevance``: cosine of the question and the best passage;
* ``reader`` / ``reader_margin``: the extractive reader's score of its best sentence, and
  its lead over the second;
* ``lex`` / ``bigram`` / ``cos``: how much of the question the chosen sentence holds;
* ``chunk_cover``: share of the question's content terms found anywhere in the chosen
  sentence's chunk (with its title), ``missing_terms``: how many are not (capped at 3), and
  ``missing_facts``: how many of the question's names and numbers are not;
* ``type_found`` / ``type_missing``: the expected answer type (who → a name, when → a date,
  how many → a number) is or is not in the chosen sentence, ``span_is_new``: the reader found
  a typed span the question does not already name;
* ``unmatched_idf`` / ``max_unmatched_idf``: the rarity-weighted share of the question's terms
  that the chosen sentence (with its title) lacks, and the rarest such term's weight (SQuAD
  2.0's unanswerables reuse a passage's words and change one entity, number or word);
  ``absent_terms`` / ``absent_facts``: question terms, names and numbers in no passage;
* ``cos_margin`` / ``lex_margin``: the chosen sentence's lead over the next best on cosine
  and on rarity-weighted overlap.

The weights (``answer/qa_weights.json``) come from ``benchmarks/train_qa.py`` on the SQuAD 2.0
tuning half; the score is a probability that the documents answer the question.
``answer.min_answerability`` is the threshold: its precision/coverage curve on the held-out
test half is in ``docs/benchmarks.md``. The generative path adds two more signals as vetoes:
the model's own decline, and the citation check (no supported sentence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragline.answer.extractive import Reading
from ragline.answer.logistic import Logistic
from ragline.retrieve.analyzer import ENGLISH_STOPWORDS, Analyzer

_FACT = re.compile(r"\b[A-Z][\w'-]*|\b\d[\d,.]*")
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|without|n't|cannot)\b|n't\b", re.I)
# The capitalised first word of a question ("What", "Which") is no name.
_QUESTION_WORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "during",
        "after",
        "before",
        "is",
        "are",
        "was",
        "were",
        "did",
        "do",
        "does",
        "can",
        "could",
        "would",
        "should",
        "name",
    ]
)


#: The answerability model's features, in the weights file's order.
ANSWERABILITY_FEATURES = (
    "relevance",
    "reader",
    "reader_margin",
    "lex",
    "lex_title",
    "lex_idf",
    "bigram",
    "cos",
    "chunk_cover",
    "missing_terms",
    "missing_facts",
    "sentence_missing_facts",
    "type_found",
    "type_missing",
    "negation",
    "negation_mismatch",
    "question_terms",
    "unmatched_idf",
    "max_unmatched_idf",
    "absent_terms",
    "absent_facts",
    "cos_margin",
    "lex_margin",
    "span_is_new",
)


@dataclass(frozen=True, slots=True)
class AnswerabilityVerdict:
    """The answerability decision: the score, the threshold, and what the score was made of."""

    score: float
    threshold: float
    features: dict[str, float]
    #: A reader-friendly account of the weakest signal, for a decline.
    detail: str = ""

    @property
    def answerable(self) -> bool:
        return self.score >= self.threshold


def features(reading: Reading, analyzer: Analyzer, best_relevance: float) -> dict[str, float]:
    """The question-level signals of a reading (see the module docstring)."""
    best = reading.best
    if best is None:
        return {"relevance": best_relevance}
    second = reading.candidates[1].score if len(reading.candidates) > 1 else best.score - 5.0
    chunk = best.passage.chunk
    chunk_terms = set(analyzer.terms(f"{chunk.title} {chunk.text}"))
    q = reading.question_terms
    missing = q - chunk_terms
    facts = {
        w
        for w in _FACT.findall(reading.question)
        if w.lower() not in _QUESTION_WORDS and w.lower() not in ENGLISH_STOPWORDS
    }
    chunk_lower = f"{chunk.title} {chunk.text}".lower()
    negated = float(bool(_NEGATION.search(reading.question)))
    sentence_lower = f"{chunk.title} {best.sentence}".lower()
    f = best.features
    # Adversarial questions reuse the passage's words but change one: the question's rarest
    # terms that the chosen sentence (with its title) does not hold, weighted by rarity.
    sent_terms = set(analyzer.terms(f"{chunk.title} {best.sentence}"))
    idf = reading.idf or dict.fromkeys(q, 1.0)
    unmatched = [t for t in q if t not in sent_terms]
    idf_total = sum(idf.get(t, 1.0) for t in q) or 1.0
    idf_max = max((idf.get(t, 1.0) for t in q), default=1.0) or 1.0
    others = reading.candidates[1:]
    absent = q - reading.passage_terms if reading.passage_terms else set()
    every_lower = " ".join(c.sentence for c in reading.candidates).lower()
    x = {
        "relevance": best_relevance,
        "reader": best.score,
        "reader_margin": min(5.0, best.score - second),
        "lex": f["lex"],
        "lex_title": f["lex_title"],
        "lex_idf": f["lex_idf"],
        "bigram": f["bigram"],
        "cos": f["cos"],
        "chunk_cover": (len(q) - len(missing)) / len(q) if q else 0.0,
        "missing_terms": float(min(3, len(missing))),
        "missing_facts": float(min(3, sum(w.lower() not in chunk_lower for w in facts))),
        # "How many moons does *Jupiter* have?" answered from a sentence about Jupiter's mass
        # is fine; from one about Saturn it is not: names and numbers of the question that
        # the chosen sentence (with its title) lacks.
        "sentence_missing_facts": float(
            min(3, sum(w.lower() not in sentence_lower for w in facts))
        ),
        "type_found": f["type_found"],
        "type_missing": f["type_missing"],
        # "What did the Normans *not* ...": a common way to ask what a passage does not say
        "negation": negated,
        "negation_mismatch": float(negated and not _NEGATION.search(best.sentence)),
        "question_terms": float(min(12, len(q))),
        "unmatched_idf": sum(idf.get(t, 1.0) for t in unmatched) / idf_total,
        "max_unmatched_idf": max((idf.get(t, 1.0) for t in unmatched), default=0.0) / idf_max,
        # a question term in none of the passages' sentences: a changed entity or word
        "absent_terms": float(min(3, len(absent))),
        "absent_facts": float(
            min(
                3, sum(w.lower() not in every_lower and w.lower() not in chunk_lower for w in facts)
            )
        ),
        "cos_margin": f["cos"] - max((c.features["cos"] for c in others), default=0.0),
        "lex_margin": f["lex_idf"] - max((c.features["lex_idf"] for c in others), default=0.0),
        "span_is_new": float(best.span is not None),
    }
    return x


class Answerability:
    """The shipped answerability model with a threshold (``answer.min_answerability``)."""

    def __init__(self, model: Logistic, analyzer: Analyzer, threshold: float) -> None:
        self.model = model
        self.analyzer = analyzer
        self.threshold = threshold

    def judge(self, reading: Reading, best_relevance: float) -> AnswerabilityVerdict:
        x = features(reading, self.analyzer, best_relevance)
        if reading.best is None:
            return AnswerabilityVerdict(0.0, self.threshold, x, "the passages have no sentences")
        score = self.model.probability(x)
        return AnswerabilityVerdict(score, self.threshold, x, self._detail(reading, x, score))

    def _detail(self, reading: Reading, x: dict[str, float], score: float) -> str:
        why = []
        if x["missing_terms"]:
            best = reading.best
            assert best is not None
            chunk_terms = set(self.analyzer.terms(f"{best.passage.chunk.title} "))
            chunk_terms |= set(self.analyzer.terms(best.passage.chunk.text))
            words = [
                w
                for w in re.findall(r"[\w'-]+", reading.question)
                if (t := self.analyzer.terms(w)) and t[0] not in chunk_terms
            ]
            if words:
                why.append(f"the passages do not mention {', '.join(repr(w) for w in words[:3])}")
        if x["type_missing"] and reading.kind:
            why.append(f"the best sentence names no {reading.kind}")
        if not why:
            why.append("the best sentence does not match the question closely")
        return f"answerability {score:.2f} < {self.threshold:.2f}: " + "; ".join(why)


__all__ = ["ANSWERABILITY_FEATURES", "Answerability", "AnswerabilityVerdict", "features"]
