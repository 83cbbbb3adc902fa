"""Tests of ragline.ingest.cleaning, including ftfy's own public test cases."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any

import ftfy
import pytest

from ragline.ingest import cleaning
from ragline.ingest.cleaning import clean_text, fix_mojibake, normalize_whitespace

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RAGLINE_BENCH_DATA", REPO.parent / "shared" / "data"))
FTFY_CASES = DATA / "cleaning" / "ftfy_test_cases"


def _reference_layout(text: str) -> str:
    """What clean_text should do to already-correct single-paragraph text, written
    independently: drop C0/C1 controls, collapse whitespace runs, strip."""
    text = re.sub(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]", "", text)
    lines = [re.sub(r"\s{2,}|\t", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _load_cases() -> list[dict[str, Any]]:
    if not FTFY_CASES.is_dir():
        pytest.skip(f"benchmark data not found at {FTFY_CASES}")
    cases: list[dict[str, Any]] = []
    for path in sorted(FTFY_CASES.glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            cases.append({**case, "file": path.name})
    return cases


def _expected(case: dict[str, Any]) -> str:
    # We do not uncurl quotes, so the encoding-only expectation is the right one.
    return case.get("fixed-encoding", case["fixed"])


def _is_negative(case: dict[str, Any]) -> bool:
    return "negative" in case["label"].lower()


# --------------------------------------------------------------------------- unit cases


def test_repairs_mojibake() -> None:
    assert clean_text("The Mona Lisa doesnâ€™t have eyebrows.") == (
        "The Mona Lisa doesn’t have eyebrows."
    )
    assert clean_text("cafÃ© au lait") == "café au lait"


def test_nfc_normalisation() -> None:
    assert clean_text("cafe\u0301") == "caf\u00e9"
    assert clean_text("\u212b") == "\u00c5"  # Angstrom sign -> A with ring


def test_control_characters_removed() -> None:
    assert clean_text("a\x00b\x07c\x1bd\x7fe") == "abcde"
    assert clean_text("\ufeffhello") == "hello"
    assert clean_text("co\u00adoperate") == "cooperate"


def test_line_endings_normalised() -> None:
    assert clean_text("a\r\nb\rc\u2028d\x0ce") == "a\nb\nc\nd\ne"


def test_whitespace() -> None:
    assert clean_text("  a   b\t\tc \t d  ") == "a b c d"
    assert clean_text("one  \n   two") == "one\ntwo"
    assert clean_text("p1\n\n\n\n  \n\np2\n \n \np3") == "p1\n\np2\n\np3"
    assert clean_text("\n\n  x  \n\n") == "x"


def test_single_no_break_space_is_kept() -> None:
    text = "SELKÄ\u00a0EDELLÄ\u00a0MAAHAN"
    assert clean_text(text) == text
    assert clean_text("a\u00a0\u00a0 b") == "a b"


def test_empty_and_whitespace_only() -> None:
    assert clean_text("") == ""
    assert clean_text(" \n\t\r\n ") == ""
    assert clean_text("\x00\x01") == ""


def test_correct_text_unchanged() -> None:
    for text in [
        "Plain ASCII text.",
        "Größe, naïve café — “quoted” ‘single’ … 5×£35 √π",
        "Ελληνικά κείμενα και русский текст, 日本語のテキスト。",
        "ＦＵＬＬＷＩＤＴＨ and ﬁ ligature stay",
        "AT&amp;T is written literally here",
        "Line one\nLine two\n\nParagraph two",
    ]:
        assert clean_text(text) == text


def test_idempotent() -> None:
    rng = random.Random(7)
    alphabet = "ab \t\n\r\x00\x85\u00a0Ã©â€™é\u0301\ufeff"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        once = clean_text(text)
        assert clean_text(once) == once


def test_normalize_whitespace_only_touches_layout() -> None:
    assert normalize_whitespace("doesnâ€™t  \r\n x") == "doesnâ€™t\nx"


def test_fast_path_matches_ftfy() -> None:
    """The pre-check that skips ftfy must never change the result."""
    rng = random.Random(3)
    special = "ÂÃÐØÙâ€™“”–—…αβγ×²³°ŒœВГРСЂў√≈‚Ä\u00a0ÉèñÖ"
    words = ["the", "cat", "Alpha", "3.4", "a.", "(", ")", "!", "?", " ", "\n"]
    for _ in range(2000):
        parts = []
        for _ in range(rng.randint(1, 25)):
            if rng.random() < 0.7:
                parts.append(rng.choice(words))
            else:
                parts.append("".join(rng.choice(special) for _ in range(rng.randint(1, 3))))
            parts.append(rng.choice([" ", "", "\n"]))
        text = "".join(parts)
        assert fix_mojibake(text) == ftfy.fix_text(text, cleaning._FIXER), text


# --------------------------------------------------------------------------- ftfy data


def test_ftfy_negative_cases_unchanged() -> None:
    """Text that only looks like mojibake must not be "repaired"."""
    negatives = [c for c in _load_cases() if _is_negative(c)]
    assert len(negatives) >= 30
    changed = [c["label"] for c in negatives if fix_mojibake(c["original"]) != _expected(c)]
    assert changed == []
    # Those whose expected text is the original come back exactly unchanged...
    same = [c for c in negatives if _expected(c) == c["original"]]
    assert len(same) >= 40
    assert all(fix_mojibake(c["original"]) == c["original"] for c in same)
    # ...and clean_text changes them only in layout (controls, whitespace runs, ends).
    bad = [
        c["label"]
        for c in negatives
        if clean_text(c["original"]) != _reference_layout(_expected(c))
    ]
    assert bad == []


def test_ftfy_positive_cases_fixed() -> None:
    positives = [c for c in _load_cases() if not _is_negative(c) and c["expect"] == "pass"]
    assert len(positives) >= 90
    fixed = sum(clean_text(c["original"]) == _reference_layout(_expected(c)) for c in positives)
    assert fixed / len(positives) >= 0.95
