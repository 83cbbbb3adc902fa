"""Facts from what a user says: the :class:`FactExtractor` Protocol and the rule extractor.

A user turn is split into sentences and clauses ("I moved to Lyon and I work at Renault now"
is two); each clause spoken in the first person is matched against rules for the common forms
and normalised to a key and a value:

=====================================================  ==========================  =================
said                                                   key                         value
=====================================================  ==========================  =================
I live in / moved to / am based in Lyon                ``location``                Lyon
call me / my name is / I go by Sam                     ``name``                    Sam
I work at / for, joined, got a job at Acme             ``employer``                Acme
I work as / am a nurse (a known job), my job is …      ``job``                     nurse
I'm from / grew up in Porto                            ``hometown``                Porto
I'm vegetarian / vegan …                               ``diet``                    vegetarian
I'm allergic to peanuts                                ``allergy``                 peanuts
I'm 34 (years old), I turned 34                        ``age``                     34
I drive a Golf                                         ``car``                     Golf
I speak Spanish and Greek                              ``languages``               Spanish and Greek
I have a dog named Rex                                 ``dog name``                Rex
my favourite colour is green / green is my favourite   ``favorite color``          green
colour, my X is Y (any X)
I like / love / enjoy / am into jazz; I don't like,    ``preference:jazz``         likes jazz /
hate, can't stand, am no longer into jazz                                          dislikes jazz
I prefer / would rather tea (over coffee)              ``prefers:tea``             prefers tea
=====================================================  ==========================  =================

A first-person statement no rule reads may become a ``note`` (:class:`RuleExtractor` with
``notes=True``): its key is a hash of the sentence and it is recalled by similarity alone.
:func:`forget_request` reads "forget that I live in Lyon" / "forget my phone number" /
"forget everything about me".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragline.store.memory_base import FactKind
from ragline.text.sentences import sentences

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
# Words that end a value without being part of it ("Lyon now", "Acme these days").
_TRAILING = re.compile(
    r"(?:\s+|^)(?:now|nowadays|these days|anymore|any more|at the moment|currently|as well|too|"
    r"actually|though|instead|again|lately|full[- ]time|part[- ]time|for (?:a|the) (?:while|"
    r"living)|for (?:about |almost |over )?(?:a|an|one|two|three|four|five|six|\d+) "
    r"(?:years?|months?|weeks?)|since .+|last (?:week|month|year)|this (?:week|month|year)|"
    r"recently|by the way|btw|haha|lol|in (?:early |late )?(?:january|february|march|april|may|"
    r"june|july|august|september|october|november|december)(?: \d{4})?|in \d{4})\s*$",
    re.I,
)
_LEADING = re.compile(r"^(?:the city of|the town of|sunny|beautiful|lovely)\s+", re.I)
_CLAUSE = re.compile(r"\s*(?:;|,?\s+but\s+|,?\s+and\s+(?=I\b|I'|my\b|we\b)|,\s+(?=I\b|my\b))\s*")
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|mine|we|our)\b", re.I)
_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:what|which|who|whom|whose|when|where|why|how|do|does|did|is|are|can|could|"
    r"would|will|should|shall|may|tell me|remind me|show me|please tell)\b",
    re.I,
)
_JOBS = (
    "engineer|developer|programmer|teacher|nurse|doctor|physician|surgeon|lawyer|attorney|"
    "designer|manager|analyst|scientist|researcher|architect|accountant|consultant|writer|"
    "journalist|chef|cook|pilot|student|professor|librarian|pharmacist|dentist|electrician|"
    "plumber|carpenter|mechanic|photographer|artist|musician|translator|editor|baker|farmer|"
    "firefighter|police officer|veterinarian|vet|therapist|psychologist|economist|banker|"
    "entrepreneur|intern|recruiter|tester|administrator|technician|clerk|driver|waiter|"
    "waitress|barista|tutor|coach|producer|paramedic|midwife|nanny|cashier|salesman|"
    "saleswoman|data scientist|product manager|software engineer|illustrator|animator|"
    "actor|actress|dancer|singer|lecturer|postdoc|phd student|sysadmin|devops engineer"
)
_DIETS = (
    r"vegetarian|vegan|pescatarian|gluten[- ]free|lactose[- ]intolerant|keto|"
    r"on a [\w-]+ diet|teetotal|sober"
)
# Keys said in other words ("my hometown" is where one is from, "my company" the employer).
KEY_ALIASES: dict[str, str] = {
    "name": "name",
    "first name": "name",
    "nickname": "name",
    "job": "job",
    "profession": "job",
    "occupation": "job",
    "role": "job",
    "job title": "job",
    "employer": "employer",
    "company": "employer",
    "workplace": "employer",
    "home town": "hometown",
    "hometown": "hometown",
    "city": "location",
    "home": "location",
    "address": "address",
    "home address": "address",
    "car": "car",
    "diet": "diet",
    "age": "age",
    "birthday": "birthday",
    "date of birth": "birthday",
    "phone": "phone number",
    "number": "phone number",
    "mobile": "phone number",
    "cell": "phone number",
    "main programming language": "programming language",
    "phone number": "phone number",
    "mobile number": "phone number",
    "cell number": "phone number",
    "email": "email",
    "email address": "email",
    "e-mail": "email",
}
#: Words of a question that point at a key (besides the key's own words).
KEY_CUES: dict[str, frozenset[str]] = {
    "location": frozenset(
        [
            "live",
            "living",
            "lives",
            "reside",
            "based",
            "city",
            "town",
            "home",
            "where",
            "move",
            "moved",
        ]
    ),
    "name": frozenset(["name", "call", "called"]),
    "employer": frozenset(["work", "working", "employer", "company", "firm", "job"]),
    "job": frozenset(["job", "profession", "occupation", "work", "working", "do", "living"]),
    "hometown": frozenset(["from", "hometown", "grow", "grew", "born", "originally"]),
    "diet": frozenset(["diet", "eat", "eating", "food", "meat", "vegetarian", "vegan"]),
    "age": frozenset(["age", "old"]),
    "car": frozenset(["car", "drive", "driving", "vehicle"]),
    "languages": frozenset(["language", "languages", "speak"]),
    "birthday": frozenset(["birthday", "born", "birth"]),
}
# "my X is Y" where X is no fact about the user ("my question is", "my point is").
_NOT_KEYS = frozenset(
    [
        "question",
        "point",
        "guess",
        "bad",
        "pleasure",
        "god",
        "goodness",
        "problem",
        "issue",
        "answer",
        "idea",
        "thought",
        "understanding",
        "concern",
        "worry",
        "fault",
        "turn",
        "mistake",
        "request",
        "point",
        "here",
        "plan",
        "follow",
        "up",
    ]
)


@dataclass(frozen=True, slots=True)
class FactCandidate:
    """One fact read from a turn: a key, a value, and the fact as a sentence."""

    key: str
    value: str
    statement: str
    kind: FactKind = "fact"
    #: The clause it was read from.
    clause: str = ""


@runtime_checkable
class FactExtractor(Protocol):
    """Reads facts about the user from one of the user's turns.

    ``keys``: the user's current keys, so that an extractor that can tell (the model) gives
    a new value of a known thing the same key, which supersedes the old value."""

    def extract(self, text: str, *, keys: Sequence[str] = ()) -> list[FactCandidate]: ...


def clauses(text: str) -> list[str]:
    """The sentences of ``text`` cut at ";", "but" and "and I / and my"."""
    out: list[str] = []
    for sentence in sentences(text.translate(_APOSTROPHES)):
        for part in _CLAUSE.split(sentence):
            part = part.strip(" .!\t\n")
            if part:
                out.append(part)
    return out


def clean_value(value: str) -> str:
    """A value without trailing filler ("Lyon now" -> "Lyon"), quotes and end punctuation."""
    v = value.strip(" .!,;:\"'")
    for _ in range(3):
        stripped = _TRAILING.sub("", v).strip(" .!,;:\"'")
        if stripped == v:
            break
        v = stripped
    v = re.split(r",|\s+(?:because|since|which|so|but|where|when)\s+", v, maxsplit=1)[0]
    return _LEADING.sub("", v).strip(" .!,;:\"'")


def normalise_key(words: str) -> str:
    """``favourite colour`` -> ``favorite color``; aliases to canonical keys (``company`` ->
    ``employer``); possessives dropped (``dog's name`` -> ``dog name``)."""
    k = " ".join(words.casefold().replace("'s ", " ").split())
    k = re.sub(r"\bfavou?rite\b|\bfav\b", "favorite", k)
    k = re.sub(r"\bcolou?r\b", "color", k)
    k = re.sub(r"^(?:current|new|old|present|usual)\s+", "", k)
    return KEY_ALIASES.get(k, k)


_QUALIFIER = re.compile(
    r"\s+(?:in|on|at|for|when|with|during|every|especially|because|while)\s+.*$", re.I
)


def _object(value: str) -> str:
    """The object of a preference, lower case, without its article and qualifiers ("the
    beach" -> "beach", "hiking on weekends" -> "hiking", "dark mode in every editor" ->
    "dark mode")."""
    v = _QUALIFIER.sub("", clean_value(value))
    v = re.sub(r"^(?:the|a|an|some|all|any)\s+", "", v, flags=re.I)
    return v.casefold().strip()


Build = Callable[[re.Match[str]], FactCandidate | None]


def _keyed(key: str, template: str) -> Build:
    def build(m: re.Match[str]) -> FactCandidate | None:
        value = clean_value(m.group("v"))
        if not value or len(value.split()) > 6:
            return None
        return FactCandidate(key, value, template.format(v=value))

    return build


def _job(m: re.Match[str]) -> FactCandidate | None:
    value = re.sub(r"^(?:an?|the)\s+", "", clean_value(m.group("v")), flags=re.I)
    if not value or len(value.split()) > 5:
        return None
    return FactCandidate("job", value, f"I work as {_article(value)} {value}")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _name(m: re.Match[str]) -> FactCandidate | None:
    words = clean_value(m.group("v")).split()
    if not words or len(words) > 3 or not words[0][:1].isupper():
        return None
    value = " ".join(words)
    return FactCandidate("name", value, f"my name is {value}")


def _introduced(m: re.Match[str]) -> FactCandidate | None:
    """ "I'm Maya" as a whole clause; not "I'm Canadian", "I'm Japanese" (nationalities)."""
    value = m.group("v")
    if re.search(r"(?:an|ese|ish|ian|i)$", value.split()[0], re.I):
        return None
    return FactCandidate("name", value, f"my name is {value}")


def _age(m: re.Match[str]) -> FactCandidate | None:
    value = m.group("v")
    return FactCandidate("age", value, f"I am {value} years old")


def _born(m: re.Match[str]) -> FactCandidate | None:
    value = clean_value(m.group("v"))
    if not value:
        return None
    if re.search(r"\d", value) or re.search(
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", value, re.I
    ):
        return FactCandidate("birthday", value, f"I was born on {value}")
    return FactCandidate("hometown", value, f"I am from {value}")


def _named(m: re.Match[str]) -> FactCandidate | None:
    thing = normalise_key(m.group("thing"))
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 3:
        return None
    return FactCandidate(f"{thing} name", value, f"my {thing} is called {value}")


def _count(m: re.Match[str]) -> FactCandidate | None:
    thing = m.group("thing").casefold()
    return FactCandidate(f"number of {thing}", m.group("v"), f"I have {m.group('v')} {thing}")


def _my_is(m: re.Match[str]) -> FactCandidate | None:
    raw = m.group("k")
    key = normalise_key(raw)
    if key.split()[-1] in _NOT_KEYS or key in _NOT_KEYS:
        return None
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 8:
        return None
    verb = "are" if raw.casefold().endswith("s") and not raw.casefold().endswith("ss") else "is"
    return FactCandidate(key, value, f"my {raw.casefold()} {verb} {value}")


def _is_my(m: re.Match[str]) -> FactCandidate | None:
    raw = m.group("k")
    value = clean_value(m.group("v"))
    if not value or len(value.split()) > 5:
        return None
    return FactCandidate(normalise_key(raw), value, f"my {raw.casefold()} is {value}")


def _likes(positive: bool) -> Build:
    def build(m: re.Match[str]) -> FactCandidate | None:
        obj = _object(m.group("v"))
        if not obj or len(obj.split()) > 5 or obj in {"it", "that", "this", "you", "them"}:
            return None
        if positive:
            return FactCandidate(f"preference:{obj}", f"likes {obj}", f"I like {obj}", "preference")
        return FactCandidate(
            f"preference:{obj}", f"dislikes {obj}", f"I don't like {obj}", "preference"
        )

    return build


def _prefers_switch(m: re.Match[str]) -> FactCandidate | None:
    """ "I've switched to light mode": now preferred (it replaces a preference alike)."""
    obj = re.sub(r"^(?:an?|the)\s+", "", _object(m.group("v")))
    if not obj or len(obj.split()) > 5:
        return None
    return FactCandidate(f"prefers:{obj}", f"prefers {obj}", f"I prefer {obj}", "preference")


def _prefers(m: re.Match[str]) -> FactCandidate | None:
    obj = _object(m.group("v"))
    if not obj or len(obj.split()) > 6:
        return None
    other = m.group("w")
    extra = f" over {_object(other)}" if other else ""
    return FactCandidate(
        f"prefers:{obj}", f"prefers {obj}{extra}", f"I prefer {obj}{extra}", "preference"
    )


_I_AM = r"I(?:'m| am)"
_NOW = r"(?:(?:now|currently|still|also|actually|really|just|recently|finally|mostly)\s+)?"
RULES: tuple[tuple[re.Pattern[str], Build], ...] = tuple(
    (re.compile(p, re.I), build)
    for p, build in (
        # location
        (
            rf"\b(?:I|we)(?:'ve| have)?\s+{_NOW}(?:moved|relocated|emigrated)\s+"
            r"(?:back\s+)?(?:to|into)\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            rf"\b(?:I|we)\s+{_NOW}(?:live|reside)\s+in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            rf"\b(?:{_I_AM}|we're|we are)\s+{_NOW}(?:living|residing|based|settled|staying)\s+"
            r"in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"\bmy\s+(?:new\s+)?(?:home|place|apartment|flat|house)\s+is\s+in\s+(?P<v>.+)",
            _keyed("location", "I live in {v}"),
        ),
        (
            r"\b(?:home|where I live)\s+is\s+(?:now\s+)?(?P<v>[A-Z].+)",
            _keyed("location", "I live in {v}"),
        ),
        # name
        (r"\b(?:please\s+)?call\s+me\s+(?P<v>.+)", _name),
        (r"\bmy\s+name(?:'s|\s+is)\s+(?P<v>.+)", _name),
        (r"\bI\s+go\s+by\s+(?P<v>.+)", _name),
        (r"^(?:I'm|I\s+am|this\s+is)\s+(?P<v>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)$", _introduced),
        (rf"\b{_I_AM}\s+called\s+(?P<v>.+)", _name),
        # job before employer: "I work as" is a job, "I work at" an employer
        (rf"\bI\s+{_NOW}work\s+as\s+(?P<v>.+)", _job),
        (rf"\b{_I_AM}\s+{_NOW}working\s+as\s+(?P<v>.+)", _job),
        (rf"\bI(?:'ve| have)?\s+{_NOW}(?:become|became|trained as|retrained as)\s+(?P<v>.+)", _job),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:an?\s+)?(?P<v>(?:[\w-]+\s+){{0,2}}(?:{_JOBS}))\b"
            r"(?:\s+(?:by profession|by trade))?",
            _job,
        ),
        (rf"\bI\s+{_NOW}work\s+(?:at|for|with)\s+(?P<v>.+)", _keyed("employer", "I work at {v}")),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:working|employed|hired)\s+(?:at|for|by)\s+(?P<v>.+)",
            _keyed("employer", "I work at {v}"),
        ),
        (
            rf"\bI(?:'ve| have)?\s+{_NOW}(?:joined|started\s+(?:working\s+)?at|started\s+a\s+"
            r"(?:new\s+)?job\s+at|got\s+a\s+(?:new\s+)?job\s+(?:at|with)|took\s+a\s+job\s+at|"
            r"signed\s+(?:on\s+)?with)\s+(?P<v>.+)",
            _keyed("employer", "I work at {v}"),
        ),
        # where from, diet, age, car, languages, birthday
        (rf"\b{_I_AM}\s+(?:originally\s+)?from\s+(?P<v>.+)", _keyed("hometown", "I am from {v}")),
        (r"\bI\s+(?:grew\s+up|was\s+raised)\s+in\s+(?P<v>.+)", _keyed("hometown", "I am from {v}")),
        (r"\bI\s+was\s+born\s+(?:in|on)\s+(?P<v>.+)", _born),
        (rf"\b{_I_AM}\s+{_NOW}(?:a\s+)?(?P<v>{_DIETS})\b", _keyed("diet", "I am {v}")),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:very\s+|severely\s+)?allergic\s+to\s+(?P<v>.+)",
            _keyed("allergy", "I am allergic to {v}"),
        ),
        (
            rf"\b(?:{_I_AM}|I\s+just\s+turned|I\s+turned)\s+(?P<v>\d{{1,3}})(?:\s+years?\s+old)?"
            r"\s*$",
            _age,
        ),
        (rf"\bI\s+{_NOW}drive\s+(?:an?\s+|the\s+)?(?P<v>.+)", _keyed("car", "I drive {v}")),
        (rf"\bI\s+{_NOW}speak\s+(?P<v>.+)", _keyed("languages", "I speak {v}")),
        (
            rf"\bI\s+{_NOW}(?:usually\s+|normally\s+)?(?:take|get|ride|catch)\s+(?:the\s+|a\s+)?"
            r"(?P<v>[\w -]+?)\s+to\s+(?:work|the\s+office)\b",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI(?:'ve|\s+have)?\s+{_NOW}(?:started\s+)?(?P<v>cycling|walking|driving|biking|"
            r"running|scootering)\s+to\s+(?:work|the\s+office)\b",
            _keyed("commute", "I get to work by {v}"),
        ),
        (
            rf"\bI\s+{_NOW}(?:mostly\s+|mainly\s+|usually\s+)?(?:write|code\s+in|program\s+in)"
            r"\s+(?P<v>[A-Z][\w+#.-]*)",
            _keyed("programming language", "I mostly write {v}"),
        ),
        (r"\bI\s+have\s+an?\s+(?P<thing>[\w -]+?)\s+(?:named|called)\s+(?P<v>.+)", _named),
        (
            r"\bI\s+have\s+(?P<v>\d+|no|one|two|three|four|five|six)\s+(?P<thing>kids|children|"
            r"sons|daughters|cats|dogs|siblings|brothers|sisters|grandchildren)\b",
            _count,
        ),
        # preferences: dislikes before likes ("I don't like" contains "like")
        (
            rf"\bI\s+(?:do\s+not|don't|no\s+longer|don't\s+really|never|really\s+don't)\s+{_NOW}"
            r"(?:like|enjoy|love|care\s+for)\s+(?P<v>.+)",
            _likes(False),
        ),
        (
            r"\bI\s+(?:(?:really|absolutely|kind of|now)\s+)?(?:dislike|hate|detest|loathe|"
            r"can't\s+stand|cannot\s+stand|can't\s+bear|have\s+gone\s+off|went\s+off|"
            r"stopped\s+liking|got\s+tired\s+of|am\s+tired\s+of|'m\s+tired\s+of)\s+(?P<v>.+)",
            _likes(False),
        ),
        (
            rf"\b{_I_AM}\s+(?:not|no\s+longer)\s+(?:really\s+)?(?:into|a\s+fan\s+of|fond\s+of)\s+"
            r"(?P<v>.+)",
            _likes(False),
        ),
        (
            r"\bI(?:'d|\s+would)?\s+(?:(?:now|really|much|generally|usually|definitely|strongly)"
            r"\s+)?(?:prefer|rather\s+have)\s+(?P<v>.+?)(?:\s+(?:to|over|rather\s+than|instead\s+"
            r"of|than)\s+(?P<w>.+))?$",
            _prefers,
        ),
        (
            r"\bI(?:'d|\s+would)\s+rather\s+(?:have|drink|eat|take|use|get)?\s*(?P<v>.+?)"
            r"(?:\s+(?:than|over|instead\s+of)\s+(?P<w>.+))?$",
            _prefers,
        ),
        (
            rf"\bI\s+{_NOW}(?:really\s+|absolutely\s+|do\s+)?(?:like|love|enjoy|adore)\s+(?P<v>.+)",
            _likes(True),
        ),
        (
            rf"\b{_I_AM}\s+{_NOW}(?:really\s+|very\s+|big\s+)?(?:into|a\s+(?:big\s+|huge\s+)?fan\s+"
            r"of|fond\s+of|keen\s+on|crazy\s+about)\s+(?P<v>.+)",
            _likes(True),
        ),
        (
            r"\bI(?:'ve|\s+have)?\s+(?:now\s+|just\s+|finally\s+)?(?:switched|changed|moved\s+"
            r"over)\s+to\s+(?P<v>.+)",
            _prefers_switch,
        ),
        # my X is Y; Y is my favourite X
        (
            r"\b(?P<v>[\w' -]{1,40}?)\s+(?:is|are)\s+my\s+(?P<k>(?:all-time\s+)?(?:favou?rite|"
            r"preferred|usual|go-to)\s+[\w ]{1,30})$",
            _is_my,
        ),
        (
            r"\bmy\s+(?P<k>(?:[\w-]+(?:'s)?\s+){0,3}?[\w-]+)\s+(?:is|are|'s)\s+(?:now\s+)?(?P<v>.+)",
            _my_is,
        ),
    )
)


def statement_key(text: str) -> str:
    """The key of a note: a short hash of its normalised words."""
    words = " ".join(re.findall(r"[\w']+", text.casefold()))
    return "note:" + hashlib.sha256(words.encode()).hexdigest()[:10]


def mentions_user(text: str) -> bool:
    """Whether ``text`` speaks of the user (I, my, me, we, our): only such a question is
    personalised with the user's facts, and only such a turn can hold one."""
    return bool(_FIRST_PERSON.search(text.translate(_APOSTROPHES)))


def is_statement_about_user(clause: str) -> bool:
    """A first-person clause that is not a question (what a note may be made of)."""
    return bool(_FIRST_PERSON.search(clause)) and not _QUESTION.search(clause)


class RuleExtractor:
    """:class:`FactExtractor` by rules (the module docstring's table); ``notes``: a
    first-person statement no rule reads becomes a ``note``."""

    def __init__(self, *, notes: bool = True, min_note_words: int = 4) -> None:
        self.notes = notes
        self.min_note_words = min_note_words

    def read(self, clause: str) -> FactCandidate | None:
        """The first rule's fact for one clause, or None."""
        if _QUESTION.search(clause):
            return None
        for pattern, build in RULES:
            m = pattern.search(clause)
            if m is not None:
                fact = build(m)
                if fact is not None:
                    return FactCandidate(
                        fact.key, fact.value, fact.statement, fact.kind, clause=clause
                    )
        return None

    def extract(self, text: str, *, keys: Sequence[str] = ()) -> list[FactCandidate]:
        out: list[FactCandidate] = []
        seen: set[str] = set()
        for clause in clauses(text):
            fact = self.read(clause)
            if fact is None and self.notes and self._note_worthy(clause):
                fact = FactCandidate(statement_key(clause), clause, clause, "note", clause)
            if fact is not None and fact.key not in seen:
                seen.add(fact.key)
                out.append(fact)
        return out

    def _note_worthy(self, clause: str) -> bool:
        return (
            is_statement_about_user(clause)
            and len(clause.split()) >= self.min_note_words
            and forget_request(clause) is None
        )


# --------------------------------------------------------------------------- forgetting

_FORGET = re.compile(
    r"^\s*(?:(?:please|ok|okay|hey|and)[,\s]+)?(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?"
    r"(?:forget|delete|erase|remove|drop|stop\s+remembering|don't\s+remember|do\s+not\s+remember)"
    r"\s+(?P<what>.+?)\s*[.!?]*\s*$",
    re.I,
)
_EVERYTHING = re.compile(
    r"^(?:(?:all|everything)(?:\s+(?:you\s+know|you\s+remember|I\s+(?:told|said\s+to)\s+you|"
    r"about\s+me|of\s+me|you\s+have\s+on\s+me))*|all\s+(?:my|of\s+my)\s+(?:data|facts|"
    r"information|info|memories)|my\s+(?:data|information|info|memories))(?:\s+about\s+me)?$",
    re.I,
)
_FORGET_LEAD = re.compile(
    r"^(?:(?:that|about|what\s+I\s+(?:said|told\s+you)\s+about|what\s+you\s+know\s+about|"
    r"the\s+fact\s+that)\s+)+",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """A user asking to forget: everything, or what ``target`` names."""

    everything: bool
    target: str = ""


def forget_request(text: str) -> ForgetRequest | None:
    """The request in "forget that I live in Lyon" / "forget my phone number" / "forget
    everything about me", or None when ``text`` asks no such thing."""
    m = _FORGET.match(text.translate(_APOSTROPHES))
    if m is None:
        return None
    what = _FORGET_LEAD.sub("", m.group("what").strip()).strip(" .!?")
    if not what:
        return None
    if _EVERYTHING.match(what):
        return ForgetRequest(True)
    if not _FIRST_PERSON.search(what) and not what.casefold().startswith(("where", "what")):
        return None  # "forget the previous question": not about the user's facts
    return ForgetRequest(False, what)


#: Words of a question that point at any preference ("do I like …", "what am I into").
PREFERENCE_CUES = frozenset(["like", "likes", "love", "enjoy", "into", "fan", "hate", "prefer"])
#: … and at any choice ("which … do I prefer", "would I rather").
CHOICE_CUES = frozenset(["prefer", "preferred", "rather", "choice", "favorite", "favourite"])


def key_words(key: str) -> set[str]:
    """The words a question may use for a key (its own and its cues)."""
    if key.startswith("note:"):
        return set()
    family, _, base = key.rpartition(":")
    words = set(re.findall(r"[a-z]+", base.casefold())) | set(KEY_CUES.get(key, ()))
    if family == "preference":
        words |= PREFERENCE_CUES
    elif family == "prefers":
        words |= CHOICE_CUES
    return words


def any_of(candidates: Sequence[FactCandidate], key: str) -> FactCandidate | None:
    return next((c for c in candidates if c.key == key), None)


__all__ = [
    "KEY_ALIASES",
    "KEY_CUES",
    "RULES",
    "FactCandidate",
    "FactExtractor",
    "ForgetRequest",
    "RuleExtractor",
    "clauses",
    "clean_value",
    "forget_request",
    "is_statement_about_user",
    "key_words",
    "mentions_user",
    "normalise_key",
    "statement_key",
]
