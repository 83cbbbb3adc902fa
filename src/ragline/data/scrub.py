"""PII scrub: the guard's PII detector over every string of every record.

Each string value of a record (the text, a question, an answer, each chat message, nested
fields; ids and keys are left alone) is scanned by :class:`ragline.guard.pii.PiiGuard` — the
same detector as the live guard (Presidio + spaCy + ragline's rules, with its settings:
``guard.pii_threshold``, ``pii_entities``, ``pii_quasi_identifiers``). Then, by
``data.pii_action``:

* ``redact``: each span is replaced by a placeholder (``<PERSON_1>``, ``<EMAIL_ADDRESS_1>``),
  numbered per record so that one value keeps one placeholder across the record's fields
  (the question and the answer still agree on who ``<PERSON_1>`` is);
* ``drop``: a record with any finding is dropped.

The report counts findings per entity type, records changed and records dropped; values are
never reported. The fields named by ``skip_fields`` (default: ids) are not scanned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ragline.data.records import DataRecord, record_text
from ragline.guard.base import Flag
from ragline.guard.redaction import Placeholders, redact

#: Fields never scanned: ids, labels and bookkeeping that hold no free text.
SKIP_FIELDS = frozenset(
    {
        "_id",
        "id",
        "doc_id",
        "document_id",
        "chunk_id",
        "family",
        "kind",
        "role",
        "status",
        "label",
        "review",
        "source",
        "relevant",
        "split",
    }
)


@dataclass(slots=True)
class ScrubReport:
    kept: list[DataRecord]
    entities: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    dropped: list[tuple[str, int, list[str]]] = field(default_factory=list)
    strings_scanned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "entities": dict(sorted(self.entities.items(), key=lambda kv: -kv[1])),
            "records_changed": self.changed,
            "records_dropped": len(self.dropped),
            "strings_scanned": self.strings_scanned,
        }


def scrub_records(
    records: Sequence[DataRecord],
    find: Callable[[str], list[tuple[str, int, int, float, str]]],
    *,
    action: Literal["redact", "drop"],
    text_field: str | None = None,
    skip_fields: frozenset[str] = SKIP_FIELDS,
    progress: Callable[[int], None] | None = None,
) -> ScrubReport:
    """Scan and redact (or drop) every record; ``find`` is ``PiiGuard(settings).find``."""
    report = ScrubReport(kept=[])
    for rec in records:
        found: list[str] = []
        placeholders = Placeholders()

        def scrub(value: str, _found: list[str] = found, _ph: Placeholders = placeholders) -> str:
            report.strings_scanned += 1
            spans = find(value)
            if not spans:
                return value
            flags = [Flag("pii", ent, score, start, end) for ent, start, end, score, _ in spans]
            _found.extend(ent for ent, *_ in spans)
            return redact(value, flags, _ph) if action == "redact" else value

        data = _walk(rec.data, scrub, skip_fields)
        for ent in found:
            report.entities[ent] = report.entities.get(ent, 0) + 1
        if found and action == "drop":
            report.dropped.append((rec.id, rec.line, sorted(set(found))))
        else:
            if found:
                report.changed += 1
                rec.data = data
                rec.text = record_text(data, text_field) or rec.text
            report.kept.append(rec)
        if progress is not None:
            progress(1)
    return report


def _walk(obj: Any, fn: Callable[[str], str], skip: frozenset[str]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        return [_walk(v, fn, skip) for v in obj]
    if isinstance(obj, dict):
        return {k: (v if k in skip else _walk(v, fn, skip)) for k, v in obj.items()}
    return obj


__all__ = ["SKIP_FIELDS", "ScrubReport", "scrub_records"]
