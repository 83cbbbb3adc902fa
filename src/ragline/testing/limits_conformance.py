"""The conformance suite of the :class:`ragline.store.limits_base.LimitStore` Protocol.

A backend's tests inherit :class:`LimitStoreConformance` and supply ``limits``: a fresh, empty
store whose windows read the suite's ``clock`` (a :class:`FakeClock`, advanced by the tests)::

    class TestMyLimits(LimitStoreConformance):
        @pytest.fixture
        def limits(self, tmp_path, clock):
            store = MyLimitStore(tmp_path / "l.db", clock=clock)
            yield store
            store.close()

A backend that persists totals also supplies ``reopen`` (the same storage opened again) for
:meth:`LimitStoreConformance.test_totals_persist`; one that keeps nothing across a restart
(the in-process store) sets ``test_totals_persist = None`` in its class.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragline.store.limits_base import Grant, LimitStore


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LimitStoreConformance:
    """Every limit store behaves like this."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    def test_is_a_limit_store(self, limits: LimitStore) -> None:
        assert isinstance(limits, LimitStore)

    @pytest.mark.parametrize("window", [60.0, None], ids=["window", "total"])
    def test_counts_up_to_the_limit_and_a_refusal_counts_nothing(
        self, limits: LimitStore, window: float | None
    ) -> None:
        got = [limits.consume("k1", "requests", 1, limit=3, window_s=window) for _ in range(5)]
        assert [g.allowed for g in got] == [True, True, True, False, False]
        assert got[2].used == 3 and got[4].used == 3
        assert limits.used("k1", "requests", window_s=window) == 3

    @pytest.mark.parametrize("window", [60.0, None], ids=["window", "total"])
    def test_two_concurrent_callers_never_both_take_the_last_unit(
        self, limits: LimitStore, window: float | None
    ) -> None:
        barrier = threading.Barrier(16)

        def one(_: int) -> list[bool]:
            barrier.wait()
            return [
                limits.consume("k1", "tokens", 3, limit=100, window_s=window).allowed
                for _ in range(5)
            ]

        with ThreadPoolExecutor(16) as pool:
            allowed = sum(sum(r) for r in pool.map(one, range(16)))
        assert allowed == 33  # 33 * 3 = 99 <= 100 < 34 * 3
        assert limits.used("k1", "tokens", window_s=window) == 99

    def test_keys_and_kinds_are_counted_apart(self, limits: LimitStore) -> None:
        assert limits.consume("a", "requests", 1, limit=1, window_s=60).allowed
        assert limits.consume("b", "requests", 1, limit=1, window_s=60).allowed
        assert limits.consume("a", "tokens", 1, limit=1, window_s=60).allowed
        assert not limits.consume("a", "requests", 1, limit=1, window_s=60).allowed

    def test_a_window_slides(self, limits: LimitStore, clock: FakeClock) -> None:
        assert limits.consume("k", "requests", 1, limit=2, window_s=60).allowed
        clock.advance(20)
        assert limits.consume("k", "requests", 1, limit=2, window_s=60).allowed
        refused = limits.consume("k", "requests", 1, limit=2, window_s=60)
        assert not refused.allowed
        assert refused.retry_after_s is not None and 39 <= refused.retry_after_s <= 40
        clock.advance(41)  # the first request has left the window, the second has not
        assert limits.consume("k", "requests", 1, limit=2, window_s=60).allowed
        assert not limits.consume("k", "requests", 1, limit=2, window_s=60).allowed

    def test_a_total_never_resets_and_says_so(self, limits: LimitStore, clock: FakeClock) -> None:
        assert limits.consume("k", "spend_usd", 0.006, limit=0.01, window_s=None).allowed
        clock.advance(10_000)
        refused = limits.consume("k", "spend_usd", 0.006, limit=0.01, window_s=None)
        assert not refused.allowed and refused.retry_after_s is None
        assert limits.consume("k", "spend_usd", 0.004, limit=0.01, window_s=None).allowed

    def test_more_than_the_limit_at_once_is_never_allowed(self, limits: LimitStore) -> None:
        refused = limits.consume("k", "tokens", 11, limit=10, window_s=60)
        assert not refused.allowed and refused.retry_after_s is None
        assert limits.used("k", "tokens", window_s=60) == 0

    @pytest.mark.parametrize("window", [60.0, None], ids=["window", "total"])
    def test_settle_replaces_the_estimate(self, limits: LimitStore, window: float | None) -> None:
        grant = limits.consume("k", "tokens", 50, limit=100, window_s=window)
        assert grant.allowed
        limits.settle(grant, 20)
        assert limits.used("k", "tokens", window_s=window) == pytest.approx(20)
        other = limits.consume("k", "tokens", 70, limit=100, window_s=window)
        assert other.allowed
        limits.settle(other, 130)  # the work was done: usage may pass the limit
        assert limits.used("k", "tokens", window_s=window) == pytest.approx(150)
        assert not limits.consume("k", "tokens", 1, limit=100, window_s=window).allowed
        refused: Grant = limits.consume("k", "tokens", 1, limit=100, window_s=window)
        limits.settle(refused, 1000)  # a refusal counted nothing: settling it changes nothing
        assert limits.used("k", "tokens", window_s=window) == pytest.approx(150)

    def test_totals_persist(
        self, limits: LimitStore, reopen: Callable[[], LimitStore], clock: FakeClock
    ) -> None:
        assert limits.consume("k", "spend_usd", 0.5, limit=1, window_s=None).allowed
        limits.close()
        again = reopen()
        try:
            assert again.used("k", "spend_usd", window_s=None) == pytest.approx(0.5)
            assert not again.consume("k", "spend_usd", 0.6, limit=1, window_s=None).allowed
        finally:
            again.close()


__all__ = ["FakeClock", "LimitStoreConformance"]
