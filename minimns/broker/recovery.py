"""Durable mode's two ends inside the broker: the state exported for a snapshot, and
recovery, a snapshot loaded and the journal's changes replayed through the appliers."""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from ..core.queue import QueueState
from ..core.topic import TopicState
from ..errors import MNSError
from .changes import decode

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Recovery"]

log = logging.getLogger("minimns.broker")


class Recovery:
    """Export and recovery (mixed into ``Broker``)."""

    def export(self: "Broker") -> dict:
        """The whole state as plain values: what a snapshot holds."""
        with _no_gc():
            return self._export()

    def _export(self: "Broker") -> dict:
        account = self.account
        return {
            "now": self.now(),
            "meta": {"push_seed": self._pushes.seed, "logging_bucket": self.logging_bucket,
                     "settings": self.settings},
            "queues": [queue.export() for queue in account.queues.values()],
            "topics": [topic.export() for topic in account.topics.values()],
            "sms": self._sms.export(),
        }

    def recover(self: "Broker", recovered: Any) -> None:
        """Load a data directory's snapshot and replay its journal, then resume:
        the clock never runs behind the last change, timers and pushes go on."""
        with _no_gc():  # millions of new objects, none of them garbage
            self._load(recovered)

    def _load(self: "Broker", recovered: Any) -> None:
        last = 0
        snapshot = recovered.snapshot
        if snapshot is not None:
            last = snapshot["now"]
            self._pushes.seed = snapshot["meta"]["push_seed"]
            self.logging_bucket = snapshot["meta"].get("logging_bucket", "")
            self.settings.update(snapshot["meta"].get("settings", {}))
            for data in snapshot["queues"]:
                state = QueueState.restore(data)
                self.account.queues[state.name] = state
                self._lots[state.name] = self._new_lot()
            for data in snapshot["topics"]:
                topic = TopicState.restore(data)
                self.account.topics[topic.name] = topic
            if "sms" in snapshot:
                self._sms.restore(snapshot["sms"])
        self._sms.replaying = True
        for record in recovered.changes:
            try:
                change = decode(record)
                self._apply[change.__class__](change)
            except (MNSError, KeyError, TypeError) as error:  # not for an intact journal
                log.error("journal: %s could not be replayed: %r", record[:3], error)
            last = max(last, record[1])
        self._sms.replaying = False
        self.clock.resume_from(last)
        # Tokens drawn from here on must differ from the recovered ones (a seeded
        # broker would otherwise draw the same again): move the source on.
        self._random.seed(f"{self._random.getrandbits(64)}:{last}:{len(recovered.changes)}")
        for state in self.account.queues.values():
            self.wake_and_schedule(state)
        for topic in self.account.topics.values():
            for subscription in topic.subscriptions.values():
                self._pushes.resume(subscription)
        self._sms.schedule()
        log.info(
            "recovered %d queues, %d topics from %s (generation %d, %d changes replayed)",
            len(self.account.queues), len(self.account.topics), recovered.journal_path,
            recovered.generation, len(recovered.changes),
        )


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk load or dump: otherwise it
    scans the growing heap again and again (3x slower for a million messages)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
