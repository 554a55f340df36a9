"""The broker's one timer: a heap of (due, key), one trio task sleeping until the head.

Nothing polls. A key (a queue, later a subscription) is scheduled at the
epoch ms when time alone will change it; the task sleeps in a cancel scope
whose deadline is the earliest due, and a schedule that comes earlier just
moves that deadline.
"""

from __future__ import annotations

import math
from heapq import heapify, heappop, heappush
from itertools import count
from typing import Callable, Hashable

import trio

from .clock import BrokerClock

__all__ = ["DueTimer"]


class DueTimer:
    def __init__(self, clock: BrokerClock, fire: Callable[[Hashable], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[int, int, Hashable]] = []
        self._due: dict[Hashable, int] = {}  # key -> due of its live entry
        self._order = count()
        self._scope: trio.CancelScope | None = None
        self._target: int | None = None  # the due the sleeping task wakes for

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, key: Hashable, due: int | None) -> None:
        """Make sure ``key`` fires no later than ``due``.

        A later due than the one held is left alone: the earlier entry fires,
        the owner finds nothing due yet and schedules again. That keeps the
        heap to one push per genuinely earlier deadline.
        """
        if due is None:
            return
        held = self._due.get(key)
        if held is not None and held <= due:
            return
        self._due[key] = due
        heap = self._heap
        if len(heap) > 64 and len(heap) > 2 * len(self._due):
            heap[:] = [(d, next(self._order), k) for k, d in self._due.items() if k != key]
            heapify(heap)
        heappush(heap, (due, next(self._order), key))
        if self._scope is not None and (self._target is None or due < self._target):
            self._target = due
            self._scope.deadline = self._clock.trio_time(due)

    def cancel(self, key: Hashable) -> None:
        """Forget ``key``; its heap entry is skipped when it comes up."""
        self._due.pop(key, None)

    async def run(self) -> None:
        """Fire due keys forever; run it in the broker's nursery."""
        heap = self._heap
        while True:
            while heap and self._due.get(heap[0][2]) != heap[0][0]:
                heappop(heap)  # stale: never sleep for a deadline nobody holds
            self._target = heap[0][0] if heap else None
            deadline = math.inf if self._target is None else self._clock.trio_time(self._target)
            with trio.CancelScope(deadline=deadline) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            if scope.cancelled_caught and self._target is not None:
                self._clock.reached(self._target)  # immune to float rounding
            now = self._clock.now_ms()
            while heap and heap[0][0] <= now:
                due, _, key = heappop(heap)
                if self._due.get(key) != due:
                    continue  # cancelled, or superseded by an earlier schedule
                del self._due[key]
                self._fire(key)
