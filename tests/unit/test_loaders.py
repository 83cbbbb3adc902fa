"""Tests of ragline.ingest.loaders: every format, every whole-file error, JSONL lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ragline.config import IngestSettings
from ragline.errors import (
    EmptyDocumentError,
    FileTooLargeError,
    IngestError,
    MalformedInputError,
    UnsupportedFileError,
)
from ragline.ingest import loaders
from ragline.ingest.loaders import SUPPORTED_SUFFIXES, LoadResult, extract_html, load_file
from ragline.types import LoadedDocument

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RAGLINE_BENCH_DATA", REPO.parent / "shared" / "data"))
SETTINGS = IngestSettings()


def _check_sections(doc: LoadedDocument) -> None:
    """Sections lie in the text at their offsets, in order, without overlapping."""
    assert doc.sections
    end = 0
    for s in doc.sections:
        assert s.char_start >= end
        assert doc.text[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.text and s.text == s.text.strip()
        end = s.char_start + len(s.text)
    # Between and around sections there is only whitespace.
    covered = "".join(s.text for s in doc.sections)
    assert "".join(doc.text.split()) == "".join(covered.split())


def _load_one(path: Path, settings: IngestSettings = SETTINGS) -> LoadedDocument:
    result = load_file(path, settings)
    assert isinstance(result, LoadResult)
    assert result.failures == []
    assert len(result.documents) == 1
    doc = result.documents[0]
    assert doc.key == str(path) and doc.source == str(path)
    assert doc.metadata["suffix"] == path.suffix.lower()
    _check_sections(doc)
    return doc


def _pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    if title:
        c.setTitle(title)
    for lines in pages:
        for i, line in enumerate(lines):
            c.drawString(72, 720 - 20 * i, line)
        c.showPage()
    c.save()
    return path


# --------------------------------------------------------------------------- formats


def test_supported_suffixes() -> None:
    assert {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"} <= SUPPORTED_SUFFIXES


def test_txt(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("First  paragraph\r\nstill first.\r\n\r\n\r\n\r\nSecond – café.\n".encode())
    doc = _load_one(path)
    assert doc.title == "notes"
    assert doc.text == "First paragraph\nstill first.\n\nSecond – café."
    assert doc.sections[0].heading_path == () and doc.sections[0].page is None


def test_txt_with_bom_and_mojibake(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "It doesnâ€™t matter.".encode())
    assert _load_one(path).text == "It doesn’t matter."


MARKDOWN = """\
Preamble text before any heading.

# User Guide

Intro paragraph.

## Install ##

```bash
# this is a comment, not a heading
pip install ragline
```

~~~
## also not a heading
~~~

### From source

Clone it.

## Usage
Run `ragline ingest`.

#NotAHeading because no space
"""


def test_markdown_headings(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = _load_one(path)
    assert doc.title == "User Guide"
    paths = [s.heading_path for s in doc.sections]
    assert paths == [
        (),
        ("User Guide",),
        ("User Guide", "Install"),
        ("User Guide", "Install", "From source"),
        ("User Guide", "Usage"),
    ]
    install = doc.sections[2]
    assert install.text.startswith("Install\n\n```bash")
    assert "# this is a comment, not a heading" in install.text
    assert "## also not a heading" in install.text
    assert "#NotAHeading" in doc.sections[4].text
    assert "##" not in doc.sections[2].text.splitlines()[0]


def test_markdown_title_falls_back_to_stem(tmp_path: Path) -> None:
    path = tmp_path / "readme.MARKDOWN"
    path.write_text("## Only a level two\n\ntext\n", encoding="utf-8")
    doc = _load_one(path)
    assert doc.title == "readme"
    assert doc.metadata["suffix"] == ".markdown"


def test_markdown_unclosed_fence(tmp_path: Path) -> None:
    path = tmp_path / "fence.md"
    path.write_text("# A\n\n```\n# inside\n\n## still inside\n", encoding="utf-8")
    doc = _load_one(path)
    assert [s.heading_path for s in doc.sections] == [("A",)]


HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Site | The Article</title></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/contact">Contact</a></nav>
<article>
<h1>The Article</h1>
<p>The first paragraph of the article is long enough to count as real content, and it
talks about retrieval-augmented generation in some detail.</p>
<h2>Background</h2>
<p>Some background that explains why one would chunk documents by their structure
rather than by a fixed number of characters.</p>
<h3>History</h3>
<p>A short history of information retrieval, from inverted indexes to dense vectors,
with a few words on BM25 and its parameters.</p>
<h2>Results</h2>
<p>The results were good: the hybrid retriever beat both of its parts on every
benchmark that we tried, which was pleasing.</p>
</article>
<footer>Copyright 2024 Example Corp. All rights reserved.</footer>
</body></html>
"""


def test_html_main_text_and_headings(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = _load_one(path)
    assert "Article" in doc.title
    assert "retrieval-augmented generation" in doc.text
    assert "Copyright" not in doc.text and "Contact" not in doc.text
    by_heading = {s.heading_path[-1]: s.heading_path for s in doc.sections if s.heading_path}
    assert by_heading["History"][-2:] == ("Background", "History")
    assert by_heading["Results"][-1] == "Results" and "Background" not in by_heading["Results"]
    assert not any(s.text.startswith("#") for s in doc.sections)


def test_extract_html_function() -> None:
    title, text, sections = extract_html(HTML)
    assert title and "Article" in title
    assert "hybrid retriever" in text
    assert all(text[s.char_start : s.char_start + len(s.text)] == s.text for s in sections)


def test_html_fallback_when_trafilatura_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    path = tmp_path / "tiny.htm"
    path.write_text(
        "<html><head><title>Tiny &amp; Small</title><style>p{color:red}</style></head>"
        "<body><script>var x = 1;</script><div>Hello <b>world</b>.</div><p>Bye.</p></body></html>",
        encoding="utf-8",
    )
    doc = _load_one(path)
    assert doc.title == "Tiny & Small"
    assert doc.text == "Hello world.\n\nBye."
    assert doc.metadata["suffix"] == ".htm"


def test_html_fallback_with_unclosed_head(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "bare_extraction", lambda *a, **k: None)
    title, text, sections = extract_html("<html><head><title>T</title><body><p>Body text")
    assert (title, text) == ("T", "Body text")
    assert len(sections) == 1


def test_html_declared_legacy_charset(tmp_path: Path) -> None:
    path = tmp_path / "legacy.html"
    html = (
        '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head>'
        "<body><p>Un caf\xe9 cr\xe8me, s'il vous pla\xeet. " + "Texte. " * 40 + "</p></body></html>"
    )
    path.write_bytes(html.encode("cp1252"))
    doc = _load_one(path)
    assert "café crème" in doc.text


def test_pdf_pages_and_title(tmp_path: Path) -> None:
    path = _pdf(
        tmp_path / "paper.pdf",
        [["Page one first line.", "Second line."], [], ["Page three text."]],
        title="A Paper",
    )
    doc = _load_one(path)
    assert doc.title == "A Paper"
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.sections[0].text == "Page one first line.\nSecond line."
    assert doc.sections[1].text == "Page three text."


def test_pdf_title_falls_back_to_stem(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "untitled.pdf", [["Some text."]])
    assert _load_one(path).title == "untitled"


def test_jsonl_beir_fields(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        {"_id": "d1", "title": "First", "text": "Alpha  text.", "year": 2020},
        {"_id": 2, "title": "", "text": "Beta text."},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    result = load_file(path, SETTINGS)
    assert result.failures == []
    d1, d2 = result.documents
    assert d1.key == f"{path}#d1" and d1.source == str(path)
    assert d1.title == "First" and d1.text == "Alpha text."
    assert d1.metadata == {
        "_id": "d1",
        "title": "First",
        "year": 2020,
        "suffix": ".jsonl",
        "doc_id": "d1",
    }
    assert d2.key == f"{path}#2" and d2.metadata["doc_id"] == "2" and d2.title == ""
    for doc in result.documents:
        _check_sections(doc)


def test_jsonl_bad_lines_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                b'{"_id": "a", "text": "good one"}',
                b"{not json",
                b'["a", "list"]',
                b'{"_id": "c", "title": "no text"}',
                b'{"_id": "d", "text": "   \\u0000  "}',
                b'{"_id": "e", "text": 42}',
                b'{"_id": "a", "text": "duplicate id"}',
                b'{"_id": "f", "text": "bad utf8 \xff"}',
                b'{"_id": "g", "text": "good two"}',
            ]
        )
    )
    result = load_file(path, SETTINGS)
    assert [d.metadata["doc_id"] for d in result.documents] == ["a", "g"]
    failed = {f.source: f.reason for f in result.failures}
    assert set(failed) == {f"{path}:{n}" for n in (2, 3, 4, 5, 6, 7, 8)}
    assert "invalid JSON" in failed[f"{path}:2"]
    assert "object" in failed[f"{path}:3"]
    assert "missing" in failed[f"{path}:4"]
    assert "empty" in failed[f"{path}:5"]
    assert "not a string" in failed[f"{path}:6"]
    assert "duplicate" in failed[f"{path}:7"]


def test_jsonl_custom_field_names(tmp_path: Path) -> None:
    settings = IngestSettings(
        jsonl_id_field="id", jsonl_title_field="name", jsonl_text_field="body"
    )
    path = tmp_path / "custom.jsonl"
    path.write_text('{"id": "x", "name": "N", "body": "B"}\n{"body": "no id"}\n', encoding="utf-8")
    docs = load_file(path, settings).documents
    assert [(d.key, d.title, d.text) for d in docs] == [
        (f"{path}#x", "N", "B"),
        (f"{path}#2", "", "no id"),  # no id field: the line number stands in
    ]


def test_jsonl_scifact_loads_whole() -> None:
    """The whole BEIR corpus loads, each record a document keyed by its ``_id`` (how fast is
    measured in benchmarks/bench_retrieval.py, never asserted here)."""
    corpus = DATA / "beir-scifact" / "corpus.jsonl"
    if not corpus.is_file():
        pytest.skip(f"benchmark data not found at {corpus}")
    result = load_file(corpus, SETTINGS)
    assert len(result.documents) == 5183 and result.failures == []
    doc = result.documents[0]
    assert doc.key.endswith(f"#{doc.metadata['doc_id']}") and doc.title


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["image.png", "archive.tar.gz", "noext", "x.docx"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"data")
    with pytest.raises(UnsupportedFileError) as err:
        load_file(path, SETTINGS)
    assert err.value.source == str(path) and err.value.hint and ".md" in err.value.hint


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
def test_binary_content(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"binary{suffix}"
    path.write_bytes(b"looks like text\x00\x01\x02 but is not")
    with pytest.raises(UnsupportedFileError, match="binary"):
        load_file(path, SETTINGS)


def test_too_large_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.txt"
    path.write_text("x" * 101, encoding="utf-8")

    def no_read(self: Path) -> bytes:
        raise AssertionError("read before the size check")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    with pytest.raises(FileTooLargeError) as err:
        load_file(path, IngestSettings(max_file_bytes=100))
    assert "101" in err.value.reason and err.value.hint


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError, match="cannot read"):
        load_file(tmp_path / "missing.txt", SETTINGS)
    folder = tmp_path / "folder.md"
    folder.mkdir()
    with pytest.raises(MalformedInputError):
        load_file(folder, SETTINGS)


def test_permission_error_is_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.md"
    path.write_text("# x", encoding="utf-8")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(MalformedInputError, match="Permission denied") as err:
        load_file(path, SETTINGS)
    assert err.value.hint


UNREADABLE_CHECK = """
import json, os, sys
from ragline.config import IngestSettings
from ragline.errors import MalformedInputError
from ragline.ingest.loaders import load_file

load_file(sys.argv[-1], IngestSettings())  # imports what loading a .txt file needs
if os.geteuid() == 0:  # drop root for good (this process only): root reads any file
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)

def outcome(path):
    try:
        return "loaded: " + load_file(path, IngestSettings()).documents[0].text
    except MalformedInputError as exc:
        return "error: " + str(exc)

print(json.dumps([outcome(p) for p in sys.argv[1:]]))
"""


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_unreadable_file() -> None:
    """A file its reader may not open is a clear error. Root reads any file, so the load runs
    in a child process that, started as root, drops to ``nobody`` once its imports are done; a
    readable file beside the locked one proves the error is the mode, not the folder."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # traversable by nobody; each file decides by its own mode
        locked, readable = Path(folder, "secret.txt"), Path(folder, "open.txt")
        locked.write_text("secret", encoding="utf-8")
        readable.write_text("open", encoding="utf-8")
        locked.chmod(0)
        readable.chmod(0o644)
        command = [sys.executable, "-c", UNREADABLE_CHECK, str(locked), str(readable)]
        res = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, res.stderr
        locked_outcome, readable_outcome = json.loads(res.stdout)
    assert "cannot read file: Permission denied" in locked_outcome
    assert readable_outcome == "loaded: open"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html"])
def test_invalid_utf8(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes("caf\xe9 ".encode("latin-1") * 10)
    with pytest.raises(MalformedInputError, match="UTF-8") as err:
        load_file(path, SETTINGS)
    assert err.value.hint and "UTF-8" in err.value.hint


def test_broken_pdf(tmp_path: Path) -> None:
    good = _pdf(tmp_path / "good.pdf", [["Some text on the page."]])
    data = good.read_bytes()
    for name, content in [("trunc.pdf", data[: len(data) // 2]), ("junk.pdf", b"%PDF-1.4 junk")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(MalformedInputError, match="broken PDF"):
            load_file(path, SETTINGS)


def test_encrypted_pdf(tmp_path: Path) -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    def write(name: str, user_password: str) -> Path:
        path = tmp_path / name
        c = canvas.Canvas(str(path), encrypt=StandardEncryption(user_password, "owner"))
        c.drawString(72, 720, "Encrypted text.")
        c.showPage()
        c.save()
        return path

    with pytest.raises(MalformedInputError, match="encrypted"):
        load_file(write("locked.pdf", "secret"), SETTINGS)
    assert _load_one(write("open.pdf", "")).text == "Encrypted text."  # empty user password


def test_pdf_without_text(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "scan.pdf", [[], []])
    with pytest.raises(EmptyDocumentError) as err:
        load_file(path, SETTINGS)
    assert "OCR" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("blank.txt", " \n\t\r\n "),
        ("headings-only.md", "#\n\n   \n"),
        ("empty.jsonl", "\n\n"),
        ("empty.html", "<html><body>   </body></html>"),
    ],
)
def test_empty_documents(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EmptyDocumentError):
        load_file(path, SETTINGS)


def test_errors_are_ingest_errors() -> None:
    for cls in (UnsupportedFileError, FileTooLargeError, MalformedInputError, EmptyDocumentError):
        assert issubclass(cls, IngestError)
    assert loaders.__doc__
