"""The conformance suite of the :class:`ragline.store.invalidation.Invalidation` Protocol.

A backend's tests inherit :class:`InvalidationConformance` and supply ``bus`` (a fresh, open
instance). One that reaches other processes also supplies ``peer``: a second instance on the
same channel, as another replica would open it (the in-process one sets
``test_a_peer_hears_it_within_a_second = None`` in its class)::

    class TestMyInvalidation(InvalidationConformance):
        @pytest.fixture
        def bus(self):
            with closing(MyInvalidation(...)) as bus:
                yield bus
"""

from __future__ import annotations

import threading
import time

from ragline.store.invalidation import Invalidation, InvalidationMessage


class Inbox:
    """A subscriber that keeps what it is told; :meth:`wait_for` blocks until a match."""

    def __init__(self) -> None:
        self.messages: list[InvalidationMessage] = []
        self._cond = threading.Condition()

    def __call__(self, message: InvalidationMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, collection: str, timeout_s: float = 1.0) -> InvalidationMessage | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for m in self.messages:
                    if m.collection == collection:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def _ready(bus: Invalidation) -> None:
    wait = getattr(bus, "wait_listening", None)
    if callable(wait):
        assert wait(5.0), "the bus never started listening"


class InvalidationConformance:
    """Every invalidation bus behaves like this."""

    def test_is_an_invalidation(self, bus: Invalidation) -> None:
        assert isinstance(bus, Invalidation)
        assert bus.origin

    def test_a_subscriber_in_the_same_process_hears_it_at_once(self, bus: Invalidation) -> None:
        inbox = Inbox()
        bus.subscribe(inbox)
        bus.publish("docs", version=7, reason="ingest")
        got = inbox.messages  # delivered before publish returned
        assert [(m.collection, m.version, m.reason, m.origin) for m in got] == [
            ("docs", 7, "ingest", bus.origin)
        ]

    def test_unsubscribed_hears_nothing_and_a_failing_subscriber_stops_no_one(
        self, bus: Invalidation
    ) -> None:
        gone, kept = Inbox(), Inbox()

        def broken(message: InvalidationMessage) -> None:
            raise RuntimeError("a broken cache")

        bus.subscribe(broken)
        unsubscribe = bus.subscribe(gone)
        bus.subscribe(kept)
        unsubscribe()
        bus.publish("docs", version=None, reason="delete")
        assert gone.messages == []
        assert [m.collection for m in kept.messages] == ["docs"]

    def test_a_peer_hears_it_within_a_second(self, bus: Invalidation, peer: Invalidation) -> None:
        inbox, own = Inbox(), Inbox()
        peer.subscribe(inbox)
        bus.subscribe(own)
        _ready(peer)
        _ready(bus)
        bus.publish("handbook", version=3, reason="ingest")
        got = inbox.wait_for("handbook", timeout_s=1.0)
        assert got is not None, "the peer was not told within a second"
        assert (got.version, got.reason, got.origin) == (3, "ingest", bus.origin)
        time.sleep(0.2)  # a message of our own is not delivered twice (once here, once echoed)
        assert [m.collection for m in own.messages] == ["handbook"]

    def test_a_message_survives_the_wire(self) -> None:
        message = InvalidationMessage("a b/ü", None, "delete", "123-abc")
        assert InvalidationMessage.from_json(message.to_json()) == message


__all__ = ["Inbox", "InvalidationConformance"]
