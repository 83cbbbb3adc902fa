"""JSONL data sets: reading them leniently, the text and id of a record, writing them back.

Every ``ragline data`` step reads a JSONL file with :func:`read_records`. A line that is not
a JSON object is *reported* (:class:`BadLine`, with its line number and why) and skipped;
it never stops the batch. The whole file is refused up front (:class:`~ragline.errors.
DatasetError`) when it is missing, empty, or has no valid record — before any long work.

The text of a record (what deduplication compares and filters judge) is found by
:func:`record_text`: the field named by ``--field`` (a dotted path such as ``meta.body``
works), or else the first of these shapes that fits:

=======================================  ==================================================
shape                                    text
=======================================  ==================================================
``{"text": ...}`` (BEIR ``_id/title/text``, chunks)   ``text``
``{"messages": [{"role", "content"}]}``  the contents, one per line (chat examples)
``{"question", "answer"}``               question, a newline, answer (QA pairs)
``{"prompt", "chosen", "rejected"}``     prompt, a newline, chosen (preference pairs)
``{"query", "positive"}``                query, a newline, positive (embedding triples)
``{"content": ...}``                     ``content``
=======================================  ==================================================

The id of a record is its ``_id``, else ``id``, else ``line:N``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.errors import DatasetError

#: Shapes tried in order when no field is named: (required keys, keys joined as the text).
SHAPES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("text",), ("text",)),
    (("messages",), ("messages",)),
    (("question",), ("question", "answer")),
    (("prompt", "chosen"), ("prompt", "chosen")),
    (("query", "positive"), ("query", "positive")),
    (("content",), ("content",)),
)


@dataclass(frozen=True, slots=True)
class BadLine:
    """One line that could not be used, and why (reported, never raised)."""

    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass(slots=True)
class DataRecord:
    """One valid line: its position, id, the parsed object and the text that is compared."""

    line: int
    id: str
    data: dict[str, Any]
    text: str


@dataclass(slots=True)
class RecordFile:
    """What :func:`read_records` read: the records and the lines it skipped."""

    path: Path
    records: list[DataRecord]
    bad: list[BadLine] = field(default_factory=list)
    sha256: str = ""

    @property
    def lines_in(self) -> int:
        return len(self.records) + len(self.bad)


def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages
        parts = [m.get("content") for m in value if isinstance(m, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def record_text(obj: dict[str, Any], text_field: str | None = None) -> str | None:
    """The text of one record (see the module docstring), or None when it has none."""
    if text_field:
        return _as_text(_dig(obj, text_field))
    for required, joined in SHAPES:
        if all(k in obj for k in required):
            parts = [_as_text(obj.get(k)) for k in joined]
            texts = [p for p in parts if p]
            if texts:
                return "\n".join(texts)
            return None
    return None


def record_id(obj: dict[str, Any], line: int) -> str:
    for key in ("_id", "id"):
        value = obj.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return f"line:{line}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_records(
    path: Path | str,
    *,
    text_field: str | None = None,
    require_text: bool = True,
) -> RecordFile:
    """Read a JSONL data set; bad lines are kept in ``bad``, never raised.

    Raises :class:`DatasetError` when the file is missing, unreadable, empty, or holds no
    valid record (with ``require_text``: no record with a text), naming the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file", hint="give the path of a JSONL file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc})") from exc
    if not raw.strip():
        raise DatasetError(
            f"{path} is empty", hint="a data set is one JSON object per line (JSONL)"
        )
    records: list[DataRecord] = []
    bad: list[BadLine] = []
    seen_ids: dict[str, int] = {}
    for n, line_bytes in enumerate(raw.split(b"\n"), start=1):
        if not line_bytes.strip():
            continue
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(BadLine(n, f"not UTF-8 ({exc.reason} at byte {exc.start})"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(n, f"not JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            bad.append(BadLine(n, f"a JSON {type(obj).__name__}, not an object"))
            continue
        text = record_text(obj, text_field)
        if text is None and require_text:
            what = f"field {text_field!r}" if text_field else "text field"
            bad.append(BadLine(n, f"no {what} with a string value"))
            continue
        rid = record_id(obj, n)
        if rid in seen_ids:  # ids name clusters in reports: keep them unique
            rid = f"{rid}@line:{n}"
        seen_ids[rid] = n
        records.append(DataRecord(n, rid, obj, text or ""))
    if not records:
        first = f" (line {bad[0].line}: {bad[0].reason})" if bad else ""
        hint = (
            f"name the text field with --field (tried {text_field!r})"
            if text_field
            else "each line needs a text: text, messages, question/answer, prompt/chosen, "
            "query/positive or content; or name the field with --field"
        )
        raise DatasetError(f"{path} has no valid record in {len(bad)} lines{first}", hint=hint)
    return RecordFile(path, records, bad, hashlib.sha256(raw).hexdigest())


def write_jsonl(path: Path | str, objects: Iterable[dict[str, Any]]) -> tuple[int, str]:
    """Write objects as JSONL atomically (a temp file, then a rename); ``(lines, sha256)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    digest = hashlib.sha256()
    n = 0
    with tmp.open("wb") as f:
        for obj in objects:
            data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(data)
            f.write(data)
            n += 1
    tmp.replace(path)
    return n, digest.hexdigest()


def write_atomic(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: a temporary file in the same
    folder, flushed and fsynced, renamed over it; the folder is fsynced after the rename.
    The file keeps its permissions (a new one gets 0644)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o644  # a new file: what a plain write would give under the usual umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # not every platform can open a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def texts(records: Sequence[DataRecord]) -> list[str]:
    return [r.text for r in records]


__all__ = [
    "SHAPES",
    "BadLine",
    "DataRecord",
    "RecordFile",
    "read_records",
    "record_id",
    "record_text",
    "sha256_file",
    "texts",
    "write_atomic",
    "write_jsonl",
]
