"""Data cards: what a data set is made of, written beside it as JSON and Markdown.

Every ``ragline data`` command that writes a data set writes ``OUT.card.json`` and
``OUT.card.md`` next to it (``train.jsonl`` -> ``train.card.json``). A card holds the
source, each step with its parameters and its counts in and out (and what it dropped, by
reason), the sha256 of every input and output, the lines that were skipped as malformed,
and when and by which ragline it was made. A card read back (:func:`read_card`) and given
to the next step as ``previous`` keeps the history of a pipeline in one place.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragline.data.records import BadLine, RecordFile, write_atomic


@dataclass(slots=True)
class CardStep:
    """One step of a pipeline: its parameters, counts in/out and what it dropped, by reason."""

    name: str
    params: dict[str, Any]
    count_in: int
    count_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "in": self.count_in,
            "out": self.count_out,
            "dropped": self.dropped,
            **({"notes": self.notes} if self.notes else {}),
        }


@dataclass(slots=True)
class FileRef:
    path: str
    sha256: str
    records: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "records": self.records}


@dataclass(slots=True)
class DataCard:
    """The card of one output file."""

    source: str
    inputs: list[FileRef] = field(default_factory=list)
    outputs: list[FileRef] = field(default_factory=list)
    steps: list[CardStep] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    previous: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def add_input(self, dataset: RecordFile) -> None:
        self.inputs.append(FileRef(str(dataset.path), dataset.sha256, len(dataset.records)))
        self.bad_lines.extend(dataset.bad)

    def to_dict(self) -> dict[str, Any]:
        from ragline import __version__

        return {
            "source": self.source,
            "created_at": self.created_at,
            "ragline": __version__,
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
            "steps": [s.to_dict() for s in self.steps],
            "bad_lines": [b.to_dict() for b in self.bad_lines[:1000]],
            "bad_line_count": len(self.bad_lines),
            "previous": self.previous,
        }

    def to_markdown(self) -> str:
        d = self.to_dict()
        out = [f"# Data card: {Path(self.outputs[0].path).name if self.outputs else '-'}", ""]
        out += [f"- source: {self.source}", f"- created: {d['created_at']}"]
        out += [f"- ragline: {d['ragline']}", ""]
        out += ["## Files", "", "| role | path | records | sha256 |", "|---|---|---:|---|"]
        for role, refs in (("input", self.inputs), ("output", self.outputs)):
            for f in refs:
                out.append(f"| {role} | `{f.path}` | {f.records} | `{f.sha256[:16]}…` |")
        out += ["", "## Steps", "", "| step | in | out | dropped | parameters |"]
        out.append("|---|---:|---:|---|---|")
        for s in self.steps:
            dropped = ", ".join(f"{k}: {v}" for k, v in s.dropped.items()) or "-"
            params = ", ".join(f"{k}={v}" for k, v in s.params.items()) or "-"
            out.append(f"| {s.name} | {s.count_in} | {s.count_out} | {dropped} | {params} |")
        if self.bad_lines:
            out += ["", f"## Malformed lines ({len(self.bad_lines)}, skipped)", ""]
            out += [f"- line {b.line}: {b.reason}" for b in self.bad_lines[:20]]
            if len(self.bad_lines) > 20:
                out.append(f"- … {len(self.bad_lines) - 20} more in the JSON card")
        if self.previous:
            out += ["", "## Earlier steps (from the input's card)", ""]
            for card in self.previous:
                for s in card.get("steps", []):
                    out.append(f"- {s['name']}: {s['in']} -> {s['out']}")
        return "\n".join(out) + "\n"


def card_paths(output: Path | str) -> tuple[Path, Path]:
    """``OUT.card.json`` and ``OUT.card.md`` beside ``OUT.jsonl``."""
    output = Path(output)
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(stem + ".card.json"), output.with_name(stem + ".card.md")


def read_card(data_path: Path | str) -> dict[str, Any] | None:
    """The card written beside a data set, if there is one (its steps carry on)."""
    path = card_paths(data_path)[0]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_card(card: DataCard, output: Path | str) -> tuple[Path, Path]:
    """Write the card beside ``output``, each file replaced atomically (never half a card)."""
    json_path, md_path = card_paths(output)
    text = json.dumps(card.to_dict(), ensure_ascii=False, indent=2) + "\n"
    write_atomic(json_path, text.encode("utf-8"))
    write_atomic(md_path, card.to_markdown().encode("utf-8"))
    return json_path, md_path


def start_card(source: str, dataset: RecordFile | None = None) -> DataCard:
    """A card for a step reading ``dataset`` (its own card's history carried on)."""
    card = DataCard(source=source)
    if dataset is not None:
        card.add_input(dataset)
        previous = read_card(dataset.path)
        if previous is not None:
            card.previous = [*previous.get("previous", []), _without_previous(previous)]
    return card


def _without_previous(card: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card.items() if k != "previous"}


__all__ = ["CardStep", "DataCard", "FileRef", "card_paths", "read_card", "start_card", "write_card"]
