"""The near-miss gate of the semantic cache, and the normalised question of the exact one.

Two questions can be close in embedding space and still ask different things: MiniLM scores
"How do I enable 2FA?" / "How do I disable 2FA?" or "Did Germany beat Brazil?" / "Did Brazil
beat Germany?" well above 0.8. :func:`compare` looks at what the embedding blurs and returns
the first difference it finds as a reason (None: nothing tells them apart):

``negation``       one is negated and the other not ("not", "without", "n't" …), or they differ
                   by an antonym ("enable"/"disable", "before"/"after", "maximum"/"minimum")
``number``         different numbers (digits, number words, ordinals)
``date``           different years, months or weekdays
``unit``           different units ("km" / "miles", "celsius" / "fahrenheit", "%")
``entity``         different named entities (capitalised names, acronyms, quoted terms)
``question_type``  a different kind of answer asked for (who / when / where / how many / why …)
``swapped_roles``  the same words with who-does-what swapped ("A beat B" / "B beat A", an
                   active question against a passive one with the same order, "which team did
                   X beat" / "which team beat X")
``substitution``   the same question but for one content word, not a synonym of it

Pure Python, no model: a few microseconds per pair.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from ragline.cache.lexicon import (
    _AUX,
    _DEFINING_VERBS,
    _DEMONYMS,
    _GENERIC_COMPATIBLE,
    _GENERIC_NAME_WORDS,
    _IRREGULAR,
    _MEASURE_NOUNS,
    _MONTHS,
    _NOUN_BEFORE,
    _NOUN_TYPES,
    _NUMBER_WORDS,
    _ORDINAL_DIGITS,
    _ORDINALS,
    _PREPOSITIONS,
    _SAME_KIND,
    _SEASONS,
    _TIME_UNITS,
    _UNITS,
    _WEEKDAYS,
    ANTONYMS,
    NEGATIONS,
    STOPWORDS,
    SYNONYMS,
)

_SPACE = re.compile(r"\s+")


_TRAIL = re.compile(r"[\s?!.]+$")


def normalise(question: str) -> str:
    """The exact cache's form of a question: Unicode NFKC, lower case, one space between
    words, no trailing punctuation ("What is X ?" and "what is x" are the same question)."""
    text = unicodedata.normalize("NFKC", question).casefold()
    text = text.replace("\u2019", "'").replace("`", "'")
    return _TRAIL.sub("", _SPACE.sub(" ", text).strip())


_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)*%?|[%$€£°]")

_QUESTION_TYPES = [
    (
        re.compile(
            r"^(?:who|whom|whose)\b|\bby whom\b|^(?:which|what) (?:person|people|man|woman|"
            r"author|writer|team|company|player|scientist|king|queen|president)\b"
        ),
        "person",
    ),
    (
        re.compile(
            r"^when\b|^(?:what|which) (?:year|date|day|time|month|century|decade|season|"
            r"era|period)\b|^(?:in|on|at|by) (?:what|which) (?:year|date|day|time|month|"
            r"century|decade)\b|^how long ago\b|^since when\b"
        ),
        "time",
    ),
    (
        re.compile(
            r"^where\b|^(?:what|which) (?:place|country|city|town|region|state|continent|"
            r"location|area|street|planet)\b|^(?:in|to|from) (?:what|which) (?:place|"
            r"country|city|town|region|state|location)\b|^from where\b"
        ),
        "place",
    ),
    (
        re.compile(
            r"^how (?:many|much)\b|^(?:what|which) (?:number|amount|percentage|share|"
            r"proportion|quantity|price|cost)\b"
        ),
        "quantity",
    ),
    (re.compile(r"^how (?:long|often)\b|^(?:for )?how long\b"), "duration"),
    (
        re.compile(
            r"^how (?:old|tall|high|far|big|large|heavy|hot|cold|fast|deep|wide|warm|"
            r"small|short|early|late|strong)\b"
        ),
        "measure",
    ),
    (
        re.compile(
            r"^why\b|^(?:what|which) (?:is|was|are|were) the (?:reason|cause|purpose)\b|"
            r"^for what reason\b|^what (?:causes|caused|makes|made)\b"
        ),
        "reason",
    ),
    (
        re.compile(r"^how\b|^in what way\b|^what (?:is|are) the (?:steps|procedure|process|way)\b"),
        "manner",
    ),
    (
        re.compile(
            r"^(?:is|are|was|were|do|does|did|can|could|will|would|should|shall|has|have|"
            r"had|may|might|must|am)\b"
        ),
        "polar",
    ),
]
#: Types a generic "what / which" question is compatible with (it asks for a thing, which may
#: be a measure, a quantity or a time: "what is the height of …" = "how tall is …").
_BE = r"(?:is|are|was|were|been|be|being|get|gets|got|gotten)"
_PARTICIPLE = r"\w+(?:ed|en|wn|ght|ung|lt|nt|ne|id)"
_PASSIVE = re.compile(
    rf"\b{_BE}\s+(?:\w+\s+){{0,4}}?({_PARTICIPLE})\b(?:\s+\w+)*?\s+by\b|\bby whom\b.*?\b"
    rf"({_PARTICIPLE})\b|\bby whom\b"
)
#: "what is studied in …": a passive without its agent (no roles to swap).
_BARE_PASSIVE = re.compile(rf"\b{_BE}\s+(?:\w+\s+)?{_PARTICIPLE}\b")
_DO_SUPPORT = re.compile(r"^(?:which|what|who|whom)(?: \w+)? (?:did|does|do)\b")
_SHORT_OBJECT = re.compile(r"^(?:which|what|who|whom)(?: \w+)? (?:did|does|do)(?: \w+){1,4}$")


@dataclass(frozen=True, slots=True)
class Features:
    """What the gate compares, read once per question."""

    text: str
    tokens: tuple[str, ...]
    content: tuple[str, ...]
    negated: bool
    numbers: tuple[str, ...]
    dates: tuple[str, ...]
    units: frozenset[str]
    entities: frozenset[str]
    qtype: str
    passive: bool
    #: The participle of a passive ("beaten" of "was Germany beaten by Brazil"), stemmed.
    participle: str | None
    object_question: bool
    #: The question's last word, stemmed (the verb of "which team did Germany beat").
    last: str
    #: An object question whose verb ends it after a short subject ("which team did X beat").
    short_object: bool
    #: Runs of capitalised words ("Harvard University"), stemmed.
    names: tuple[tuple[str, ...], ...]


def stem(word: str) -> str:
    """A crude stem: enough to match "boils"/"boiling"/"boiled" and plural nouns."""
    w = word.lower().removesuffix("'s").replace("'", "")
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    for suffix in ("ingly", "edly", "ing", "ied", "ies", "ed", "es", "s", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            if suffix in ("ied", "ies"):
                base += "y"
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiouls":
                base = base[:-1]  # "stopped" -> "stop"
            return base
    return w


@lru_cache(maxsize=8192)
def features(question: str) -> Features:
    """The features of one question (cached: a cached question is compared many times)."""
    raw = unicodedata.normalize("NFKC", question).replace("\u2019", "'").strip()
    words = _TOKEN.findall(raw)
    lower = [w.lower() for w in words]
    text = " ".join(lower)
    negated = False
    numbers: list[str] = []
    dates: list[str] = []
    units: set[str] = set()
    entities: set[str] = set()
    for i, (w, lw) in enumerate(zip(words, lower, strict=True)):
        if lw in NEGATIONS or lw.endswith("n't"):
            negated = not negated
        if lw[0].isdigit():
            value = lw.rstrip("%").replace(",", "")
            if lw.endswith("%"):
                units.add("%")
            if len(value) == 4 and value.isdigit() and 1000 <= int(value) <= 2100:
                dates.append(value)
            else:
                numbers.append(value)
        elif lw in _NUMBER_WORDS:
            numbers.append(_NUMBER_WORDS[lw])
        elif lw in _ORDINALS and not (
            lw == "second" and i + 1 < len(lower) and lower[i + 1] in ("hand",)
        ):
            numbers.append(_ORDINALS[lw])
        elif m := _ORDINAL_DIGITS.match(lw):
            numbers.append(m.group(1))
        if lw in _MONTHS and (lw != "may" or (i > 0 and w[0].isupper())):
            dates.append("m" + _MONTHS[lw])
        elif lw in _WEEKDAYS or lw in _SEASONS:
            dates.append(lw)
        if lw in _UNITS:
            unit = _UNITS[lw]
            near_number = any(
                t[0].isdigit() or t in _NUMBER_WORDS for t in lower[max(0, i - 2) : i]
            )
            if near_number or (unit not in _TIME_UNITS and (len(lw) > 2 or not lw.isalpha())):
                units.add(unit)
        elif lw.endswith("%"):
            units.add("%")
        if _is_entity(w, i, words):
            entities.add(stem(lw))
    for quoted in re.findall(r"[\"“]([^\"”]+)[\"”]", raw):
        entities.add(quoted.lower())
    content = tuple(
        stem(lw)
        for w, lw in zip(words, lower, strict=True)
        if (lw not in STOPWORDS and lw not in NEGATIONS) or (len(w) == 1 and w.isupper())
    )
    qtype = _question_type(text, words)
    passive = _PASSIVE.search(text)
    return Features(
        text=text,
        tokens=tuple(lower),
        content=content,
        negated=negated,
        numbers=tuple(sorted(numbers)),
        dates=tuple(sorted(set(dates))),
        units=frozenset(units),
        entities=frozenset(entities),
        qtype=qtype,
        passive=passive is not None,
        participle=_participle(passive),
        object_question=bool(_DO_SUPPORT.search(text)),
        last=stem(lower[-1]) if lower else "",
        short_object=bool(_SHORT_OBJECT.search(text)),
        names=_names(words),
    )


def _names(words: list[str]) -> tuple[tuple[str, ...], ...]:
    runs: list[list[str]] = []
    current: list[str] = []
    for i, w in enumerate(words):
        if _is_entity(w, i, words):
            current.append(stem(w.lower()))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return tuple(tuple(r) for r in runs)


def _participle(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    word = match.group(1) or match.group(2)
    return stem(word) if word else None


def _is_entity(word: str, i: int, words: list[str]) -> bool:
    """A capitalised word past the first (a name), an acronym (``NASA``, ``2FA``, ``VPN``), a
    one-letter name ("problem A"), or a first word that is a name written in capitals or with
    digits."""
    if word.isupper() and word.isalpha():
        if len(word) == 1:
            return i > 0 and word != "I"
        return word.lower() not in STOPWORDS
    if word.isupper() is False and len(word) > 2 and word[:-1].isupper() and word[-1] == "s":
        return True  # a plural acronym: "MSPs"
    if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return True
    if i == 0 or not word[0].isupper():
        return False
    lw = word.lower()
    return (
        lw not in STOPWORDS and lw not in NEGATIONS and lw not in _MONTHS and (lw not in _WEEKDAYS)
    )


def _question_type(text: str, words: list[str] | None = None) -> str:
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(text):
            return kind
    m = re.match(r"^(?:([a-z]+) )?(what|which) ([a-z]+)(?: ([a-z']+))?", text)
    if m and words is not None and (m.group(1) is None or m.group(1) in _PREPOSITIONS):
        wh, noun, after = m.group(2), m.group(3), m.group(4)
        raw = next((w for w in words if w.lower() == noun), noun)
        # "which" comes before a noun ("which sides fought"); "what" when a verb follows
        is_noun = after in _AUX or after == "of" or m.group(1) is not None or wh == "which"
        forms = [noun, stem(noun), noun.removesuffix("s")]
        known = next((f for f in forms if f in _NOUN_TYPES or f in _MEASURE_NOUNS), None)
        if (is_noun or known) and noun not in STOPWORDS and not raw[0].isupper():
            base = known or stem(noun)
            if base in _NOUN_TYPES:
                return _NOUN_TYPES[base]
            # "what battle", "which academy": a thing of a kind ("what temperature": a measure)
            return "measure" if base in _MEASURE_NOUNS else f"what:{base}"
    if re.match(r"^(?:what|which)\b", text):
        return "what"
    return "other"


def _types_differ(a: str, b: str) -> bool:
    if a == b or "other" in (a, b):
        return False
    if a.startswith("what:") or b.startswith("what:"):
        if "what" in (a, b):
            return False  # "what material makes up X" = "what is X made of"
        if a.startswith("what:") and b.startswith("what:"):
            return not _is_synonym(a[5:], b[5:])
        return True  # "in what battle" / "when"
    if "what" in (a, b):
        other = b if a == "what" else a
        return other not in _GENERIC_COMPATIBLE
    return not {a, b} <= _SAME_KIND


def _antonym_pair(a: Features, b: Features) -> bool:
    only_a = set(a.tokens) - set(b.tokens)
    only_b = set(b.tokens) - set(a.tokens)
    stems_b = {stem(w) for w in only_b}
    for w in only_a:
        if ANTONYMS.get(w, frozenset()) & only_b or ANTONYMS.get(stem(w), frozenset()) & stems_b:
            return True
        for prefix in ("un", "dis", "non", "in", "im", "il", "ir", "de", "anti", "mis"):
            negated = any(
                p + w in only_b or (w.startswith(p) and w[len(p) :] in only_b)
                for p in (prefix, prefix + "-")
            )
            if negated and len(w) > 4:
                return True
    return False


def _order(content: tuple[str, ...], shared: set[str]) -> list[str]:
    return list(dict.fromkeys(w for w in content if w in shared))


def _swapped(a: Features, b: Features) -> bool:
    """Who-does-what changed while the words stayed (see the module docstring)."""
    pa, pb = _possessives(a), _possessives(b)
    if pa and pb and pa != pb and (pa - pb) <= set(b.content) and (pb - pa) <= set(a.content):
        return True  # "the Council approves the Parliament's" / "the Parliament … the Council's"
    shared = (set(a.content) & set(b.content)) - {
        w for w in (*a.content, *b.content) if w[0].isdigit()
    }  # numbers are compared on their own
    shared -= _possessives(a) | _possessives(b)  # "Warsaw's mayor" = "the mayor of Warsaw"
    if len(shared) < 2:
        return False
    oa, ob = _order(a.content, shared), _order(b.content, shared)
    pos_b = {w: i for i, w in enumerate(ob)}
    flips = sum(
        1 for i in range(len(oa)) for j in range(i + 1, len(oa)) if pos_b[oa[i]] > pos_b[oa[j]]
    )
    passive = a if a.passive else b
    if a.passive != b.passive and passive.participle in shared:
        # one passive with its agent: the agent and the patient trade places, so the same
        # order means swapped roles ("Did A beat B?" / "Was A beaten by B?")
        return flips == 0
    if (
        a.object_question != b.object_question
        and a.qtype == b.qtype
        and (a if a.object_question else b).short_object
        and (a if a.object_question else b).last in shared
        and not (_BARE_PASSIVE.search(a.text) or _BARE_PASSIVE.search(b.text))
    ):
        return True  # "which team did X beat" / "which team beat X"
    if flips == 0 or len(set(a.content) ^ set(b.content)) > 1:
        return False  # a reordering with other words is how paraphrases are written
    # a word that crosses another shared word: "A beat B" / "B beat A"
    for i in range(len(oa)):
        for j in range(i + 2, len(oa)):
            x, z = oa[i], oa[j]
            if pos_b[x] > pos_b[z]:
                for y in oa[i + 1 : j]:
                    if pos_b[z] < pos_b[y] < pos_b[x]:
                        return True
    return False


def _possessives(f: Features) -> set[str]:
    return {stem(t) for t in f.tokens if t.endswith("'s")}


def _is_synonym(x: str, y: str) -> bool:
    if x == y or stem(x) == stem(y):
        return True
    return y in SYNONYMS.get(x, frozenset()) or stem(y) in {
        stem(s) for s in SYNONYMS.get(stem(x), SYNONYMS.get(x, frozenset()))
    }


def _noun_context(word: str) -> bool:
    return word in _NOUN_BEFORE or word[0].isdigit() or word in _NUMBER_WORDS or word.endswith("'s")


def _substitution(a: Features, b: Features) -> bool:
    """The same question with a noun phrase replaced, in place, by one that is not a synonym
    or a form of it ("the capital of france" / "the capital of spain", "the travelling
    salesman problem" / "the integer factorization problem"); the rest unchanged. A word after
    a determiner or a preposition is taken for a noun: replacing a verb ("runs" / "flows") is
    how paraphrases are written, and is left to the embedding."""
    ta, tb = a.tokens, b.tokens
    if min(len(ta), len(tb)) < 3:
        return False
    ops = SequenceMatcher(a=ta, b=tb, autojunk=False).get_opcodes()
    changed = [op for op in ops if op[0] != "equal"]
    if not changed or any(op[0] != "replace" for op in changed) or len(changed) > 2:
        return False
    for _, i1, i2, j1, j2 in changed:
        xs, ys = ta[i1:i2], tb[j1:j2]
        if all(w in STOPWORDS for w in (*xs, *ys)):
            continue  # "what" / "which"
        if len(xs) == len(ys) and all(_is_synonym(x, y) for x, y in zip(xs, ys, strict=True)):
            continue
        noun = i1 > 0 and j1 > 0 and _noun_context(ta[i1 - 1]) and _noun_context(tb[j1 - 1])
        content = not any(w in STOPWORDS for w in (*xs, *ys))
        if noun and content and max(len(xs), len(ys)) <= 3:
            return True
    return False


def _predicate_differs(a: Features, b: Features) -> bool:
    """ "What did X decide?" against "What was X?": a thing X did, against what X is."""
    if a.qtype != "what" or b.qtype != "what" or a.object_question == b.object_question:
        return False
    do, be = (a, b) if a.object_question else (b, a)
    if _DEFINING_VERBS & set(do.tokens) or _BARE_PASSIVE.search(be.text) or be.passive:
        return False
    return bool(re.match(r"^(?:what|which) (?:is|was|are|were)\b", be.text))


def compare(q1: str, q2: str) -> str | None:
    """Why ``q2`` is not the same question as ``q1`` (a reason of the module docstring), or
    None when the gate finds no difference."""
    if normalise(q1) == normalise(q2):
        return None
    a, b = features(q1), features(q2)
    if a.negated != b.negated or _antonym_pair(a, b):
        return "negation"
    if a.numbers != b.numbers:
        return "number"
    if a.dates != b.dates:
        return "date"
    if a.units != b.units:
        return "unit"
    if a.entities != b.entities and not _same_entities_loosely(a, b):
        return "entity"
    if _types_differ(a.qtype, b.qtype) or _predicate_differs(a, b):
        return "question_type"
    if _swapped(a, b):
        return "swapped_roles"
    if _substitution(a, b):
        return "substitution"
    return None


def _same_entities_loosely(a: Features, b: Features) -> bool:
    """Entities that differ only in how they were written: every name of one question appears
    in the other as a word (any case), as its demonym ("Polish" / "Poland"), or inside an
    acronym of the other ("EU" / "European Union", "MSPs" / "members of the Scottish
    Parliament")."""
    return _covered(a, b) and _covered(b, a)


def _covered(a: Features, b: Features) -> bool:
    words_b = {stem(w) for w in b.tokens} | set(b.tokens)
    for w in b.tokens:
        words_b |= _DEMONYMS.get(w, frozenset())
    expanded = _acronym_words(b, a)
    heads = {run[0]: run for run in a.names}
    for e in a.entities:
        if e in words_b or e in b.text or e in expanded or _expands(e, b):
            continue
        if _DEMONYMS.get(e, frozenset()) & words_b:
            continue
        # a later word of a name whose first word is there ("Harvard University" / "Harvard")
        if e in _GENERIC_NAME_WORDS and any(e in run[1:] and run[0] in words_b for run in a.names):
            continue
        return False
    _ = heads
    return True


def _initials(f: Features) -> list[tuple[str, int, int]]:
    """(initials, start, end) of every run of content words of ``f``."""
    words = [(i, w) for i, w in enumerate(f.tokens) if w not in STOPWORDS and w.isalpha()]
    out = []
    for s_ in range(len(words)):
        letters = ""
        for e_ in range(s_, min(len(words), s_ + 6)):
            letters += words[e_][1][0]
            out.append((letters, s_, e_))
    return out


def _acronym_letters(entity: str) -> str:
    return entity.removesuffix("s") if len(entity) > 2 else entity


def _expands(entity: str, f: Features) -> bool:
    letters = _acronym_letters(entity)
    return len(letters) >= 2 and any(init == letters for init, _, _ in _initials(f))


def _acronym_words(b: Features, a: Features) -> set[str]:
    """Words of ``a`` that an acronym of ``b`` spells out."""
    found: set[str] = set()
    words = [w for w in a.tokens if w not in STOPWORDS and w.isalpha()]
    for e in b.entities:
        letters = _acronym_letters(e)
        if len(letters) < 2:
            continue
        for init, s_, e_ in _initials(a):
            if init == letters:
                found |= {stem(w) for w in words[s_ : e_ + 1]} | set(words[s_ : e_ + 1])
    return found


#: Every reason :func:`compare` may give.
REASONS = (
    "negation",
    "number",
    "date",
    "unit",
    "entity",
    "question_type",
    "swapped_roles",
    "substitution",
)

__all__ = ["REASONS", "Features", "compare", "features", "normalise", "stem"]
