"""The bounded generation queue and the thread bridge that stops a generator on cancel."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from ragline.server.problems import ServerBusyError
from ragline.server.queue import GenerationQueue
from ragline.server.streaming import stream_in_thread


def run(coro):
    return asyncio.run(coro)


def test_one_at_a_time_in_order() -> None:
    async def main() -> list[int]:
        q = GenerationQueue("m", concurrency=1, max_waiting=5, timeout_s=5)
        order: list[int] = []

        async def job(i: int) -> None:
            lease = await q.acquire()
            try:
                assert q.stats.active == 1
                order.append(i)
                await asyncio.sleep(0.01)
            finally:
                lease.release()

        await asyncio.gather(*(job(i) for i in range(5)))
        assert q.stats.active == 0 and q.stats.waiting == 0 and q.stats.served == 5
        return order

    assert run(main()) == [0, 1, 2, 3, 4]


def test_full_queue_refuses_at_once_with_retry_after() -> None:
    async def main() -> None:
        q = GenerationQueue("m", concurrency=1, max_waiting=1, timeout_s=5)
        held = await q.acquire()
        waiter = asyncio.create_task(q.acquire())
        await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        with pytest.raises(ServerBusyError) as info:
            await q.acquire()
        assert time.perf_counter() - t0 < 2.5  # not the 5 s timeout: refused without waiting
        assert info.value.http_status == 429 and info.value.retry_after_s >= 1
        held.release()
        (await waiter).release()
        assert q.stats.rejected_full == 1 and q.stats.active == 0

    run(main())


def test_waiting_too_long_is_503_and_the_slot_survives() -> None:
    async def main() -> None:
        q = GenerationQueue("m", concurrency=1, max_waiting=3, timeout_s=0.05)
        held = await q.acquire()
        with pytest.raises(ServerBusyError) as info:
            await q.acquire()
        assert info.value.http_status == 503 and q.stats.waiting == 0
        held.release()
        held.release()  # idempotent
        again = await q.acquire()
        assert q.stats.active == 1
        again.release()
        assert q.stats.active == 0

    run(main())


def test_a_cancelled_waiter_does_not_leak_the_slot() -> None:
    async def main() -> None:
        q = GenerationQueue("m", concurrency=1, max_waiting=3, timeout_s=5)
        held = await q.acquire()
        gone = asyncio.create_task(q.acquire())
        after = asyncio.create_task(q.acquire())
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)
        held.release()
        lease = await asyncio.wait_for(after, 1)
        assert q.stats.active == 1
        lease.release()
        assert q.stats.active == 0 and q.stats.waiting == 0

    run(main())


def test_retry_after_grows_with_the_queue() -> None:
    q = GenerationQueue("m", concurrency=1, max_waiting=10)
    q._durations.extend([4.0] * 32)
    q.stats.active, q.stats.waiting = 1, 3
    assert q.retry_after_s() == pytest.approx(16.0)


def test_stream_in_thread_closes_the_generator_when_abandoned() -> None:
    state = {"produced": 0, "closed": False, "cancelled": None}
    release = threading.Event()

    def slow() -> Iterator[int]:
        try:
            for i in range(1000):
                state["produced"] += 1
                yield i
                time.sleep(0.005)
        finally:
            state["closed"] = True
            release.set()

    def on_stop(cancelled: bool) -> None:
        state["cancelled"] = cancelled

    async def main() -> None:
        agen = stream_in_thread(slow, on_stop=on_stop)
        got = [await agen.__anext__() for _ in range(3)]
        assert got == [0, 1, 2]
        await agen.aclose()  # waits until the worker stopped

    run(main())
    assert state["closed"] and state["cancelled"] is True
    assert state["produced"] < 50


def test_stream_in_thread_passes_errors_and_finishes_normally() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    async def main() -> list[int]:
        out = []
        with pytest.raises(ValueError, match="boom"):
            async for x in stream_in_thread(failing):
                out.append(x)
        return out

    assert run(main()) == [1]

    async def whole() -> list[int]:
        return [x async for x in stream_in_thread(lambda: iter(range(5)))]

    assert run(whole()) == [0, 1, 2, 3, 4]
