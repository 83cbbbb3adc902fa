"""Small text tools of the answer flow: sentences, citation markers, numbers, declines.

Sentences come from ragline's one splitter, :mod:`ragline.text.sentences` (also used to
chunk documents): an answer's line breaks end sentences (lists, headings), a passage's
wrapped lines do not, and :class:`~ragline.text.sentences.SentenceStream` splits a token
stream the same way, holding a full stop back until no citation marker (``[2]``) follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragline.text.sentences import SentenceStream, sentences

# [1], [1, 2], [1][2], [Passage 1], [passage 2, 3]
CITATION = re.compile(
    r"\[\s*(?:passages?\s*)?(\d{1,2}(?:\s*[,;]\s*(?:passage\s*)?\d{1,2})*)\s*\]", re.I
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DECLINE = re.compile(
    r"\b(cannot|can't|can not|unable to) (answer|find|determine|tell)|"
    r"\b(do not|don't|does not|doesn't) (contain|provide|mention|say|state|include|know|have)|"
    r"\bnot (mentioned|provided|stated|specified|found|given|available|included)\b|"
    r"\bno (information|mention|answer)\b|\bI'?m not sure\b|\bI do not know\b",
    re.I,
)


def answer_sentences(text: str) -> list[str]:
    """The sentences of an answer: line breaks end sentences too (lists, headings)."""
    return sentences(text, lines=True)


def passage_sentences(text: str, heading_words: int = 6) -> list[str]:
    """Sentences of a document passage: paragraphs split at blank lines, wrapped lines joined.

    Headings left in the chunk text ("The Eiffel Tower", "Inner planets": under
    ``heading_words`` words and no closing punctuation) are skipped.
    """
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        for s in sentences(flat) if flat else []:
            if len(s.split()) >= heading_words or s[-1] in ".!?:;)\"'”’":
                out.append(s)
    return out


@dataclass(frozen=True, slots=True)
class Marked:
    """A sentence with its citation markers taken out."""

    text: str
    numbers: tuple[int, ...]


def strip_citations(sentence: str) -> Marked:
    """``"It is 330 m tall [1][3]."`` -> ``Marked("It is 330 m tall.", (1, 3))``."""
    numbers: list[int] = []
    for m in CITATION.finditer(sentence):
        for n in re.findall(r"\d+", m.group(1)):
            if int(n) not in numbers:
                numbers.append(int(n))
    text = CITATION.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return Marked(" ".join(text.split()), tuple(numbers))


def numbers_in(text: str) -> set[str]:
    """Numbers in ``text``, normalised: ``"2,000"`` and ``"2000"`` are the same number."""
    out = set()
    for raw in _NUMBER.findall(text):
        value = re.sub(r"(?<=\d),(?=\d{3}\b)", "", raw).rstrip(".,")
        if value:
            out.add(value)
    return out


def is_decline(sentence: str) -> bool:
    """Whether a sentence says the answer is not there ("the passages do not mention...")."""
    return bool(_DECLINE.search(sentence))


__all__ = [
    "CITATION",
    "Marked",
    "SentenceStream",
    "answer_sentences",
    "is_decline",
    "numbers_in",
    "passage_sentences",
    "strip_citations",
]
