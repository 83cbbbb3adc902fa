"""Backpressure for generation: a bounded queue in front of each kind of chat model.

The embedded llama.cpp model generates one request at a time (its context is not
re-entrant), so answers wait their turn in a :class:`GenerationQueue` with ``concurrency=1``.
The queue is bounded: when ``max_waiting`` requests already wait, the next one is refused at
once with 429 and a ``Retry-After`` estimated from recent generation times; a request that
waited ``timeout_s`` without getting a slot is answered 503, also with ``Retry-After``.
Nobody hangs.

A slot is a :class:`Lease`: taken before the response starts (so refusals are real HTTP
statuses, not errors inside a 200 stream) and released when the generation has really
stopped — finished, failed or cancelled by a client that went away.

Across replicas (``redis.url`` and ``redis.generation_slots`` set), the remote queue also
takes one of the cluster's slots (:class:`~ragline.store.redis_slots.RedisSlots`) once it has
its own: it polls for one until ``timeout_s`` (then 503), renews it while the generation runs
and gives it back with the local one. A Redis that is down answers 503 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ragline.server.problems import ServerBusyError

#: Seconds between two tries for a shared slot (a Lua script each, well under a millisecond).
SHARED_POLL_S = 0.05


@dataclass(slots=True)
class QueueStats:
    """Counters of one queue since the server started."""

    active: int = 0
    waiting: int = 0
    served: int = 0
    rejected_full: int = 0
    rejected_timeout: int = 0
    cancelled: int = 0


class Lease:
    """One generation slot. ``release()`` is idempotent; ``cancelled()`` counts a disconnect."""

    def __init__(self, queue: GenerationQueue, shared_id: str | None = None) -> None:
        self._queue = queue
        self._started = time.perf_counter()
        self._released = False
        self._shared_id = shared_id
        self._renewer: asyncio.Task[None] | None = None
        if shared_id is not None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        """Keep the shared slot alive while the generation runs (every third of its lease)."""
        slots = self._queue.shared
        assert slots is not None and self._shared_id is not None
        while True:
            await asyncio.sleep(slots.lease_s / 3)
            with contextlib.suppress(Exception):  # Redis down: the lease may lapse, no more
                await asyncio.to_thread(slots.renew, self._shared_id)

    def cancelled(self) -> None:
        self._queue.stats.cancelled += 1

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._renewer is not None:
            self._renewer.cancel()
        if self._shared_id is not None and self._queue.shared is not None:
            self._queue.shared.release(self._shared_id)
        self._queue._release(time.perf_counter() - self._started)


class GenerationQueue:
    """At most ``concurrency`` generations at once and ``max_waiting`` waiting for one."""

    def __init__(
        self,
        name: str,
        *,
        concurrency: int = 1,
        max_waiting: int = 8,
        timeout_s: float = 30.0,
        shared: Any = None,
    ) -> None:
        #: Cluster-wide slots (a ``RedisSlots``) every lease must also hold; None: this process.
        self.shared = shared
        self.name = name
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.timeout_s = timeout_s
        self.stats = QueueStats()
        self._durations: deque[float] = deque([2.0], maxlen=32)
        self._waiters: deque[asyncio.Future[None]] = deque()

    def retry_after_s(self) -> float:
        """When a slot is likely free again: the mean recent generation time per place ahead."""
        mean = sum(self._durations) / len(self._durations)
        ahead = self.stats.waiting + self.stats.active
        return max(1.0, mean * ahead / self.concurrency)

    async def acquire(self) -> Lease:
        """A slot, waiting at most ``timeout_s``; raises :class:`ServerBusyError` otherwise."""
        if self.shared is None:
            return await self._acquire_local()
        deadline = time.monotonic() + self.timeout_s
        lease = await self._acquire_local()
        slots = self.shared
        lease_id = slots.new_lease_id()
        try:
            while not await asyncio.to_thread(slots.try_acquire, lease_id):
                if time.monotonic() >= deadline:
                    self.stats.rejected_timeout += 1
                    raise ServerBusyError(
                        f"waited {self.timeout_s:g} s for one of the {slots.limit} generation "
                        f"slots every replica shares without a turn",
                        status=503,
                        retry_after_s=self.retry_after_s(),
                    )
                await asyncio.sleep(SHARED_POLL_S)
        except BaseException:
            lease._released = True
            self._release(None)
            with contextlib.suppress(Exception):  # a grant racing a cancel: give it back
                slots.release(lease_id)
            raise
        lease._released = True  # the local slot passes to the lease that also holds the shared
        return Lease(self, lease_id)

    async def _acquire_local(self) -> Lease:
        s = self.stats
        if s.active < self.concurrency and not self._waiters:
            s.active += 1
            return Lease(self)
        if s.waiting >= self.max_waiting:
            s.rejected_full += 1
            raise ServerBusyError(
                f"the {self.name} model is busy: {s.active} generating and {s.waiting} "
                f"waiting (at most {self.max_waiting})",
                status=429,
                retry_after_s=self.retry_after_s(),
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        s.waiting += 1
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.timeout_s)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():  # granted as we gave up: pass it on
                self._release(None)
            else:
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            s.rejected_timeout += 1
            raise ServerBusyError(
                f"waited {self.timeout_s:g} s for the {self.name} model without a turn",
                status=503,
                retry_after_s=self.retry_after_s(),
            ) from None
        finally:
            s.waiting -= 1
        return Lease(self)

    def _release(self, duration_s: float | None) -> None:
        """Hand the slot to the next waiter, or free it."""
        if duration_s is not None:
            self._durations.append(duration_s)
            self.stats.served += 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: ``active`` stays the same
                return
        self.stats.active -= 1


__all__ = ["GenerationQueue", "Lease", "QueueStats"]
