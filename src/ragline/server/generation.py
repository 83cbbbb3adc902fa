"""Admitting and running one generation: queue slot → worker thread → events → release.

:func:`admit` takes a slot from the model's :class:`~ragline.server.queue.GenerationQueue`
(429/503 when it cannot, before any response starts). :meth:`Generation.events` runs a
blocking event generator in a worker thread (:func:`~ragline.server.streaming.stream_in_thread`)
and :meth:`Generation.close` gives the slot back once the worker has stopped. Each finished
or cancelled generation leaves a :class:`GenerationRecord` in ``ServerContext.history``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ragline.server.context import ServerContext
from ragline.server.policy import Metered
from ragline.server.queue import Lease
from ragline.server.streaming import stream_in_thread

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """How one generation ended: ``items`` events produced, ``cancelled`` by a disconnect."""

    model: str
    items: int
    cancelled: bool
    seconds: float


class Generation:
    """One admitted generation. Always :meth:`close` it (idempotent)."""

    def __init__(
        self, ctx: ServerContext, lease: Lease, model: str, metered: Metered | None = None
    ) -> None:
        self.ctx = ctx
        self.lease = lease
        self.model = model
        self.metered = metered
        self.items = 0
        self._t0 = time.perf_counter()

    def events(self, factory: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """The items of ``factory()`` (run in a worker thread; stopped when abandoned)."""
        produced = 0
        if self.metered is not None:  # the key's tokens and spend settle at the last event
            factory = self.metered.wrap(factory)

        def counted() -> Iterator[T]:
            nonlocal produced
            items = factory()
            try:
                for item in items:
                    produced += 1
                    yield item
            finally:  # closing the source stops the model now, not at garbage collection
                close = getattr(items, "close", None)
                if callable(close):
                    close()

        def on_stop(cancelled: bool) -> None:
            self.items = produced
            if cancelled:
                self.lease.cancelled()
            self.ctx.history.append(
                GenerationRecord(self.model, produced, cancelled, time.perf_counter() - self._t0)
            )

        return stream_in_thread(counted, on_stop=on_stop)

    def close(self) -> None:
        self.lease.release()


async def admit(
    ctx: ServerContext, model: str | None, metered: Metered | None = None
) -> Generation:
    """A slot for ``model`` (None: the default), or :class:`ServerBusyError` (which gives
    back what ``metered`` reserved of the key's limits)."""
    name = model or ctx.default_model
    try:
        lease = await ctx.queue_for(name).acquire()
    except BaseException:
        if metered is not None:
            metered.cancel()
        raise
    return Generation(ctx, lease, name, metered)


__all__ = ["Generation", "GenerationRecord", "admit"]
