"""The SQLite cache store passes the cache conformance suite; the factory opens it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError
from ragline.store.cache_base import CacheStore
from ragline.store.factory import open_cache
from ragline.store.sqlite_cache import SQLiteCacheStore
from ragline.testing.cache_conformance import CacheStoreConformance, make_entry


class TestSQLiteCacheStore(CacheStoreConformance):
    @pytest.fixture
    def cache_store(self, tmp_path: Path) -> Iterator[SQLiteCacheStore]:
        store = SQLiteCacheStore(tmp_path / "cache.db")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        return lambda: SQLiteCacheStore(tmp_path / "cache.db")


def test_the_factory_opens_the_cache_in_the_store(tmp_path: Path):
    settings = load_settings(home=tmp_path)
    store = open_cache(settings)
    try:
        assert isinstance(store, CacheStore)
        store.put(make_entry("k"))
    finally:
        store.close()
    again = open_cache(settings)
    try:
        assert again.get("k") is not None
    finally:
        again.close()


def test_the_factory_opens_another_file_named_by_cache_url(tmp_path: Path):
    other = tmp_path / "elsewhere" / "cache.db"
    settings = load_settings(home=tmp_path, cache={"url": f"sqlite:///{other}"})
    store = open_cache(settings)
    try:
        store.put(make_entry("k"))
    finally:
        store.close()
    assert other.exists()


def test_an_unknown_cache_scheme_is_a_clear_error(tmp_path: Path):
    settings = load_settings(home=tmp_path, cache={"url": "memcached://localhost:11211"})
    with pytest.raises(ConfigError, match="no cache backend for the scheme 'memcached'"):
        open_cache(settings)
