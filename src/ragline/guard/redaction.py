"""Redaction that keeps a text usable: ``<PERSON_1>``, ``<EMAIL_ADDRESS_1>`` placeholders.

``redact(text, flags, placeholders)`` replaces each flagged span by a placeholder. The
:class:`Placeholders` object is kept per conversation, so the same value gets the same
placeholder in every turn ("Jane" is ``<PERSON_1>`` in the question and in the follow-up, and
the model can still tell two people apart). With ``reversible=True`` (``guard.pii_reversible``)
it also keeps the original values, and :meth:`Placeholders.restore` puts them back in the
user's own view of the answer; without it, values are remembered only as salted hashes, so
nothing that was redacted can be read back from it.

Overlapping flags are merged into one span, labelled by the strongest flag (score, then
length); flags without a span (a whole-text finding) are ignored here.

Plain span replacement rather than ``presidio-anonymizer``: the anonymizer's operators are
stateless per call, so conversation-wide numbering and the reverse map would be built around
it anyway; replacing sorted, merged spans is a few lines and needs no Presidio import.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any

from ragline.guard.base import Flag

#: A placeholder as it appears in text: ``<LABEL_N>``.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")


def _normal(value: str) -> str:
    """The form two mentions of one value share ("Jane  Doe" = "jane doe")."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


class Placeholders:
    """One conversation's value <-> placeholder map (thread-safe)."""

    def __init__(self, *, reversible: bool = False) -> None:
        self.reversible = reversible
        self._salt = secrets.token_bytes(16)
        self._by_key: dict[str, str] = {}  # normalised value (or its hash) -> placeholder
        self._values: dict[str, str] = {}  # placeholder -> original value (reversible only)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def _key(self, label: str, value: str) -> str:
        norm = f"{label}\x00{_normal(value)}"
        if self.reversible:
            return norm
        return hashlib.blake2b(norm.encode(), key=self._salt, digest_size=16).hexdigest()

    def placeholder(self, label: str, value: str) -> str:
        """The placeholder of ``value`` (a new ``<LABEL_N>`` the first time it is seen)."""
        label = re.sub(r"[^A-Z0-9_]", "_", label.upper()) or "PII"
        key = self._key(label, value)
        with self._lock:
            found = self._by_key.get(key)
            if found is None:
                n = self._counts.get(label, 0) + 1
                self._counts[label] = n
                found = f"<{label}_{n}>"
                self._by_key[key] = found
                if self.reversible:
                    self._values[found] = value
            return found

    def restore(self, text: str) -> str:
        """``text`` with known placeholders replaced by their values (reversible only;
        otherwise, and for a placeholder this conversation never made, unchanged)."""
        if not self.reversible or not self._values:
            return text
        return PLACEHOLDER.sub(lambda m: self._values.get(m.group(0), m.group(0)), text)

    def __len__(self) -> int:
        return len(self._by_key)

    def to_dict(self) -> dict[str, Any]:
        """What a conversation store keeps between turns (values only when reversible)."""
        with self._lock:
            return {
                "reversible": self.reversible,
                "salt": self._salt.hex(),
                "by_key": dict(self._by_key),
                "values": dict(self._values),
                "counts": dict(self._counts),
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Placeholders:
        out = cls(reversible=bool(data.get("reversible", False)))
        out._salt = bytes.fromhex(data["salt"])
        out._by_key = dict(data.get("by_key", {}))
        out._values = dict(data.get("values", {})) if out.reversible else {}
        out._counts = {k: int(v) for k, v in data.get("counts", {}).items()}
        return out


def merge_spans(flags: Iterable[Flag]) -> list[tuple[int, int, Flag]]:
    """The flags' spans, overlapping ones merged; each merged span keeps its strongest flag."""
    spans = sorted(
        ((f.start, f.end, f) for f in flags if f.start is not None and f.end is not None),
        key=lambda s: (s[0], s[1]),
    )
    merged: list[tuple[int, int, Flag]] = []
    for start, end, flag in spans:
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            m_start, m_end, m_flag = merged[-1]
            strongest = max((m_flag, flag), key=lambda f: (f.score, (f.end or 0) - (f.start or 0)))
            merged[-1] = (m_start, max(m_end, end), strongest)
        else:
            merged.append((start, end, flag))
    return merged


def redact(text: str, flags: Iterable[Flag], placeholders: Placeholders | None = None) -> str:
    """``text`` with every flagged span replaced by its placeholder.

    ``placeholders`` is the conversation's map (a fresh one when None: numbering then starts
    at 1 for this text alone). Spans outside the text are clipped.
    """
    ph = placeholders if placeholders is not None else Placeholders()
    out: list[str] = []
    pos = 0
    for start, end, flag in merge_spans(flags):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        out.append(text[pos:start])
        out.append(ph.placeholder(flag.label, text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def restore(text: str, placeholders: Placeholders) -> str:
    """The user's own view: placeholders back to values (see :meth:`Placeholders.restore`)."""
    return placeholders.restore(text)
