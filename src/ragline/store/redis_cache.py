"""The answer caches' entries in Redis (``cache.url = redis://…``): one cache for every server
replica, without a shared database.

:class:`RedisCacheStore` implements :class:`ragline.store.cache_base.CacheStore`. Every change
is one Lua script, so it is atomic on the Redis server whatever the replicas do at once: a
``put`` takes its sequence numbers (``INCR``) and indexes the entry in the same step, so a
reader that syncs with "newer than the last number I hold" (:mod:`ragline.cache.index`) never
misses an entry that got a smaller number later. Layout under ``redis.key_prefix`` +
``{cache}:`` (the ``{…}`` hash tag keeps every key of the cache on one Redis Cluster slot, as
the scripts name keys they build):

* ``e:KEY`` a hash per entry (the fields of :class:`~ragline.store.cache_base.CacheEntry`,
  the vector as float32 bytes, ``seq``, ``last_hit_at``);
* ``v:LEN:COLLECTION:SCOPE`` a sorted set of the keys with a vector, scored by ``seq``
  (:meth:`RedisCacheStore.vectors` reads a range of it);
* ``lru`` (scored by last hit, else creation), ``exp`` (by expiry) over every entry,
  ``c:COLLECTION`` the keys of one collection and ``cols`` the collections;
* ``seq`` the counter.

An entry with an expiry also gets a Redis TTL a grace period (``_GRACE_S``) after it, so a
cache nobody prunes still frees its memory; the index entries it leaves are dropped by the
next read or prune that meets them. Large ``clear``/``prune`` calls run as one script (Redis
is busy for their duration: milliseconds per thousand entries). A Redis that does not answer
raises :class:`~ragline.errors.RedisUnavailableError` (a ``StoreError``), which the cache
treats as a miss.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.errors import StoreError
from ragline.store.cache_base import CacheEntry, CacheStats, VectorBatch
from ragline.store.redis_client import (
    check_reachable,
    connect,
    display_url,
    is_connection_error,
    unavailable,
)

if TYPE_CHECKING:
    from ragline.config import RedisSettings, Settings

#: An expired entry stays this long before Redis drops it by itself (the cache's own
#: ``prune`` removes it first; the cache never serves an expired entry either way).
_GRACE_S = 24 * 3600
#: Vectors read per script call (each call is atomic; the batches join in ``seq`` order).
_VECTOR_PAGE = 2000

# Shared by the scripts: key names and dropping one entry everywhere it is indexed.
_LIB = """
local P = ARGV[1]
local function vkey(coll, scope)
  return P .. 'v:' .. #coll .. ':' .. coll .. ':' .. scope
end
local function drop(key)
  local ek = P .. 'e:' .. key
  local old = redis.call('HMGET', ek, 'collection', 'scope')
  redis.call('ZREM', P .. 'lru', key)
  redis.call('ZREM', P .. 'exp', key)
  if old[1] then
    redis.call('ZREM', vkey(old[1], old[2]), key)
    redis.call('SREM', P .. 'c:' .. old[1], key)
    if redis.call('SCARD', P .. 'c:' .. old[1]) == 0 then
      redis.call('SREM', P .. 'cols', old[1])
    end
  end
  return redis.call('DEL', ek)
end
"""

# ARGV: prefix, grace_s, then 11 fields per entry. Replaces each key: drop, new seq, index.
_PUT = (
    _LIB
    + """
local grace = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1])
for a = 3, #ARGV, 11 do
  local key, coll, scope = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local vector, created, expires = ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  drop(key)
  local seq = redis.call('INCR', P .. 'seq')
  local ek = P .. 'e:' .. key
  redis.call('HSET', ek, 'collection', coll, 'scope', scope, 'question', ARGV[a + 3],
    'payload', ARGV[a + 4], 'version', ARGV[a + 5], 'collections', ARGV[a + 6],
    'created_at', created, 'hits', ARGV[a + 10], 'seq', seq)
  if vector ~= '' then
    redis.call('HSET', ek, 'vector', vector)
    redis.call('ZADD', vkey(coll, scope), seq, key)
  end
  redis.call('ZADD', P .. 'lru', created, key)
  if expires ~= '' then
    redis.call('HSET', ek, 'expires_at', expires)
    redis.call('ZADD', P .. 'exp', expires, key)
    redis.call('EXPIRE', ek, math.max(0, math.ceil(tonumber(expires) - now)) + grace)
  end
  redis.call('SADD', P .. 'c:' .. coll, key)
  redis.call('SADD', P .. 'cols', coll)
end
return 1
"""
)

# ARGV: prefix, collection, scope, after, limit. Returns {seq, key, vector, ...}.
_VECTORS = (
    _LIB
    + """
local vk = vkey(ARGV[2], ARGV[3])
local rows = redis.call('ZRANGEBYSCORE', vk, '(' .. ARGV[4], '+inf', 'WITHSCORES',
  'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for i = 1, #rows, 2 do
  local v = redis.call('HGET', P .. 'e:' .. rows[i], 'vector')
  if v then
    table.insert(out, rows[i + 1])
    table.insert(out, rows[i])
    table.insert(out, v)
  else
    redis.call('ZREM', vk, rows[i])  -- expired by Redis itself
  end
end
return out
"""
)

# ARGV: prefix, key, at.
_TOUCH = (
    _LIB
    + """
local ek = P .. 'e:' .. ARGV[2]
if redis.call('EXISTS', ek) == 0 then return 0 end
redis.call('HINCRBY', ek, 'hits', 1)
redis.call('HSET', ek, 'last_hit_at', ARGV[3])
redis.call('ZADD', P .. 'lru', ARGV[3], ARGV[2])
return 1
"""
)

# ARGV: prefix, keys...
_DELETE = (
    _LIB
    + """
local n = 0
for a = 2, #ARGV do n = n + drop(ARGV[a]) end
return n
"""
)

# ARGV: prefix, collection ('' with ARGV[3] == '1': every collection), all.
_CLEAR = (
    _LIB
    + """
local n = 0
local cols
if ARGV[3] == '1' then cols = redis.call('SMEMBERS', P .. 'cols') else cols = {ARGV[2]} end
for _, coll in ipairs(cols) do
  for _, key in ipairs(redis.call('SMEMBERS', P .. 'c:' .. coll)) do n = n + drop(key) end
end
if ARGV[3] == '1' then
  for _, key in ipairs(redis.call('ZRANGE', P .. 'lru', 0, -1)) do n = n + drop(key) end
end
return n
"""
)

# ARGV: prefix, now, max_entries (-1: no bound). Expired first, then least recently used.
_PRUNE = (
    _LIB
    + """
local n = 0
for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', ARGV[2])) do
  n = n + drop(key)
end
local most = tonumber(ARGV[3])
if most >= 0 then
  local over = redis.call('ZCARD', P .. 'lru') - most
  while over > 0 do
    local key = redis.call('ZRANGE', P .. 'lru', 0, 0)[1]
    over = over - 1
    n = n + drop(key)
  end
end
return n
"""
)

# ARGV: prefix. Returns {collection, scope, hits, created_at, has_vector, ...}.
_STATS = (
    _LIB
    + """
local out = {}
for _, coll in ipairs(redis.call('SMEMBERS', P .. 'cols')) do
  for _, key in ipairs(redis.call('SMEMBERS', P .. 'c:' .. coll)) do
    local f = redis.call('HMGET', P .. 'e:' .. key, 'scope', 'hits', 'created_at', 'seq')
    if f[1] then
      local hv = redis.call('HEXISTS', P .. 'e:' .. key, 'vector')
      table.insert(out, coll)
      table.insert(out, f[1])
      table.insert(out, f[2])
      table.insert(out, f[3])
      table.insert(out, tostring(hv))
    end
  end
end
return out
"""
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(key: str, h: dict[bytes, bytes]) -> CacheEntry:
    vector = h.get(b"vector")
    expires = h.get(b"expires_at")
    return CacheEntry(
        key=key,
        collection=_text(h[b"collection"]),
        scope=_text(h[b"scope"]),
        question=_text(h[b"question"]),
        payload=_text(h[b"payload"]),
        version=int(h[b"version"]),
        collections=tuple(json.loads(_text(h[b"collections"]))),
        vector=np.frombuffer(vector, dtype=np.float32).copy() if vector is not None else None,
        created_at=float(h[b"created_at"]),
        expires_at=float(expires) if expires is not None else None,
        hits=int(h.get(b"hits", b"0")),
    )


def _args(entry: CacheEntry) -> list[Any]:
    vector = b""
    if entry.vector is not None:
        vector = np.ascontiguousarray(entry.vector, dtype=np.float32).tobytes()
    return [
        entry.key,
        entry.collection,
        entry.scope,
        entry.question,
        entry.payload,
        str(int(entry.version)),
        json.dumps(list(entry.collections)),
        vector,
        repr(float(entry.created_at)),
        repr(float(entry.expires_at)) if entry.expires_at is not None else "",
        str(int(entry.hits)),
    ]


class RedisCacheStore:
    """:class:`ragline.store.cache_base.CacheStore` in Redis (shared by server replicas)."""

    def __init__(self, cfg: RedisSettings, *, check: bool = True) -> None:
        if not cfg.url:
            from ragline.errors import ConfigError

            raise ConfigError(
                "the Redis cache needs a URL", hint="set cache.url=redis://HOST:PORT/0"
            )
        self.url = cfg.url
        self.prefix = f"{cfg.key_prefix}{{cache}}:"
        self._client: Any = connect(cfg)
        if check:
            check_reachable(self._client, self.url, what="the answer cache")
        self._scripts = {
            name: self._client.register_script(src)
            for name, src in (
                ("put", _PUT),
                ("vectors", _VECTORS),
                ("touch", _TOUCH),
                ("delete", _DELETE),
                ("clear", _CLEAR),
                ("prune", _PRUNE),
                ("stats", _STATS),
            )
        }

    # ------------------------------------------------------------------ plumbing
    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreError("the cache store is closed")
        return self._client

    def _run(self, name: str, *args: Any) -> Any:
        return self._call(lambda: self._scripts[name](keys=[], args=[self.prefix, *args]))

    def _call(self, fn: Any) -> Any:
        self.client  # noqa: B018 - raises once closed
        try:
            return fn()
        except Exception as exc:
            if is_connection_error(exc):
                raise unavailable(self.url, exc, what="the answer cache") from exc
            raise StoreError(
                f"the answer cache in Redis at {display_url(self.url)} failed: {exc}"
            ) from exc

    # ------------------------------------------------------------------ CacheStore
    def put(self, entry: CacheEntry) -> None:
        self.put_many([entry])

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        args: list[Any] = [str(_GRACE_S)]
        for entry in entries:
            args.extend(_args(entry))
        self._run("put", *args)

    def get(self, key: str) -> CacheEntry | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(f"{self.prefix}e:{key}")
            return list(pipe.execute())

        found = {}
        for key, h in zip(keys, self._call(read), strict=True):
            if h:
                found[key] = _entry(key, h)
        return found

    def vectors(self, collection: str, scope: str, *, after: int = 0) -> VectorBatch:
        seqs: list[int] = []
        keys: list[str] = []
        blobs: list[bytes] = []
        last = int(after)
        while True:
            rows = self._run("vectors", collection, scope, str(last), str(_VECTOR_PAGE))
            for i in range(0, len(rows), 3):
                seqs.append(int(float(rows[i])))
                keys.append(_text(rows[i + 1]))
                blobs.append(rows[i + 2])
            if len(rows) < 3 * _VECTOR_PAGE:
                break
            last = seqs[-1]
        if not seqs:
            return VectorBatch(np.zeros(0, np.int64), [], np.zeros((0, 0), np.float32))
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(seqs), -1)
        return VectorBatch(np.asarray(seqs, dtype=np.int64), keys, vectors.copy())

    def touch(self, key: str, at: float) -> None:
        self._run("touch", key, repr(float(at)))

    def delete(self, keys: Sequence[str]) -> int:
        keys = list(dict.fromkeys(keys))
        return int(self._run("delete", *keys)) if keys else 0

    def clear(self, collection: str | None = None) -> int:
        if collection is None:
            return int(self._run("clear", "", "1"))
        return int(self._run("clear", collection, "0"))

    def prune(self, *, now: float, max_entries: int | None) -> int:
        most = -1 if max_entries is None else int(max_entries)
        return int(self._run("prune", repr(float(now)), str(most)))

    def stats(self) -> list[CacheStats]:
        rows = self._run("stats")
        per: dict[str, dict[str, Any]] = {}
        for i in range(0, len(rows), 5):
            coll, scope = _text(rows[i]), _text(rows[i + 1])
            hits, created, has_vector = int(rows[i + 2]), float(rows[i + 3]), rows[i + 4]
            s = per.setdefault(
                coll, {"n": 0, "sem": 0, "hits": 0, "min": None, "max": None, "scopes": set()}
            )
            s["n"] += 1
            s["sem"] += _text(has_vector) == "1"
            s["hits"] += hits
            s["min"] = created if s["min"] is None else min(s["min"], created)
            s["max"] = created if s["max"] is None else max(s["max"], created)
            s["scopes"].add(scope)
        return [
            CacheStats(c, s["n"], s["sem"], s["hits"], s["min"], s["max"], sorted(s["scopes"]))
            for c, s in sorted(per.items())
        ]

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def open_redis_cache(url: str, settings: Settings) -> RedisCacheStore:
    """The ``ragline.cache_backends`` factory of ``redis``/``rediss``/``unix`` URLs: the
    connection settings of ``settings.redis`` (timeouts, pool, key prefix) with ``url``."""
    return RedisCacheStore(settings.redis.model_copy(update={"url": url}))


__all__ = ["RedisCacheStore", "open_redis_cache"]
