"""The answer caches' entries in Redis (issue 16), on a real redis-server started by the tests
(and, for what replicas share, on a real PostgreSQL too).

* :class:`RedisCacheStore` passes the cache conformance suite, unchanged.
* Several replicas (clients; Redis and PostgreSQL) writing at once: sequence numbers are
  unique, and a reader that syncs "newer than the last number I hold" never misses an entry.
* Expiry: an entry with ``expires_at`` gets a Redis TTL (a grace period after it), so a cache
  nobody prunes frees its memory; an entry Redis dropped leaves nothing in the index.
* Redis down: a clear :class:`RedisUnavailableError` (a ``StoreError``), and the answer cache
  answers without it (a miss), then works again once Redis is back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import REPO
from ragline.answer.events import AnswerDone, CacheChecked
from ragline.api import Ragline
from ragline.config import RedisSettings, load_settings
from ragline.errors import ConfigError, RedisUnavailableError, StoreError
from ragline.store.redis_cache import RedisCacheStore, open_redis_cache
from ragline.testing.cache_conformance import CacheStoreConformance, make_entry
from ragline.testing.redis_server import RedisServer, free_port

pytestmark = pytest.mark.integration


def _store(url: str, prefix: str = "ragline:") -> RedisCacheStore:
    return RedisCacheStore(RedisSettings(url=url, key_prefix=prefix))


class TestRedisCacheStore(CacheStoreConformance):
    @pytest.fixture
    def cache_store(self, redis_url: str) -> Iterator[RedisCacheStore]:
        store = _store(redis_url)
        yield store
        with contextlib.suppress(Exception):
            store.close()

    @pytest.fixture
    def reopen(self, redis_url: str) -> Callable[[], RedisCacheStore]:
        return lambda: _store(redis_url)


def test_the_factory_builds_it_from_the_settings(redis_url: str) -> None:
    settings = load_settings(redis={"key_prefix": "other:"})
    store = open_redis_cache(redis_url, settings)
    try:
        assert store.prefix == "other:{cache}:"
        store.put(make_entry("k"))
        assert store.get("k") is not None
        assert _store(redis_url).get("k") is None  # another prefix: another cache
    finally:
        store.close()


@pytest.fixture(params=["redis", "postgresql"])
def replica(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Opens one more client of one shared cache: Redis, or a PostgreSQL store's table."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda: _store(url)
    from ragline.store.postgres_stores import PostgresStores

    return PostgresStores(request.getfixturevalue("pg_url"), load_settings()).cache


def test_replicas_writing_at_once_never_hide_an_entry_from_a_syncing_reader(
    replica: Callable[[], Any],
) -> None:
    """The contract :mod:`ragline.cache.index` relies on: a reader that asks for "newer than
    the last number I hold" while four writers put at once ends with every entry."""
    writers = [replica() for _ in range(4)]
    reader = replica()
    held: dict[str, int] = {}
    last = 0
    done = threading.Event()

    def write(i: int) -> None:
        for j in range(50):
            writers[i].put_many([make_entry(f"w{i}-{j}-{n}") for n in range(3)])

    def sync() -> None:
        nonlocal last
        batch = reader.vectors("docs", "s1", after=last)
        for seq, key in zip(batch.seqs, batch.keys, strict=True):
            assert int(seq) > last
            held[key] = int(seq)
        last = batch.last_seq or last

    def read() -> None:
        while not done.is_set():
            sync()

    try:
        with ThreadPoolExecutor(5) as pool:
            polling = pool.submit(read)
            list(pool.map(write, range(4)))
            done.set()
            polling.result()
        sync()
        assert len(held) == 600 and len(set(held.values())) == 600
        full = reader.vectors("docs", "s1")
        assert sorted(full.keys) == sorted(held) and list(full.seqs) == sorted(full.seqs)
    finally:
        for store in (*writers, reader):
            store.close()


def test_hits_from_several_replicas_are_all_counted(redis_url: str) -> None:
    stores = [_store(redis_url) for _ in range(4)]
    try:
        stores[0].put(make_entry("hot"))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda s: [s.touch("hot", 2000.0) for _ in range(25)], stores))
        got = stores[1].get("hot")
        assert got is not None and got.hits == 100
    finally:
        for store in stores:
            store.close()


def test_an_expiring_entry_gets_a_redis_ttl_and_leaves_no_trace(redis_url: str) -> None:
    import redis

    store = _store(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        now = time.time()
        store.put(make_entry("soon", expires_at=now + 100))
        store.put(make_entry("never"))
        ttl = client.ttl("ragline:{cache}:e:soon")
        assert 100 < ttl <= 100 + 24 * 3600 + 1
        assert client.ttl("ragline:{cache}:e:never") == -1
        client.delete("ragline:{cache}:e:soon")  # what Redis does when the TTL runs out
        assert store.vectors("docs", "s1").keys == ["never"]
        assert [s.entries for s in store.stats()] == [1]
        assert store.prune(now=now + 200, max_entries=None) == 0  # already gone
        assert client.zcard("ragline:{cache}:lru") == 1
    finally:
        client.close()
        store.close()


def test_a_wrong_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a Redis URL"):
        _store("http://localhost:6379/0")


def test_redis_down_is_a_clear_error(tmp_path) -> None:
    port = free_port()
    with pytest.raises(RedisUnavailableError, match="answer cache") as err:
        _store(f"redis://127.0.0.1:{port}/0")
    assert isinstance(err.value, StoreError) and "RAGLINE_REDIS__URL" in (err.value.hint or "")
    server = RedisServer(port=port)
    with server:
        store = _store(server.url)
        store.put(make_entry("k"))
    # the server is gone under an open store: each call is one clear error
    with pytest.raises(RedisUnavailableError):
        store.get("k")
    with pytest.raises(RedisUnavailableError):
        store.vectors("docs", "s1")
    store.close()


def test_answers_are_cached_in_redis_and_a_redis_outage_is_a_miss(tmp_path) -> None:
    """A real answer path (real embedder and store, scripted chat model) on a Redis cache."""
    from ragline.models.gateway import Gateway
    from ragline.testing.chat_conformance import FakeChatModel

    question = "What is the ideal brewing temperature for coffee?"
    reply = "The ideal brewing temperature is between 90 and 96 degrees Celsius."
    server = RedisServer().start()
    settings = load_settings(
        home=tmp_path / "home", answer={"style": "generative"}, cache={"enabled": True}
    )
    now = [time.time()]
    try:
        with Ragline(settings) as rag:
            rag.ingest([REPO / "examples" / "sample"], collection="sample")
            fake = FakeChatModel([reply] * 3)
            rag.gateway = Gateway(rag.settings, models={"embedded": fake})
            cache = rag.cache
            assert cache is not None
            cache._open_store = lambda: _store(server.url)  # what cache.url=redis://… opens
            cache.clock = lambda: now[0]
            assert rag.ask(question, collection="sample").cached is None
            assert rag.ask(question, collection="sample").cached == "exact"
            assert len(fake.calls) == 1
            # another replica (a new client) sees the entry
            (stats,) = _store(server.url).stats()
            assert (stats.collection, stats.entries, stats.hits) == ("sample", 1, 1)

            server.stop()
            events = list(rag.ask_stream(question, collection="sample"))
            (checked,) = [e for e in events if isinstance(e, CacheChecked)]
            assert checked.reason == "backend_down"
            done = events[-1]
            assert isinstance(done, AnswerDone) and not done.answer.declined
            assert len(fake.calls) == 2

            server.start()  # back, empty (no persistence): a miss, then cached again
            now[0] += 3600
            assert rag.ask(question, collection="sample").cached is None
            assert rag.ask(question, collection="sample").cached == "exact"
            assert len(fake.calls) == 3
    finally:
        server.stop()


def test_open_cache_picks_redis_by_the_scheme_of_cache_url(redis_url: str) -> None:
    """``cache.url = redis://…`` through the factory (the ``ragline.cache_backends`` entry
    points of ragline's own pyproject.toml)."""
    from ragline.store.factory import open_cache

    store = open_cache(load_settings(cache={"url": redis_url}))
    try:
        assert isinstance(store, RedisCacheStore)
        store.put(make_entry("k"))
        assert store.get("k") is not None
    finally:
        store.close()
    with pytest.raises(RedisUnavailableError):
        open_cache(load_settings(cache={"url": f"redis://127.0.0.1:{free_port()}/0"}))
