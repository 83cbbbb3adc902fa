"""``iterate_in_thread``: the one bridge from a blocking iterator to an async iterator, used by
the providers' ``astream`` and (as ``stream_in_thread``) by the server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from ragline.models.chat import StreamDone, TokenDelta, iterate_in_thread
from ragline.testing.chat_conformance import FakeChatModel


class Source:
    """A blocking generator that records what happened to it."""

    def __init__(self, n: int = 1000, delay_s: float = 0.0) -> None:
        self.n, self.delay_s = n, delay_s
        self.produced = 0
        self.closed = False
        self.cancel: threading.Event | None = None
        self.thread: str | None = None

    def __call__(self, cancel: threading.Event) -> Iterator[int]:
        self.cancel = cancel
        self.thread = threading.current_thread().name
        try:
            for i in range(self.n):
                self.produced += 1
                yield i
                if self.delay_s:
                    time.sleep(self.delay_s)
        finally:
            self.closed = True


def test_items_in_order_in_a_worker_thread() -> None:
    source = Source(50)
    stops: list[bool] = []

    async def main() -> list[int]:
        bridge = iterate_in_thread(source, on_stop=stops.append, thread_name="bridge-test")
        return [x async for x in bridge]

    assert asyncio.run(main()) == list(range(50))
    assert source.thread == "bridge-test" and source.closed and stops == [False]


def test_aclose_closes_the_generator_sets_cancel_and_waits_for_the_worker() -> None:
    source = Source(delay_s=0.005)
    stops: list[bool] = []

    async def main() -> None:
        agen = iterate_in_thread(source, on_stop=stops.append)
        assert [await agen.__anext__() for _ in range(3)] == [0, 1, 2]
        await agen.aclose()
        # aclose returned: the worker has already closed the source and reported
        assert source.closed and stops == [True]

    asyncio.run(main())
    assert source.cancel is not None and source.cancel.is_set()
    assert source.produced < 50


def test_a_cancelled_consumer_still_waits_for_the_worker() -> None:
    source = Source(delay_s=0.01)
    stops: list[bool] = []

    async def main() -> None:
        with anyio.move_on_after(0.1):
            async for _ in iterate_in_thread(source, on_stop=stops.append):
                pass
        assert source.closed and stops == [True]  # stopped before the scope let go

    asyncio.run(main())
    assert source.produced < 100


def test_exceptions_are_raised_in_the_consumer() -> None:
    def failing(cancel: threading.Event) -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    def no_factory(cancel: threading.Event) -> Iterator[int]:
        raise KeyError("no source")

    def bad_on_stop(cancelled: bool) -> None:
        raise RuntimeError("on_stop failed")

    async def main() -> list[int]:
        out: list[int] = []
        with pytest.raises(ValueError, match="boom"):
            async for x in iterate_in_thread(failing):
                out.append(x)
        with pytest.raises(KeyError, match="no source"):
            async for _ in iterate_in_thread(no_factory):
                pass
        with pytest.raises(RuntimeError, match="on_stop failed"):
            async for _ in iterate_in_thread(Source(3), on_stop=bad_on_stop):
                pass
        return out

    assert asyncio.run(main()) == [1]


def test_backpressure_bounds_the_items_produced_ahead() -> None:
    source = Source(10_000)

    async def main() -> None:
        agen = iterate_in_thread(source, max_pending=8)
        assert await agen.__anext__() == 0
        await asyncio.sleep(0.2)  # a slow consumer: the worker must wait, not run ahead
        assert source.produced <= 8 + 2
        await agen.aclose()

    asyncio.run(main())
    assert source.closed and source.produced <= 8 + 3


def test_the_fake_models_astream_stops_when_abandoned() -> None:
    model = FakeChatModel([" ".join(["word"] * 500)], token_delay_s=0.002)

    async def main() -> list[object]:
        seen: list[object] = []
        stream = model.astream("go", max_tokens=500)
        async for event in stream:
            seen.append(event)
            if len(seen) == 3:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return seen

    seen = asyncio.run(main())
    assert all(isinstance(e, TokenDelta) for e in seen)
    assert not any(isinstance(e, StreamDone) for e in seen)
