"""A background writer: a bounded queue drained by one daemon thread, in batches.

:meth:`BackgroundWriter.submit` never blocks and never wakes the thread: it appends to a
bounded deque (a full one drops the item and counts it). The thread wakes every
``interval_s`` (or at :meth:`flush`), hands what accumulated to the handler in batches, and
runs a periodic task (retention) between batches. Waking on a timer rather than per item
keeps the thread off the CPU while requests run; the handler should release the GIL often
(``time.sleep(0)`` between items) so a request thread never waits for it. Handler errors
are counted and logged once, never raised into the code that submitted. The thread starts
on the first submission, so an unused writer costs nothing.

The tracer's handler (``Tracer._write``) is the single place where a trace becomes a record:
it redacts every span, error and feedback signal with the one
:class:`~ragline.trace.redact.Redactor` (``records.build_record``) before any sink — the
store, OTLP, Prometheus — is handed the batch, so no sink ever sees an unredacted record.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import time
import weakref
from collections import deque
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
    #: CPU seconds the writer thread spent handling batches (work kept off requests).
    busy_s: float = 0.0


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
        self._queue: deque[Any] = deque()
        self._maxsize = maxsize
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._periodic = periodic
        self._periodic_s = periodic_s
        self._name = name
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False  # a plain flag: submit() reads it on the request path
        self._busy = False
        self.submitted = 0
        self.written = 0
        self.dropped = 0
        self.errors = 0
        self.busy_s = 0.0
        self._logged_error = False
        self._atexit: Callable[[], None] | None = None

    # producer side -----------------------------------------------------------------------
    def submit(self, item: Any) -> bool:
        """Queue ``item``; False (and counted as dropped) if the queue is full or closed."""
        if self._thread is None:
            self._start()
        if self._closed or len(self._queue) >= self._maxsize:
            self.dropped += 1
            return False
        self._queue.append(item)
        self.submitted += 1
        return True

    def stats(self) -> WriterStats:
        return WriterStats(
            self.submitted, self.written, self.dropped, self.errors, len(self._queue), self.busy_s
        )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far was handled; False on timeout."""
        deadline = time.monotonic() + timeout
        while (self._queue or self._busy) and self._alive():
            self._wake.set()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return not self._queue

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._closed = True
        self._stop.set()
        self._wake.set()
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

    def _drain(self) -> None:
        while True:
            self._busy = True  # before popping: flush() must never see "empty and idle" early
            batch = []
            while self._queue and len(batch) < self._batch_size:
                batch.append(self._queue.popleft())
            if not batch:
                self._busy = False
                return
            started = time.thread_time()
            try:
                self._handle(batch)
            except Exception:
                self.errors += len(batch)
                if not self._logged_error:
                    self._logged_error = True
                    log.warning("trace writer: a batch could not be written", exc_info=True)
            else:
                self.written += len(batch)
            finally:
                self.busy_s += time.thread_time() - started
                self._busy = False

    def _run(self) -> None:
        next_periodic = time.monotonic()
        while True:
            if time.monotonic() >= next_periodic:
                self._run_periodic()
                next_periodic = time.monotonic() + self._periodic_s
            self._drain()
            if self._stop.is_set():
                self._drain()
                return
            self._wake.wait(self._interval_s)
            self._wake.clear()


def _flush_at_exit(ref: weakref.ref[BackgroundWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer.close(timeout=2.0)


__all__ = ["BackgroundWriter", "WriterStats"]
