"""One clock: trio's, mapped once to epoch milliseconds.

Under ``trio.testing.MockClock`` the broker's epoch time moves with the mock,
so days of retention or retries pass in no real time.
"""

from __future__ import annotations

import time

import trio

__all__ = ["BrokerClock"]


class BrokerClock:
    """Maps trio time to epoch ms and back; never runs backwards."""

    def __init__(self, epoch_ms: int | None = None) -> None:
        self._clock = trio.lowlevel.current_clock()  # the run's clock, MockClock included
        self._trio_zero = self._clock.current_time()
        self._epoch_zero = int(time.time() * 1000) if epoch_ms is None else int(epoch_ms)
        self._floor = self._epoch_zero

    def now_ms(self) -> int:
        # int() floors here: elapsed time is never negative.
        now = self._epoch_zero + int((self._clock.current_time() - self._trio_zero) * 1000.0 + 1e-6)
        if now > self._floor:
            self._floor = now
            return now
        return self._floor

    def reached(self, epoch_ms: int) -> None:
        """Note that trio woke us for ``epoch_ms``: from here on now_ms() is at least
        that, whatever float rounding says."""
        if epoch_ms > self._floor:
            self._floor = epoch_ms

    def resume_from(self, epoch_ms: int) -> None:
        """Never run behind ``epoch_ms`` (the last time a journal recorded): after a
        restart time goes on from there, whatever this clock was started at."""
        behind = epoch_ms - self.now_ms()
        if behind > 0:
            self._epoch_zero += behind
            self._floor = max(self._floor, epoch_ms)

    def trio_time(self, epoch_ms: int) -> float:
        return self._trio_zero + (epoch_ms - self._epoch_zero) / 1000.0
