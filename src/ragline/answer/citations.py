"""Citation parsing and checking: every sentence of an answer must be backed by a passage.

For each sentence of the model's draft the checker measures, against every passage:

* **lexical support**: the best share of the sentence's content words (stemmed, stopwords
  and "the answer is"-style words removed, British and American spellings folded) found in
  one sentence of the passage's chunk, counting its title and headings;
* **facts**: every number and every capitalised name of the sentence must be in that same
  passage sentence (or the title and headings): a tiny model's typical error is a true
  sentence with a swapped number or name ("Mars" for "Venus");
* **semantic support**: the MiniLM cosine of the sentence and the passage's closest
  sentence. A short sentence ("The answer is 674.") carries little meaning on its own, so it
  is read together with the question.

Then (``AnswerSettings``): a sentence citing a passage that supports it (both measures over
``min_lexical`` / ``min_semantic``) is ``supported``; a sentence whose citation is wrong, or
that cites nothing, gets the best passage ``attached`` when that passage supports it (cited:
at the normal thresholds; uncited: at the stricter ``attach_*`` ones); anything else is
``dropped`` (or kept and ``flagged``, with ``unsupported="flag"``). An unsupported sentence
whose head before a trailing ", which ..." clause is supported keeps the head. Dropped as
well: sentences with no content words (``filler``), questions and restatements of the
question (``echo``), sentences saying the answer is not there (``decline``) and sentences
not about the question (``off_topic``: MiniLM cosine with the question under 0.5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragline.answer.context import SentenceVectors
from ragline.answer.text import (
    answer_sentences,
    is_decline,
    numbers_in,
    passage_sentences,
    strip_citations,
)
from ragline.config import AnswerSettings
from ragline.models.embedder import Embedder
from ragline.retrieve.analyzer import ENGLISH_STOPWORDS, Analyzer
from ragline.types import CheckedSentence, Citation, Passage

# Words that frame an answer rather than state a fact ("According to passage 2, the answer
# is"), and chat pleasantries ("Sure! I'm ready to help.").
META_WORDS = (
    "answer answers question passage passages document documents text according mention "
    "mentions mentioned provide provides provided state states stated say says information "
    "sure certainly course glad happy help hope ready sorry thank thanks welcome confusion "
    "assist great"
)
# A sentence with at most this many content words besides numbers ("60 euros per day.") is
# read together with the question, and only passage sentences within this cosine of the one
# closest to the question can back it.
SHORT_SENTENCE_TERMS = 3
SHORT_ANSWER_MARGIN = 0.1
# A trailing clause (", which ...", ", while ...") that may be cut off an unsupported
# sentence; not ", but ...", which may qualify what comes before it.
_RELATIVE = re.compile(r",\s+(?:which|who|whose|where|while)\b|;\s+", re.I)
MIN_HEAD_WORDS = 4
# Off topic: a cosine with the question under this (answers restate the question: >= 0.7).
OFF_TOPIC_COSINE = 0.5
# Capitalised words (names, places, "Mars", "RuBisCO"): facts a supporting sentence must have.
_NAME = re.compile(r"\b[A-Z][\w'-]*")
_SPELLING = (
    (re.compile(r"(?<=\w{3})tre(s?)\b"), r"ter\1"),  # metres -> meters, centre -> center
    (re.compile(r"(?<=\w{2})our(s?)\b"), r"or\1"),  # colour -> color
    (re.compile(r"(?<=\w{3})is(e|es|ed|ing|ation)\b"), r"iz\1"),  # organise -> organize
)


_FRAME = re.compile(
    r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+|"  # a list marker: "1. ", "- "
    r"^(?:(?:so|thus|therefore|in short),?\s+)?(?:the\s+)?(?:short\s+|final\s+)?answer"
    r"(?:\s+to\s+(?:this|the|your)\s+question)?\s+is\s*:?\s*|^answer\s*:\s*|"
    r"^according to (?:the\s+)?(?:passages?|documents?|text)(?:\s*\d+)?\s*,?\s*",
    re.I,
)


# Talk about the passages rather than about the world ("The passage is about ...").
_COMMENTARY = re.compile(
    r"^(?:the|this|these|that|your)\s+(?:passages?|documents?|texts?|context|sources?)\s+"
    r"(?:you\s+provided\s+)?(?:is|are|was|were|discuss|describ|talk|mention|provide|list|"
    r"explain|contain|give|seem|appear|focus|cover|refer|say|state|do|does)",
    re.I,
)
_QUANTITY_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")


def _fold(text: str) -> str:
    """Lower case, British spellings folded to American ones (metres -> meters)."""
    folded = text.lower()
    for pattern, repl in _SPELLING:
        folded = pattern.sub(repl, folded)
    return folded


def unframe(sentence: str) -> str:
    """``"The answer to the question is: Venus is hot."`` -> ``"Venus is hot."``"""
    rest = _FRAME.sub("", sentence, count=1).strip()
    if len(rest) > 2 and rest[0] in "\"“'" and rest[-1] in "\"”'":
        rest = _FRAME.sub("", rest[1:-1], count=1).strip()  # 'The answer is: "180 euros."'
    if not rest or rest == sentence or len(rest.split()) < 1:
        return sentence
    return rest[0].upper() + rest[1:]


@dataclass(frozen=True, slots=True)
class Support:
    """How well one passage backs one sentence.

    ``lexical``: the best share of the sentence's content words found in one sentence of the
    passage (with the document title and headings); ``semantic``: the best cosine with one
    sentence of the passage; ``facts_ok``: every number and name of the sentence is in that
    same passage sentence (or the title and headings).
    """

    lexical: float
    semantic: float
    facts_ok: bool

    def passes(self, min_lexical: float, min_semantic: float) -> bool:
        return self.facts_ok and self.lexical >= min_lexical and self.semantic >= min_semantic

    @property
    def strength(self) -> float:
        return self.lexical + self.semantic if self.facts_ok else -1.0


@dataclass(frozen=True, slots=True)
class _PassageView:
    """A passage prepared once for many checks: per-sentence terms and vectors."""

    context: frozenset[str]  # terms of the title and headings
    sentences: tuple[frozenset[str], ...]
    quantities: tuple[frozenset[tuple[str, str]], ...]  # (number, unit) pairs per sentence
    vecs: np.ndarray


class CitationChecker:
    """Checks the sentences of one draft against one set of numbered passages."""

    def __init__(
        self,
        settings: AnswerSettings,
        embedder: Embedder,
        analyzer: Analyzer,
        question: str,
        passages: Sequence[Passage],
        vectors: SentenceVectors | None = None,
        question_vector: np.ndarray | None = None,
    ) -> None:
        self.settings = settings
        #: Where sentence vectors come from (the context packer's cache, or embedded here).
        self.vectors = vectors or SentenceVectors(embedder)
        self.embedder = embedder
        self.analyzer = analyzer
        self.question = question
        self.passages = tuple(passages)
        self._meta = self.terms(META_WORDS)
        self._qterms = self.terms(question) - self._meta
        self._views: list[_PassageView] | None = None
        self._qvec: np.ndarray | None = question_vector
        self._best_q = 0.0  # cosine of the question and the passage sentence closest to it
        self._vectors: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ measures

    def terms(self, text: str) -> set[str]:
        """Content terms of ``text``: stems without stopwords, spellings folded, numbers."""
        folded = _fold(text)
        return set(self.analyzer.terms(folded)) | numbers_in(folded)

    def facts(self, sentence: str) -> set[str]:
        """The terms a supporting sentence must contain: numbers and capitalised names."""
        names = [w for w in _NAME.findall(sentence) if w.lower() not in ENGLISH_STOPWORDS]
        return (self.terms(" ".join(names)) - self._meta) | numbers_in(sentence)

    def quantities(self, text: str) -> set[tuple[str, str]]:
        """``(number, unit)`` pairs: each number with the next content word within three
        words ("18 grams" -> ``("18", "gram")``; "90 and 96 degrees" pairs both numbers)."""
        tokens = _QUANTITY_TOKEN.findall(_fold(text))
        pairs = set()
        for i, tok in enumerate(tokens):
            if not tok[0].isdigit():
                continue
            for nxt in tokens[i + 1 : i + 4]:
                if nxt[0].isdigit() or nxt in ENGLISH_STOPWORDS:
                    continue
                unit = self.analyzer.terms(nxt)
                if unit:
                    number = next(iter(numbers_in(tok)), tok)
                    pairs.add((number, unit[0]))
                break
        return pairs

    def warm(self) -> None:
        """Embed and index the passages now (otherwise the first check does)."""
        self._prepare()

    def _prepare(self) -> list[_PassageView]:
        if self._views is None:
            per = [
                passage_sentences(p.chunk.text) or [" ".join(p.chunk.text.split())]
                for p in self.passages
            ]
            flat = [t for sents in per for t in sents]
            ask_q = self._qvec is None
            vecs_all = self.vectors.embed([self.question, *flat] if ask_q else flat)
            if ask_q:
                self._qvec, vecs_all = vecs_all[0], vecs_all[1:]
            views, start = [], 0
            for p, sents in zip(self.passages, per, strict=True):
                vecs = vecs_all[start : start + len(sents)]
                start += len(sents)
                chunk = p.chunk
                views.append(
                    _PassageView(
                        frozenset(self.terms(" ".join((chunk.title, *chunk.heading_path)))),
                        tuple(frozenset(self.terms(t)) for t in sents),
                        tuple(frozenset(self.quantities(t)) for t in sents),
                        vecs,
                    )
                )
            self._views = views
            self._best_q = max(
                (float(np.max(v.vecs @ self._qvec)) for v in views if len(v.vecs)), default=0.0
            )
        return self._views

    def _vector(self, sentence: str, short: bool) -> np.ndarray:
        """The sentence's vector (read with the question when short), embedded once."""
        claim = f"{self.question} {sentence}" if short else sentence
        if claim not in self._vectors:
            self._vectors[claim] = self.embedder.embed([claim])[0]
        return self._vectors[claim]

    def support(self, sentence: str, *, answer: bool = True) -> list[Support]:
        """Support of ``sentence`` (citation markers already removed) by each passage.

        ``answer=False`` for a clause rather than an answer: it is never read together with
        the question.
        """
        views = self._prepare()
        terms = self.terms(sentence) - self._meta
        facts = self.facts(sentence)
        short = answer and len(terms - numbers_in(sentence)) <= SHORT_SENTENCE_TERMS
        svec = self._vector(sentence, short)
        quantities = self.quantities(sentence)
        out = []
        for v in views:
            lexical, facts_ok = 0.0, False
            # A bare answer ("180 euros.") must come from a sentence about the question,
            # not from any sentence that happens to hold the number.
            about = (v.vecs @ self._qvec) >= self._best_q - SHORT_ANSWER_MARGIN if short else None
            for i, (sent_terms, sent_quantities) in enumerate(
                zip(v.sentences, v.quantities, strict=True)
            ):
                if about is not None and not about[i]:
                    continue
                have = sent_terms | v.context
                units = {u for _, u in sent_quantities}
                # "25 grams" where the passage says "18 grams ... 25 to 30 seconds": no.
                ok = facts <= have and all(
                    q in sent_quantities for q in quantities if q[1] in units
                )
                share = len(terms & have) / len(terms) if terms else 0.0
                if (ok, share) > (facts_ok, lexical):
                    lexical, facts_ok = share, ok
            semantic = float(np.max(v.vecs @ svec)) if len(v.vecs) else 0.0
            out.append(Support(lexical, semantic, facts_ok))
        return out

    # ------------------------------------------------------------------ verdicts

    def check(self, raw: str) -> CheckedSentence:
        """The verdict on one sentence of the draft (with its ``[n]`` markers).

        A sentence with a trailing clause (", which ...") keeps only its head when the head
        is supported and the clause is not (on its own words and facts): a small model often
        appends invented detail to a sentence copied from a passage.
        """
        marked = strip_citations(raw)
        text, cited = unframe(marked.text), marked.numbers
        verdict = self._judge(text, cited)
        parts = _RELATIVE.split(text, maxsplit=1)
        head = parts[0].rstrip(" ,;:")
        tail = parts[1].strip() if len(parts) > 1 else ""
        if tail and len(head.split()) >= MIN_HEAD_WORDS:
            grounded = verdict.status in ("supported", "attached")
            # a kept sentence still loses a trailing clause that its passage does not back
            if (not grounded and verdict.reason == "unsupported") or (
                grounded and not self._backs(verdict.citations[0].number, tail)
            ):
                trimmed = self._judge(head + ".", cited)
                if trimmed.status in ("supported", "attached"):
                    return trimmed
        flag = self.settings.unsupported == "flag"
        if flag and verdict.reason in ("unsupported", "bad_citation"):
            valid = [n for n in cited if 1 <= n <= len(self.passages)]
            supports = self.support(text)
            return self._verdict(text, "flagged", valid, supports, cited, reason=verdict.reason)
        return verdict

    def _backs(self, number: int, clause: str) -> bool:
        """Whether passage ``number`` backs a clause on its own words (and facts)."""
        if not self.terms(clause) - self._meta:
            return True
        support = self.support(clause, answer=False)[number - 1]
        return support.facts_ok and support.lexical >= self.settings.min_lexical

    def _judge(self, text: str, cited: tuple[int, ...]) -> CheckedSentence:
        s = self.settings
        terms = self.terms(text) - self._meta
        if is_decline(text):
            return CheckedSentence(text, "dropped", reason="decline", cited=cited)
        if not terms or _COMMENTARY.match(text):
            return CheckedSentence(text, "dropped", reason="filler", cited=cited)
        if text.rstrip().endswith("?") or terms <= self._qterms:
            return CheckedSentence(text, "dropped", reason="echo", cited=cited)
        supports = self.support(text)
        valid = [n for n in cited if 1 <= n <= len(self.passages)]
        backed = [n for n in valid if supports[n - 1].passes(s.min_lexical, s.min_semantic)]
        if backed:
            return self._verdict(text, "supported", backed, supports, cited)
        if self._off_topic(text, terms):
            return CheckedSentence(text, "dropped", reason="off_topic", cited=cited)
        best = max(range(len(supports)), key=lambda i: supports[i].strength, default=None)
        if best is not None:
            lex, sem = (
                (s.min_lexical, s.min_semantic) if valid else (s.attach_lexical, s.attach_semantic)
            )
            if supports[best].passes(lex, sem):
                return self._verdict(text, "attached", [best + 1], supports, cited, attached=True)
        reason = "bad_citation" if cited and not valid else "unsupported"
        return CheckedSentence(text, "dropped", reason=reason, cited=cited)

    def _off_topic(self, text: str, terms: set[str]) -> bool:
        """A sentence with some content that is not about the question (a copied passage
        sentence next to the point, "I'm ready to help")."""
        if len(terms - numbers_in(text)) <= SHORT_SENTENCE_TERMS:
            return False  # a bare answer ("2020.") is judged with the question instead
        self._prepare()
        assert self._qvec is not None
        return float(self._vector(text, short=False) @ self._qvec) < OFF_TOPIC_COSINE

    def _verdict(
        self,
        text: str,
        status: str,
        numbers: Sequence[int],
        supports: Sequence[Support],
        cited: tuple[int, ...],
        *,
        attached: bool = False,
        reason: str | None = None,
    ) -> CheckedSentence:
        s = self.settings
        citations = tuple(
            Citation(
                number=n,
                passage=self.passages[n - 1],
                sentence=text,
                lexical=supports[n - 1].lexical,
                semantic=supports[n - 1].semantic,
                supported=supports[n - 1].passes(s.min_lexical, s.min_semantic),
                attached=attached,
            )
            for n in numbers
        )
        return CheckedSentence(text, status, citations, reason, cited)  # type: ignore[arg-type]

    def check_all(self, draft: str) -> list[CheckedSentence]:
        """Verdicts on every sentence of a finished draft."""
        return [self.check(sentence) for sentence in answer_sentences(draft)]


__all__ = ["META_WORDS", "CitationChecker", "Support", "unframe"]
