"""One MNS queue as a pure state machine.

States of a message: DELAYED -> ACTIVE -> INACTIVE -> ACTIVE ... -> DELETED.
Every public method takes ``now`` (epoch ms) and first applies whatever time
has made due (delays ending, visibility expiring, retention passing), so the
queue is always exact at ``now`` no matter how rarely anyone drives it.

Three indexes, each O(log n) or amortised O(1) per message:

- ``_active``: a heap of (priority, order, record) over ACTIVE messages; the
  smallest priority number is served first, then the message that became
  active earliest.
- ``_timers``: a heap of (due, seq, record) over DELAYED and INACTIVE
  messages; an entry is live only while its due equals the record's
  ``next_visible``.
- ``_by_age``: records in enqueue order; retention is one period for the whole
  queue, so the oldest message is always the next to expire.

All three delete lazily (a record that left is skipped when met) and are
compacted when more than half of an index is dead, so memory follows the
live message count.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from heapq import heapify, heappop, heappush
from typing import Iterable

from ..errors import InvalidArgument, MessageNotExist, MNSError
from .attributes import QueueAttributes, QueueMeta, check_range
from .message import (
    NO_PROPERTIES,
    DeadLetter,
    MessageRecord,
    MessageState,
    PeekedMessage,
    Properties,
    ReceivedMessage,
    SentMessage,
    check_body,
)
from .queue_snapshot import QueueSnapshot
from .receipt import handle_prefix, id_prefix, message_id, parse_handle, receipt_handle

__all__ = ["BATCH_MAX", "BATCH_SEND_MAX_BYTES", "OutgoingMessage", "QueueState"]

DELAYED, ACTIVE, INACTIVE, DELETED = (
    MessageState.DELAYED,
    MessageState.ACTIVE,
    MessageState.INACTIVE,
    MessageState.DELETED,
)

BATCH_MAX = 16
BATCH_SEND_MAX_BYTES = 65536
PRIORITY_DEFAULT = 8
_COMPACT_MIN = 1024

DLQ_MESSAGE_TYPE = "QUEUE"  # the kind of source: a queue's DlqPolicy moved it
DLQ_PROPERTY_NAMES = ("DLQMessageType", "DLQSourceArn", "DLQOriginMessageId")


def _enqueue_time(record: MessageRecord) -> int:
    return record.enqueue_time


# body, delay_seconds (None = the queue's), priority (None = 8), properties
OutgoingMessage = tuple[str, "int | None", "int | None", Properties]


class QueueState(QueueSnapshot):
    """A queue's attributes and messages; see the module docstring for the indexes."""

    def __init__(self, name: str, attributes: QueueAttributes, now: int, token: int) -> None:
        self.name = name
        self.attributes = attributes
        self.create_time = now
        self.last_modify_time = now
        self.token = token
        self._id_prefix = id_prefix(token)
        self._handle_prefix = handle_prefix(token)
        self.active_count = 0
        self.inactive_count = 0
        self.delayed_count = 0
        # Messages that became receivable since the owner last looked; the
        # broker wakes that many long-poll waiters and resets it to 0.
        self.newly_active = 0
        self._messages: dict[int, MessageRecord] = {}
        self._active: list[tuple[int, int, MessageRecord]] = []
        self._timers: list[tuple[int, int, MessageRecord]] = []
        self._by_age: deque[MessageRecord] = deque()
        self._dead_active = 0
        self._dead_timers = 0
        self._dead_by_age = 0
        self._seq = 0  # sequence numbers: message ids and handles (sends only)
        self.dead_letters: list[DeadLetter] = []  # waiting for their move (broker)
        self.dead_lettered = 0  # messages moved out by the DlqPolicy since creation
        # Activation order (sends and timers). Kept apart from _seq: a message that
        # became active and then expired unobserved may not be activated on replay,
        # which may shift later orders but must never shift ids.
        self._tick = 0

    def __repr__(self) -> str:
        return (
            f"<QueueState {self.name} active={self.active_count} "
            f"inactive={self.inactive_count} delayed={self.delayed_count}>"
        )

    def __len__(self) -> int:
        return len(self._messages)

    # -- attributes --------------------------------------------------------------------------

    def set_attributes(self, now: int, **changes: object) -> None:
        """Change only the given attributes (None = keep); all-or-nothing.

        What was due by ``now`` happens first, under the old attributes."""
        attributes = self.attributes.with_changes(self.name, **changes)
        self._advance(now)
        if any(v is not None for v in changes.values()):
            self.attributes = attributes
            self.last_modify_time = now

    def meta(self, now: int) -> QueueMeta:
        """Attributes and exact counts at ``now``."""
        self._advance(now)
        return QueueMeta(
            queue_name=self.name,
            create_time=self.create_time // 1000,
            last_modify_time=self.last_modify_time // 1000,
            active_messages=self.active_count,
            inactive_messages=self.inactive_count,
            delay_messages=self.delayed_count,
            **self.attributes.as_dict(),
        )

    # -- sending -----------------------------------------------------------------------------

    def check_outgoing(self, body: object, delay: object, priority: object) -> tuple[int, int]:
        """Validate one message for this queue: (delay_seconds, priority) to use."""
        check_body(body, self.attributes.maximum_message_size, "queue")
        delay = (
            self.attributes.delay_seconds
            if delay is None
            else check_range("DelaySeconds", delay, 0, 604800, "seconds")
        )
        priority = (
            PRIORITY_DEFAULT if priority is None else check_range("Priority", priority, 1, 16, "")
        )
        return delay, priority

    def send(
        self,
        now: int,
        body: str,
        delay_seconds: int | None = None,
        priority: int | None = None,
        properties: Properties = NO_PROPERTIES,
    ) -> SentMessage:
        """Enqueue one message; InvalidArgument (and nothing stored) if it breaks a rule."""
        delay, priority = self.check_outgoing(body, delay_seconds, priority)
        self._advance(now)
        return self._store(now, body, delay, priority, properties)

    def batch_send(
        self, now: int, messages: Iterable[OutgoingMessage]
    ) -> list[SentMessage | InvalidArgument]:
        """Enqueue up to 16 messages; each entry is validated on its own and a
        rejected one is reported in its place while the others are stored."""
        messages = list(messages)
        if not 1 <= len(messages) <= BATCH_MAX:
            raise InvalidArgument(f"The count of messages should between 1 and {BATCH_MAX}.")
        total = sum(  # a body UTF-8 cannot carry is rejected on its own entry below
            len(m[0].encode("utf-8", "surrogatepass")) for m in messages if isinstance(m[0], str)
        )
        if total > BATCH_SEND_MAX_BYTES:
            raise InvalidArgument(
                f"The total size of the messages is {total} bytes, more than "
                f"{BATCH_SEND_MAX_BYTES} bytes."
            )
        self._advance(now)
        results: list[SentMessage | InvalidArgument] = []
        for body, delay_seconds, priority, properties in messages:
            try:
                delay, priority = self.check_outgoing(body, delay_seconds, priority)
            except InvalidArgument as error:
                results.append(error)
                continue
            results.append(self._store(now, body, delay, priority, properties))
        return results

    def _store(
        self, now: int, body: str, delay: int, priority: int, properties: Properties
    ) -> SentMessage:
        self._seq += 1
        seq = self._seq
        self._tick += 1
        if delay:
            record = MessageRecord(seq, body, priority, now, now + delay * 1000, DELAYED, properties)
            record.handle_gen = 1
            heappush(self._timers, (record.next_visible, seq, record))
            self.delayed_count += 1
            handle: str | None = receipt_handle(self._handle_prefix, seq, 1)
        else:
            record = MessageRecord(seq, body, priority, now, now, ACTIVE, properties)
            heappush(self._active, (priority, self._tick, record))
            self.active_count += 1
            self.newly_active += 1
            handle = None
        self._messages[seq] = record
        self._by_age.append(record)
        return SentMessage(message_id(self._id_prefix, seq), body, handle)

    # -- receiving ---------------------------------------------------------------------------

    def receive(self, now: int, count: int = 1) -> list[ReceivedMessage]:
        """Take up to ``count`` ACTIVE messages, highest priority first, making
        each INACTIVE for VisibilityTimeout under a freshly minted handle."""
        self._advance(now)
        out: list[ReceivedMessage] = []
        active = self._active
        visible_at = now + self.attributes.visibility_timeout * 1000
        while active and len(out) < count:
            record = heappop(active)[2]
            if record.state is not ACTIVE:
                self._dead_active -= 1
                continue
            record.state = INACTIVE
            record.dequeue_count += 1
            if record.first_dequeue_time is None:
                record.first_dequeue_time = now
            record.next_visible = visible_at
            record.handle_gen += 1
            heappush(self._timers, (visible_at, record.seq, record))
            out.append(self._received_view(record))
        self.active_count -= len(out)
        self.inactive_count += len(out)
        return out

    def peek(self, now: int, count: int = 1) -> list[PeekedMessage]:
        """The ``count`` ACTIVE messages a receive would take next; changes nothing."""
        self._advance(now)
        heap = self._active
        out: list[PeekedMessage] = []
        # Best-first walk of the heap's implicit tree: O(count log count).
        frontier = [(heap[0], 0)] if heap else []
        while frontier and len(out) < count:
            entry, index = heappop(frontier)
            if entry[2].state is ACTIVE:
                out.append(self._peeked_view(entry[2]))
            for child in (2 * index + 1, 2 * index + 2):
                if child < len(heap):
                    heappush(frontier, (heap[child], child))
        return out

    def dump(self, now: int, limit: int = 1000) -> list[dict]:
        """Up to ``limit`` messages in enqueue order with their state, for developers:
        nothing is received or changed (time's due effects apply, as for any read).
        ``receipt_handle`` is the handle now valid, if the message was received."""
        self._advance(now)
        out = []
        for record in self._by_age:
            if record.state is DELETED or self._messages.get(record.seq) is not record:
                continue
            fields = self._view_fields(record)
            out.append({
                "message_id": fields[0],
                "body": record.body,
                "state": record.state.name.lower(),
                "priority": record.priority,
                "dequeue_count": record.dequeue_count,
                "enqueue_time": record.enqueue_time,
                "first_dequeue_time": record.first_dequeue_time,
                "next_visible_time": record.next_visible,
                "receipt_handle": (receipt_handle(self._handle_prefix, record.seq, record.handle_gen)
                                   if record.handle_gen and record.state is not ACTIVE else None),
                "system_properties": {n: v for n, v, _ in record.properties.system_properties},
            })
            if len(out) >= limit:
                break
        return out

    def _view_fields(self, record: MessageRecord) -> tuple:
        props = record.properties
        first = record.first_dequeue_time
        return (
            message_id(self._id_prefix, record.seq),
            record.body,
            record.dequeue_count,
            record.enqueue_time,
            record.enqueue_time if first is None else first,  # MNS: never received -> enqueue time
            record.priority,
            props.message_group_id,
            props.user_properties,
            props.system_properties,
        )

    def _peeked_view(self, record: MessageRecord) -> PeekedMessage:
        return PeekedMessage(*self._view_fields(record))

    def _received_view(self, record: MessageRecord) -> ReceivedMessage:
        return ReceivedMessage(
            *self._view_fields(record),
            receipt_handle(self._handle_prefix, record.seq, record.handle_gen),
            record.next_visible,
        )

    # -- handles -----------------------------------------------------------------------------

    def _holder(self, handle: object) -> MessageRecord:
        """The message a handle currently holds, or the MNS error for it."""
        seq, gen = parse_handle(handle, self._handle_prefix)
        record = self._messages.get(seq)
        if record is None or record.handle_gen != gen or record.state not in (DELAYED, INACTIVE):
            raise MessageNotExist(
                "The message of the receipt handle does not exist: it was deleted, received "
                "again, or its visibility timeout expired."
            )
        return record

    def delete(self, now: int, handle: str) -> None:
        """Delete the message a valid handle holds."""
        self._advance(now)
        self._remove(self._holder(handle))
        self._maybe_compact()

    def batch_delete(self, now: int, handles: Iterable[str]) -> dict[str, MNSError]:
        """Delete each valid handle's message; map each failed handle to its error."""
        handles = list(handles)
        if not 1 <= len(handles) <= BATCH_MAX:
            raise InvalidArgument(f"The count of receipt handles should between 1 and {BATCH_MAX}.")
        self._advance(now)
        errors: dict[str, MNSError] = {}
        for handle in handles:
            try:
                self._remove(self._holder(handle))
            except MNSError as error:
                errors[handle] = error
        self._maybe_compact()
        return errors

    def change_visibility(self, now: int, handle: str, visibility_timeout: int) -> tuple[str, int]:
        """Make a held message invisible for ``visibility_timeout`` s from now,
        under a new handle (the old one is void): (new handle, next visible ms)."""
        check_range("VisibilityTimeout", visibility_timeout, 1, 43200, "seconds")
        self._advance(now)
        record = self._holder(handle)
        record.next_visible = now + visibility_timeout * 1000
        record.handle_gen += 1
        heappush(self._timers, (record.next_visible, record.seq, record))
        self._dead_timers += 1
        self._maybe_compact()
        handle = receipt_handle(self._handle_prefix, record.seq, record.handle_gen)
        return handle, record.next_visible

    # -- time --------------------------------------------------------------------------------

    def next_due(self) -> int | None:
        """The earliest epoch ms at which time alone makes a message receivable.

        Retention is left out on purpose: an expiry never wakes anyone, and
        every operation applies it first, so it needs no timer.
        """
        timers = self._timers
        while timers and not _timer_live(timers[0]):
            heappop(timers)
            self._dead_timers -= 1
        return timers[0][0] if timers else None

    def advance(self, now: int) -> None:
        """Apply everything due at or before ``now``."""
        self._advance(now)

    def _advance(self, now: int) -> None:
        """Apply, in time order, every expiry and timer due by ``now``.

        Time order (an expiry before an activation at the same instant) makes
        the result independent of when and how often this runs: a journal
        replay that catches up in one step reaches the very state (activation
        order included) that a live queue reached step by step.
        """
        by_age = self._by_age
        timers = self._timers
        retention = self.attributes.message_retention_period * 1000
        while True:
            while by_age and by_age[0].state is DELETED:
                by_age.popleft()  # consumed in order: the common case stays O(1)
                self._dead_by_age -= 1
            while timers and not _timer_live(timers[0]):
                heappop(timers)
                self._dead_timers -= 1
            expires = by_age[0].enqueue_time + retention if by_age else None
            due = timers[0][0] if timers else None
            if expires is not None and expires <= now and (due is None or expires <= due):
                record = by_age.popleft()
                self._dead_by_age -= 1  # it has left _by_age already
                self._remove(record)
                continue
            if due is None or due > now:
                break
            record = heappop(timers)[2]
            if record.state is DELAYED:
                self.delayed_count -= 1
            else:
                self.inactive_count -= 1
                policy = self.attributes.dlq_policy
                if policy.enabled and record.dequeue_count >= policy.max_receive_count:
                    self._dead_letter(record)
                    continue
            record.state = ACTIVE
            self._tick += 1
            heappush(self._active, (record.priority, self._tick, record))
            self.active_count += 1
            self.newly_active += 1
        self._maybe_compact()

    # -- dead letters ------------------------------------------------------------------------

    def _dead_letter(self, record: MessageRecord) -> None:
        """A message received MaxReceiveCount times came back to visibility: it leaves
        this queue and waits in ``dead_letters`` for its move to the target queue."""
        record.state = DELETED
        del self._messages[record.seq]
        self._dead_by_age += 1
        self.dead_letters.append(DeadLetter(
            message_id(self._id_prefix, record.seq), record.body, record.priority,
            record.enqueue_time, record.properties,
            self.attributes.dlq_policy.dead_letter_target_queue, record.seq,
            record.dequeue_count, record.first_dequeue_time, record.handle_gen))
        self.dead_lettered += 1

    def take_dead_letters(self, now: int) -> list["DeadLetter"]:
        """The messages that time has made dead letters by ``now``, oldest first; they
        are this caller's to move (``accept_dead_letters`` on the target)."""
        self._advance(now)
        letters, self.dead_letters = self.dead_letters, []
        return letters

    def accept_dead_letters(self, now: int, letters: Iterable["DeadLetter"],
                            source_arn: str) -> list[SentMessage]:
        """Store dead letters from ``source_arn``: each becomes a new ACTIVE message
        with its body, priority and properties, the DLQ system properties added, and
        its original EnqueueTime (MNS does not restart retention on the move)."""
        self._advance(now)
        out = []
        for letter in letters:
            self._seq += 1
            self._tick += 1
            seq = self._seq
            props = letter.properties
            system = tuple(p for p in props.system_properties if p[0] not in DLQ_PROPERTY_NAMES)
            system += (("DLQMessageType", DLQ_MESSAGE_TYPE, "STRING"),
                       ("DLQSourceArn", source_arn, "STRING"),
                       ("DLQOriginMessageId", letter.message_id, "STRING"))
            record = MessageRecord(seq, letter.body, letter.priority, letter.enqueue_time, now,
                                   ACTIVE, Properties(props.message_group_id,
                                                      props.user_properties, system))
            heappush(self._active, (letter.priority, self._tick, record))
            self.active_count += 1
            self.newly_active += 1
            self._messages[seq] = record
            self._insert_by_age(record)
            out.append(SentMessage(message_id(self._id_prefix, seq), letter.body, None))
        self._advance(now)  # an original EnqueueTime may already be past this queue's retention
        return out

    def return_dead_letters(self, now: int, letters: Iterable["DeadLetter"]) -> None:
        """Take back dead letters whose target queue is gone: each is receivable here
        again, as it was (its id, dequeue count and times), so nothing is lost; its
        next return to visibility tries the policy again."""
        self._advance(now)
        for letter in letters:
            record = MessageRecord(letter.seq, letter.body, letter.priority,
                                   letter.enqueue_time, now, ACTIVE, letter.properties)
            record.dequeue_count = letter.dequeue_count
            record.first_dequeue_time = letter.first_dequeue_time
            record.handle_gen = letter.handle_gen
            self._tick += 1
            heappush(self._active, (letter.priority, self._tick, record))
            self.active_count += 1
            self.newly_active += 1
            self._messages[letter.seq] = record
            self._insert_by_age(record)
            self.dead_lettered -= 1
        self._advance(now)

    def _insert_by_age(self, record: MessageRecord) -> None:
        """Keep ``_by_age`` in enqueue order for a message older than the newest one."""
        by_age = self._by_age
        if not by_age or by_age[-1].enqueue_time <= record.enqueue_time:
            by_age.append(record)
            return
        index = bisect_right(by_age, record.enqueue_time, key=_enqueue_time)
        by_age.insert(index, record)

    # -- removal -----------------------------------------------------------------------------

    def _remove(self, record: MessageRecord) -> None:
        state = record.state
        if state is ACTIVE:
            self.active_count -= 1
            self._dead_active += 1
        elif state is INACTIVE:
            self.inactive_count -= 1
            self._dead_timers += 1
        else:
            self.delayed_count -= 1
            self._dead_timers += 1
        record.state = DELETED
        del self._messages[record.seq]
        self._dead_by_age += 1

    def clear(self) -> None:
        """Drop every message (the queue is being deleted); every handle goes stale."""
        for record in self._messages.values():
            record.state = DELETED
        self._messages.clear()
        self._active.clear()
        self._timers.clear()
        self._by_age.clear()
        self._dead_active = self._dead_timers = self._dead_by_age = 0
        self.active_count = self.inactive_count = self.delayed_count = 0

    def _maybe_compact(self) -> None:
        if self._dead_active > _COMPACT_MIN and self._dead_active * 2 > len(self._active):
            self._active = [e for e in self._active if e[2].state is ACTIVE]
            heapify(self._active)
            self._dead_active = 0
        if self._dead_timers > _COMPACT_MIN and self._dead_timers * 2 > len(self._timers):
            self._timers = [e for e in self._timers if _timer_live(e)]
            heapify(self._timers)
            self._dead_timers = 0
        if self._dead_by_age > _COMPACT_MIN and self._dead_by_age * 2 > len(self._by_age):
            self._by_age = deque(r for r in self._by_age if r.state is not DELETED)
            self._dead_by_age = 0

    # -- inspection --------------------------------------------------------------------------

    def records(self) -> list[MessageRecord]:
        """Every stored message in enqueue order (for tests and dumps; read only)."""
        return list(self._messages.values())


_ACTIVE_INT = int(ACTIVE)


def _timer_live(entry: tuple[int, int, MessageRecord]) -> bool:
    record = entry[2]
    return record.next_visible == entry[0] and (record.state is DELAYED or record.state is INACTIVE)
