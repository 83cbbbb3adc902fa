"""Redis for what replicas share (issue 16), on a real redis-server started by the tests.

* The invalidation buses pass their conformance suite (in-process, and Redis with a peer).
* ``redis.url`` picks the Redis limit store and bus through the factory; a wrong URL or a Redis
  that does not answer is one clear error when the store opens.
* Redis down while serving: a limit check fails closed with a 503 problem naming Redis, and
  works again by itself once Redis is back; the invalidation listener reconnects and tells
  its subscribers that anything may have changed.
* Two ``Ragline`` objects on one store and one Redis (two replicas in one process): an
  ingest through one drops the other's loaded index within a second, and the other finds
  the new document.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragline.api import Ragline
from ragline.config import RedisSettings
from ragline.errors import ConfigError, RedisUnavailableError
from ragline.server import create_app
from ragline.server.runner import ServerThread
from ragline.store.factory import open_invalidation, open_limits
from ragline.store.invalidation import ALL, LocalInvalidation
from ragline.store.keys_base import KeyPolicy
from ragline.store.redis_invalidation import RedisInvalidation
from ragline.store.redis_limits import RedisLimitStore
from ragline.store.sqlite_keys import SQLiteKeyStore
from ragline.testing.invalidation_conformance import Inbox, InvalidationConformance
from ragline.testing.live_server import server_settings, write_corpus
from ragline.testing.redis_server import RedisServer, free_port

pytestmark = pytest.mark.integration


class TestLocalInvalidation(InvalidationConformance):
    test_a_peer_hears_it_within_a_second = None  # one process: there is no peer

    @pytest.fixture
    def bus(self) -> Iterator[LocalInvalidation]:
        bus = LocalInvalidation()
        yield bus
        bus.close()


class TestRedisInvalidation(InvalidationConformance):
    @pytest.fixture
    def bus(self, redis_url: str) -> Iterator[RedisInvalidation]:
        bus = RedisInvalidation.from_settings(RedisSettings(url=redis_url))
        yield bus
        bus.close()

    @pytest.fixture
    def peer(self, redis_url: str) -> Iterator[RedisInvalidation]:
        bus = RedisInvalidation.from_settings(RedisSettings(url=redis_url))
        yield bus
        bus.close()


def test_redis_url_picks_the_redis_backends(tmp_path: Path, redis_url: str) -> None:
    settings = server_settings(tmp_path, redis={"url": redis_url, "key_prefix": "t1:"})
    limits = open_limits(settings)
    bus = open_invalidation(settings)
    try:
        assert isinstance(limits, RedisLimitStore) and limits.prefix == "t1:"
        assert isinstance(bus, RedisInvalidation) and bus.channel == "t1:invalidate"
        assert limits.consume("k", "requests", 1, limit=1, window_s=60).allowed
    finally:
        limits.close()
        bus.close()
    plain = server_settings(tmp_path)
    assert isinstance(open_invalidation(plain), LocalInvalidation)
    assert not isinstance(open_limits(plain), RedisLimitStore)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379/0", "redis://", "127.0.0.1:6379", "redis://host:port/0"],
)
def test_a_wrong_url_is_one_clear_error_at_startup(tmp_path: Path, url: str) -> None:
    settings = server_settings(tmp_path, redis={"url": url})
    with pytest.raises(ConfigError) as err:
        open_limits(settings)
    assert "redis.url" in err.value.message and "redis://HOST:PORT" in str(err.value.hint)


def test_a_redis_that_does_not_answer_is_a_clear_error_at_startup(tmp_path: Path) -> None:
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = server_settings(tmp_path, redis={"url": url, "connect_timeout_s": 0.5})
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as err:
        open_limits(settings)
    assert time.monotonic() - started < 5
    text = str(err.value)
    assert "unreachable" in text and "RAGLINE_REDIS__URL" in text
    assert "hunter2secret" not in text and ":***@" in text  # the password is never shown


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test alone (it is stopped and started again)."""
    with RedisServer() as server:
        yield server


def test_limits_fail_closed_while_redis_is_down_and_recover_by_themselves(
    own_redis: RedisServer,
) -> None:
    cfg = RedisSettings(url=own_redis.url, connect_timeout_s=0.5, socket_timeout_s=0.5)
    limits = RedisLimitStore.from_settings(cfg)
    try:
        grant = limits.consume("k", "spend_usd", 0.01, limit=1, window_s=None)
        assert grant.allowed
        own_redis.pause()
        for window in (60.0, None):
            with pytest.raises(RedisUnavailableError) as err:
                limits.consume("k", "requests", 1, limit=10, window_s=window)
            assert err.value.http_status == 503
        limits.settle(grant, 0.002)  # cannot reach Redis: logged, the reservation stays
        own_redis.resume()  # empty: it saved nothing
        assert limits.consume("k", "requests", 1, limit=10, window_s=60).allowed
        assert limits.used("k", "requests", window_s=60) == 1
    finally:
        limits.close()


def test_the_listener_reconnects_and_says_anything_may_have_changed(
    own_redis: RedisServer,
) -> None:
    cfg = RedisSettings(url=own_redis.url, connect_timeout_s=0.5, socket_timeout_s=0.5)
    bus, peer = RedisInvalidation.from_settings(cfg), RedisInvalidation.from_settings(cfg)
    try:
        inbox = Inbox()
        peer.subscribe(inbox)
        assert peer.wait_listening()
        own_redis.pause()
        bus.publish("lost", version=2, reason="ingest")  # logged, not raised
        own_redis.resume()
        assert inbox.wait_for(ALL, timeout_s=10) is not None, "no reconnect message"
        assert peer.wait_listening()
        bus.publish("after", version=3, reason="ingest")
        assert inbox.wait_for("after", timeout_s=1) is not None
        assert inbox.wait_for("lost", timeout_s=0.01) is None
    finally:
        bus.close()
        peer.close()


def test_an_ingest_on_one_replica_drops_the_others_index(tmp_path: Path, redis_url: str) -> None:
    home = tmp_path / "shared"
    settings = server_settings(home, trace={"enabled": False}, redis={"url": redis_url})
    corpus = write_corpus(tmp_path / "corpus")
    with Ragline(settings) as a, Ragline(settings, embedder=a.embedder) as b:
        a.ingest([corpus / "venus.md"], collection="docs")
        b.listen_for_changes()
        ready = getattr(b.invalidation, "wait_listening", None)
        assert callable(ready) and ready()
        assert [h.chunk.document_key for h in b.search("coffee", collection="docs", k=3)]
        assert b.retriever.cached_collections() == ["docs"]
        a.ingest([corpus / "coffee.md"], collection="docs")
        deadline = time.monotonic() + 1.0
        while b.retriever.cached_collections() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.retriever.cached_collections() == [], "b kept the stale index over a second"
        hits = b.search("water off the boil for pour-over", collection="docs", k=1)
        assert hits[0].chunk.document_key.endswith("coffee.md")


def test_the_server_answers_503_naming_redis_and_recovers(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    home = tmp_path / "home"
    settings = server_settings(
        home,
        trace={"enabled": False},
        redis={"url": own_redis.url, "connect_timeout_s": 0.5, "socket_timeout_s": 0.5},
    )
    keys = SQLiteKeyStore(home / "ragline.db")
    secret = keys.create_key("k", "admin", policy=KeyPolicy(rpm=100)).secret
    app = create_app(settings, keys=keys)
    headers = {"Authorization": f"Bearer {secret}"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/api/me", headers=headers).status_code == 200
        own_redis.pause()
        down = client.get("/api/me", headers=headers)
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        body = down.json()
        assert "Redis" in body["detail"] and "unreachable" in body["detail"]
        assert "RAGLINE_REDIS__URL" in body["hint"]
        own_redis.resume()
        assert client.get("/api/me", headers=headers).status_code == 200
    with contextlib.suppress(Exception):
        keys.close()


def test_windows_on_the_redis_clock_slide_and_expire(redis_url: str) -> None:
    """Without an injected clock the scripts read Redis's own (one clock for all replicas);
    a window's keys expire a second after it, a budget's total never does."""
    import redis

    limits = RedisLimitStore.from_settings(RedisSettings(url=redis_url, key_prefix="clk:"))
    try:
        assert limits.consume("k", "requests", 1, limit=1, window_s=1).allowed
        refused = limits.consume("k", "requests", 1, limit=1, window_s=1)
        assert not refused.allowed
        assert refused.retry_after_s is not None and 0 < refused.retry_after_s <= 1
        assert limits.consume("k", "spend_usd", 0.5, limit=1, window_s=None).allowed
        with redis.Redis.from_url(redis_url) as client:
            ttls = {k.decode(): client.pttl(k) for k in client.scan_iter("clk:*")}
        windows = {k: t for k, t in ttls.items() if ":w1:" in k}
        assert len(windows) == 3 and all(0 < t <= 2000 for t in windows.values()), ttls
        assert [t for k, t in ttls.items() if k.endswith(":total")] == [-1]  # no expiry
        time.sleep(refused.retry_after_s + 0.05)
        assert limits.consume("k", "requests", 1, limit=1, window_s=1).allowed
    finally:
        limits.close()


def test_two_clients_never_both_take_the_last_cent(redis_url: str) -> None:
    """Two stores (as two replicas open them) on one Redis share one budget."""
    cfg = RedisSettings(url=redis_url)
    a, b = RedisLimitStore.from_settings(cfg), RedisLimitStore.from_settings(cfg)
    try:
        assert a.consume("k", "spend_usd", 0.007, limit=0.01, window_s=None).allowed
        refused = b.consume("k", "spend_usd", 0.007, limit=0.01, window_s=None)
        assert not refused.allowed and refused.used == pytest.approx(0.007)
        assert b.consume("k", "spend_usd", 0.003, limit=0.01, window_s=None).allowed
        assert a.used("k", "spend_usd", window_s=None) == pytest.approx(0.01)
    finally:
        a.close()
        b.close()


def test_a_window_counts_like_the_in_process_store(redis_url: str) -> None:
    """Oracle: 600 random consumes, settles and clock moves give the same grants and usage
    in Redis (running sum, pruning, settling) as in ``MemoryLimitStore``."""
    import random

    from ragline.store.limits_base import MemoryLimitStore
    from ragline.testing.limits_conformance import FakeClock

    clock = FakeClock()
    oracle = MemoryLimitStore(clock=clock)
    limits = RedisLimitStore.from_settings(RedisSettings(url=redis_url), clock=clock)
    rng = random.Random(16)
    grants: list[tuple[object, object]] = []
    try:
        for step in range(600):
            roll = rng.random()
            if roll < 0.6:
                amount = float(rng.randint(1, 40))
                want = oracle.consume("k", "tokens", amount, limit=500, window_s=60)
                got = limits.consume("k", "tokens", amount, limit=500, window_s=60)
                assert (got.allowed, got.used) == (want.allowed, pytest.approx(want.used)), step
                if not got.allowed:
                    assert got.retry_after_s == pytest.approx(want.retry_after_s), step
                else:
                    grants.append((want, got))
            elif roll < 0.8 and grants:
                want, got = grants.pop(rng.randrange(len(grants)))
                actual = float(rng.randint(0, 60))
                oracle.settle(want, actual)  # type: ignore[arg-type]
                limits.settle(got, actual)  # type: ignore[arg-type]
            else:
                clock.advance(rng.uniform(0, 15))
            assert limits.used("k", "tokens", window_s=60) == pytest.approx(
                oracle.used("k", "tokens", window_s=60)
            ), step
    finally:
        limits.close()


def test_the_password_of_redis_url_is_a_secret(tmp_path: Path) -> None:
    """Redaction (logs, traces, problems) masks the password of a URL setting."""
    from ragline.config import secret_values

    settings = server_settings(tmp_path, redis={"url": "redis://:s3cret%2Fpass@cache:6379/0"})
    assert "s3cret/pass" in secret_values(settings)
