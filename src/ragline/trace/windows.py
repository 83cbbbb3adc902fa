"""Time windows on the command line: ``7d``, ``30d..7d``, ``2026-01-01..2026-02-01``.

A duration (``90s``, ``15m``, ``12h``, ``7d``, ``2w``) means that long before now; a date or
ISO datetime (UTC unless it says otherwise) is a point in time; ``now`` is now. A window is
``START..END``; a single point ``START`` means ``START..now``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

from ragline.errors import InvalidQueryError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class Window:
    """``[since_ns, until_ns)`` in Unix epoch nanoseconds."""

    since_ns: int
    until_ns: int
    text: str = ""

    def __str__(self) -> str:
        fmt = "%Y-%m-%d %H:%M"
        a = dt.datetime.fromtimestamp(self.since_ns / 1e9, dt.UTC).strftime(fmt)
        b = dt.datetime.fromtimestamp(self.until_ns / 1e9, dt.UTC).strftime(fmt)
        return f"{a} .. {b} UTC"


def parse_point(text: str, *, now_ns: int | None = None) -> int:
    """A point in time, as Unix epoch nanoseconds."""
    now = time.time_ns() if now_ns is None else now_ns
    text = text.strip()
    if text.lower() == "now":
        return now
    m = _DURATION.match(text)
    if m:
        return now - int(float(m.group(1)) * _UNITS[m.group(2).lower()] * 1e9)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQueryError(
            f"{text!r} is not a time",
            hint="use a duration before now (30m, 12h, 7d, 2w), a date (2026-01-31) or 'now'",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1e9)


def parse_window(text: str, *, now_ns: int | None = None) -> Window:
    """``START..END`` (or ``START`` meaning until now) as a :class:`Window`."""
    now = time.time_ns() if now_ns is None else now_ns
    start, sep, end = text.partition("..")
    since = parse_point(start, now_ns=now)
    until = parse_point(end, now_ns=now) if sep else now
    if until <= since:
        raise InvalidQueryError(
            f"window {text!r} is empty: its end is not after its start",
            hint="write the older point first, e.g. 30d..7d",
        )
    return Window(since, until, text)


__all__ = ["Window", "parse_point", "parse_window"]
