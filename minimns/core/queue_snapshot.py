"""A queue's whole state as plain values and back: what a snapshot holds.

Messages go column by column (a list per field, in enqueue order): a million of
them pack and load several times faster than as rows. ``restore`` rebuilds the
indexes ``QueueState`` keeps (see queue.py).
"""

from __future__ import annotations

from heapq import heapify
from typing import TYPE_CHECKING

from .attributes import QueueAttributes
from .message import (
    NO_PROPERTIES,
    DeadLetter,
    MessageRecord,
    MessageState,
    list_properties,
    properties_from_list,
)

if TYPE_CHECKING:
    from .queue import QueueState

__all__ = ["QueueSnapshot"]

_ACTIVE_INT = int(MessageState.ACTIVE)


class QueueSnapshot:
    """Export and restore (mixed into ``QueueState``)."""

    def export(self: "QueueState") -> list:
        """The queue's whole state as plain values (msgpack-able), for a snapshot.
        Messages go column by column (a list per field, in enqueue order): a
        million of them pack and load several times faster than as rows."""
        order = {rec.seq: o for _, o, rec in self._active if rec.state is MessageState.ACTIVE}
        # In retention order (``_by_age``): a dead letter taken in keeps its original
        # EnqueueTime, so the queue's message-number order is not its age order.
        messages = self._messages
        records = [r for r in self._by_age if messages.get(r.seq) is r]
        columns = [
            [r.seq for r in records],
            [r.body for r in records],
            [r.priority for r in records],
            [r.enqueue_time for r in records],
            [r.first_dequeue_time for r in records],
            [r.dequeue_count for r in records],
            [r.next_visible for r in records],
            [r.handle_gen for r in records],
            [int(r.state) for r in records],
            [order.get(r.seq, 0) for r in records],
            {i: list_properties(r.properties) for i, r in enumerate(records)
             if r.properties is not NO_PROPERTIES},
        ]
        exported = [
            self.name, self.attributes.as_record(), self.create_time, self.last_modify_time,
            self.token, self._seq, self._tick, columns,
        ]
        if self.dead_lettered or self.dead_letters:
            exported.append([self.dead_lettered, [
                d.as_list() for d in self.dead_letters]])
        return exported

    @classmethod
    def restore(cls, data: list) -> "QueueState":
        """The queue ``export`` described, with its indexes rebuilt."""
        name, attributes, create_time, last_modify_time, token, seq, tick, columns = data[:8]
        queue = cls(name, QueueAttributes.from_record(attributes), create_time, token)
        if len(data) > 8:
            queue.dead_lettered = data[8][0]
            queue.dead_letters = [DeadLetter.from_list(d) for d in data[8][1]]
        queue.last_modify_time = last_modify_time
        queue._seq = seq
        queue._tick = tick
        *fields, properties = columns
        states = tuple(MessageState)
        messages, by_age, active, timers = queue._messages, queue._by_age, queue._active, queue._timers
        for i, (seq, body, priority, enq, first, dq, nv, gen, state, order) in enumerate(
            zip(*fields)
        ):
            props = properties.get(i)
            record = MessageRecord(
                seq, body, priority, enq, nv, states[state],
                NO_PROPERTIES if props is None else properties_from_list(props),
            )
            record.first_dequeue_time = first
            record.dequeue_count = dq
            record.handle_gen = gen
            messages[seq] = record
            by_age.append(record)
            if state == _ACTIVE_INT:
                active.append((priority, order, record))
            else:
                timers.append((nv, seq, record))
        state_counts = [0, 0, 0, 0]
        for state in fields[8]:
            state_counts[state] += 1
        queue.delayed_count, queue.active_count, queue.inactive_count = state_counts[:3]
        heapify(active)
        heapify(timers)
        return queue
