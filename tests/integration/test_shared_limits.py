"""Limits shared by replicas: two limit stores (two server processes' worth) on one
PostgreSQL or one Redis let exactly ``limit`` requests through, however the requests are
spread (selecting Redis and Redis going down: tests/integration/test_redis_shared.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ragline.config import RedisSettings, load_settings
from ragline.store.postgres_stores import PostgresStores
from ragline.store.redis_limits import RedisLimitStore

pytestmark = pytest.mark.integration


def _replicas(kind: str, request: pytest.FixtureRequest) -> list[Any]:
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        cfg = RedisSettings(url=url)
        return [RedisLimitStore.from_settings(cfg), RedisLimitStore.from_settings(cfg)]
    url = request.getfixturevalue("pg_url")
    # different pool sizes: two pools, as two processes would have
    a = PostgresStores(url, load_settings(store={"pool_max_size": 4})).limits()
    b = PostgresStores(url, load_settings(store={"pool_max_size": 5})).limits()
    return [a, b]


@pytest.mark.parametrize("kind", ["postgresql", "redis"])
def test_thirty_concurrent_requests_over_two_replicas_ten_pass(
    kind: str, request: pytest.FixtureRequest
) -> None:
    stores = _replicas(kind, request)
    try:
        with ThreadPoolExecutor(30) as pool:
            grants = list(
                pool.map(
                    lambda i: stores[i % 2].consume("key", "requests", 1, limit=10, window_s=60),
                    range(30),
                )
            )
        assert sum(g.allowed for g in grants) == 10
        refused = [g for g in grants if not g.allowed]
        assert all(g.retry_after_s is not None and 0 < g.retry_after_s <= 60 for g in refused)
        assert stores[0].used("key", "requests", window_s=60) == 10
        # a spend budget: never more than the budget, over both
        with ThreadPoolExecutor(20) as pool:
            spent = list(
                pool.map(
                    lambda i: stores[i % 2].consume(
                        "key", "spend_usd", 0.004, limit=0.05, window_s=None
                    ),
                    range(20),
                )
            )
        assert sum(g.allowed for g in spent) == 12  # 12 * 0.004 = 0.048 <= 0.05 < 0.052
        assert stores[1].used("key", "spend_usd", window_s=None) == pytest.approx(0.048)
    finally:
        for s in stores:
            s.close()
