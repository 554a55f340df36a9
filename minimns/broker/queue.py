"""The async Queue handle: the official SDK's queue methods, in process.

A handle is a name and a broker; each call finds the queue afresh, so a
handle outlives delete and re-create exactly as an SDK ``Queue`` does.
Every method is a trio checkpoint, and one that changed state is not
cancelled afterwards: cancellation leaves no trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

import trio
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from ..core.attributes import QueueMeta, check_range, plain_attributes
from ..core.message import (
    NO_PROPERTIES,
    ChangedVisibility,
    Message,
    PeekedMessage,
    ReceivedMessage,
    SentMessage,
)
from ..core.queue import BATCH_MAX
from ..errors import BatchDeleteFail, BatchSendFail, InvalidArgument, MessageNotExist, MNSError
from .changes import (
    BatchDeleteMessage,
    BatchSendMessage,
    ChangeVisibility,
    DeleteMessage,
    DeleteQueue,
    ReceiveMessages,
    SendMessage,
    SetQueueAttributes,
)
from .waiters import Waiter

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Idle", "Queue"]

Idle = Callable[[], Awaitable[object]]

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
        state = broker.queue_state(self.queue_name)
        meta = state.meta(broker.now())
        await cancel_shielded_checkpoint()
        return meta

    async def set_attributes(self, **attributes: object) -> None:
        """Change only the attributes given, e.g. ``set_attributes(visibility_timeout=60)``."""
        broker = self.broker
        await broker.perform(SetQueueAttributes(broker.now(), self.queue_name,
                                                plain_attributes(attributes)))

    async def delete(self) -> None:
        """Delete the queue and its messages (a missing queue is not an error)."""
        broker = self.broker
        await broker.perform(DeleteQueue(broker.now(), self.queue_name))

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
        sent = self.send_message_nowait(message, delay_seconds=delay_seconds, priority=priority)
        await self.broker.acknowledge()
        return sent

    def send_message_nowait(
        self,
        message: str | Message,
        *,
        delay_seconds: int | None = None,
        priority: int | None = None,
    ) -> SentMessage:
        """``send_message`` without its checkpoint, for an edge that awaits
        ``broker.durable()`` itself (every ``*_nowait`` method is that)."""
        broker = self.broker
        if type(message) is str:
            change = SendMessage(broker.now(), self.queue_name, message, delay_seconds, priority)
        elif isinstance(message, Message):
            change = SendMessage(broker.now(), self.queue_name, *message.outgoing())
        else:
            raise InvalidArgument("A message should be a str or a minimns.Message.")
        return broker.commit(change)

    async def batch_send_message(self, messages: Iterable[str | Message]) -> list[SentMessage]:
        """Send up to 16 messages. If some are rejected the others are still
        sent, and BatchSendFail carries every entry's result in order."""
        await checkpoint_if_cancelled()
        results = self._batch_send(messages)
        await self.broker.acknowledge()
        if any(isinstance(r, MNSError) for r in results):
            raise BatchSendFail(results)
        return results  # type: ignore[return-value]

    def batch_send_message_nowait(self, messages: Iterable[str | Message]) -> list[SentMessage]:
        results = self._batch_send(messages)
        if any(isinstance(r, MNSError) for r in results):
            raise BatchSendFail(results)
        return results  # type: ignore[return-value]

    def _batch_send(self, messages: Iterable[str | Message]) -> list:
        outgoing = tuple(
            m.outgoing() if isinstance(m, Message) else (m, None, None, NO_PROPERTIES)
            for m in messages
        )
        broker = self.broker
        return broker.commit(BatchSendMessage(broker.now(), self.queue_name, outgoing))

    # -- receiving ---------------------------------------------------------------------------

    async def receive_message(
        self, wait_seconds: int | None = None, *, idle: Idle | None = None
    ) -> ReceivedMessage:
        """Receive one message, long polling up to ``wait_seconds`` (default:
        the queue's PollingWaitSeconds); MessageNotExist if none came."""
        return (await self.batch_receive_message(1, wait_seconds, idle=idle))[0]

    async def batch_receive_message(
        self, batch_size: int, wait_seconds: int | None = None, *, idle: Idle | None = None
    ) -> list[ReceivedMessage]:
        """Receive 1 to ``batch_size`` (at most 16) messages; returns as soon as any is there.

        ``idle`` is for edges: while parked the poll awaits ``idle()`` instead of
        sleeping, and whatever that raises abandons the poll (the HTTP server
        waits on its socket there, and raises HangUp when the client leaves).
        """
        await checkpoint_if_cancelled()
        check_range("numOfMessages", batch_size, 1, BATCH_MAX, "")
        got, wait_seconds = self._take(batch_size, wait_seconds)
        if got:
            await self.broker.acknowledge()
            return got
        return await self._wait(batch_size, wait_seconds, idle or trio.sleep_forever)

    def batch_receive_message_nowait(self, batch_size: int) -> list[ReceivedMessage]:
        """What a receive takes now (possibly nothing): no wait, no checkpoint."""
        check_range("numOfMessages", batch_size, 1, BATCH_MAX, "")
        return self._take(batch_size, 0)[0]

    def _take(self, count: int, wait_seconds: int | None) -> tuple[list[ReceivedMessage], int]:
        """Receive what is there now: (messages, the wait that applies if none)."""
        broker = self.broker
        state = broker.queue_state(self.queue_name)
        if wait_seconds is None:
            wait_seconds = state.attributes.polling_wait_seconds
        elif wait_seconds.__class__ is not int or not 0 <= wait_seconds <= WAIT_SECONDS_MAX:
            check_range("waitseconds", wait_seconds, 0, WAIT_SECONDS_MAX, "seconds")
        # (a receive that took nothing changed nothing: it is not journaled)
        return broker.commit(ReceiveMessages(broker.now(), self.queue_name, count)), wait_seconds

    async def _wait(self, count: int, wait_seconds: int, idle: Idle) -> list[ReceivedMessage]:
        """Park until messages become receivable or ``wait_seconds`` pass.

        The poll waits in a cancel scope whose deadline is the end of the poll;
        a wake cancels that scope, so ``idle`` may wait on anything (a socket).
        """
        broker = self.broker
        waiters = broker.waiters_of(self.queue_name)
        if wait_seconds == 0 or len(waiters) >= broker.max_waiters:
            await cancel_shielded_checkpoint()
            raise MessageNotExist()
        deadline = trio.current_time() + wait_seconds
        while True:
            waiter = None
            try:
                with trio.CancelScope(deadline=deadline) as scope:
                    waiter = Waiter(scope.cancel)
                    waiters.add(waiter)
                    try:
                        await idle()
                    finally:
                        waiters.discard(waiter)
            except BaseException:  # not our scope's: a hang-up, or a cancellation from outside
                if waiter is not None and waiter.woken:
                    broker.pass_wake(self.queue_name)  # the next poll in line takes it
                raise
            if not waiter.woken:
                raise MessageNotExist()  # the deadline passed (or idle returned)
            # Woken because a message became receivable (or the queue went).
            # From here to the return there is no checkpoint, so a message
            # taken is always handed over, never lost to a cancellation.
            got, _ = self._take(count, 0)
            if got:
                await broker.acknowledge()  # shielded: the messages are handed over
                return got
            waiters = broker.waiters_of(self.queue_name)

    async def peek_message(self) -> PeekedMessage:
        """The message a receive would take next, unchanged; MessageNotExist if none."""
        return (await self.batch_peek_message(1))[0]

    async def batch_peek_message(self, batch_size: int) -> list[PeekedMessage]:
        await checkpoint_if_cancelled()
        check_range("numOfMessages", batch_size, 1, BATCH_MAX, "")
        broker = self.broker
        state = broker.queue_state(self.queue_name)
        got = state.peek(broker.now(), batch_size)
        await cancel_shielded_checkpoint()
        if not got:
            raise MessageNotExist()
        return got

    # -- handles -----------------------------------------------------------------------------

    async def delete_message(self, receipt_handle: str) -> None:
        await checkpoint_if_cancelled()
        self.delete_message_nowait(receipt_handle)
        await self.broker.acknowledge()

    def delete_message_nowait(self, receipt_handle: str) -> None:
        broker = self.broker
        broker.commit(DeleteMessage(broker.now(), self.queue_name, receipt_handle))

    async def batch_delete_message(self, receipt_handles: Iterable[str]) -> None:
        """Delete up to 16 messages; BatchDeleteFail maps each failed handle to
        its error, and every other handle's message was deleted."""
        await checkpoint_if_cancelled()
        broker = self.broker
        errors = broker.commit(BatchDeleteMessage(broker.now(), self.queue_name,
                                                  list(receipt_handles)))
        await broker.acknowledge()
        if errors:
            raise BatchDeleteFail(errors)

    def batch_delete_message_nowait(self, receipt_handles: Iterable[str]) -> None:
        broker = self.broker
        errors = broker.commit(BatchDeleteMessage(broker.now(), self.queue_name,
                                                  list(receipt_handles)))
        if errors:
            raise BatchDeleteFail(errors)

    async def change_message_visibility(
        self, receipt_handle: str, visibility_timeout: int
    ) -> ChangedVisibility:
        """Hide a received message for ``visibility_timeout`` seconds from now,
        under a new handle; the old handle is void."""
        await checkpoint_if_cancelled()
        changed = self.change_message_visibility_nowait(receipt_handle, visibility_timeout)
        await self.broker.acknowledge()
        return changed

    def change_message_visibility_nowait(
        self, receipt_handle: str, visibility_timeout: int
    ) -> ChangedVisibility:
        broker = self.broker
        handle, next_visible = broker.commit(ChangeVisibility(
            broker.now(), self.queue_name, receipt_handle, visibility_timeout))
        return ChangedVisibility(handle, next_visible)
