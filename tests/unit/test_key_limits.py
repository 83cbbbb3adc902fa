"""The limit stores pass the limit-store conformance suite: in-process, SQLite and Redis."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from ragline.config import RedisSettings
from ragline.store.limits_base import MemoryLimitStore
from ragline.store.sqlite_limits import SQLiteLimitStore
from ragline.testing.limits_conformance import FakeClock, LimitStoreConformance


class TestMemoryLimitStore(LimitStoreConformance):
    test_totals_persist = None  # in-process: nothing survives a restart

    @pytest.fixture
    def limits(self, clock: FakeClock):
        return MemoryLimitStore(clock=clock)


class TestSQLiteLimitStore(LimitStoreConformance):
    @pytest.fixture
    def limits(self, tmp_path: Path, clock: FakeClock):
        store = SQLiteLimitStore(tmp_path / "ragline.db", clock=clock)
        yield store
        with contextlib.suppress(Exception):  # a test may have closed it
            store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path, clock: FakeClock):
        return lambda: SQLiteLimitStore(tmp_path / "ragline.db", clock=clock)


class TestRedisLimitStore(LimitStoreConformance):
    """The same suite on a real redis-server (``redis_url``: tests/conftest.py)."""

    @pytest.fixture
    def limits(self, redis_url: str, clock: FakeClock):
        from ragline.store.redis_limits import RedisLimitStore

        store = RedisLimitStore.from_settings(RedisSettings(url=redis_url), clock=clock)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, redis_url: str, clock: FakeClock):
        from ragline.store.redis_limits import RedisLimitStore

        return lambda: RedisLimitStore.from_settings(RedisSettings(url=redis_url), clock=clock)


def test_two_processes_share_a_budget_through_the_file(tmp_path: Path) -> None:
    """Two stores on one file (two server processes) cannot both take the last cent."""
    a = SQLiteLimitStore(tmp_path / "ragline.db")
    b = SQLiteLimitStore(tmp_path / "ragline.db")
    try:
        assert a.consume("k", "spend_usd", 0.007, limit=0.01, window_s=None).allowed
        assert not b.consume("k", "spend_usd", 0.007, limit=0.01, window_s=None).allowed
        assert b.used("k", "spend_usd", window_s=None) == pytest.approx(0.007)
    finally:
        a.close()
        b.close()
