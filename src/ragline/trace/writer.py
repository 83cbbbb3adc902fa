"""A background writer: a bounded queue drained by one daemon thread, in batches.

:meth:`BackgroundWriter.submit` never blocks: when the queue is full the item is dropped and
counted. The thread starts on the first submission (an unused writer costs nothing), hands
batches to a handler, and runs a periodic task (retention) between batches. Handler errors
are counted and logged once, never raised into the code that submitted.
"""

from __future__ import annotations

import atexit
import functools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since the writer was created."""

    submitted: int
    written: int
    dropped: int
    errors: int
    queued: int


class BackgroundWriter:
    """Bounded queue + one thread calling ``handle(batch)``."""

    def __init__(
        self,
        handle: Callable[[list[Any]], None],
        *,
        maxsize: int = 2048,
        batch_size: int = 128,
        interval_s: float = 0.5,
        periodic: Callable[[], None] | None = None,
        periodic_s: float = 3600.0,
        name: str = "ragline-trace-writer",
    ) -> None:
        self._handle = handle
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._periodic = periodic
        self._periodic_s = periodic_s
        self._name = name
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._done = threading.Condition()
        self._stop = threading.Event()
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.errors = 0
        self._logged_error = False
        self._count_lock = threading.Lock()
        self._atexit: Callable[[], None] | None = None

    # producer side -----------------------------------------------------------------------
    def submit(self, item: Any) -> bool:
        """Queue ``item`` for the thread; False (and counted as dropped) if the queue is full."""
        if self._thread is None:
            self._start()
        elif self._stop.is_set():  # closed: nothing would ever write it
            with self._count_lock:
                self.dropped += 1
            return False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._count_lock:
                self.dropped += 1
            return False
        with self._count_lock:
            self.submitted += 1
        return True

    def stats(self) -> WriterStats:
        return WriterStats(
            self.submitted, self.written, self.dropped, self.errors, self._queue.qsize()
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far was handled; False on timeout."""
        target = self.submitted
        deadline = time.monotonic() + timeout
        with self._done:
            while self.written + self.errors < target and self._alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return self.written + self.errors >= target

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout)
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None

    # consumer side -----------------------------------------------------------------------
    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            self._atexit = functools.partial(_flush_at_exit, weakref.ref(self))
            atexit.register(self._atexit)

    def _run_periodic(self) -> None:
        if self._periodic is None:
            return
        try:
            self._periodic()
        except Exception:
            log.warning("trace writer: periodic task failed", exc_info=True)

    def _run(self) -> None:
        next_periodic = time.monotonic()
        while not (self._stop.is_set() and self._queue.empty()):
            if time.monotonic() >= next_periodic:
                self._run_periodic()
                next_periodic = time.monotonic() + self._periodic_s
            try:
                first = self._queue.get(timeout=self._interval_s)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ok = True
            try:
                self._handle(batch)
            except Exception:
                ok = False
                if not self._logged_error:
                    self._logged_error = True
                    log.warning("trace writer: a batch could not be written", exc_info=True)
            with self._done:
                if ok:
                    self.written += len(batch)
                else:
                    self.errors += len(batch)
                self._done.notify_all()


def _flush_at_exit(ref: weakref.ref[BackgroundWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer.close(timeout=2.0)


__all__ = ["BackgroundWriter", "WriterStats"]
