"""Document loaders: turn one file into cleaned :class:`~ragline.types.LoadedDocument` values.

:func:`load_file` dispatches on the file suffix (see :data:`SUPPORTED_SUFFIXES`):

* ``.txt`` - the whole file is one document and one section; title is the file stem.
* ``.md`` / ``.markdown`` - ATX headings (``#`` .. ``######``, outside fenced code) open
  sections whose ``heading_path`` is the stack of enclosing headings; the heading marks are
  dropped from the text. Title is the first H1, else the stem.
* ``.html`` / ``.htm`` - main text extracted with trafilatura (:func:`extract_html`), keeping
  headings; title from trafilatura's metadata or ``<title>``. When trafilatura finds no
  main text, the plain text of the whole page is used.
* ``.pdf`` - pypdf text, one section per page (``page`` is 1-based); title from the PDF
  metadata, else the stem.
* ``.jsonl`` - one document per line (BEIR ``corpus.jsonl`` loads as is); a bad line
  becomes an :class:`~ragline.types.IngestFailure` and the rest of the file still loads.

Whole-file problems raise an :class:`~ragline.errors.IngestError` subclass whose message
names the problem and a hint. Every document's ``sections`` cover its ``text`` in order:
``text[s.char_start:s.char_start + len(s.text)] == s.text``.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ragline.config import IngestSettings
from ragline.errors import (
    EmptyDocumentError,
    FileTooLargeError,
    MalformedInputError,
    UnsupportedFileError,
)
from ragline.ingest.cleaning import clean_text
from ragline.types import IngestFailure, LoadedDocument, Section

__all__ = ["SUPPORTED_SUFFIXES", "LoadResult", "extract_html", "load_file", "markdown_blocks"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl"}
)

_SEP = "\n\n"  # between sections (and blocks) in a document's text


@dataclass(slots=True)
class LoadResult:
    """What loading one file produced: documents, and per-line failures (JSONL only)."""

    documents: list[LoadedDocument] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)


# --------------------------------------------------------------------------- assembling


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


def _assemble(blocks: Iterable[tuple[int, str]]) -> tuple[str, tuple[Section, ...]]:
    """Build a document text and its sections from ``(level, text)`` blocks.

    Level 1-6 is a heading, which opens a section (its text starts with the heading line);
    level 0 is body text, cleaned and appended to the current section.
    """
    stack: list[tuple[int, str]] = []
    parts: list[tuple[tuple[str, ...], list[str]]] = []  # (heading_path, cleaned pieces)
    for level, raw in blocks:
        if level:
            heading = _one_line(raw)
            if not heading:
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            parts.append((tuple(h for _, h in stack), [heading]))
            continue
        body = clean_text(raw)
        if not body:
            continue
        if not parts or parts[-1][0] != tuple(h for _, h in stack):
            parts.append((tuple(h for _, h in stack), []))
        parts[-1][1].append(body)
    return _join_sections((path, _SEP.join(pieces), None) for path, pieces in parts)


def _join_sections(
    items: Iterable[tuple[tuple[str, ...], str, int | None]],
) -> tuple[str, tuple[Section, ...]]:
    """Join non-empty section texts with blank lines, recording each one's offset."""
    sections: list[Section] = []
    pieces: list[str] = []
    offset = 0
    for heading_path, text, page in items:
        if not text:
            continue
        if pieces:
            pieces.append(_SEP)
            offset += len(_SEP)
        sections.append(Section(text=text, char_start=offset, heading_path=heading_path, page=page))
        pieces.append(text)
        offset += len(text)
    return "".join(pieces), tuple(sections)


# --------------------------------------------------------------------------- markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def markdown_blocks(text: str) -> list[tuple[int, str]]:
    """Split Markdown into ``(level, text)`` blocks: ATX headings and the body between them.

    ``#`` lines inside fenced code blocks (``` or ~~~) are body text, not headings.
    """
    blocks: list[tuple[int, str]] = []
    body: list[str] = []
    fence: str | None = None
    for line in re.split(r"\r\n|\r|\n", text):
        if fence is not None:
            body.append(line)
            m = _FENCE.match(line)
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not m.group(2).strip()
            ):
                fence = None
            continue
        m = _FENCE.match(line)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = m.group(1)
            body.append(line)
            continue
        h = _ATX.match(line)
        if h:
            if body:
                blocks.append((0, "\n".join(body)))
                body = []
            blocks.append((len(h.group(1)), h.group(2) or ""))
        else:
            body.append(line)
    if body:
        blocks.append((0, "\n".join(body)))
    return blocks


# --------------------------------------------------------------------------- HTML

_HEAD_LEVEL = re.compile(r"h([1-6])")


def _inline(el: Any) -> str:
    """Text of a trafilatura XML element; ``<lb/>`` and nested blocks become line breaks."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag
        if tag == "lb":
            parts.append("\n")
        elif tag == "graphic":
            pass
        elif tag in ("list", "table"):
            parts.append("\n" + _block_text(child) + "\n")
        elif tag in ("p", "head", "quote", "code", "item", "row", "div"):
            parts.append("\n" + _inline(child) + "\n")
        else:  # hi, ref, del, ... : inline markup
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _block_text(el: Any) -> str:
    if el.tag == "list":
        return "\n".join("- " + _inline(item).strip() for item in el if item.tag == "item")
    if el.tag == "table":
        rows = []
        for row in el.iter("row"):
            cells = [" ".join(_inline(c).split()) for c in row if c.tag == "cell"]
            if any(cells):
                rows.append(" | ".join(cells))
        return "\n".join(rows)
    return _inline(el)


def _trafilatura_blocks(body: Any) -> list[tuple[int, str]]:
    blocks: list[tuple[int, str]] = []
    if body.text and body.text.strip():
        blocks.append((0, body.text))
    for el in body:
        if el.tag == "head":
            m = _HEAD_LEVEL.fullmatch(el.get("rend", ""))
            blocks.append((int(m.group(1)) if m else 2, _inline(el)))
        elif el.tag != "graphic":
            blocks.append((0, _block_text(el)))
        if el.tail and el.tail.strip():
            blocks.append((0, el.tail))
    return blocks


class _PlainHTML(HTMLParser):
    """Fallback: visible text of a page with block elements on their own lines."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {
            "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
            "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
            "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
            "th", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag == "body":  # an unclosed <head> ends here
            self._skip = 0
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.out.append(data)


def _plain_html(html: str) -> tuple[str, str]:
    """``(title, visible text)`` of a page, with the standard library's parser."""
    parser = _PlainHTML()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # the stdlib parser is lenient; never fail the fallback
        log.debug("plain HTML parse stopped early", exc_info=True)
    text = re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n\n", "".join(parser.out))
    return _one_line("".join(parser.title)), text


def extract_html(html: str) -> tuple[str | None, str, tuple[Section, ...]]:
    """Main text of an HTML page: ``(title or None, cleaned text, sections)``.

    trafilatura finds the main content (boilerplate such as menus, footers and comments
    dropped); its headings (``<head rend="hN">``) become section heading paths. When it finds
    nothing, the plain visible text of the page is used instead.
    """
    import trafilatura

    doc = None
    try:
        doc = trafilatura.bare_extraction(
            html, include_comments=False, include_tables=True, with_metadata=True
        )
    except Exception:  # a parser crash on odd markup: fall back to plain text
        log.debug("trafilatura failed", exc_info=True)
    title = _one_line(doc.title) if doc is not None and doc.title else ""
    text, sections = ("", ())
    if doc is not None and doc.body is not None:
        text, sections = _assemble(_trafilatura_blocks(doc.body))
    if not text:
        plain_title, plain = _plain_html(html)
        title = title or plain_title
        text, sections = _assemble([(0, plain)])
    return title or None, text, sections


def _decode_html(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Honour an explicit <meta charset> (e.g. windows-1252) before giving up.
        m = re.search(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.I)
        if m:
            try:
                return data.decode(codecs.lookup(m.group(1).decode("ascii")).name)
            except (LookupError, UnicodeDecodeError):
                pass
        raise _invalid_utf8(source, exc) from exc


# --------------------------------------------------------------------------- files


def _invalid_utf8(source: str, exc: UnicodeDecodeError) -> MalformedInputError:
    return MalformedInputError(
        source,
        f"not valid UTF-8 (bad byte at offset {exc.start})",
        hint="re-save the file as UTF-8",
    )


def _read(path: Path, settings: IngestSettings) -> bytes:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > settings.max_file_bytes:
            raise FileTooLargeError(
                source,
                f"file is {size:,} bytes, over the limit of {settings.max_file_bytes:,}",
                hint="split the file, or raise RAGLINE_INGEST__MAX_FILE_BYTES",
            )
        return path.read_bytes()
    except OSError as exc:
        raise MalformedInputError(
            source,
            f"cannot read file: {exc.strerror or exc}",
            hint="check that the path exists, is a regular file and is readable",
        ) from exc


def _decode_text(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid_utf8(source, exc) from exc


def _check_not_binary(data: bytes, source: str) -> None:
    if b"\x00" in data:
        raise UnsupportedFileError(
            source,
            "binary content (NUL bytes) in a text file",
            hint="only UTF-8 text, Markdown, HTML, PDF and JSONL files can be ingested",
        )


def _empty(source: str, hint: str = "the file has no text to index") -> EmptyDocumentError:
    return EmptyDocumentError(source, "no text after extraction and cleaning", hint=hint)


def _document(
    path: Path, title: str, text: str, sections: Sequence[Section], **metadata: Any
) -> LoadedDocument:
    if not text:
        raise _empty(str(path))
    meta = {"suffix": path.suffix.lower(), **{k: v for k, v in metadata.items() if v}}
    return LoadedDocument(
        key=str(path),
        source=str(path),
        title=title or path.stem,
        text=text,
        sections=tuple(sections),
        metadata=meta,
    )


def _load_txt(path: Path, data: bytes) -> LoadedDocument:
    _check_not_binary(data, str(path))
    text = clean_text(_decode_text(data, str(path)))
    return _document(path, path.stem, text, (Section(text=text, char_start=0),) if text else ())


def _load_markdown(path: Path, data: bytes) -> LoadedDocument:
    _check_not_binary(data, str(path))
    blocks = markdown_blocks(_decode_text(data, str(path)))
    text, sections = _assemble(blocks)
    title = next((_one_line(t) for level, t in blocks if level == 1 and _one_line(t)), "")
    return _document(path, title, text, sections)


def _load_html(path: Path, data: bytes) -> LoadedDocument:
    _check_not_binary(data, str(path))
    title, text, sections = extract_html(_decode_html(data, str(path)))
    return _document(path, title or "", text, sections)


def _load_pdf(path: Path, data: bytes) -> LoadedDocument:
    from pypdf import PdfReader

    source = str(path)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise MalformedInputError(
                source, "PDF is encrypted", hint="remove the password and ingest it again"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        raw_title = info.title if info is not None else None
    except MalformedInputError:
        raise
    except Exception as exc:  # pypdf raises many types on broken input
        raise MalformedInputError(
            source,
            f"broken PDF: {type(exc).__name__}: {exc}",
            hint="check that it opens in a PDF viewer, or re-export it",
        ) from exc
    text, sections = _join_sections(((), clean_text(t), i) for i, t in enumerate(pages, 1))
    if not text:
        raise _empty(source, hint="a scanned PDF has no text layer: run OCR on it first")
    title = _one_line(raw_title) if isinstance(raw_title, str) else ""
    return _document(path, title, text, sections, pages=len(pages))


def _load_jsonl(path: Path, data: bytes, settings: IngestSettings) -> LoadResult:
    source = str(path)
    _check_not_binary(data, source)
    id_field = settings.jsonl_id_field
    title_field = settings.jsonl_title_field
    text_field = settings.jsonl_text_field
    result = LoadResult()
    seen: dict[str, int] = {}
    nonblank = 0

    def fail(lineno: int, reason: str) -> None:
        result.failures.append(IngestFailure(source=f"{source}:{lineno}", reason=reason))

    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        nonblank += 1
        try:
            obj = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            fail(lineno, f"invalid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            fail(lineno, f"expected a JSON object, got {type(obj).__name__}")
            continue
        raw_text = obj.get(text_field)
        if not isinstance(raw_text, str):
            what = "missing" if raw_text is None else f"not a string ({type(raw_text).__name__})"
            fail(lineno, f"text field {text_field!r} is {what}")
            continue
        raw_id = obj.get(id_field, lineno)  # no id field: the line number stands in
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            fail(lineno, f"id field {id_field!r} must be a string or an integer")
            continue
        doc_id = str(raw_id)
        if doc_id in seen:
            fail(lineno, f"duplicate id {doc_id!r} (first on line {seen[doc_id]})")
            continue
        text = clean_text(raw_text)
        if not text:
            fail(lineno, "empty text after cleaning")
            continue
        seen[doc_id] = lineno
        raw_title = obj.get(title_field)
        title = _one_line(raw_title) if isinstance(raw_title, str) else ""
        metadata = {k: v for k, v in obj.items() if k != text_field}
        metadata["suffix"] = ".jsonl"
        metadata["doc_id"] = doc_id
        result.documents.append(
            LoadedDocument(
                key=f"{source}#{doc_id}",
                source=source,
                title=title,
                text=text,
                sections=(Section(text=text, char_start=0),),
                metadata=metadata,
            )
        )
    if not nonblank:
        raise _empty(source, hint="the JSONL file has no lines")
    return result


def load_file(path: Path, settings: IngestSettings) -> LoadResult:
    """Load one file into documents (one, or one per line for JSONL).

    Raises :class:`UnsupportedFileError`, :class:`FileTooLargeError`,
    :class:`MalformedInputError` or :class:`EmptyDocumentError` for whole-file problems;
    bad JSONL lines are returned in ``failures`` instead.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(
            str(path),
            f"unsupported file type {suffix or '(no suffix)'!r}",
            hint="supported: " + ", ".join(sorted(SUPPORTED_SUFFIXES)),
        )
    data = _read(path, settings)
    if suffix == ".jsonl":
        return _load_jsonl(path, data, settings)
    if suffix == ".pdf":
        doc = _load_pdf(path, data)
    elif suffix in (".md", ".markdown"):
        doc = _load_markdown(path, data)
    elif suffix in (".html", ".htm"):
        doc = _load_html(path, data)
    else:
        doc = _load_txt(path, data)
    return LoadResult(documents=[doc])
