"""Generation slots shared by every server replica: a Redis semaphore with expiring leases.

Each replica's :class:`~ragline.server.queue.GenerationQueue` bounds what *it* sends to a
model; with ``redis.url`` and ``redis.generation_slots`` set, a generation on the shared
(remote) engine also needs one of ``generation_slots`` cluster-wide slots, so N replicas send
at most ``generation_slots`` requests at once, not N times their own limit.

The semaphore is one sorted set ``{prefix}slots:{name}`` of lease ids scored by their expiry
time (the Redis server's clock, ``TIME``: one clock for every replica). :meth:`try_acquire`
is one Lua script: drop the expired leases, then add this one when fewer than ``limit`` hold
a slot. :meth:`renew` pushes a live lease's expiry forward (the holder does it every third of
``lease_s`` while it generates) and :meth:`release` removes it. A replica killed with its
slots held stops renewing, and its leases expire by themselves after ``lease_s``.

Redis that does not answer fails closed: :class:`~ragline.errors.RedisUnavailableError`
(a 503 problem), like limits; nothing is remembered about the failure.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from ragline.store.redis_client import check_reachable, connect, is_connection_error, unavailable

if TYPE_CHECKING:
    from ragline.config import RedisSettings

log = logging.getLogger("ragline.store.redis")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: the set. ARGV: lease id, limit, lease seconds. Returns 1 (granted) or 0 (all held).
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
return 1
"""
)

# KEYS: the set. ARGV: lease id, lease seconds. Returns 1 (renewed) or 0 (it had expired).
_RENEW = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
return 1
"""
)

# KEYS: the set. Returns how many leases are live now.
_COUNT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)


class RedisSlots:
    """At most ``limit`` leases of ``name`` at once across every process sharing ``client``."""

    def __init__(
        self,
        client: Any,
        *,
        name: str,
        limit: int,
        lease_s: float,
        key_prefix: str = "ragline:",
        url: str = "redis",
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.name = name
        self.limit = limit
        self.lease_s = lease_s
        self.url = url
        self._client = client
        self._key = f"{key_prefix}slots:{{{name}}}"
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)

    @classmethod
    def from_settings(cls, cfg: RedisSettings, *, name: str) -> RedisSlots:
        """Slots of ``name`` (``cfg.generation_slots`` of them); PINGs Redis once now."""
        if cfg.generation_slots is None:
            raise ValueError("redis.generation_slots is not set")
        client = connect(cfg)
        url = str(cfg.url)
        check_reachable(client, url, what="the shared generation slots")
        return cls(
            client,
            name=name,
            limit=cfg.generation_slots,
            lease_s=cfg.slot_lease_s,
            key_prefix=cfg.key_prefix,
            url=url,
        )

    def _call(self, script: Any, args: list[Any]) -> int:
        try:
            return int(script(keys=[self._key], args=args))
        except Exception as exc:
            if is_connection_error(exc):
                raise unavailable(self.url, exc, what="the shared generation slots") from exc
            raise

    def new_lease_id(self) -> str:
        return uuid.uuid4().hex

    def try_acquire(self, lease_id: str) -> bool:
        """Take a slot for ``lease_id`` when one is free (idempotent for a held lease)."""
        return bool(self._call(self._acquire, [lease_id, self.limit, self.lease_s]))

    def renew(self, lease_id: str) -> bool:
        """Push the lease's expiry ``lease_s`` ahead; False when it had already expired."""
        return bool(self._call(self._renew, [lease_id, self.lease_s]))

    def release(self, lease_id: str) -> None:
        """Give the slot back; a Redis that is down lets the lease expire (logged)."""
        try:
            self._client.zrem(self._key, lease_id)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning(
                "could not release generation slot %s (%s): it expires by itself", lease_id, exc
            )

    def held(self) -> int:
        """How many leases are live now (across every replica)."""
        return self._call(self._count, [])


__all__ = ["RedisSlots"]
