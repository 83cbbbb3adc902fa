"""Training files: read and check them before any long work starts.

Three JSONL formats, the ones ``ragline data export`` writes:

* **chat** ``{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}``:
  supervised finetuning; the last message is the assistant's answer (the loss is on it).
* **preference** ``{"prompt": "..." | [messages], "chosen": "...", "rejected": "..."}``: read
  as chat examples whose answer is ``chosen`` (supervised finetuning on the preferred answer).
* **embedding triples** ``{"query": "...", "positive": "...", "negative": "..."}``; the
  negative (a hard negative) may be missing, in-batch negatives are used then.

One bad line never stops a file: it is reported (line number and why) and skipped. A file
that is missing, empty, not JSONL, or without a single valid example raises
:class:`~ragline.errors.TrainingDataError` naming the problem and the fix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from ragline.errors import TrainingDataError

ROLES = ("system", "user", "assistant")
DataFormat = Literal["chat", "triples"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChatExample:
    """One conversation; its last message is the assistant's answer to learn."""

    messages: tuple[dict[str, str], ...]

    @property
    def prompt(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages[:-1]]

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]


@dataclass(frozen=True, slots=True)
class Triple:
    """A query, a passage that answers it and (optionally) a hard negative."""

    query: str
    positive: str
    negative: str | None = None


@dataclass(slots=True)
class SkippedLine:
    """A line that was skipped, and why."""

    line: int
    reason: str


@dataclass(slots=True)
class TrainingData(Generic[T]):
    """The valid examples of one file, the lines skipped, and the file's sha256."""

    path: Path
    examples: list[T]
    problems: list[SkippedLine] = field(default_factory=list)
    sha256: str = ""

    def summary(self) -> str:
        skipped = f", {len(self.problems)} lines skipped" if self.problems else ""
        return f"{len(self.examples)} examples from {self.path}{skipped}"


def _lines(path: Path, what: str) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON or the error text)`` of each non-blank line."""
    if not path.is_file():
        raise TrainingDataError(
            f"the {what} file {path} does not exist",
            hint="export one with `ragline data export --format ...` or check the path",
        )
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield number, exc


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _messages(value: Any) -> tuple[dict[str, str], ...] | str:
    """Validated messages, or why they are not valid."""
    if not isinstance(value, list) or not value:
        return '"messages" is not a non-empty list'
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            return f"message {i} is not an object"
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            return f"message {i} has role {role!r}, not one of {', '.join(ROLES)}"
        if not isinstance(content, str):
            return f"message {i} has no text content"
        out.append({"role": role, "content": content})
    return tuple(out)


def chat_example(record: Any) -> ChatExample | str:
    """A chat or preference record as a :class:`ChatExample`, or why it is not one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if "messages" in record:
        msgs = _messages(record["messages"])
    elif "prompt" in record and "chosen" in record:
        chosen = _text(record.get("chosen"))
        if chosen is None:
            return '"chosen" is empty'
        prompt = record["prompt"]
        msgs = (
            ({"role": "user", "content": prompt},)
            if isinstance(prompt, str) and prompt.strip()
            else _messages(prompt)
        )
        if isinstance(msgs, tuple):
            msgs = (*msgs, {"role": "assistant", "content": chosen})
    else:
        return 'neither "messages" (chat) nor "prompt" and "chosen" (preference)'
    if isinstance(msgs, str):
        return msgs
    if msgs[-1]["role"] != "assistant" or not msgs[-1]["content"].strip():
        return "the last message is not a non-empty assistant answer"
    if not any(m["role"] == "user" for m in msgs[:-1]):
        return "no user message before the answer"
    return ChatExample(msgs)


def triple(record: Any) -> Triple | str:
    """An embedding triple, or why the record is not one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    query, positive = _text(record.get("query")), _text(record.get("positive"))
    if query is None or positive is None:
        return 'needs non-empty "query" and "positive" strings'
    negative = record.get("negative")
    if negative is not None and _text(negative) is None:
        return '"negative" is not a non-empty string'
    return Triple(query, positive, _text(negative))


def _read(path: str | Path, what: str, parse: Any) -> TrainingData[Any]:
    file = Path(path).expanduser()
    data: TrainingData[Any] = TrainingData(file, [])
    digest = hashlib.sha256()
    seen_lines = 0
    for number, record in _lines(file, what):
        seen_lines += 1
        if isinstance(record, Exception):
            data.problems.append(SkippedLine(number, f"not JSON ({record})"))
            continue
        digest.update(json.dumps(record, sort_keys=True).encode())
        parsed = parse(record)
        if isinstance(parsed, str):
            data.problems.append(SkippedLine(number, parsed))
        else:
            data.examples.append(parsed)
    data.sha256 = digest.hexdigest()
    if not seen_lines:
        raise TrainingDataError(
            f"the {what} file {file} is empty",
            hint="export training data with `ragline data export` first",
        )
    if not data.examples:
        first = data.problems[0]
        raise TrainingDataError(
            f"{file} has no valid {what} example ({len(data.problems)} lines skipped; "
            f"line {first.line}: {first.reason})",
            hint=f"expected {_EXPECTED[what]}",
        )
    return data


_EXPECTED = {
    "chat": 'one JSON object a line: {"messages": [{"role": "user", "content": ...}, '
    '{"role": "assistant", "content": ...}]} or {"prompt", "chosen", "rejected"}',
    "triples": 'one JSON object a line: {"query": ..., "positive": ..., "negative": ...}',
}


def read_chat(path: str | Path) -> TrainingData[ChatExample]:
    """The chat (or preference) examples of a JSONL file."""
    return _read(path, "chat", chat_example)


def read_triples(path: str | Path) -> TrainingData[Triple]:
    """The embedding triples of a JSONL file."""
    return _read(path, "triples", triple)


__all__ = [
    "ChatExample",
    "SkippedLine",
    "TrainingData",
    "Triple",
    "chat_example",
    "read_chat",
    "read_triples",
    "triple",
]
