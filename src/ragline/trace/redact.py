"""Scrubbing of trace attributes before they are stored or exported.

Secrets are always removed: values of secret-looking keys (``api_key``, ``authorization``,
``password`` …), any :class:`pydantic.SecretStr`, the exact secret values configured in
:class:`~ragline.config.Settings` (and the environment variables it names), and text that
looks like a credential (``sk-…`` keys, bearer tokens, AWS/GitHub/Slack/Google keys, JWTs,
private-key blocks, ``password=…`` assignments, ``user:pass@`` in URLs).

With ``redact_pii`` on, e-mail addresses, phone numbers, card numbers (Luhn-checked), IBANs,
US social security numbers and IPv4 addresses are masked too. Long text is truncated.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|apikey|authorization|auth[_-]?token|access[_-]?token|refresh[_-]?token|"
    r"session[_-]?token|bearer|password|passwd|secret|private[_-]?key|cookie|x-api-key)"
)
_SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
]
# ``password: hunter2`` / ``api_key="abc…"``: keep the name, drop the value.
_ASSIGNMENT = re.compile(
    r"(?i)\b(api[_-]?key|apikey|secret|password|passwd|access[_-]?key|auth[_-]?token|token)"
    r"(\s*[:=]\s*)([\"']?)[^\s\"',;]{4,}\3"
)
# Every secret pattern contains one of these: one cheap scan decides whether to run them.
_SECRET_MARKERS = re.compile(
    r"-----BEGIN|sk-|bearer|AKIA|ASIA|gh[pousr]_|github_pat_|xox|AIza|eyJ|key|secret|passw|"
    r"token|://",
    re.I,
)
_CACHED_CHARS = 256
_CACHE_SIZE = 8192
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_CARD = re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,4}){2,4}(?![\w.])"
)
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


class Deferred:
    """An attribute value computed on the writer thread: ``Deferred(fn, *args)`` records
    ``fn(*args)``. For values that cost something to build (a summary of the hits); the
    arguments must not change after the span ends."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn = fn
        self.args = args

    def __call__(self) -> Any:
        return self.fn(*self.args)


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[PHONE]" if 9 <= len(digits) <= 15 else match.group(0)


def configured_secrets(settings: Any) -> set[str]:
    """Every secret value reachable from a settings object: each :class:`SecretStr`, and the
    environment variables named by ``*_env`` fields (plus ``OPENAI_API_KEY``)."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), name)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key.endswith("_env") and os.environ.get(value):
            found.add(os.environ[value])

    walk(settings)
    if os.environ.get("OPENAI_API_KEY"):
        found.add(os.environ["OPENAI_API_KEY"])
    # "Bearer <token>" / "Basic <creds>": the credential alone may show up elsewhere too.
    found |= {v.split()[-1] for v in found if len(v.split()) == 2}
    return {s for s in found if len(s) >= 4}


class Redactor:
    """Makes attribute values safe and small: JSON types only, secrets gone, text cut."""

    def __init__(
        self,
        *,
        redact_pii: bool = False,
        max_text_chars: int = 4000,
        capture_text: bool = True,
        secrets: Iterable[str] = (),
    ) -> None:
        self.redact_pii = redact_pii
        self.max_text_chars = max_text_chars
        self.capture_text = capture_text
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._cache: dict[str, str] = {}  # short text -> its redacted form
        self._keys: dict[str, bool] = {}  # attribute key -> whether it names a secret

    def text(self, text: str) -> str:
        """``text`` with secrets (and PII when enabled) masked, then truncated."""
        if len(text) <= _CACHED_CHARS:  # ids, paths, names repeat from trace to trace
            cached = self._cache.get(text)
            if cached is None:
                cached = self._text(text)
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[text] = cached
            return cached
        return self._text(text)

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if _SECRET_MARKERS.search(text):  # else none of the patterns can match
            for pattern in _SECRET_PATTERNS:
                text = pattern.sub(REDACTED, text)
            text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
            text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
        if self.redact_pii:
            text = _EMAIL.sub("[EMAIL]", text)
            text = _IBAN.sub("[IBAN]", text)
            text = _SSN.sub("[SSN]", text)
            text = _CARD.sub(_card, text)
            text = _IPV4.sub("[IP]", text)
            text = _PHONE.sub(_phone, text)
        if len(text) > self.max_text_chars:
            text = text[: self.max_text_chars] + f"… [{len(text) - self.max_text_chars} more]"
        return text

    def _secret_key(self, key: str) -> bool:
        hit = self._keys.get(key)
        if hit is None:
            hit = self._keys[key] = bool(_SECRET_KEY.search(key))
        return hit

    def value(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """A JSON-safe, redacted copy of an attribute value."""
        if key and self._secret_key(key):
            return REDACTED
        return self._value(value, depth)

    def _value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is int or kind is bool:
            return value
        if kind is float:
            return value if math.isfinite(value) else None
        if kind is Deferred:
            return self._value(value(), depth)
        if kind is dict:
            return self._mapping(value, depth)
        if kind is list or kind is tuple:
            if depth > 6:
                return "…"
            return [self._value(v, depth + 1) for v in value]
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, str):
            return self.text(str(value))
        if isinstance(value, bool | int):
            return int(value) if not isinstance(value, bool) else bool(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else None
        if depth > 6:
            return "…"
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(v, depth + 1) for v in value]
        item = getattr(value, "item", None)  # numpy scalars
        if callable(item) and getattr(value, "ndim", None) == 0:
            return self._value(item(), depth)
        if hasattr(value, "to_dict"):
            return self._value(value.to_dict(), depth + 1)
        return self.text(str(value))

    def _mapping(self, mapping: Mapping[Any, Any], depth: int) -> Any:
        if depth > 6:
            return "…"
        # The hot loop of the writer (a search's hit list is ten small dicts): plain values
        # are handled inline, anything else recurses.
        out: dict[str, Any] = {}
        keys, text = self._keys, self.text
        for k, v in mapping.items():
            if type(k) is not str:
                k = str(k)
            secret = keys.get(k)
            if secret is None:
                secret = self._secret_key(k)
            if secret:
                out[k] = REDACTED
                continue
            kind = type(v)
            if kind is str:
                out[k] = text(v)
            elif kind is int or kind is bool or v is None:
                out[k] = v
            else:
                out[k] = self._value(v, depth + 1)
        return out

    def attributes(self, attrs: Mapping[str, Any], text_keys: frozenset[str]) -> dict[str, Any]:
        """Redact a span's attributes; with ``capture_text`` off, drop the ``text_keys``."""
        if not self.capture_text:
            attrs = {k: v for k, v in attrs.items() if k not in text_keys}
        return self._mapping(attrs, -1)  # the attributes themselves are not nesting


__all__ = ["REDACTED", "Deferred", "Redactor", "configured_secrets"]
