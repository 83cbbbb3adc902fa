"""Invalidation messages over a Redis channel, so every replica drops what changed.

:class:`RedisInvalidation` implements :class:`~ragline.store.invalidation.Invalidation`:
:meth:`~RedisInvalidation.publish` calls this process's subscribers at once and ``PUBLISH``es
the message as JSON on ``<redis.key_prefix>invalidate``. The first :meth:`subscribe` starts
one daemon thread that listens on the channel and calls the subscribers with the other
processes' messages (its own are skipped: they were delivered already). When the connection
drops, the thread reconnects with a growing pause (up to 2 s) and then delivers one
:data:`~ragline.store.invalidation.ALL` message, since what was published meanwhile is lost.
A publish that cannot reach Redis is logged, not raised: the change is already stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ragline.store.invalidation import (
    ALL,
    InvalidationMessage,
    Subscriber,
    Subscribers,
    new_origin,
)
from ragline.store.redis_client import connect, display_url, is_connection_error

if TYPE_CHECKING:
    from ragline.config import RedisSettings

log = logging.getLogger("ragline.store.redis")

#: The longest pause between two reconnection attempts of the listening thread.
MAX_PAUSE_S = 2.0


class RedisInvalidation:
    """:class:`~ragline.store.invalidation.Invalidation` on one Redis pub/sub channel."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "ragline:",
        url: str = "redis",
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.channel = f"{prefix}invalidate"
        self.url = url
        self.origin = new_origin()
        self._owns = owns_client
        self._subscribers = Subscribers()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, cfg: RedisSettings) -> RedisInvalidation:
        """On ``cfg.url``; connects on first use (publishing or listening)."""
        return cls(connect(cfg), prefix=cfg.key_prefix, url=str(cfg.url), owns_client=True)

    def publish(self, collection: str, *, version: int | None, reason: str) -> None:
        message = InvalidationMessage(collection, version, reason, self.origin)
        self._subscribers.deliver(message)
        try:
            self.client.publish(self.channel, message.to_json())
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            log.warning(
                "could not publish that collection %r changed to Redis at %s (%s): other "
                "replicas notice it at their next version check",
                collection,
                display_url(self.url),
                exc,
            )

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        unsubscribe = self._subscribers.add(callback)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="ragline-invalidation", daemon=True
                )
                self._thread.start()
        return unsubscribe

    def wait_listening(self, timeout_s: float = 5.0) -> bool:
        """Whether the listening thread is subscribed (tests wait for it before publishing)."""
        return self._listening.wait(timeout_s)

    def _listen(self) -> None:
        pause = 0.05
        lost = False
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._listening.set()
                if lost:  # what was published while we were away is gone: drop everything
                    lost = False
                    log.info("invalidation channel on %s is back", display_url(self.url))
                    self._subscribers.deliver(
                        InvalidationMessage(ALL, None, "reconnect", self.origin)
                    )
                pause = 0.05
                while not self._stop.is_set():
                    raw = pubsub.get_message(timeout=0.5)
                    if raw is not None and raw.get("type") == "message":
                        self._handle(raw.get("data"))
            except Exception as exc:
                self._listening.clear()
                if not is_connection_error(exc):
                    log.exception("the invalidation listener failed; it starts again")
                elif not lost:
                    log.warning(
                        "lost the invalidation channel on %s (%s); reconnecting",
                        display_url(self.url),
                        exc,
                    )
                lost = True
                self._stop.wait(pause)
                pause = min(MAX_PAUSE_S, pause * 2)
            finally:
                with contextlib.suppress(Exception):  # closing a broken connection may fail
                    pubsub.close()

    def _handle(self, data: Any) -> None:
        try:
            message = InvalidationMessage.from_json(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed invalidation message: %r", data)
            return
        if message.origin != self.origin:
            self._subscribers.deliver(message)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        if self._owns:
            self.client.close()


__all__ = ["MAX_PAUSE_S", "RedisInvalidation"]
