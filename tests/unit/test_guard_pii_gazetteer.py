"""The PII guard's published lists: census names and CLDR country names, the forms they
accept and refuse, and the guard flagging what spaCy's small model misses."""

from __future__ import annotations

import pytest

from ragline.config import Settings
from ragline.guard.pii import PiiGuard
from ragline.guard.pii_gazetteer import census, find


def _found(text: str) -> list[tuple[str, str]]:
    return [(h.entity, text[h.start : h.end]) for h in find(text)]


def test_the_lists_load_from_their_packages():
    first, last = census()
    assert {"patricia", "john", "mary"} <= first and {"smith", "desrosiers"} & last
    assert len(first) > 5000 and len(last) > 80000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dear Patricia Desrosiers, welcome.", [("PERSON", "Patricia Desrosiers")]),
        ("Ask Mary K. Jones.", [("PERSON", "Mary K. Jones")]),
        ("He lives near John Smith Street.", [("PERSON", "John Smith")]),
        ("I moved to Austria last year.", [("LOCATION", "Austria")]),
        ("SHIPPED TO NEW ZEALAND", [("LOCATION", "NEW ZEALAND")]),
        ("We flew over South Africa.", [("LOCATION", "South Africa")]),
    ],
)
def test_names_and_countries_are_found(text, expected):
    assert _found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "roast turkey and fine china",  # lower case: words, not countries
        "Will you visit Grant Park?",  # first names that are words, before a non-surname
        "Rose Garden opens at nine.",
        "Stanford University and Boston College",  # an institution's last word
        "Patricia is here.",  # a first name alone is left to the model
    ],
)
def test_words_places_and_institutions_are_not_names(text):
    assert [e for e, _ in _found(text) if e == "PERSON"] == []
    assert [e for e, _ in _found(text) if e == "LOCATION"] == []


def test_the_guard_flags_what_the_lists_find():
    guard = PiiGuard(Settings(guard={"pii_quasi_identifiers": "always"}))
    text = "My landlord Patricia Desrosiers moved to Tunisia."
    flags = {(f.label, text[f.start : f.end]) for f in guard.scan(text, direction="input").flags}
    assert ("PERSON", "Patricia Desrosiers") in flags
    assert any(label == "LOCATION" and "Tunisia" in value for label, value in flags)
