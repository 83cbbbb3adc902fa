"""Per-key limits in Redis: what several server replicas share exactly.

:class:`RedisLimitStore` implements :class:`~ragline.store.limits_base.LimitStore` with one Lua
script per check, so the check and the count are one atomic step on the Redis server: of 30
requests spread over three replicas against a limit of 10, exactly 10 are counted, whatever
the interleaving. Layout under ``redis.key_prefix`` (the ``{…}`` hash tag keeps one key's
data on one Redis Cluster slot):

* a sliding window (requests or tokens per minute) is a sorted set ``…:log`` of tickets
  scored by time, a hash ``…:amt`` of each ticket's amount and their running sum ``…:sum``
  (so a check costs the same with 10 or 10,000 entries in the window); entries older than
  the window are dropped by the next script that reads them, and the keys expire one
  second after the window since the last write, so idle keys leave nothing behind;
* a total (a spend budget) is a string ``…:total`` that never expires (run Redis with
  persistence, ``appendonly yes``, or budgets restart from zero with it).

Time is the Redis server's clock (``TIME``), one clock for every replica; tests inject a
``clock`` instead. A Redis that does not answer fails closed: :meth:`consume` and
:meth:`used` raise :class:`~ragline.errors.RedisUnavailableError` (503), and the next call
after Redis is back works (scripts are loaded again if Redis restarted empty).
:meth:`settle` that cannot reach Redis keeps the reservation (the worst case stays counted:
the safe side) and logs a warning.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ragline.store.limits_base import EPSILON, Grant
from ragline.store.redis_client import (
    check_reachable,
    connect,
    display_url,
    is_connection_error,
    unavailable,
)

if TYPE_CHECKING:
    from ragline.config import RedisSettings

log = logging.getLogger("ragline.store.redis")

#: Clock argument that tells a script to read the Redis server's clock.
SERVER_CLOCK = -1.0

_NOW = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# Drops what left the window and reads the window's running sum (``…:sum``: what the hash
# holds, kept in step by every script, so a check costs O(1), not O(entries in the window)).
_PRUNE = """
local window = tonumber(ARGV[2])
local used = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  used = tonumber(redis.call('GET', KEYS[3]) or '0')
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #gone > 0 then
  for i = 1, #gone, 500 do
    local part = {unpack(gone, i, math.min(i + 499, #gone))}
    for _, a in ipairs(redis.call('HMGET', KEYS[2], unpack(part))) do
      used = used - (tonumber(a) or 0)
    end
    redis.call('HDEL', KEYS[2], unpack(part))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if used < 0 or redis.call('EXISTS', KEYS[1]) == 0 then used = 0 end
  redis.call('SET', KEYS[3], string.format('%.17g', used), 'PX', math.ceil(window * 1000) + 1000)
end
"""

# KEYS: log, amounts, sum. ARGV: now (<0: TIME), window, amount, limit, ticket, epsilon.
# Returns {allowed (0/1), used, retry_after (-1: none)} with floats as strings.
CONSUME_WINDOW = (
    _NOW
    + _PRUNE
    + """
local amount = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local eps = tonumber(ARGV[6])
if used + amount <= limit + eps then
  local ttl = math.ceil(window * 1000) + 1000
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('HSET', KEYS[2], ARGV[5], ARGV[3])
  redis.call('SET', KEYS[3], string.format('%.17g', used + amount), 'PX', ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return {1, string.format('%.17g', used + amount), '-1'}
end
if amount > limit + eps then
  return {0, string.format('%.17g', used), '-1'}
end
local wait = window
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local freed = 0
for i = 1, #entries, 2 do
  freed = freed + (tonumber(redis.call('HGET', KEYS[2], entries[i])) or 0)
  if used - freed + amount <= limit + eps then
    wait = math.max(0, tonumber(entries[i + 1]) + window - now)
    break
  end
end
return {0, string.format('%.17g', used), string.format('%.17g', wait)}
"""
)

# KEYS: log, amounts, sum. ARGV: now, window. Returns the usage in the window.
USED_WINDOW = _NOW + _PRUNE + "return string.format('%.17g', used)\n"

# KEYS: amounts, sum. ARGV: ticket, actual. Replaces a ticket's amount if it is still counted.
SETTLE_WINDOW = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  local ttl = redis.call('PTTL', KEYS[1])
  local used = tonumber(redis.call('GET', KEYS[2]) or '0') - tonumber(old) + tonumber(ARGV[2])
  if used < 0 then used = 0 end
  redis.call('SET', KEYS[2], string.format('%.17g', used))
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return 1
"""

# KEYS: total. ARGV: amount, limit, epsilon. Returns {allowed, used}.
CONSUME_TOTAL = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if used + amount <= tonumber(ARGV[2]) + tonumber(ARGV[3]) then
  local now = used + amount
  redis.call('SET', KEYS[1], string.format('%.17g', now))
  return {1, string.format('%.17g', now)}
end
return {0, string.format('%.17g', used)}
"""

# KEYS: total. ARGV: delta. Adds delta, never below zero.
SETTLE_TOTAL = """
local now = math.max(0, tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], string.format('%.17g', now))
return string.format('%.17g', now)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLimitStore:
    """:class:`~ragline.store.limits_base.LimitStore` in Redis, shared by every replica.

    ``client`` is a ``redis.Redis`` (see :func:`ragline.store.redis_client.connect`);
    ``clock`` None reads the Redis server's clock (production), a callable replaces it
    (tests). ``url`` is only for messages."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "ragline:",
        url: str = "redis",
        clock: Callable[[], float] | None = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.url = url
        self.clock = clock
        self._owns = owns_client
        self._consume_window = client.register_script(CONSUME_WINDOW)
        self._used_window = client.register_script(USED_WINDOW)
        self._settle_window = client.register_script(SETTLE_WINDOW)
        self._consume_total = client.register_script(CONSUME_TOTAL)
        self._settle_total = client.register_script(SETTLE_TOTAL)

    @classmethod
    def from_settings(
        cls, cfg: RedisSettings, *, clock: Callable[[], float] | None = None
    ) -> RedisLimitStore:
        """Connect to ``cfg.url`` and check that it answers (a clear error now if not)."""
        client = connect(cfg)
        url = str(cfg.url)
        try:
            check_reachable(client, url, what="per-key limits and budgets")
        except BaseException:
            client.close()
            raise
        return cls(client, prefix=cfg.key_prefix, url=url, clock=clock, owns_client=True)

    # keys -------------------------------------------------------------------------------
    def _base(self, key_id: str, kind: str) -> str:
        return f"{self.prefix}limit:{{{key_id}|{kind}}}"

    def _window_keys(self, key_id: str, kind: str, window_s: float) -> list[str]:
        base = f"{self._base(key_id, kind)}:w{window_s:g}"
        return [f"{base}:log", f"{base}:amt", f"{base}:sum"]

    def _total_key(self, key_id: str, kind: str) -> str:
        return f"{self._base(key_id, kind)}:total"

    def _now(self) -> float:
        return SERVER_CLOCK if self.clock is None else float(self.clock())

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except Exception as exc:
            if is_connection_error(exc):
                raise unavailable(self.url, exc, what="per-key limits and budgets") from exc
            raise

    # the Protocol -------------------------------------------------------------------------
    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        if window_s is None:
            ok, used = self._run(
                self._consume_total,
                [self._total_key(key_id, kind)],
                [repr(float(amount)), repr(float(limit)), repr(EPSILON)],
            )
            return Grant(bool(int(ok)), key_id, kind, amount, float(_text(used)), limit, None)
        ticket = uuid.uuid4().hex
        ok, used, wait = self._run(
            self._consume_window,
            self._window_keys(key_id, kind, window_s),
            [
                repr(self._now()),
                repr(float(window_s)),
                repr(float(amount)),
                repr(float(limit)),
                ticket,
                repr(EPSILON),
            ],
        )
        allowed = bool(int(ok))
        retry = float(_text(wait))
        return Grant(
            allowed,
            key_id,
            kind,
            amount,
            float(_text(used)),
            limit,
            window_s,
            retry_after_s=None if allowed or retry < 0 else retry,
            ticket=ticket if allowed else None,
        )

    def settle(self, grant: Grant, actual: float) -> None:
        if not grant.allowed:
            return
        try:
            if grant.window_s is None:
                self._run(
                    self._settle_total,
                    [self._total_key(grant.key_id, grant.kind)],
                    [repr(float(actual) - float(grant.amount))],
                )
            elif grant.ticket is not None:
                _, amounts, total = self._window_keys(grant.key_id, grant.kind, grant.window_s)
                self._run(
                    self._settle_window, [amounts, total], [grant.ticket, repr(max(0.0, actual))]
                )
        except Exception as exc:
            if not is_connection_error(exc.__cause__ or exc):
                raise
            log.warning(
                "could not settle %s of key %s in Redis at %s: the reservation of %s stays "
                "counted (%s)",
                grant.kind,
                grant.key_id,
                display_url(self.url),
                grant.amount,
                exc,
            )

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        if window_s is None:
            try:
                value = self.client.get(self._total_key(key_id, kind))
            except Exception as exc:
                if is_connection_error(exc):
                    raise unavailable(self.url, exc, what="per-key limits and budgets") from exc
                raise
            return float(_text(value)) if value is not None else 0.0
        used = self._run(
            self._used_window,
            self._window_keys(key_id, kind, window_s),
            [repr(self._now()), repr(float(window_s))],
        )
        return float(_text(used))

    def close(self) -> None:
        if self._owns:
            self.client.close()


__all__ = ["SERVER_CLOCK", "RedisLimitStore"]
