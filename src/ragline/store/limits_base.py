"""Per-key limits: the :class:`LimitStore` Protocol and the in-process implementation.

A limit is a ``kind`` of use of one key (``requests``, ``tokens``, ``spend_usd``) held to a
``limit`` either over a sliding window (``window_s``: requests and tokens per minute) or as a
running total that never resets (``window_s=None``: a spend budget). :meth:`LimitStore.consume`
is the one atomic step: it counts ``amount`` only when ``used + amount <= limit``, so two
concurrent requests can never both take the last unit. Work whose size is known only
afterwards (tokens, dollars) consumes an estimate first and :meth:`LimitStore.settle` puts the
real figure in its place.

:class:`MemoryLimitStore` keeps everything in this process behind one lock (a sliding log per
key and kind). The SQLite backend (``ragline.store.sqlite_limits``) keeps totals in the store's
file, so a budget survives a restart; a shared backend for several replicas (Redis) implements
the same Protocol. ``ragline.testing.limits_conformance`` holds the tests each must pass.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: The kinds the server uses (a backend treats ``kind`` as an opaque name).
REQUESTS = "requests"
TOKENS = "tokens"
SPEND_USD = "spend_usd"
#: Floating-point slack when comparing spend against a budget.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer of :meth:`LimitStore.consume`.

    ``used`` is the usage after this call (counted when ``allowed``). A refusal carries
    ``retry_after_s``: when the window will have room (None: never, e.g. a spent budget or an
    ``amount`` over the limit itself). ``ticket`` identifies what was counted, for
    :meth:`LimitStore.settle`.
    """

    allowed: bool
    key_id: str
    kind: str
    amount: float
    used: float
    limit: float
    window_s: float | None
    retry_after_s: float | None = None
    ticket: str | None = None


@runtime_checkable
class LimitStore(Protocol):
    """Where per-key usage is counted. Every method is safe to call from many threads."""

    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        """Atomically count ``amount`` when ``used + amount <= limit`` (else count nothing).
        ``window_s``: usage is what was counted in the last ``window_s`` seconds; None: a
        total that never resets."""
        ...

    def settle(self, grant: Grant, actual: float) -> None:
        """Replace what an allowed ``grant`` counted by ``actual`` (more or less). This may
        take usage past the limit: the work was already done. A refused grant is ignored."""
        ...

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        """What ``key_id`` has used of ``kind`` (in the window, or in total)."""
        ...

    def close(self) -> None: ...


class _Entry:
    __slots__ = ("amount", "at", "ticket")

    def __init__(self, at: float, amount: float, ticket: str) -> None:
        self.at = at
        self.amount = amount
        self.ticket = ticket


class MemoryLimitStore:
    """:class:`LimitStore` in this process: a sliding log per key and kind, one lock.

    ``clock`` (seconds, monotonic) is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, float], deque[_Entry]] = {}
        self._totals: dict[tuple[str, str], float] = {}
        self._ids = itertools.count()

    def _log(self, key_id: str, kind: str, window_s: float, now: float) -> deque[_Entry]:
        log = self._logs.setdefault((key_id, kind, window_s), deque())
        while log and log[0].at <= now - window_s:
            log.popleft()
        return log

    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        with self._lock:
            if window_s is None:
                used = self._totals.get((key_id, kind), 0.0)
                if used + amount <= limit + EPSILON:
                    self._totals[(key_id, kind)] = used + amount
                    return Grant(True, key_id, kind, amount, used + amount, limit, None)
                return Grant(False, key_id, kind, amount, used, limit, None)
            now = self.clock()
            log = self._log(key_id, kind, window_s, now)
            used = sum(e.amount for e in log)
            if used + amount <= limit + EPSILON:
                ticket = f"{window_s}:{next(self._ids)}"
                log.append(_Entry(now, amount, ticket))
                return Grant(
                    True, key_id, kind, amount, used + amount, limit, window_s, ticket=ticket
                )
            wait = _retry_after(log, used, amount, limit, window_s, now)
            return Grant(False, key_id, kind, amount, used, limit, window_s, retry_after_s=wait)

    def settle(self, grant: Grant, actual: float) -> None:
        if not grant.allowed:
            return
        with self._lock:
            if grant.window_s is None:
                key = (grant.key_id, grant.kind)
                self._totals[key] = max(0.0, self._totals.get(key, 0.0) + actual - grant.amount)
                return
            log = self._logs.get((grant.key_id, grant.kind, grant.window_s), deque())
            for entry in log:
                if entry.ticket == grant.ticket:
                    entry.amount = max(0.0, actual)
                    return
            # Not found: it already left the window, and with it from every count.

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        with self._lock:
            if window_s is None:
                return self._totals.get((key_id, kind), 0.0)
            return sum(e.amount for e in self._log(key_id, kind, window_s, self.clock()))

    def close(self) -> None:
        pass


def _retry_after(
    log: deque[_Entry], used: float, amount: float, limit: float, window: float, now: float
) -> float | None:
    """Seconds until enough of the log has left the window for ``amount`` to fit."""
    if amount > limit + EPSILON:
        return None
    freed = 0.0
    for entry in log:
        freed += entry.amount
        if used - freed + amount <= limit + EPSILON:
            return max(0.0, entry.at + window - now)
    return window


__all__ = ["EPSILON", "REQUESTS", "SPEND_USD", "TOKENS", "Grant", "LimitStore", "MemoryLimitStore"]
