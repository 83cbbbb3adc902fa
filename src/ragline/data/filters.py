"""Quality filters: length, language, repetition, boilerplate, broken encoding, AI judge.

Each filter looks at a record's text (:func:`ragline.data.records.record_text`) and either
passes it or names why it drops it; :func:`filter_records` runs them in this order and
stops at the first that drops a record, so every dropped record has one reason, counted
per filter in the report (and written, with the record's id, to ``--report``).

=============  ============================================================================
filter         drops a text when
=============  ============================================================================
encoding       it holds U+FFFD (characters already lost), or it had mojibake that the
               ingest cleaner (:func:`ragline.ingest.cleaning.fix_mojibake`) repairs and
               ``data.encoding = "drop"``; with ``"repair"`` (the default) every string
               of the record is repaired and the record kept (counted as ``repaired``)
length         it has fewer than ``data.min_words`` or more than ``data.max_words`` words
language       py3langid (offline) names a language not in ``data.languages`` with at
               least ``data.lang_min_confidence`` (texts under ``data.lang_min_chars``
               characters are not judged)
repetition     the Gopher rules (Rae et al. 2021, table A1): more than 30% duplicate lines
               or paragraphs, or 20% of characters in them; the most frequent 2/3/4-gram
               covering over 20/18/16% of the characters; duplicated 5..10-grams covering
               over 15..10% — n-gram rules only on texts of 50+ words (shorter ones are
               not documents, and one repeated phrase would trip them)
boilerplate    more than ``data.max_boilerplate_fraction`` of its lines are boilerplate
               (lines of at most 20 words with a cookie or privacy notice, "all rights
               reserved", "click here", "subscribe to our newsletter", "enable
               JavaScript", "skip to content"…), or it holds "lorem ipsum"
judge          (only with a judge) the AI judge rates the answer below
               ``data.judge_min_rating`` (1-5); records without a question and an answer
               (plain texts) are not judged
=============  ============================================================================
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragline.data.records import DataRecord, record_text
from ragline.errors import ConfigError, MissingDependencyError
from ragline.ingest.cleaning import fix_mojibake

if TYPE_CHECKING:
    from ragline.config import DataSettings
    from ragline.evaluate.judge import Judge

FILTERS = ("encoding", "length", "language", "repetition", "boilerplate", "judge")

#: Gopher repetition thresholds (Rae et al. 2021, table A1).
DUP_LINE_FRACTION = 0.30
DUP_PARA_FRACTION = 0.30
DUP_LINE_CHAR_FRACTION = 0.20
DUP_PARA_CHAR_FRACTION = 0.20
TOP_NGRAM_CHAR_FRACTION = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAM_CHAR_FRACTION = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
NGRAM_RULES_MIN_WORDS = 50

_BOILERPLATE = re.compile(
    r"(?i)\b(?:(?:we|this (?:site|website)) uses? cookies|accept (?:all )?cookies|"
    r"cookie (?:policy|settings|preferences)|privacy (?:policy|notice)|"
    r"terms (?:of|and) (?:use|service|conditions)|all rights reserved|click here|"
    r"read more\s*$|subscribe (?:to (?:our|the|my) (?:newsletter|channel|blog|mailing list)|"
    r"now|today|here)|sign (?:up|in) (?:for (?:our|the) newsletter|now|here)|log ?in to comment|"
    r"(?:enable|requires?) javascript|skip to (?:main )?content|back to top|"
    r"share (?:this|on) (?:facebook|twitter|linkedin)|follow us on)"
)
#: A boilerplate line is short: a notice, a link, a menu; a long line that mentions one is text.
BOILERPLATE_MAX_WORDS = 20
_LOREM = re.compile(r"(?i)lorem ipsum")
_WORD = re.compile(r"\w+")


# --------------------------------------------------------------------------- rules


def _dup_fraction(items: Sequence[str]) -> tuple[float, float]:
    """(share of items that repeat an earlier one, share of characters in them)."""
    seen: set[str] = set()
    dup = dup_chars = total_chars = 0
    for it in items:
        total_chars += len(it)
        if it in seen:
            dup += 1
            dup_chars += len(it)
        seen.add(it)
    return (dup / len(items) if items else 0.0, dup_chars / total_chars if total_chars else 0.0)


def _top_ngram_fraction(tokens: Sequence[str], n: int) -> float:
    grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    if not grams:
        return 0.0
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    total = sum(len(t) for t in tokens)
    return sum(len(t) for t in gram) * count / total if total else 0.0


def _dup_ngram_fraction(tokens: Sequence[str], n: int) -> float:
    """Share of characters in n-grams that repeat an earlier one (non-overlapping)."""
    seen: set[tuple[str, ...]] = set()
    dup_chars = 0
    i = 0
    while i <= len(tokens) - n:
        gram = tuple(tokens[i : i + n])
        if gram in seen:
            dup_chars += sum(len(t) for t in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    total = sum(len(t) for t in tokens)
    return dup_chars / total if total else 0.0


def repetition_reason(text: str) -> str | None:
    """Why the Gopher repetition rules drop ``text`` (None: they keep it)."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) >= 3:
        frac, chars = _dup_fraction(lines)
        if frac > DUP_LINE_FRACTION:
            return f"duplicate lines {frac:.0%}"
        if chars > DUP_LINE_CHAR_FRACTION:
            return f"characters in duplicate lines {chars:.0%}"
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paras) >= 3:
        frac, chars = _dup_fraction(paras)
        if frac > DUP_PARA_FRACTION:
            return f"duplicate paragraphs {frac:.0%}"
        if chars > DUP_PARA_CHAR_FRACTION:
            return f"characters in duplicate paragraphs {chars:.0%}"
    tokens = _WORD.findall(text.lower())
    if len(tokens) < NGRAM_RULES_MIN_WORDS:
        return None
    for n, limit in TOP_NGRAM_CHAR_FRACTION.items():
        frac = _top_ngram_fraction(tokens, n)
        if frac > limit:
            return f"top {n}-gram covers {frac:.0%} of characters"
    for n, limit in DUP_NGRAM_CHAR_FRACTION.items():
        frac = _dup_ngram_fraction(tokens, n)
        if frac > limit:
            return f"duplicated {n}-grams cover {frac:.0%} of characters"
    return None


def boilerplate_reason(text: str, max_fraction: float) -> str | None:
    if _LOREM.search(text):
        return "placeholder text (lorem ipsum)"
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return None
    hits = sum(
        1 for ln in lines if len(ln.split()) <= BOILERPLATE_MAX_WORDS and _BOILERPLATE.search(ln)
    )
    frac = hits / len(lines)
    if hits and frac > max_fraction:
        return f"boilerplate lines {frac:.0%}"
    return None


_LANGID: Any = None
_LANGID_LOCK = threading.Lock()


def language_of(text: str) -> tuple[str, float]:
    """``(ISO 639-1 code, probability)`` by py3langid (its model loads once per process)."""
    global _LANGID
    with _LANGID_LOCK:
        if _LANGID is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:
                raise MissingDependencyError(
                    "the language filter needs py3langid",
                    hint="pip install py3langid (a dependency of ragline)",
                ) from exc
            _LANGID = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang, prob = _LANGID.classify(text)
    return str(lang), float(prob)


def _map_strings(obj: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        return [_map_strings(v, fn) for v in obj]
    if isinstance(obj, dict):
        return {k: _map_strings(v, fn) for k, v in obj.items()}
    return obj


def qa_of(data: dict[str, Any]) -> tuple[str, str] | None:
    """(question, answer) of a QA pair, chat example or preference pair; None otherwise."""
    if isinstance(data.get("question"), str) and isinstance(data.get("answer"), str):
        return data["question"], data["answer"]
    if isinstance(data.get("prompt"), str) and isinstance(data.get("chosen"), str):
        return data["prompt"], data["chosen"]
    messages = data.get("messages")
    if isinstance(messages, list):
        user = [
            m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"
        ]
        bot = [
            m.get("content")
            for m in messages
            if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        if user and bot and isinstance(user[-1], str) and isinstance(bot[-1], str):
            return user[-1], bot[-1]
    return None


# --------------------------------------------------------------------------- the pass


@dataclass(slots=True)
class Dropped:
    """One dropped record: its id and line, the filter, and why."""

    id: str
    line: int
    filter: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "filter": self.filter, "reason": self.reason}


@dataclass(slots=True)
class FilterReport:
    kept: list[DataRecord]
    dropped: list[Dropped] = field(default_factory=list)
    repaired: int = 0
    judged: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in self.params.get("filters", FILTERS)}
        for d in self.dropped:
            out[d.filter] = out.get(d.filter, 0) + 1
        return out


def filter_records(
    records: Sequence[DataRecord],
    cfg: DataSettings,
    *,
    filters: Sequence[str] = FILTERS,
    text_field: str | None = None,
    judge: Judge | None = None,
    progress: Callable[[int], None] | None = None,
) -> FilterReport:
    """Run the filters over ``records`` (see the module docstring); one bad record never
    stops the pass (a judge call that fails keeps the record and notes it)."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ConfigError(f"unknown filters {unknown}; known: {list(FILTERS)}")
    if cfg.min_words > cfg.max_words:
        raise ConfigError(f"data.min_words ({cfg.min_words}) is above max_words")
    active = [f for f in filters if f != "judge" or judge is not None]
    report = FilterReport(
        kept=[],
        params={
            "filters": active,
            "min_words": cfg.min_words,
            "max_words": cfg.max_words,
            "languages": list(cfg.languages),
            "lang_min_confidence": cfg.lang_min_confidence,
            "max_boilerplate_fraction": cfg.max_boilerplate_fraction,
            "encoding": cfg.encoding,
            **({"judge_min_rating": cfg.judge_min_rating} if judge is not None else {}),
        },
    )
    langs = set(cfg.languages)
    for rec in records:
        verdict = _judge_record(rec, cfg, active, langs, judge, report, text_field)
        if verdict is None:
            report.kept.append(rec)
        else:
            report.dropped.append(Dropped(rec.id, rec.line, verdict[0], verdict[1]))
        if progress is not None:
            progress(1)
    return report


def _judge_record(
    rec: DataRecord,
    cfg: DataSettings,
    active: Sequence[str],
    langs: set[str],
    judge: Judge | None,
    report: FilterReport,
    text_field: str | None,
) -> tuple[str, str] | None:
    text = rec.text
    for name in active:
        if name == "encoding":
            if "\ufffd" in text:
                return name, "replacement character U+FFFD: characters were lost"
            fixed = fix_mojibake(text)
            if fixed != text:
                if cfg.encoding == "drop":
                    return name, "mojibake (repairable; data.encoding = drop)"
                rec.data = _map_strings(rec.data, fix_mojibake)
                rec.text = text = record_text(rec.data, text_field) or fixed
                report.repaired += 1
        elif name == "length":
            n = len(_WORD.findall(text))
            if n < cfg.min_words:
                return name, f"{n} words < {cfg.min_words}"
            if n > cfg.max_words:
                return name, f"{n} words > {cfg.max_words}"
        elif name == "language" and langs and len(text) >= cfg.lang_min_chars:
            lang, prob = language_of(text)
            if lang not in langs and prob >= cfg.lang_min_confidence:
                return name, f"language {lang} ({prob:.2f})"
        elif name == "repetition":
            why = repetition_reason(text)
            if why:
                return name, why
        elif name == "boilerplate":
            why = boilerplate_reason(text, cfg.max_boilerplate_fraction)
            if why:
                return name, why
        elif name == "judge" and judge is not None:
            qa = qa_of(rec.data)
            if qa is None:
                continue
            verdict = judge.rate(*qa)
            report.judged += 1
            if verdict.value is not None and int(verdict.value) < cfg.judge_min_rating:
                return name, f"judge rated {verdict.value} < {cfg.judge_min_rating}"
    return None


__all__ = [
    "DUP_NGRAM_CHAR_FRACTION",
    "FILTERS",
    "TOP_NGRAM_CHAR_FRACTION",
    "Dropped",
    "FilterReport",
    "boilerplate_reason",
    "filter_records",
    "language_of",
    "qa_of",
    "repetition_reason",
]
