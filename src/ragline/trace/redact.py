"""The one redaction function: what leaves a request never carries a credential.

Every record that leaves a request goes through :class:`Redactor` — traces and span
attributes at the trace writer (so the store, OTLP and every other sink get redacted records),
log records of ragline's and uvicorn's loggers (:func:`install_log_redaction`), the server's
problem-details error bodies and the evaluation reports (:func:`redact`, :func:`redact_text`).

Secrets are always removed: values of secret-looking keys and headers (``api_key``,
``Authorization``, ``X-API-Key``, ``Cookie``, ``Proxy-Authorization``, anything with
*password*, *secret*, *token* …), any :class:`pydantic.SecretStr`, the exact secret values of
every :class:`~ragline.config.Settings` loaded in this process (provider API keys, the values
of the environment variables ``api_key_env`` names, OTLP headers: registered when the settings
load, :func:`ragline.config.loaded_secrets`), and text that looks like a credential
(ragline's own ``rl_…`` API keys, ``sk-…`` keys, bearer and basic credentials, header lines,
AWS/GitHub/Slack/Google keys, JWTs, private-key blocks, ``password=…`` assignments,
``user:pass@`` in URLs).

With ``redact_pii`` on, e-mail addresses, phone numbers, card numbers (Luhn-checked), IBANs,
US social security numbers and IPv4 addresses are masked too. Long text is truncated (traces).

Cost: one substring test per registered secret, and per credential pattern a substring test
for the literals any of its matches contains (``rl_``, ``bearer``, ``key`` …): a pattern scans
only text that could hold its credential. Short texts (ids, names) are cached.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

# An attribute or header name whose value is a credential ("max_tokens" is not, "token" is).
_SECRET_KEY = re.compile(
    r"(?i)(api[_-]?key|apikey|authorization|auth[_-]?token|access[_-]?token|refresh[_-]?token|"
    r"session[_-]?token|bearer|password|passwd|secret|private[_-]?key|cookie|x-api-key|"
    r"credential|(?:^|[-_.])token$)"
)
# Each credential pattern with the lower-case literals one of which any match contains: a
# pattern runs only on text that holds one (a substring test is far cheaper than a scan).
_SECRET_PATTERNS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("-----begin",),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    ),
    (("rl_",), re.compile(r"\brl_[0-9a-f]{8}_[A-Za-z0-9_\-]{8,}")),  # ragline's API keys
    (("sk-",), re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}")),
    (("bearer",), re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}")),
    (("basic",), re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/]{8,}={0,2}")),
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}")),
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
]
# ``password: hunter2`` / ``"api_key": "abc…"`` / ``db_password=…``: keep the name, drop
# the value (quotes kept, so JSON text stays JSON).
_ASSIGNMENT = re.compile(  # no \b before the name: "db_password" ends in one
    r"(?i)(api[_-]?key|apikey|secret|password|passwd|access[_-]?key|auth[_-]?token|token)"
    r"([\"']?\s*[:=]\s*)([\"']?)[^\s\"',;]{4,}\3"
)
# A header line: ``Authorization: Basic …``, ``Cookie: a=b; c=d``, ``X-Auth-Token: …``. The
# value ends at a line break, a quote or a tag, so JSON and HTML around it survive.
_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-api-key|api-key|cookie|set-cookie|"
    r"x-[a-z0-9-]*(?:token|secret|password|key))(\s*:\s*)([^\r\n\"'<>\\]+)"
)
# A header value worth hiding has a credential-like run in it (not a placeholder: "rl_…").
_CREDENTIAL_RUN = re.compile(r"[A-Za-z0-9+/=_.~\-]{6,}")
_AUTH_SCHEME = re.compile(r"(?i)^\s*(?:bearer|basic|token|digest)\s+")


def _header(match: re.Match[str]) -> str:
    value = _AUTH_SCHEME.sub("", match.group(3))
    if not _CREDENTIAL_RUN.search(value):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


_ASSIGNMENT_NEEDLES = ("key", "secret", "passw", "token")
_HEADER_NEEDLES = ("authorization", "cookie", "api-key", "x-")
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
    """Every secret value reachable from a settings object (see
    :func:`ragline.config.secret_values`); loaded Settings register theirs by themselves."""
    from ragline.config import secret_values

    return secret_values(settings)


def _is_secret_str(value: Any) -> bool:
    pydantic = sys.modules.get("pydantic")  # a SecretStr exists only once pydantic is loaded
    return pydantic is not None and isinstance(value, pydantic.SecretStr)


def _secrets_version() -> int:
    # No ragline.config in sys.modules: no Settings was loaded, so none registered secrets
    # (and the CLI's log redaction need not import the settings machinery to know that).
    config = sys.modules.get("ragline.config")
    return 0 if config is None else config.secrets_version


def _loaded_secrets() -> frozenset[str]:
    config = sys.modules.get("ragline.config")
    return frozenset() if config is None else config.loaded_secrets()


class Redactor:
    """Makes attribute values safe and small: JSON types only, secrets gone, text cut."""

    def __init__(
        self,
        *,
        redact_pii: bool = False,
        max_text_chars: int | None = 4000,
        capture_text: bool = True,
        secrets: Iterable[str] = (),
    ) -> None:
        self.redact_pii = redact_pii
        self.max_text_chars = max_text_chars
        self.capture_text = capture_text
        self._own = {s for s in secrets if s}
        self._version = -1  # of the loaded settings' secrets this redactor has merged
        self._secrets: list[str] = []
        self._cache: dict[str, str] = {}  # short text -> its redacted form
        self._keys: dict[str, bool] = {}  # attribute key -> whether it names a secret
        self._refresh()

    def _refresh(self) -> None:
        """Merge the secrets of every Settings loaded so far (once per new load)."""
        self._version = _secrets_version()
        # Longest first, so a secret containing another is removed whole.
        merged = self._own | _loaded_secrets()
        self._secrets = sorted(merged, key=len, reverse=True)
        self._cache.clear()

    def text(self, text: str) -> str:
        """``text`` with secrets (and PII when enabled) masked, then truncated."""
        if self._version != _secrets_version():
            self._refresh()
        return self._cached(text)

    def _cached(self, text: str) -> str:
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
        low = text.lower()
        for needles, pattern in _SECRET_PATTERNS:
            if any(n in low for n in needles):
                text = pattern.sub(REDACTED, text)
        if any(n in low for n in _HEADER_NEEDLES):
            text = _HEADER.sub(_header, text)
        if ("=" in text or ":" in text) and any(n in low for n in _ASSIGNMENT_NEEDLES):
            text = _ASSIGNMENT.sub(
                lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}{m.group(3)}", text
            )
        if "://" in text and "@" in text:
            text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
        if self.redact_pii:
            text = _EMAIL.sub("[EMAIL]", text)
            text = _IBAN.sub("[IBAN]", text)
            text = _SSN.sub("[SSN]", text)
            text = _CARD.sub(_card, text)
            text = _IPV4.sub("[IP]", text)
            text = _PHONE.sub(_phone, text)
        limit = self.max_text_chars
        if limit is not None and len(text) > limit:
            text = text[:limit] + f"… [{len(text) - limit} more]"
        return text

    def _secret_key(self, key: str) -> bool:
        hit = self._keys.get(key)
        if hit is None:
            hit = self._keys[key] = bool(_SECRET_KEY.search(key))
        return hit

    def value(self, value: Any, key: str = "", depth: int = 0) -> Any:
        """A JSON-safe, redacted copy of an attribute value."""
        if self._version != _secrets_version():
            self._refresh()
        if key and self._secret_key(key):
            return REDACTED
        return self._value(value, depth)

    def _value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self._cached(value)
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
        if _is_secret_str(value):
            return REDACTED
        if isinstance(value, str):
            return self._cached(str(value))
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
        return self._cached(str(value))

    def _mapping(self, mapping: Mapping[Any, Any], depth: int) -> Any:
        if depth > 6:
            return "…"
        # The hot loop of the writer (a search's hit list is ten small dicts): plain values
        # are handled inline, anything else recurses.
        out: dict[str, Any] = {}
        keys, text = self._keys, self._cached
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
        if self._version != _secrets_version():
            self._refresh()
        if not self.capture_text:
            attrs = {k: v for k, v in attrs.items() if k not in text_keys}
        return self._mapping(attrs, -1)  # the attributes themselves are not nesting


# ------------------------------------------------------------------ outside the tracer

#: The redactor of everything that is not a trace: no truncation, no PII masking (a
#: report or an error must stay whole), secrets as above.
_DEFAULT = Redactor(max_text_chars=None)


def redact_text(text: str) -> str:
    """``text`` without credentials or configured secrets (never truncated)."""
    return _DEFAULT.text(text)


def redact(value: Any) -> Any:
    """A JSON-safe copy of ``value`` (a dict, list, string …) without credentials: values
    under secret-named keys become ``[REDACTED]``, strings are scrubbed as by
    :func:`redact_text`."""
    return _DEFAULT.value(value, depth=-64)  # error bodies and reports nest deeper than spans


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact_text(arg)
    if arg is None or isinstance(arg, int | float):
        return arg
    return redact_text(str(arg))  # an exception, a URL, a request object …


def redact_log_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a log record in place: its message, its arguments (kept apart, since some
    formatters read them — uvicorn's access log does), its traceback and stack."""
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    else:
        record.msg = redact_text(str(record.msg))
    args = record.args
    if isinstance(args, Mapping):
        record.args = {k: _redact_arg(v) for k, v in args.items()}
    elif args:
        record.args = tuple(_redact_arg(a) for a in args)
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_text(record.exc_text)
        record.exc_info = None  # formatters print exc_text; none may re-render the original
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs every record it sees (never drops one). Add it to a
    handler of your own; :func:`install_log_redaction` covers ragline's loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_log_record(record)
        return True


#: Loggers whose records are scrubbed when they are created.
LOGGERS = ("ragline", "uvicorn")
_installed = False


def install_log_redaction() -> None:
    """Scrub every record of ragline's loggers and uvicorn's (access and error logs) when it
    is created, whatever handler later prints it. Idempotent; other loggers are untouched.

    Done at record creation (a record factory) rather than as a handler filter, because a
    filter on the ``ragline`` logger does not see its children's records, and a handler
    installed later (uvicorn's own) would not have it."""
    global _installed
    if _installed:
        return
    _installed = True
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if record.name.partition(".")[0] in LOGGERS:
            redact_log_record(record)
        return record

    logging.setLogRecordFactory(factory)


__all__ = [
    "LOGGERS",
    "REDACTED",
    "Deferred",
    "RedactingFilter",
    "Redactor",
    "configured_secrets",
    "install_log_redaction",
    "redact",
    "redact_log_record",
    "redact_text",
]
