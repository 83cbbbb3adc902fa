"""Small text tools of the answer flow: sentences, citation markers, numbers, declines.

Sentence splitting is a deliberate, dependency-free heuristic: answers and passages are
short, and the same splitter must also work incrementally on a token stream
(:class:`SentenceStream`), where a sentence is only complete once the text after its full
stop shows that no citation marker (``[2]``) follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# [1], [1, 2], [1][2], [Passage 1], [passage 2, 3]
CITATION = re.compile(
    r"\[\s*(?:passages?\s*)?(\d{1,2}(?:\s*[,;]\s*(?:passage\s*)?\d{1,2})*)\s*\]", re.I
)
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs dr mr mrs ms st no fig approx ca cf al jr sr prof inc ltd co mt".split()  # noqa: SIM905
)
# A full stop, question or exclamation mark, then closing quotes/brackets, then any
# citation markers; a sentence ends there if whitespace and more text follow.
_END = re.compile(r"[.!?][\"'”’)]*((?:\s*\[[^\[\]\n]{1,20}\])*)(?=\s)")
_LIST_MARKER = re.compile(r"\s*\(?\d{1,2}[.)]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DECLINE = re.compile(
    r"\b(cannot|can't|can not|unable to) (answer|find|determine|tell)|"
    r"\b(do not|don't|does not|doesn't) (contain|provide|mention|say|state|include|know|have)|"
    r"\bnot (mentioned|provided|stated|specified|found|given|available|included)\b|"
    r"\bno (information|mention|answer)\b|\bI'?m not sure\b|\bI do not know\b",
    re.I,
)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; line breaks end sentences too (lists, headings)."""
    out: list[str] = []
    for line in text.splitlines():
        stream = SentenceStream()
        out.extend(stream.push(line))
        out.extend(stream.flush())
    return out


def passage_sentences(text: str, heading_words: int = 6) -> list[str]:
    """Sentences of a document passage: paragraphs split at blank lines, wrapped lines joined.

    Headings left in the chunk text ("The Eiffel Tower", "Inner planets": under
    ``heading_words`` words and no closing punctuation) are skipped.
    """
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        flat = " ".join(paragraph.split())
        for s in split_sentences(flat) if flat else []:
            if len(s.split()) >= heading_words or s[-1] in ".!?:;)\"'”’":
                out.append(s)
    return out


class SentenceStream:
    """Incremental sentence splitter for streamed text: push pieces, get whole sentences."""

    def __init__(self) -> None:
        self._buf = ""

    def push(self, piece: str) -> list[str]:
        """Add text; return the sentences it completed (stripped, in order)."""
        self._buf += piece
        out: list[str] = []
        while True:
            cut = self._boundary(self._buf)
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        """The text left at the end of the stream (a last sentence without a full stop)."""
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []

    @staticmethod
    def _boundary(buf: str) -> int | None:
        newline = buf.find("\n")
        for m in _END.finditer(buf):
            if newline != -1 and newline < m.start():
                break
            end = m.end()
            after = buf[end:].lstrip(" \t")
            if not after or after[0] == "[":
                # no text after it yet, or a citation may still follow: wait
                return None if newline == -1 or newline > end else newline + 1
            if buf[m.start()] == "." and _is_abbreviation(buf[: m.start()]):
                continue
            if _LIST_MARKER.fullmatch(buf[buf.rfind("\n", 0, m.start()) + 1 : m.end()]):
                continue  # "1. Venus is hot": a list number, not a sentence
            if buf[m.start()] == "." and after[0].islower() and not m.group(1):
                continue  # "approx. three", "4 p.m. and": not a new sentence
            return end
        return newline + 1 if newline != -1 else None


def _is_abbreviation(before: str) -> bool:
    word = re.split(r"[\s(]", before)[-1].rstrip(".")
    # "e.g.", "Dr." and initials ("J. Smith"); not units ("330 m.")
    return word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper())


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
    "is_decline",
    "numbers_in",
    "passage_sentences",
    "split_sentences",
    "strip_citations",
]
