"""The async Queue handle: the official SDK's queue methods, in process.

A handle is a name and a broker; each call finds the queue afresh, so a
handle outlives delete and re-create exactly as an SDK ``Queue`` does.
Every method is a trio checkpoint, and one that changed state is not
cancelled afterwards: cancellation leaves no trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import trio
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from ..core.attributes import QueueMeta, check_range
from ..core.message import (
    NO_PROPERTIES,
    list_properties,
    ChangedVisibility,
    Message,
    PeekedMessage,
    ReceivedMessage,
    SentMessage,
)
from ..core.queue import BATCH_MAX
from ..errors import BatchDeleteFail, BatchSendFail, InvalidArgument, MessageNotExist, MNSError

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Queue"]

WAIT_SECONDS_MAX = 30


class Queue:
    def __init__(self, broker: "Broker", queue_name: str) -> None:
        self.broker = broker
        self.queue_name = queue_name

    def __repr__(self) -> str:
        return f"<Queue {self.queue_name!r}>"

    # -- attributes --------------------------------------------------------------------------

    async def create(self, **attributes: object) -> "Queue":
        return await self.broker.create_queue(self.queue_name, **attributes)

    async def get_attributes(self) -> QueueMeta:
        await checkpoint_if_cancelled()
        broker = self.broker
        state = broker._state(self.queue_name)
        meta = state.meta(broker.now())
        await cancel_shielded_checkpoint()
        return meta

    async def set_attributes(self, **attributes: object) -> None:
        """Change only the attributes given, e.g. ``set_attributes(visibility_timeout=60)``."""
        await checkpoint_if_cancelled()
        broker = self.broker
        broker.change(["sq", broker.now(), self.queue_name, attributes])
        await broker.acknowledge()

    async def delete(self) -> None:
        """Delete the queue and its messages (a missing queue is not an error)."""
        await checkpoint_if_cancelled()
        broker = self.broker
        broker.change(["dq", broker.now(), self.queue_name])
        await broker.acknowledge()

    # -- sending -----------------------------------------------------------------------------

    async def send_message(
        self,
        message: str | Message,
        *,
        delay_seconds: int | None = None,
        priority: int | None = None,
    ) -> SentMessage:
        """Send a body (or a ``Message``); keyword arguments apply to a plain body."""
        await checkpoint_if_cancelled()
        broker = self.broker
        if type(message) is str:
            record = ["s", broker.now(), self.queue_name, message, delay_seconds, priority, None]
        elif isinstance(message, Message):
            body, delay, prio, properties = message.outgoing()
            record = ["s", broker.now(), self.queue_name, body, delay, prio,
                      list_properties(properties)]
        else:
            raise InvalidArgument("A message should be a str or a minimns.Message.")
        sent = broker.change(record)
        await broker.acknowledge()
        return sent

    async def batch_send_message(self, messages: Iterable[str | Message]) -> list[SentMessage]:
        """Send up to 16 messages. If some are rejected the others are still
        sent, and BatchSendFail carries every entry's result in order."""
        await checkpoint_if_cancelled()
        outgoing = [
            m.outgoing() if isinstance(m, Message) else (m, None, None, NO_PROPERTIES)
            for m in messages
        ]
        plain = [[b, d, p, list_properties(props)] for b, d, p, props in outgoing]
        broker = self.broker
        results = broker.change(["bs", broker.now(), self.queue_name, plain])
        await broker.acknowledge()
        if any(isinstance(r, MNSError) for r in results):
            raise BatchSendFail(results)
        return results  # type: ignore[return-value]

    # -- receiving ---------------------------------------------------------------------------

    async def receive_message(self, wait_seconds: int | None = None) -> ReceivedMessage:
        """Receive one message, long polling up to ``wait_seconds`` (default:
        the queue's PollingWaitSeconds); MessageNotExist if none came."""
        await checkpoint_if_cancelled()
        got, wait_seconds = self._take(1, wait_seconds)
        if got:
            await self.broker.acknowledge()
            return got[0]
        return (await self._wait(1, wait_seconds))[0]

    async def batch_receive_message(
        self, batch_size: int, wait_seconds: int | None = None
    ) -> list[ReceivedMessage]:
        """Receive 1 to ``batch_size`` (at most 16) messages; returns as soon as any is there."""
        await checkpoint_if_cancelled()
        check_range("numOfMessages", batch_size, 1, BATCH_MAX, "")
        got, wait_seconds = self._take(batch_size, wait_seconds)
        if got:
            await self.broker.acknowledge()
            return got
        return await self._wait(batch_size, wait_seconds)

    def _take(self, count: int, wait_seconds: int | None) -> tuple[list[ReceivedMessage], int]:
        """Receive what is there now: (messages, the wait that applies if none)."""
        broker = self.broker
        state = broker._state(self.queue_name)
        if wait_seconds is None:
            wait_seconds = state.attributes.polling_wait_seconds
        elif wait_seconds.__class__ is not int or not 0 <= wait_seconds <= WAIT_SECONDS_MAX:
            check_range("waitseconds", wait_seconds, 0, WAIT_SECONDS_MAX, "seconds")
        now = broker.now()
        got = broker._receive(now, self.queue_name, count)
        if got:  # a receive that took nothing changed nothing: no record
            broker.record(["r", now, self.queue_name, count])
        return got, wait_seconds

    async def _wait(self, count: int, wait_seconds: int) -> list[ReceivedMessage]:
        """Park until messages become receivable or ``wait_seconds`` pass."""
        broker = self.broker
        lot = broker._lot(self.queue_name)
        if wait_seconds == 0 or len(lot) >= broker.max_waiters:
            await cancel_shielded_checkpoint()
            raise MessageNotExist()
        with trio.move_on_after(wait_seconds):
            while True:
                await lot.park()
                # Woken because a message became receivable (or the queue went).
                # From here to the return there is no checkpoint, so a message
                # taken is always handed over, never lost to a cancellation.
                got, _ = self._take(count, 0)
                if got:
                    await broker.acknowledge()  # shielded: the messages are handed over
                    return got
                lot = broker._lot(self.queue_name)
        raise MessageNotExist()

    async def peek_message(self) -> PeekedMessage:
        """The message a receive would take next, unchanged; MessageNotExist if none."""
        return (await self.batch_peek_message(1))[0]

    async def batch_peek_message(self, batch_size: int) -> list[PeekedMessage]:
        await checkpoint_if_cancelled()
        check_range("numOfMessages", batch_size, 1, BATCH_MAX, "")
        broker = self.broker
        state = broker._state(self.queue_name)
        got = state.peek(broker.now(), batch_size)
        await cancel_shielded_checkpoint()
        if not got:
            raise MessageNotExist()
        return got

    # -- handles -----------------------------------------------------------------------------

    async def delete_message(self, receipt_handle: str) -> None:
        await checkpoint_if_cancelled()
        broker = self.broker
        broker.change(["d", broker.now(), self.queue_name, receipt_handle])
        await broker.acknowledge()

    async def batch_delete_message(self, receipt_handles: Iterable[str]) -> None:
        """Delete up to 16 messages; BatchDeleteFail maps each failed handle to
        its error, and every other handle's message was deleted."""
        await checkpoint_if_cancelled()
        broker = self.broker
        handles = list(receipt_handles)
        errors = broker.change(["bd", broker.now(), self.queue_name, handles])
        await broker.acknowledge()
        if errors:
            raise BatchDeleteFail(errors)

    async def change_message_visibility(
        self, receipt_handle: str, visibility_timeout: int
    ) -> ChangedVisibility:
        """Hide a received message for ``visibility_timeout`` seconds from now,
        under a new handle; the old handle is void."""
        await checkpoint_if_cancelled()
        broker = self.broker
        handle, next_visible = broker.change(
            ["cv", broker.now(), self.queue_name, receipt_handle, visibility_timeout]
        )
        await broker.acknowledge()
        return ChangedVisibility(handle, next_visible)
