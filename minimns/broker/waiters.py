"""Long polls parked on a queue, woken first in, first out, with no task of their own.

A parked receive is a ``Waiter``: a flag and the callable that wakes its
owner (the ``cancel`` of the cancel scope it waits in). Waking one is a
flag and a cancel, so a poll can wait on anything inside that scope: in
process it sleeps; over HTTP it waits for its socket to turn readable,
which is how a hang-up is seen without a second task watching the socket.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["Waiter", "Waiters"]


class Waiter:
    __slots__ = ("wake", "woken")

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.woken = False


class Waiters:
    """The parked polls of one queue, in arrival order."""

    __slots__ = ("_parked",)

    def __init__(self) -> None:
        self._parked: dict[Waiter, None] = {}  # insertion ordered: FIFO

    def __len__(self) -> int:
        return len(self._parked)

    def add(self, waiter: Waiter) -> None:
        self._parked[waiter] = None

    def discard(self, waiter: Waiter) -> None:
        self._parked.pop(waiter, None)

    def wake(self, count: int) -> None:
        """Wake the ``count`` longest parked (fewer if fewer are parked)."""
        parked = self._parked
        while count > 0 and parked:
            waiter = next(iter(parked))
            del parked[waiter]
            waiter.woken = True
            waiter.wake()
            count -= 1

    def wake_all(self) -> None:
        self.wake(len(self._parked))
