"""Generation slots shared by replicas through a real Redis (issue 16: the answer queue's
admission control). Two :class:`GenerationQueue` objects over one Redis act as two replicas."""

from __future__ import annotations

import asyncio
import time

import pytest

from ragline.config import RedisSettings
from ragline.errors import RedisUnavailableError
from ragline.server.problems import ServerBusyError
from ragline.server.queue import GenerationQueue
from ragline.store.redis_slots import RedisSlots
from ragline.testing.redis_server import free_port

pytestmark = pytest.mark.integration


def _slots(url: str, *, limit: int, lease_s: float = 30.0) -> RedisSlots:
    cfg = RedisSettings(url=url, generation_slots=limit, slot_lease_s=lease_s)
    return RedisSlots.from_settings(cfg, name="remote")


def test_two_replicas_never_exceed_the_cluster_slots(redis_url: str) -> None:
    # Each replica would allow 4 at once on its own; the cluster allows 3.
    replicas = [
        GenerationQueue(
            "remote", concurrency=4, max_waiting=32, timeout_s=20, shared=_slots(redis_url, limit=3)
        )
        for _ in range(2)
    ]
    running = 0
    peak = 0

    async def one(queue: GenerationQueue) -> None:
        nonlocal running, peak
        lease = await queue.acquire()
        try:
            running += 1
            peak = max(peak, running)
            assert queue.shared.held() <= 3
            await asyncio.sleep(0.05)
        finally:
            running -= 1
            lease.release()

    async def main() -> None:
        await asyncio.gather(*(one(replicas[i % 2]) for i in range(16)))

    asyncio.run(main())
    assert peak == 3  # the cluster's bound is reached, never passed
    assert replicas[0].shared.held() == 0  # every slot was given back
    assert sum(q.stats.served for q in replicas) == 16


def test_waiting_past_the_timeout_for_a_shared_slot_is_503(redis_url: str) -> None:
    a = GenerationQueue("remote", concurrency=2, timeout_s=0.3, shared=_slots(redis_url, limit=1))
    b = GenerationQueue("remote", concurrency=2, timeout_s=0.3, shared=_slots(redis_url, limit=1))

    async def main() -> None:
        held = await a.acquire()
        with pytest.raises(ServerBusyError) as info:
            await b.acquire()
        assert info.value.http_status == 503
        assert "generation slots every replica shares" in str(info.value)
        assert b.stats.active == 0  # its local slot was given back
        held.release()
        (await b.acquire()).release()  # free again

    asyncio.run(main())


def test_a_killed_holders_lease_expires(redis_url: str) -> None:
    slots = _slots(redis_url, limit=1, lease_s=0.5)
    # A replica that took the slot and was killed: it never renews nor releases.
    assert slots.try_acquire("killed-replica-lease")
    assert not slots.try_acquire("other")
    time.sleep(0.7)
    assert slots.try_acquire("other")  # the dead lease expired by itself
    slots.release("other")


def test_a_live_lease_is_renewed_while_generating(redis_url: str) -> None:
    a = GenerationQueue(
        "remote", concurrency=1, timeout_s=0.2, shared=_slots(redis_url, limit=1, lease_s=0.6)
    )
    b = GenerationQueue(
        "remote", concurrency=1, timeout_s=0.2, shared=_slots(redis_url, limit=1, lease_s=0.6)
    )

    async def main() -> None:
        held = await a.acquire()
        await asyncio.sleep(1.2)  # twice the lease: only renewal keeps it
        with pytest.raises(ServerBusyError):
            await b.acquire()
        held.release()
        (await b.acquire()).release()

    asyncio.run(main())


def test_redis_down_is_a_clear_503() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailableError, match="generation slots"):
        _slots(url, limit=2)
    # Redis that goes away after start: the acquire fails closed with the same error.
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    slots = RedisSlots(client, name="remote", limit=2, lease_s=5, url=url)
    queue = GenerationQueue("remote", concurrency=1, timeout_s=1, shared=slots)

    async def main() -> None:
        with pytest.raises(RedisUnavailableError):
            await queue.acquire()
        assert queue.stats.active == 0

    asyncio.run(main())
    assert RedisUnavailableError.http_status == 503


def test_the_server_shares_the_remote_queue_only_when_slots_are_set(
    redis_url: str, tmp_path
) -> None:
    from types import SimpleNamespace

    from ragline.config import load_settings
    from ragline.server.context import ServerContext

    def shared(**redis: object) -> object:
        settings = load_settings(home=tmp_path, redis=redis)
        return ServerContext._shared_slots(SimpleNamespace(settings=settings))  # type: ignore[arg-type]

    assert shared() is None
    assert shared(url=redis_url) is None  # Redis for limits only: queues stay per replica
    slots = shared(url=redis_url, generation_slots=2)
    assert isinstance(slots, RedisSlots) and slots.limit == 2
