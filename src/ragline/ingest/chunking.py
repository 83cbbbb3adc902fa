"""Structural chunking: split a loaded document into token-bounded chunks.

:func:`chunk_document` works section by section and never mixes sections with different
heading paths or pages in one chunk; adjacent sections with the *same* heading path and page
are packed together, and a section that holds only its heading is glued to the section that
follows it when that one is nested under it (so a heading never stands alone).

Inside a group of sections the text is split recursively by structure, going one level
finer only for a piece that does not fit the budget on its own::

    paragraphs (blank lines) -> sentences (ragline.text.sentences) -> lines -> words

The resulting units are packed greedily, in order, up to the token budget, and each new
chunk starts with trailing units of the previous one that total at most ``overlap_tokens``.
A heading line is glued to the unit after it, so it never ends a chunk on its own.

Cost: text is tokenized about once. A paragraph is counted through its sentences (their
sum decides whether it stays whole), a piece with more words than the budget is split
without being counted, and a chunk's ``token_count`` is the sum of its units' counts: for
WordPiece (the embedder's tokenizer) and word counters counts add up over
whitespace-separated pieces. One real count per document checks that; for a tokenizer
where they do not add up, every chunk is counted and shrunk until it fits.

Offsets index into ``doc.text``: ``doc.text[c.char_start:c.char_end] == c.text``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ragline.text.sentences import split_sentences
from ragline.text.spans import strip_span
from ragline.types import LoadedDocument, Section

__all__ = ["ChunkDraft", "chunk_document", "context_prefix"]

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it gets ids: its text, where it sits, and its size in tokens."""

    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int
    token_count: int


# --------------------------------------------------------------------------- splitting

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_WORD = re.compile(r"\S+")


def _spans_between(text: str, separator: re.Pattern[str]) -> list[tuple[int, int]]:
    """Stripped, non-empty pieces of ``text`` between matches of ``separator``."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in separator.finditer(text):
        spans.extend(strip_span(text, pos, m.start()))
        pos = m.end()
    spans.extend(strip_span(text, pos, len(text)))
    return spans


# Split levels, coarse to fine.
_PARAGRAPHS, _SENTENCES, _LINES, _WORDS = range(4)


def _split_level(text: str, level: int) -> list[tuple[int, int]]:
    if level == _PARAGRAPHS:
        return _spans_between(text, _PARAGRAPH_BREAK)
    if level == _SENTENCES:
        return split_sentences(text)
    if level == _LINES:
        return _spans_between(text, _LINE_BREAK)
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


@dataclass(slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    glue: bool = False  # keep together with the next unit (a heading line)


class _Splitter:
    """Recursive structural splitter over ``text`` with a fixed token budget."""

    def __init__(self, text: str, count: TokenCounter, budget: int) -> None:
        self.text = text
        self.count = count
        self.budget = budget

    def _spans(self, start: int, end: int, level: int) -> list[tuple[int, int]]:
        return [(start + s, start + e) for s, e in _split_level(self.text[start:end], level)]

    def units(self, start: int, end: int) -> Iterator[_Unit]:
        """Units covering ``text[start:end]``, each within budget unless it is one word."""
        for s, e in self._spans(start, end, _PARAGRAPHS):
            yield from self._paragraph(s, e)

    def _paragraph(self, start: int, end: int) -> Iterator[_Unit]:
        """A paragraph is counted through its sentences, each tokenized once; it stays one
        unit when their sum fits the budget."""
        sentences = self._spans(start, end, _SENTENCES)
        if len(sentences) == 1:
            yield from self._piece(start, end, _SENTENCES)
            return
        units = [u for s, e in sentences for u in self._piece(s, e, _SENTENCES)]
        total = sum(u.tokens for u in units)
        if total <= self.budget:
            yield _Unit(start, end, total)
        else:
            yield from units

    def _piece(self, start: int, end: int, level: int) -> Iterator[_Unit]:
        piece = self.text[start:end]
        # Every word is at least one token, so a piece with more words than the budget is
        # split without being counted (a wrong guess would only make units smaller).
        over = level < _WORDS and len(piece.split()) > self.budget
        n = 0 if over else self.count(piece)
        if not over and (n <= self.budget or level >= _WORDS):
            yield _Unit(start, end, n)
            return
        # Too big: go to the first finer level that actually splits the piece.
        finer = level + 1
        pieces = self._spans(start, end, finer)
        while len(pieces) == 1 and finer < _WORDS:
            finer += 1
            pieces = self._spans(start, end, finer)
        if len(pieces) == 1:  # a single word longer than the budget
            yield _Unit(start, end, n if n else self.count(piece))
            return
        for s, e in pieces:
            yield from self._piece(s, e, finer)


class _Checker:
    """Token counts of finished chunks.

    Units are separated by whitespace, and for WordPiece (and word counters) token counts
    add up over whitespace-separated pieces, so a chunk's count is the sum of its units'.
    The first chunk of several units in a document checks that with one real count; if the
    tokenizer turns out not to be additive, every chunk is counted and shrunk until it fits
    (down to one unit: a paragraph whose sentences summed within budget may then exceed it
    by the tokenizer's non-additivity).
    """

    def __init__(self, count: TokenCounter) -> None:
        self.count = count
        self.additive: bool | None = None

    def finish(
        self,
        text: str,
        units: list[_Unit],
        budget: int,
        path: tuple[str, ...],
        page: int | None,
    ) -> Iterator[ChunkDraft]:
        while units:
            stop = len(units)
            while True:
                start, end = units[0].start, units[stop - 1].end
                n = sum(u.tokens for u in units[:stop])
                if self.additive or (stop == 1 and self.additive is None):
                    break
                real = self.count(text[start:end])
                if self.additive is None:
                    self.additive = real == n
                n = real
                if n <= budget or stop == 1:
                    break
                stop -= 1  # not additive, and over: give back the last unit
            yield ChunkDraft(text[start:end], path, page, start, end, n)
            units = units[stop:]


# --------------------------------------------------------------------------- grouping


def context_prefix(title: str, heading_path: Sequence[str]) -> str:
    """The context line(s) :meth:`ragline.types.Chunk.indexed_text` puts before a chunk."""
    return "\n".join(dict.fromkeys(p for p in (title, *heading_path) if p))


def _heading_only(section: Section) -> bool:
    return bool(section.heading_path) and section.text == section.heading_path[-1]


def _groups(sections: Sequence[Section]) -> list[list[Section]]:
    """Consecutive sections that may share chunks.

    Same heading path and page: one group. A heading-only section joins the next section
    when that one lies under it on the same page; the group takes the deeper heading path.
    """
    groups: list[list[Section]] = []
    pending: list[Section] = []  # heading-only sections waiting for their content
    for section in sections:
        if pending:
            last = pending[-1]
            nested = (
                section.page == last.page
                and section.heading_path[: len(last.heading_path)] == last.heading_path
            )
            if not nested:
                groups.append(pending)
                pending = []
        if _heading_only(section):
            pending.append(section)
        elif pending:
            groups.append([*pending, section])
            pending = []
        elif (
            groups
            and groups[-1][-1].heading_path == section.heading_path
            and groups[-1][-1].page == section.page
        ):
            groups[-1].append(section)
        else:
            groups.append([section])
    if pending:
        groups.append(pending)
    return groups


# --------------------------------------------------------------------------- packing


def _pack(units: list[_Unit], budget: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing: yield ``(first, stop)`` unit index ranges, with overlap."""
    n = len(units)
    i = 0  # first unit not yet in any chunk
    prev_first = -1
    while i < n:
        first, total = i, 0
        # Overlap: trailing units of the previous chunk, never all of it.
        while first - 1 > prev_first and total + units[first - 1].tokens <= overlap:
            first -= 1
            total += units[first].tokens
        while first < i and total + units[i].tokens > budget:
            total -= units[first].tokens
            first += 1
        stop = i
        while stop < n and (stop == i or total + units[stop].tokens <= budget):
            total += units[stop].tokens
            stop += 1
        yield first, stop
        prev_first, i = first, stop


def _glue(units: list[_Unit], budget: int) -> list[_Unit]:
    out: list[_Unit] = []
    for unit in units:
        if out and out[-1].glue and out[-1].tokens + unit.tokens <= budget:
            prev = out.pop()
            unit = _Unit(prev.start, unit.end, prev.tokens + unit.tokens, unit.glue)
        out.append(unit)
    return out


def chunk_document(
    doc: LoadedDocument,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
    contextual: bool = True,
) -> list[ChunkDraft]:
    """Split ``doc`` into chunks of at most ``max_tokens`` tokens (see the module docstring).

    With ``contextual``, the budget for a chunk's own text is ``max_tokens`` minus the tokens
    of its context prefix (title and heading path), but never below ``max_tokens // 2``.
    The overlap is capped at half the budget so that every chunk moves forward.
    A single word longer than the budget becomes a chunk of its own.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must be >= 0, got {overlap_tokens}")
    text = doc.text
    for s in doc.sections:
        if not text.startswith(s.text, s.char_start):
            raise ValueError(
                f"{doc.key}: section at {s.char_start} does not match the document text"
            )
    sections = doc.sections or ((Section(text=text, char_start=0),) if text else ())
    drafts: list[ChunkDraft] = []
    checker = _Checker(count_tokens)
    prefix_tokens: dict[tuple[str, ...], int] = {}
    for group in _groups(sections):
        path, page = group[-1].heading_path, group[-1].page
        budget = max_tokens
        if contextual:
            if path not in prefix_tokens:
                prefix = context_prefix(doc.title, path)
                prefix_tokens[path] = count_tokens(prefix) if prefix else 0
            budget = max(max_tokens - prefix_tokens[path], max_tokens // 2, 1)
        splitter = _Splitter(text, count_tokens, budget)
        units: list[_Unit] = []
        for section in group:
            section_units = list(
                splitter.units(section.char_start, section.char_start + len(section.text))
            )
            if section_units and section.heading_path:
                head = section_units[0]
                if text[head.start : head.end] == section.heading_path[-1]:
                    head.glue = True
            units.extend(section_units)
        units = _glue(units, budget)
        overlap = min(overlap_tokens, budget // 2)
        for first, stop in _pack(units, budget, overlap):
            drafts.extend(checker.finish(text, units[first:stop], budget, path, page))
    return drafts
