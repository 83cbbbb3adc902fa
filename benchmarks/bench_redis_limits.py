"""How long one per-key limit check takes: in this process, in SQLite, in Redis.

Each backend of :class:`~ragline.store.limits_base.LimitStore` runs the same checks: a
request-per-minute window (``consume`` of 1 against a limit it never reaches) and a spend
budget (``consume`` of $0.0001 against a total). One thread measures each call's latency
(p50/p99); then ``--threads`` threads call it at once for the throughput a server's worker
pool sees. Redis is a real ``redis-server`` on loopback (``RedisServer``), so its figure
includes a local round trip, not a network hop.

    python benchmarks/bench_redis_limits.py [--calls 5000] [--threads 8]

Writes ``benchmarks/results/redis-limits.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import percentile, write_results
from ragline.config import load_settings
from ragline.store.factory import open_limits
from ragline.store.limits_base import LimitStore, MemoryLimitStore
from ragline.testing.redis_server import RedisServer

#: 50 keys, limits never reached: every call checks and counts.
CHECKS: dict[str, Callable[[LimitStore, int], Any]] = {
    "rpm_window": lambda s, i: s.consume(f"k{i % 50}", "requests", 1, limit=1e12, window_s=60),
    "spend_total": lambda s, i: s.consume(
        f"k{i % 50}", "spend_usd", 1e-4, limit=1e12, window_s=None
    ),
}


@contextlib.contextmanager
def backends(folder: Path) -> Iterator[dict[str, LimitStore]]:
    with RedisServer() as redis:
        memory = MemoryLimitStore()
        sqlite = open_limits(load_settings(home=folder))
        shared = open_limits(load_settings(home=folder, redis={"url": redis.url}))
        try:
            yield {"memory": memory, "sqlite": sqlite, "redis": shared}
        finally:
            for store in (memory, sqlite, shared):
                store.close()


def latency(store: LimitStore, check: Callable[[LimitStore, int], Any], n: int) -> list[float]:
    for i in range(min(200, n)):  # warm: connections, scripts, pages
        check(store, i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        check(store, i)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def throughput(
    store: LimitStore, check: Callable[[LimitStore, int], Any], n: int, threads: int
) -> float:
    def run(offset: int) -> None:
        for i in range(n // threads):
            check(store, offset + i)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, backends(Path(tmp)) as stores:
        for name, store in stores.items():
            for check_name, check in CHECKS.items():
                times = latency(store, check, args.calls)
                rate = throughput(store, check, args.calls, args.threads)
                rows.append(
                    {
                        "backend": name,
                        "check": check_name,
                        "calls": args.calls,
                        "p50_ms": round(percentile(times, 50), 4),
                        "p99_ms": round(percentile(times, 99), 4),
                        "checks_per_s": round(rate),
                        "threads": args.threads,
                    }
                )
    print(f"{'backend':8} {'check':12} {'p50 ms':>8} {'p99 ms':>8} {'checks/s':>9}")
    for r in rows:
        print(
            f"{r['backend']:8} {r['check']:12} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} "
            f"{r['checks_per_s']:9d}"
        )
    write_results("redis-limits", {"rows": rows})


if __name__ == "__main__":
    main()
