"""Invalidation messages: "collection X changed", told to every process that caches it.

A process that changes a collection (ingest, update, delete: :class:`~ragline.api.Ragline`
does it) publishes an :class:`InvalidationMessage`; every process that keeps something of a
collection in memory (the retriever's loaded index, the answer caches) subscribes and drops
it. One process needs nothing more than :class:`LocalInvalidation` (the subscribers are
called in the publisher's thread). Several server replicas share one Redis channel
(:class:`~ragline.store.redis_invalidation.RedisInvalidation`, picked by ``redis.url``
through :func:`ragline.store.factory.open_invalidation`), so a bump on one replica reaches
the others within milliseconds.

Subscribing, for a cache of any layer above ``store``::

    unsubscribe = invalidation.subscribe(lambda m: cache.drop(m.collection))
    # m.collection == ALL: anything may have changed (messages may have been missed while
    # Redis was unreachable): drop everything.

Delivery is at most once and best effort: a message published while Redis is down is lost,
so a subscriber is sent one :data:`ALL` message when its connection comes back. A cache
that must never serve stale data still compares the collection's version (the store's
``collection_version``) as the retriever does; the messages make the drop prompt.
:mod:`ragline.testing.invalidation_conformance` holds the tests every implementation passes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

log = logging.getLogger("ragline.store.invalidation")

#: The collection name of a message that means "anything may have changed".
ALL = "*"


@dataclass(frozen=True, slots=True)
class InvalidationMessage:
    """``collection`` changed (``ALL``: any may have). ``version`` is its version after the
    change (None: deleted, or unknown); ``reason`` says what happened (``ingest``,
    ``delete``, ``reconnect``…); ``origin`` is the publishing process's id."""

    collection: str
    version: int | None = None
    reason: str = "changed"
    origin: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> InvalidationMessage:
        raw = json.loads(data)
        version = raw.get("version")
        return cls(
            collection=str(raw["collection"]),
            version=int(version) if version is not None else None,
            reason=str(raw.get("reason", "changed")),
            origin=str(raw.get("origin", "")),
        )


Subscriber = Callable[[InvalidationMessage], None]


@runtime_checkable
class Invalidation(Protocol):
    """Publish collection changes; be told of everyone's (this process's included)."""

    #: This process's id, stamped on what it publishes.
    origin: str

    def publish(self, collection: str, *, version: int | None, reason: str) -> None:
        """Tell every subscriber, here and in other processes, that ``collection`` changed.
        Never raises for an unreachable bus (the change itself is already stored)."""
        ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` for each message from now on; returns the unsubscribe function.
        A callback that raises is logged and does not stop the others."""
        ...

    def close(self) -> None: ...


def new_origin() -> str:
    """An id for this process (pid plus a random part: a restarted pid differs)."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Subscribers:
    """The subscriber list every implementation keeps: thread-safe, errors contained."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: dict[int, Subscriber] = {}
        self._next = 0

    def add(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            token = self._next
            self._next += 1
            self._callbacks[token] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks.pop(token, None)

        return unsubscribe

    def __len__(self) -> int:
        return len(self._callbacks)

    def deliver(self, message: InvalidationMessage) -> None:
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback(message)
            except Exception:
                log.exception("an invalidation subscriber failed on %s", message)


class LocalInvalidation:
    """:class:`Invalidation` within one process: subscribers are called at once."""

    def __init__(self) -> None:
        self.origin = new_origin()
        self._subscribers = Subscribers()

    def publish(self, collection: str, *, version: int | None, reason: str) -> None:
        self._subscribers.deliver(InvalidationMessage(collection, version, reason, self.origin))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def close(self) -> None:
        pass


__all__ = [
    "ALL",
    "Invalidation",
    "InvalidationMessage",
    "LocalInvalidation",
    "Subscriber",
    "Subscribers",
    "new_origin",
]
