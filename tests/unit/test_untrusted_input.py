"""What a hostile document or upload cannot do: escape the upload folder by its name, or run
as HTML in the web UI (docs/security.md, "A malicious document")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragline.server.routes.ingest import safe_filename

APP_JS = Path(__file__).resolve().parents[2] / "src" / "ragline" / "server" / "static" / "app.js"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/notes.md", "notes.md"),
        ("..", "upload"),
        ("", "upload"),
        ("a b<script>.md", "a b_script_.md"),
    ],
)
def test_an_uploaded_name_keeps_only_its_last_part(name: str, expected: str) -> None:
    cleaned = safe_filename(name)
    assert cleaned == expected
    assert "/" not in cleaned and "\\" not in cleaned and cleaned not in (".", "..")


def test_the_web_ui_never_inserts_text_as_html() -> None:
    """Passages, answers and citations come from documents and models: the UI sets them as
    text (textContent, text nodes), never as markup. Clearing an element is the one use of
    innerHTML allowed."""
    js = APP_JS.read_text(encoding="utf-8")
    assignments = re.findall(r"\.(?:inner|outer)HTML\s*[+]?=\s*([^;\n]+)", js)
    assert assignments, "the scan no longer finds innerHTML at all: check the pattern"
    assert all(value.strip() in ('""', "''") for value in assignments), assignments
    for sink in ("insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, f"app.js uses {sink}"
