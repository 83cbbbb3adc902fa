"""ragline's one sentence splitter: spans of a text, whole or streamed.

Ingestion cuts documents into chunks along these sentences, the answer flow checks an
answer's claims sentence by sentence (also while it streams) and packs the passages'
best sentences. A deliberate, dependency-free regex heuristic: a sentence ends at ``.``,
``!``, ``?`` or ``…`` (plus closing quotes or brackets, plus citation markers such as
``[2]`` or ``[1][3]``) followed by whitespace and a word that does not start in lower
case. These do not end one:

- abbreviations (``e.g.``, ``Dr.``, ``et al.``; ``Fig.``, ``p.``, ``Jan.`` before a number),
  single letters (``J. Smith``) and initialisms (``U.S.``);
- a list number at the start of a line (``1. Venus is hot``);
- decimals (``3.14``), which contain no whitespace.

Citation markers after the full stop belong to the sentence before them, and a sentence
with markers ends there whatever follows. ``lines=True`` makes every line break end a
sentence too (answers: lists, headings); otherwise line breaks are whitespace (wrapped
prose). :class:`SentenceStream` gives the same sentences as :func:`split_sentences` for
text that arrives in pieces: it holds a full stop back until the next word (or the end of
a citation marker) shows whether the sentence ended.

The IFEval scorer keeps its own reference splitter (``ragline.evaluate.ifeval.text``): its
scores must reproduce the published implementation's.
"""

from __future__ import annotations

import re

from ragline.text.spans import strip_span

# Words that end in a period without ending a sentence (lower-cased, without the final ".").
_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon", "gen",
        "col", "lt", "sgt", "capt", "cmdr", "gov", "sen", "rep", "pres", "e.g", "i.e", "cf",
        "vs", "viz", "al", "approx", "ca", "circa", "resp", "incl", "dept", "univ", "assn",
    }
)  # fmt: skip
# ... and those that do not end one when a number follows ("Fig. 3", "p. 12", "Jan. 5").
_NUMBER_ABBREVIATIONS = frozenset(
    {
        "no", "nos", "vol", "vols", "pp", "p", "ch", "chap", "sec", "sect", "art", "para",
        "fig", "figs", "eq", "eqs", "ref", "refs", "tab", "jan", "feb", "mar", "apr", "jun",
        "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{"
_SENTENCE_END = re.compile(r"[.!?…]+$")
_INITIALISM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]?")  # U.S, e.g, J.R.R
_LIST_NUMBER = re.compile(r"\(?\d{1,2}\.")
# A candidate end: a whole whitespace-delimited word ending in . ! ? or … (plus closing
# quotes or brackets), then any citation markers, then whitespace.
_MARKER = r"\[\s*(?:passages?\s*)?\d{1,3}(?:\s*[,;–-]\s*(?:passages?\s*)?\d{1,3})*\s*\]"
_CANDIDATE = re.compile(
    rf"(?<!\S)(\S*[.!?…][\"'”’»)\]}}]*)((?:[ \t]*{_MARKER})*)(?=\s)", re.IGNORECASE
)
_WORD = re.compile(r"\s+(\S{1,16})")


def _is_sentence_end(word: str, next_word: str) -> bool:
    """Whether ``word`` (no citation markers after it) ends a sentence, given the next word."""
    core = word.rstrip(_CLOSERS)
    if not core or not _SENTENCE_END.search(core):
        return False
    first = next_word.lstrip(_OPENERS)[:1] or next_word[:1]
    if first.islower():
        return False
    if core[-1] != ".":
        return True  # ! ? … and runs like "?!" or "..."
    stem = core.rstrip(".")
    if core.endswith("..") or not stem:
        return True  # an ellipsis
    token = stem.lstrip(_OPENERS).lower()
    if token in _ABBREVIATIONS or (token in _NUMBER_ABBREVIATIONS and first.isdigit()):
        return False
    # A single letter ("J. Smith") or an initialism ("U.S.") is rarely a sentence end.
    return not (len(token) == 1 and token.isalpha()) and not _INITIALISM.fullmatch(token)


def _pending(text: str, nxt: re.Match[str] | None) -> bool:
    """In a stream: whether the text after a candidate end is too short to decide it."""
    if nxt is None:
        return True  # no word after it yet
    word = nxt.group(1)
    if word[0] == "[":  # a citation marker may be arriving
        rest = text[nxt.start(1) :]
        close = rest.find("]")
        if close == -1:
            return len(rest) <= 21 and "\n" not in rest
        return close == len(rest) - 1  # closed, but is whitespace next?
    return nxt.end() == len(text) and not word.lstrip(_OPENERS)  # only opening quotes yet


def _cuts(text: str, start: int = 0, *, final: bool) -> list[int]:
    """Offsets in ``text`` after ``start`` where sentences end.

    With ``final=False`` (a stream) the scan stops at the first candidate it cannot decide
    yet (:func:`_pending`); every cut it returns is one the whole text would have too.
    """
    cuts: list[int] = []
    for m in _CANDIDATE.finditer(text, start):
        nxt = _WORD.match(text, m.end())
        if not final and _pending(text, nxt):
            break
        if nxt is None:
            break  # only whitespace follows: the text's last sentence ends there anyway
        word, cites = m.group(1), m.group(2)
        if cites:
            cuts.append(m.end())  # a cited claim ends at its markers
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        if _LIST_NUMBER.fullmatch(word) and not text[line_start : m.start()].strip():
            continue  # "1. Venus is hot": a list number, not a sentence
        if _is_sentence_end(word, nxt.group(1)):
            cuts.append(m.end())
    return cuts


def _spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]`` (``end``: a line's end, or the text's)."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for cut in [*_cuts(text[:end], start, final=True), end]:
        spans.extend(strip_span(text, start, cut))
        start = cut
    return spans


def split_sentences(text: str, *, lines: bool = False) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``, surrounding whitespace excluded.

    ``lines=True``: a line break (``\\n``) ends a sentence too.
    """
    if not lines:
        return _spans(text)
    spans: list[tuple[int, int]] = []
    start = 0
    while (newline := text.find("\n", start)) != -1:
        spans.extend(_spans(text[: newline + 1], start))
        start = newline + 1
    return spans + _spans(text, start)


def sentences(text: str, *, lines: bool = False) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`split_sentences`)."""
    return [text[s:e] for s, e in split_sentences(text, lines=lines)]


class SentenceStream:
    """Sentences of streamed text: push pieces, get each sentence once it is complete.

    Pushing a text in any pieces and then flushing gives ``sentences(text, lines=lines)``.
    """

    def __init__(self, *, lines: bool = True) -> None:
        self.lines = lines
        self._buf = ""  # the text since the last line break (``lines``), or all of it
        self._pos = 0  # where in it the next sentence starts

    def _take(self, end: int, cuts: list[int]) -> list[str]:
        out = []
        for cut in cuts:
            out += [self._buf[s:e] for s, e in strip_span(self._buf, self._pos, cut)]
            self._pos = cut
        if end > self._pos:
            out += [self._buf[s:e] for s, e in strip_span(self._buf, self._pos, end)]
            self._pos = end
        return out

    def push(self, piece: str) -> list[str]:
        """Add text; return the sentences it completed (stripped, in order)."""
        self._buf += piece
        out: list[str] = []
        while self.lines and (newline := self._buf.find("\n", self._pos)) != -1:
            line = self._buf[: newline + 1]
            out += self._take(newline + 1, _cuts(line, self._pos, final=True))
            self._buf, self._pos = self._buf[newline + 1 :], 0
        return out + self._take(self._pos, _cuts(self._buf, self._pos, final=False))

    def flush(self) -> list[str]:
        """The text left at the end of the stream (a last sentence without a full stop)."""
        out = self._take(len(self._buf), _cuts(self._buf, self._pos, final=True))
        self._buf, self._pos = "", 0
        return out


__all__ = ["SentenceStream", "sentences", "split_sentences"]
