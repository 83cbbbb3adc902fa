"""Per-key limits in Redis, shared exactly by every server replica (``redis.url``).

Each :meth:`RedisLimitStore.consume` is one Lua script, which Redis runs atomically: it drops
what left the window, sums what is left, and counts the new amount only when it fits, so two
replicas can never both take the last unit. A window (requests and tokens per minute) is a
sorted set of tickets by time plus a hash of their amounts, both expiring once idle for a
window; a total (a spend budget) is one hash field, never expiring. Times come from
``clock`` (wall-clock seconds by default, so replicas on several machines agree).

Selected by :func:`ragline.store.factory.open_limits` when ``redis.url`` is set; without it
limits stay in the store (SQLite, PostgreSQL). A Redis that is down is a
:class:`~ragline.errors.StoreUnavailableError` (503) naming the URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ragline.errors import ConfigError, MissingDependencyError, StoreUnavailableError
from ragline.store.limits_base import EPSILON, Grant

_PREFIX = "ragline:limit"

# KEYS: log (zset ticket -> at), amounts (hash ticket -> amount), ticket counter.
# ARGV: now, window, amount, limit, epsilon. Returns {allowed, used, ticket|retry_after|false}.
_WINDOW = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local amount, limit, eps = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
for _, t in ipairs(gone) do redis.call('HDEL', KEYS[2], t) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local log = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used, sizes = 0, {}
for i = 1, #log, 2 do
  local a = tonumber(redis.call('HGET', KEYS[2], log[i]) or '0')
  sizes[#sizes + 1] = a
  used = used + a
end
if used + amount <= limit + eps then
  local ticket = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[1], now, ticket)
  redis.call('HSET', KEYS[2], ticket, ARGV[3])
  local ttl = math.ceil(window * 1000) + 1000
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  return {1, tostring(used + amount), tostring(ticket)}
end
if amount > limit + eps then return {0, tostring(used), false} end
local freed = 0
for i = 1, #sizes do
  freed = freed + sizes[i]
  if used - freed + amount <= limit + eps then
    return {0, tostring(used), tostring(math.max(0, tonumber(log[2 * i]) + window - now))}
  end
end
return {0, tostring(used), tostring(window)}
"""

# KEYS: totals hash. ARGV: kind, amount, limit, epsilon. Returns {allowed, used}.
_TOTAL = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local amount = tonumber(ARGV[2])
if used + amount <= tonumber(ARGV[3]) + tonumber(ARGV[4]) then
  return {1, redis.call('HINCRBYFLOAT', KEYS[1], ARGV[1], ARGV[2])}
end
return {0, tostring(used)}
"""

# KEYS: totals hash. ARGV: kind, delta. Never below zero.
_SETTLE_TOTAL = """
local used = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') + tonumber(ARGV[2])
if used < 0 then used = 0 end
redis.call('HSET', KEYS[1], ARGV[1], tostring(used))
return tostring(used)
"""

# KEYS: amounts hash. ARGV: ticket, actual. A ticket gone from the window stays gone.
_SETTLE_WINDOW = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def _window_keys(key_id: str, kind: str, window_s: float) -> list[str]:
    base = f"{_PREFIX}:{{{key_id}}}:{kind}:{window_s:g}"
    return [f"{base}:log", f"{base}:amounts", f"{base}:tickets"]


def _totals_key(key_id: str) -> str:
    return f"{_PREFIX}:{{{key_id}}}:totals"


class RedisLimitStore:
    """:class:`ragline.store.limits_base.LimitStore` in Redis (atomic Lua per check)."""

    def __init__(
        self, url: str, *, clock: Callable[[], float] = time.time, timeout_s: float = 5.0
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError(
                "redis.url is set but the Redis client is missing",
                hint="pip install 'ragline[redis]'",
            ) from exc
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"redis.url {url!r} is not a Redis URL",
                hint="write redis://HOST:PORT/DB (RAGLINE_REDIS__URL)",
            )
        self.url = url
        self.clock = clock
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        except ValueError as exc:
            raise ConfigError(
                f"redis.url {url!r} is not a valid Redis URL: {exc}",
                hint="write redis://HOST:PORT/DB (RAGLINE_REDIS__URL)",
            ) from exc
        self._window = self._redis.register_script(_WINDOW)
        self._total = self._redis.register_script(_TOTAL)
        self._settle_total = self._redis.register_script(_SETTLE_TOTAL)
        self._settle_window = self._redis.register_script(_SETTLE_WINDOW)

    @contextmanager
    def _calling(self) -> Iterator[None]:
        import redis

        try:
            yield
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"Redis at {self.url} is not reachable (limits): {exc}",
                hint="check that Redis runs and redis.url (RAGLINE_REDIS__URL) names it; for "
                'development: eval "$(scripts/dev-services.sh start)"',
            ) from exc

    def consume(
        self, key_id: str, kind: str, amount: float, *, limit: float, window_s: float | None
    ) -> Grant:
        with self._calling():
            if window_s is None:
                ok, used = self._total(
                    keys=[_totals_key(key_id)], args=[kind, repr(amount), repr(limit), EPSILON]
                )
                return Grant(bool(ok), key_id, kind, amount, float(used), limit, None)
            now = self.clock()
            ok, used, extra = self._window(
                keys=_window_keys(key_id, kind, window_s),
                args=[repr(now), repr(window_s), repr(amount), repr(limit), EPSILON],
            )
        if ok:
            ticket = extra.decode() if isinstance(extra, bytes) else str(extra)
            return Grant(True, key_id, kind, amount, float(used), limit, window_s, ticket=ticket)
        wait = None if extra is None else float(extra)
        return Grant(False, key_id, kind, amount, float(used), limit, window_s, retry_after_s=wait)

    def settle(self, grant: Grant, actual: float) -> None:
        if not grant.allowed:
            return
        with self._calling():
            if grant.window_s is None:
                self._settle_total(
                    keys=[_totals_key(grant.key_id)],
                    args=[grant.kind, repr(actual - grant.amount)],
                )
                return
            self._settle_window(
                keys=[_window_keys(grant.key_id, grant.kind, grant.window_s)[1]],
                args=[grant.ticket or "", repr(max(0.0, actual))],
            )

    def used(self, key_id: str, kind: str, *, window_s: float | None) -> float:
        with self._calling():
            if window_s is None:
                value = self._redis.hget(_totals_key(key_id), kind)
                return float(value) if value is not None else 0.0
            log, amounts, _ = _window_keys(key_id, kind, window_s)
            live = self._redis.zrangebyscore(log, f"({self.clock() - window_s!r}", "+inf")
            if not live:
                return 0.0
            return float(sum(float(a or 0) for a in self._redis.hmget(amounts, live)))

    def close(self) -> None:
        self._redis.close()


__all__ = ["RedisLimitStore"]
