"""A subscription: where a topic's messages go, and the pushes on their way there.

Each matching publish gives the subscription one ``Delivery``. It waits in
``ready`` until a push attempt takes it (``take``); the attempt ends in
``succeeded`` or ``failed``, and a failure either schedules a retry on the
NotifyStrategy's schedule (``advance`` brings due retries back to ``ready``)
or drops the message for this subscription. Pure state: the broker owns the
clock, the randomness and the I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from heapq import heappop, heappush, nsmallest
from itertools import count
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from .endpoint import HTTP, Endpoint, parse_endpoint
from .notification import FORMATS, SIMPLIFIED, XML
from .retry import BACKOFF_RETRY, NOTIFY_STRATEGIES, retry_delay_ms, retry_jitter

if TYPE_CHECKING:
    from .topic import TopicMessageRecord

__all__ = [
    "FILTER_TAG_MAX",
    "PENDING_MAX",
    "Delivery",
    "SubscriptionAttributes",
    "SubscriptionMeta",
    "SubscriptionState",
    "SubscriptionStats",
]

FILTER_TAG_MAX = 16
PENDING_MAX = 100_000  # deliveries a subscription holds (ready + retrying); beyond: dropped


@dataclass(frozen=True, slots=True)
class SubscriptionAttributes:
    endpoint: Endpoint
    notify_strategy: str = BACKOFF_RETRY
    notify_content_format: str = XML
    filter_tag: str = ""

    @classmethod
    def make(
        cls,
        endpoint: object,
        notify_strategy: object = None,
        notify_content_format: object = None,
        filter_tag: object = None,
    ) -> "SubscriptionAttributes":
        """Validated attributes; None means MNS's default (mail and SMS default to SIMPLIFIED,
        the only format they take)."""
        parsed = parse_endpoint(endpoint)
        strategy = check_strategy(BACKOFF_RETRY if notify_strategy in (None, "") else notify_strategy)
        if notify_content_format in (None, ""):
            fmt = XML if parsed.kind in (HTTP, "queue") else SIMPLIFIED
        elif notify_content_format in FORMATS:
            fmt = notify_content_format  # type: ignore[assignment]
        else:
            raise InvalidArgument(
                f"The NotifyContentFormat should be XML, JSON or SIMPLIFIED, not {notify_content_format!r}."
            )
        if parsed.kind not in (HTTP, "queue") and fmt != SIMPLIFIED:
            raise InvalidArgument("Mail and SMS endpoints take only the SIMPLIFIED NotifyContentFormat.")
        if filter_tag is None:
            filter_tag = ""
        if not isinstance(filter_tag, str) or len(filter_tag) > FILTER_TAG_MAX:
            raise InvalidArgument(f"The length of FilterTag should between 0 and {FILTER_TAG_MAX}.")
        return cls(parsed, strategy, fmt, filter_tag)  # type: ignore[arg-type]


def check_strategy(value: object) -> str:
    if value not in NOTIFY_STRATEGIES:
        raise InvalidArgument(
            f"The NotifyStrategy should be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY, not {value!r}."
        )
    return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class SubscriptionMeta:
    """GetSubscriptionAttributes as MNS returns it; times in epoch seconds."""

    topic_owner: str
    topic_name: str
    subscription_name: str
    endpoint: str
    notify_strategy: str
    notify_content_format: str
    filter_tag: str
    create_time: int
    last_modify_time: int


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """What happened to a subscription's pushes. ``pending`` are waiting for or in
    an attempt now; ``retrying`` wait for a later retry (``next_retry_time``, ms)."""

    delivered: int
    pending: int
    retrying: int
    dropped: int
    attempts: int
    failures: int
    last_error: str
    last_error_time: int | None
    next_retry_time: int | None


class Delivery:
    """One message on its way to one subscription."""

    __slots__ = ("message", "attempts", "due")

    def __init__(self, message: "TopicMessageRecord") -> None:
        self.message = message
        self.attempts = 0
        self.due = 0

    def __repr__(self) -> str:
        return f"<Delivery {self.message.message_id} attempts={self.attempts} due={self.due}>"


class SubscriptionState:
    def __init__(
        self, topic_name: str, name: str, attributes: SubscriptionAttributes, now: int
    ) -> None:
        self.topic_name = topic_name
        self.name = name
        self.attributes = attributes
        self.create_time = now
        self.last_modify_time = now
        self.ready: deque[Delivery] = deque()
        self._retrying: list[tuple[int, int, Delivery]] = []
        self._order = count()
        self.in_flight = 0
        self._flying: set[Delivery] = set()  # the deliveries counted in in_flight
        self.delivered = 0
        self.dropped = 0
        self.attempts = 0
        self.failures = 0
        self.failure_streak = 0  # failed attempts since the last success
        self.last_error = ""
        self.last_error_time: int | None = None
        self.pending_max = PENDING_MAX
        self.closed = False  # unsubscribed: attempts still in flight end quietly

    def __repr__(self) -> str:
        return f"<SubscriptionState {self.topic_name}/{self.name} -> {self.attributes.endpoint.text}>"

    @property
    def endpoint(self) -> Endpoint:
        return self.attributes.endpoint

    def accepts(self, tag: str | None) -> bool:
        """No FilterTag takes every message; a FilterTag takes exactly its tag."""
        wanted = self.attributes.filter_tag
        return not wanted or wanted == tag

    def set_notify_strategy(self, now: int, strategy: object) -> None:
        """The one attribute SetSubscriptionAttributes changes; retries already
        scheduled keep their time, the next failure follows the new strategy."""
        self.attributes = replace(self.attributes, notify_strategy=check_strategy(strategy))
        self.last_modify_time = now

    # -- deliveries ------------------------------------------------------------------------

    def offer(self, delivery: Delivery, now: int) -> bool:
        """Queue a new delivery for an attempt; False (dropped) when too many are pending."""
        if len(self.ready) + len(self._retrying) + self.in_flight >= self.pending_max:
            self._drop(delivery, "too many pushes pending for this subscription", now)
            return False
        self.ready.append(delivery)
        return True

    def take(self) -> Delivery | None:
        """The next ready delivery, started (see ``start``); None if none is ready."""
        if not self.ready:
            return None
        delivery = self.ready.popleft()
        self.start(delivery)
        return delivery

    def start(self, delivery: Delivery) -> None:
        """Count an attempt in flight; it must end in succeeded, failed or abandoned."""
        delivery.attempts += 1
        self.attempts += 1
        self.in_flight += 1
        self._flying.add(delivery)

    def succeeded(self, delivery: Delivery) -> None:
        self.in_flight -= 1
        self._flying.discard(delivery)
        self.delivered += 1
        self.failure_streak = 0
        delivery.message.release()

    def abandoned(self, delivery: Delivery) -> None:
        """An attempt cut short by unsubscribe or shutdown: neither delivered nor dropped."""
        self.in_flight -= 1
        self._flying.discard(delivery)
        delivery.message.release()

    def outcome(self, delivery: Delivery, reason: str | None, now: int, seed: int) -> int | None:
        """An attempt ended: delivered (``reason`` None), or failed. The due time of
        its retry, or None when there is none (delivered, dropped because the
        strategy has no retry left, or the subscription is gone). ``seed`` keys the
        retry jitter (``retry_jitter``)."""
        if reason is None:
            self.succeeded(delivery)
            return None
        jitter = retry_jitter(seed, self.topic_name, self.name, delivery.message.message_id,
                              delivery.attempts)
        return self.failed(delivery, now, reason, jitter)

    def failed(self, delivery: Delivery, now: int, reason: str, jitter: float) -> int | None:
        """Record a failed attempt: the due time of its retry, or None if the message
        is dropped because the strategy has no retry left (or the subscription is gone)."""
        if self.closed:
            self.abandoned(delivery)
            return None
        self.in_flight -= 1
        self._flying.discard(delivery)
        self.failures += 1
        self.failure_streak += 1
        self.last_error = reason
        self.last_error_time = now
        delay = retry_delay_ms(self.attributes.notify_strategy, delivery.attempts, jitter)
        if delay is None:
            self._drop(delivery, reason, now)
            return None
        delivery.due = now + delay
        heappush(self._retrying, (delivery.due, next(self._order), delivery))
        return delivery.due

    def _drop(self, delivery: Delivery, reason: str, now: int) -> None:
        self.dropped += 1
        self.last_error = reason
        self.last_error_time = now
        delivery.message.release()

    def advance(self, now: int) -> int:
        """Move retries that are due back to ``ready``; how many moved."""
        heap = self._retrying
        moved = 0
        while heap and heap[0][0] <= now:
            self.ready.append(heappop(heap)[2])
            moved += 1
        return moved

    def next_due(self) -> int | None:
        return self._retrying[0][0] if self._retrying else None

    def scheduled_retries(self, limit: int = 100) -> list[tuple[int, str, int]]:
        """(due ms, message id, attempts so far) of the earliest ``limit`` retries."""
        return [(due, d.message.message_id, d.attempts)
                for due, _, d in nsmallest(limit, self._retrying)]

    def discard(self) -> int:
        """Forget every pending delivery (unsubscribe, topic deletion); how many."""
        self.closed = True
        dropped = [*self.ready, *(entry[2] for entry in self._retrying)]
        self.ready.clear()
        self._retrying.clear()
        for delivery in dropped:
            delivery.message.release()
        return len(dropped)

    @property
    def retrying(self) -> int:
        return len(self._retrying)

    @property
    def pending(self) -> int:
        return len(self.ready) + self.in_flight

    def deliveries(self) -> list[Delivery]:
        """Every pending delivery: in flight, ready, retrying."""
        return [*self._flying, *self.ready, *(entry[2] for entry in self._retrying)]

    def take_message(self, message_id: str) -> Delivery | None:
        """Start the ready delivery of one message (replaying a journal's push
        outcome); None if it is not ready."""
        for delivery in self.ready:
            if delivery.message.message_id == message_id:
                self.ready.remove(delivery)
                self.start(delivery)
                return delivery
        return None

    # -- snapshots -------------------------------------------------------------------------

    def export(self) -> list:
        """Plain values for a snapshot. Attempts in flight are saved as ready:
        after a restart they are made again (pushes are at least once)."""
        a = self.attributes
        # An attempt in flight has not happened yet as far as the snapshot goes:
        # its outcome, journaled later, starts it again on replay.
        flying = [[d.message.message_id, d.attempts - 1] for d in self._flying]
        return [
            self.name, a.endpoint.text, a.notify_strategy, a.notify_content_format, a.filter_tag,
            self.create_time, self.last_modify_time,
            [self.delivered, self.dropped, self.attempts - len(flying), self.failures,
             self.failure_streak],
            self.last_error, self.last_error_time,
            flying + [[d.message.message_id, d.attempts] for d in self.ready],
            [[due, d.message.message_id, d.attempts] for due, _, d in sorted(self._retrying)],
        ]

    @classmethod
    def restore(
        cls, topic_name: str, data: list, messages: dict[str, "TopicMessageRecord"]
    ) -> "SubscriptionState":
        (name, endpoint, strategy, fmt, tag, create, modify, counters, last_error,
         last_error_time, ready, retrying) = data
        attributes = SubscriptionAttributes(parse_endpoint(endpoint), strategy, fmt, tag)
        sub = cls(topic_name, name, attributes, create)
        sub.last_modify_time = modify
        sub.delivered, sub.dropped, sub.attempts, sub.failures, sub.failure_streak = counters
        sub.last_error, sub.last_error_time = last_error, last_error_time
        for message_id, attempts in ready:
            delivery = Delivery(messages[message_id])
            delivery.attempts = attempts
            delivery.message.outstanding += 1
            sub.ready.append(delivery)
        for due, message_id, attempts in retrying:
            delivery = Delivery(messages[message_id])
            delivery.attempts, delivery.due = attempts, due
            delivery.message.outstanding += 1
            heappush(sub._retrying, (due, next(sub._order), delivery))
        return sub

    # -- views -----------------------------------------------------------------------------

    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(
            delivered=self.delivered,
            pending=self.pending,
            retrying=self.retrying,
            dropped=self.dropped,
            attempts=self.attempts,
            failures=self.failures,
            last_error=self.last_error,
            last_error_time=self.last_error_time,
            next_retry_time=self.next_due(),
        )

    def meta(self, owner: str) -> SubscriptionMeta:
        attributes = self.attributes
        return SubscriptionMeta(
            topic_owner=owner,
            topic_name=self.topic_name,
            subscription_name=self.name,
            endpoint=attributes.endpoint.text,
            notify_strategy=attributes.notify_strategy,
            notify_content_format=attributes.notify_content_format,
            filter_tag=attributes.filter_tag,
            create_time=self.create_time // 1000,
            last_modify_time=self.last_modify_time // 1000,
        )
