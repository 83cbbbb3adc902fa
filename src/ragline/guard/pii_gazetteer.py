"""Names of people and of countries from published lists, where ``en_core_web_sm`` misses them.

The small spaCy model misses a third of the people and half the places of Presidio's
synthetic set (``benchmarks/bench_guard_pii.py``), most of them plain: "Austria", "New
Zealand", "Patricia Desrosiers". Two published lists find many of those without a model:

* **countries**: the territory names of the Unicode CLDR in English (``babel``), written
  with capitals ("Tunisia", "TUNISIA"; a lower-case "turkey" or "china" is a word) →
  ``LOCATION``;
* **people**: a first name of the US census lists (5,163 first names, 88,799 surnames,
  shipped by the ``names`` package) followed by one or two capitalised words, optionally a
  middle initial ("Faina D. Yefremova") → ``PERSON``. A first name that is also a common
  English word ("Will", "May", "Grant") counts only when the last word is a census surname,
  and a last word that names a place or an institution ("Street", "University") never.

The lists load once, lazily. Pure Python (``re``): :func:`find` returns
:class:`~ragline.guard.pii_rules.RuleHit` spans like ragline's other rules, scored under the
rules that have cue words, and ``ragline.guard.pii`` gives them to Presidio.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from ragline.errors import MissingDependencyError
from ragline.guard.pii_rules import RuleHit

#: Scores of the two kinds of hit (the guard's threshold is ``guard.pii_threshold``).
COUNTRY_SCORE = 0.6
NAME_SCORE = 0.55

# First names that are also common words: they count only before a census surname.
_WORD_NAMES = frozenset(
    [
        "will",
        "may",
        "june",
        "april",
        "august",
        "grant",
        "mark",
        "rose",
        "bill",
        "art",
        "hope",
        "joy",
        "faith",
        "sky",
        "guy",
        "ray",
        "pat",
        "sue",
        "don",
        "les",
        "van",
        "del",
        "long",
        "young",
        "white",
        "brown",
        "green",
        "king",
        "rich",
        "frank",
        "earl",
        "dean",
        "major",
        "miles",
        "page",
        "chance",
        "chase",
        "drew",
        "lane",
        "reed",
        "cliff",
        "dale",
        "glen",
        "wade",
        "bob",
        "penny",
        "ivy",
        "iris",
        "lily",
        "daisy",
        "summer",
        "autumn",
        "dawn",
        "star",
        "sunny",
        "honey",
        "holly",
        "violet",
        "hazel",
        "pearl",
        "ruby",
        "amber",
        "crystal",
        "christian",
        "justice",
        "royal",
        "sterling",
        "price",
        "son",
        "sonny",
        "buck",
        "bud",
        "rock",
        "stone",
    ]
)
# Last words that end the name of a place or an institution, not of a person.
_NOT_SURNAMES = frozenset(
    [
        "street",
        "st",
        "road",
        "rd",
        "avenue",
        "ave",
        "lane",
        "drive",
        "way",
        "court",
        "boulevard",
        "place",
        "square",
        "park",
        "hill",
        "university",
        "college",
        "school",
        "hospital",
        "clinic",
        "bank",
        "company",
        "corporation",
        "inc",
        "ltd",
        "llc",
        "group",
        "center",
        "centre",
        "institute",
        "foundation",
        "church",
        "cathedral",
        "museum",
        "library",
        "hotel",
        "airport",
        "station",
        "river",
        "lake",
        "mountain",
        "island",
        "county",
        "city",
        "town",
        "state",
        "republic",
        "kingdom",
        "day",
        "garden",
        "gardens",
        "hall",
        "house",
        "tower",
        "bridge",
        "market",
        "mall",
        "plaza",
        "valley",
        "beach",
        "bay",
    ]
)

_CAP_WORD = r"[A-Z][a-zà-öø-ÿ'’-]+"
# A lookahead, so that every capitalised word is tried as the first name ("Dear Patricia
# Desrosiers": "Dear" is not one, "Patricia" is).
_PERSON = re.compile(
    rf"(?<![\w'’-])(?=({_CAP_WORD})((?:\s+[A-Z]\.?)?(?:\s+{_CAP_WORD}){{1,2}})(?![\w'’-]))"
)


def _names_package_file(name: str) -> str:
    try:
        return (resources.files("names") / name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise MissingDependencyError(
            "the census name lists (the 'names' package) are not installed",
            hint="pip install names==0.3.0",
        ) from exc


@lru_cache(maxsize=1)
def census() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames) of the US census lists, lower case."""

    def first_column(text: str) -> frozenset[str]:
        return frozenset(line.split()[0].lower() for line in text.splitlines() if line.strip())

    first = first_column(_names_package_file("dist.male.first"))
    first |= first_column(_names_package_file("dist.female.first"))
    return first, first_column(_names_package_file("dist.all.last"))


@lru_cache(maxsize=1)
def _countries() -> re.Pattern[str]:
    try:
        from babel import Locale
    except ImportError as exc:
        raise MissingDependencyError(
            "the country names (babel's CLDR data) are not installed", hint="pip install babel"
        ) from exc
    names = {
        name
        for code, name in Locale("en").territories.items()
        if len(code) == 2 and code.isalpha() and code != "ZZ"  # countries, not regions
    }
    forms = sorted({f for n in names for f in (n, n.upper())}, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, forms)) + r")(?![\w-])")


def find(text: str) -> list[RuleHit]:
    """Countries and census names in ``text`` (see the module docstring)."""
    hits = [
        RuleHit("LOCATION", m.start(), m.end(), COUNTRY_SCORE, "country")
        for m in _countries().finditer(text)
    ]
    first, last = census()
    taken = 0
    for m in _PERSON.finditer(text):
        if m.start() < taken:
            continue  # a word of the name found before
        given = m.group(1).lower()
        if given not in first:
            continue
        rest = m.group(2)
        words = rest.split()
        while words and words[-1].lower().strip("'’") in _NOT_SURNAMES:
            rest = rest[: rest.rstrip().rfind(words.pop())]  # "John Smith Street": John Smith
        if not words or re.fullmatch(r"[A-Z]\.?", words[-1]):
            continue
        if given in _WORD_NAMES and words[-1].lower().strip("'’") not in last:
            continue
        taken = m.start(2) + len(rest.rstrip())
        hits.append(RuleHit("PERSON", m.start(1), taken, NAME_SCORE, "census_name"))
    return hits


__all__ = ["COUNTRY_SCORE", "NAME_SCORE", "census", "find"]
