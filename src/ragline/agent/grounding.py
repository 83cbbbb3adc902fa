"""Are a call's argument values in the request? A check after a local model writes a call.

A small model asked for calls writes one for nearly every request, and when the request does
not hold a value a required parameter needs, it makes one up: a museum's ``start_date`` for
"How frequent do members visit?", ``birth_rate=0.05`` for "How to increase the population of
deer?". Such a call is wrong twice: the tool did not fit, or the user has not said what it
needs. :func:`ungrounded` names the required parameters whose value the conversation does not
contain, so the caller can withhold the call (and ask for the value) instead of running it.

What counts as *contained* is lenient, because the request says values in other forms than
the call writes them (measured on BFCL's live requests, ``benchmarks/bench_agent_calling.py``):

* a **number** is in the request as a number, a number word ("ninety", "a dozen"), a month
  name (February → 2), or scaled: "5%" for 0.05, "213 million" for 213000000, "100µF" for
  0.0001 (a power of 1,000 apart); 0 and 1 are always accepted (flags and defaults);
* a **string** is in the request verbatim, shares a word (its first five letters) with it,
  is the initials of words the request abbreviates ("LA" for "Los Angeles, CA"), a code of
  2–4 capitals (a country, a currency, a ticker: inferred, not invented), a placeholder
  ("any", "dontcare"), a date whose month and day the request names ("March 14th" for
  ``2023-03-14``) or any date when it speaks of days ("today", "next Friday"), or a time
  whose hour it names;
* a **list or object** is contained when one of its items is (the rest are often options);
* a parameter with an ``enum``, a boolean, or one the call leaves out is not checked.

A request written mostly outside the Latin alphabet is not checked: its values are
translations ("上海" → "Shanghai, China").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragline.retrieve.analyzer import ENGLISH_STOPWORDS as _STOPWORDS

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_PREFIXES = [m[:3] for m in _MONTHS]
_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "dozen": 12,
    "half": 0.5,
    "quarter": 0.25,
    "double": 2,
    "twice": 2,
    "triple": 3,
    "pair": 2,
    "couple": 2,
    "single": 1,
}
_SCALES = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "trillion": 1e12,
}
# A number: optional sign, digits with thousands separators (a comma before exactly three
# digits: "5,10" is two numbers, "1,200" one), a decimal part, an exponent, then a scale word.
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e-?\d+)?"
    r"(?:\s*(k|m|bn|b|thousand|million|billion|trillion)\b)?",
    re.I,
)
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_CODE = re.compile(r"[A-Z]{2,4}")
_ISO_DATE = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?:[ T].*)?")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2})?")
_RELATIVE_DAY = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday|weekend|now|next|last|this (?:week|month|year)|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
)
_PART_OF_DAY = re.compile(r"\b(?:noon|midday|midnight|morning|afternoon|evening|night)\b")
_PLACEHOLDERS = frozenset({"any", "all", "none", "default", "dontcare", "don't care", "n/a"})


def _stem(word: str) -> str:
    return word[:5]


@dataclass(frozen=True, slots=True)
class RequestText:
    """What :func:`ungrounded` looks for in a request, computed once per request."""

    lower: str
    numbers: frozenset[float]
    stems: frozenset[str]
    latin: bool

    @classmethod
    def of(cls, text: str) -> RequestText:
        lower = text.lower()
        numbers: set[float] = set()
        for m in _NUMBER.finditer(_ORDINAL.sub(r"\1", text)):
            digits = m.group(0)[: m.start(1) - m.start(0)] if m.group(1) else m.group(0)
            try:
                value = float(digits.replace(",", "").strip())
            except ValueError:
                continue
            numbers.add(abs(value))
            if m.group(1):
                numbers.add(abs(value) * _SCALES[m.group(1).lower()])
        words = _WORD.findall(lower)
        for w in words:
            if w in _NUMBER_WORDS:
                numbers.add(float(_NUMBER_WORDS[w]))
            if len(w) >= 3 and w[:3] in _MONTH_PREFIXES:
                numbers.add(float(_MONTH_PREFIXES.index(w[:3]) + 1))
        stems = frozenset(_stem(w) for w in words if w not in _STOPWORDS)
        letters = [c for c in text if c.isalpha()]
        latin = not letters or sum(c.isascii() for c in letters) >= 0.75 * len(letters)
        return cls(lower, frozenset(numbers), stems, latin)


def _number_in(value: float, request: RequestText) -> bool:
    x = abs(value)
    if x in (0.0, 1.0):
        return True
    for n in request.numbers:
        for factor in (1.0, 100.0, 0.01, 1e3, 1e-3, 1e6, 1e-6, 1e9, 1e-9):
            if abs(x - n * factor) <= 1e-6 * max(1.0, x):
                return True
    return False


def _date_in(month: int, day: int, request: RequestText) -> bool:
    if _RELATIVE_DAY.search(request.lower):
        return True
    if not (1 <= month <= 12):
        return False
    month_named = _MONTHS[month - 1][:3] in request.lower or float(month) in request.numbers
    return month_named and float(day) in request.numbers


def _string_in(value: str, request: RequestText) -> bool:
    v = value.strip()
    low = v.lower()
    if not low or low in request.lower or low in _PLACEHOLDERS or _CODE.fullmatch(v):
        return True
    if m := _ISO_DATE.fullmatch(v):
        return _date_in(int(m.group(2)), int(m.group(3)), request)
    if m := _SLASH_DATE.fullmatch(v):  # 03/14/2024 or 14/03/2024
        a, b = int(m.group(1)), int(m.group(2))
        return _date_in(a, b, request) or _date_in(b, a, request)
    if m := _TIME.fullmatch(v):
        hour = int(m.group(1))
        return (
            float(hour) in request.numbers
            or float(hour - 12) in request.numbers
            or _PART_OF_DAY.search(request.lower) is not None
        )
    words = _WORD.findall(low)
    stems = {_stem(w) for w in words if w not in _STOPWORDS}
    if stems & request.stems:
        return True
    head = re.findall(r"[A-Za-z]+", v.split(",")[0])
    initials = "".join(w[0] for w in head if w[0].isupper()).lower()
    return len(initials) >= 2 and re.search(rf"\b{initials}\b", request.lower) is not None


def contained(value: Any, request: RequestText) -> bool:
    """Whether ``value`` (a call's argument) is said in ``request`` (see the module doc)."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return _number_in(float(value), request)
    if isinstance(value, str):
        return _string_in(value, request)
    if isinstance(value, list | tuple):
        return not value or any(contained(v, request) for v in value)
    if isinstance(value, Mapping):
        return not value or any(contained(v, request) for v in value.values())
    return True


def ungrounded(
    arguments: Mapping[str, Any],
    parameters: Mapping[str, Any],
    request: RequestText | str,
) -> list[str]:
    """The required parameters of a call (``parameters``: its tool's JSON schema) whose value
    in ``arguments`` the request does not contain; empty when every one is (or the request
    is not in the Latin alphabet)."""
    req = request if isinstance(request, RequestText) else RequestText.of(request)
    if not req.latin:
        return []
    props = parameters.get("properties") or {}
    out = []
    for name in parameters.get("required") or ():
        if name not in arguments:
            continue
        schema = props.get(name) or {}
        if isinstance(schema, Mapping) and "enum" in schema:
            continue
        if not contained(arguments[name], req):
            out.append(name)
    return out


def ungrounded_calls(
    calls: Sequence[tuple[str, Mapping[str, Any]]],
    parameters: Mapping[str, Mapping[str, Any]],
    request: RequestText | str,
) -> list[list[str]]:
    """For each ``(name, arguments)`` call, :func:`ungrounded` against its tool's schema in
    ``parameters`` (by name; a tool not there is not checked)."""
    req = request if isinstance(request, RequestText) else RequestText.of(request)
    return [
        ungrounded(args, parameters[name], req) if name in parameters else []
        for name, args in calls
    ]


__all__ = ["RequestText", "contained", "ungrounded", "ungrounded_calls"]
