"""Push delivery: carrying out a topic's deliveries, each subscription on its own.

Local endpoints (queues, mail, SMS) are delivered inside the broker, at once
and in order: a publish returns with its queue copies already enqueued. HTTP
endpoints get one worker task per subscription while it has work, running up
to ``concurrency`` pushes at a time, so a dead or slow endpoint only ever
holds up its own subscription. Failures are retried on the NotifyStrategy's
schedule through the broker's one timer.
"""

from __future__ import annotations

import hashlib
import logging
import random
from email.utils import formatdate
from typing import TYPE_CHECKING, Protocol

import trio

from ..core.endpoint import HTTP, MAIL, QUEUE, SMS
from ..core.notification import SIMPLIFIED, notification_body, notification_fields, push_headers
from ..core.subscription import Delivery, SubscriptionState
from ..errors import MNSError
from .changes import LocalRetriesDue, PushOutcome
from .outbox import LocalDelivery, Outbox

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["PushEngine", "Pusher"]

log = logging.getLogger("minimns.push")

PUSH_CONCURRENCY = 16  # HTTP pushes in flight per subscription
BACKOFF_AFTER = 3  # failures in a row before an endpoint is pushed one at a time
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 1.0  # seconds paused after each further failure


class Pusher(Protocol):
    """Sends one HTTP push; raises on failure (``.reason`` or ``str`` says why)."""

    async def push(self, url: str, headers: list[tuple[str, str]], body: bytes) -> int: ...


class _Worker:
    """The HTTP worker of one subscription while it has work."""

    __slots__ = ("scope", "lot", "running")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.lot = trio.lowlevel.ParkingLot()
        self.running = 0


class PushEngine:
    def __init__(
        self,
        broker: "Broker",
        pusher: Pusher | None,
        rng: random.Random,
        concurrency: int = PUSH_CONCURRENCY,
    ) -> None:
        self.broker = broker
        self.pusher = pusher
        self.outbox = Outbox()
        self.concurrency = concurrency
        self.seed = rng.getrandbits(64)  # jitter key: kept by durable mode
        self._workers: dict[SubscriptionState, _Worker] = {}
        self._idle = trio.lowlevel.ParkingLot()
        self._request_prefix = f"{rng.getrandbits(48):012X}"
        self._request_count = 0

    # -- what the broker calls -------------------------------------------------------------

    def fan_out(self, deliveries: list[tuple[SubscriptionState, Delivery]], now: int) -> None:
        """Start a publish's deliveries: local ones now, HTTP ones on their workers."""
        for subscription, delivery in deliveries:
            if subscription.endpoint.kind == HTTP:
                if subscription.offer(delivery, now):
                    self._kick(subscription)
            else:
                subscription.start(delivery)
                self._attempt_local(subscription, delivery, now)

    def on_due(self, subscription: SubscriptionState) -> None:
        """The timer fired for a subscription: its due retries are ready again."""
        if subscription.closed:
            return
        now = self.broker.now()
        if subscription.endpoint.kind == HTTP:
            subscription.advance(now)
            self._kick(subscription)
            self._schedule(subscription)
        else:  # retries into queues change them: a recorded change
            self.broker.commit(LocalRetriesDue(now, subscription.topic_name, subscription.name))
        self._wake_idle()

    def resume(self, subscription: SubscriptionState) -> None:
        """After recovery: schedule the subscription's retries, restart its pushes."""
        self._schedule(subscription)
        if subscription.endpoint.kind == HTTP:
            self._kick(subscription)

    def run_local_due(self, subscription: SubscriptionState, now: int) -> None:
        """Attempt a local subscription's retries that are due at ``now``."""
        subscription.advance(now)
        while (delivery := subscription.take()) is not None:
            self._attempt_local(subscription, delivery, now)
        self._schedule(subscription)

    def apply_outcome(
        self, subscription: SubscriptionState, delivery: Delivery, reason: str | None, now: int
    ) -> None:
        """An attempt ended: the subscription decides (delivered, retried or dropped,
        core/subscription.py); here its retry is scheduled, or a drop logged."""
        due = subscription.outcome(delivery, reason, now, self.seed)
        if due is not None:
            self.broker.schedule(subscription, due)
        elif reason is not None and not subscription.closed:
            log.warning(
                "push of message %s to %s/%s (%s) dropped after %d attempts: %s",
                delivery.message.message_id, subscription.topic_name, subscription.name,
                subscription.endpoint.text, delivery.attempts, reason,
            )

    def forget(self, subscription: SubscriptionState) -> None:
        """The subscription is gone (its pending deliveries already discarded):
        stop its timer and cancel its pushes in flight."""
        self.broker.unschedule(subscription)
        worker = self._workers.pop(subscription, None)
        if worker is not None:
            worker.scope.cancel()
        self._wake_idle()

    def busy(self, include_retries: bool) -> bool:
        """Whether any subscription still has a push waiting, in flight, or (with
        ``include_retries``) scheduled for a retry."""
        for topic in self.broker.account.topics.values():
            for subscription in topic.subscriptions.values():
                if subscription.pending or (include_retries and subscription.retrying):
                    return True
        return False

    async def wait_settled(self, include_retries: bool = False) -> None:
        while self.busy(include_retries):
            await self._idle.park()
        await trio.lowlevel.checkpoint()

    # -- local endpoints -------------------------------------------------------------------

    def _attempt_local(self, subscription: SubscriptionState, delivery: Delivery, now: int) -> None:
        try:
            reason = self._deliver_local(subscription, delivery, now)
        except Exception:  # a handler's bug must not break publishing
            log.exception("delivery to %s failed", subscription.endpoint.text)
            reason = "InternalError: the delivery raised an exception"
        self.apply_outcome(subscription, delivery, reason, now)

    def _deliver_local(
        self, subscription: SubscriptionState, delivery: Delivery, now: int
    ) -> str | None:
        broker = self.broker
        endpoint = subscription.endpoint
        message = delivery.message
        if endpoint.kind == QUEUE:
            state = broker.account.queues.get(endpoint.target)
            if state is None:
                return f"QueueNotExist: the queue {endpoint.target} does not exist."
            try:
                state.send(now, self._body(subscription, delivery), None, None, message.properties)
            except MNSError as error:
                return f"{error.code}: {error.message}"
            broker.wake_and_schedule(state)
            return None
        assert endpoint.kind in (MAIL, SMS)
        return self.outbox.deliver(
            LocalDelivery(
                kind=endpoint.kind,
                topic_name=subscription.topic_name,
                subscription_name=subscription.name,
                endpoint=endpoint.text,
                address=endpoint.target,
                message_id=message.message_id,
                message_body=message.body,
                message_tag=message.tag,
                message_attributes=dict(message.attributes),
                time=now,
            )
        )

    def _body(self, subscription: SubscriptionState, delivery: Delivery) -> str:
        fmt = subscription.attributes.notify_content_format
        message = delivery.message
        if fmt == SIMPLIFIED:
            return message.body
        return notification_body(fmt, self._fields(subscription, delivery))

    def _fields(self, subscription: SubscriptionState, delivery: Delivery) -> list[tuple[str, str]]:
        message = delivery.message
        return notification_fields(
            self.broker.account_id,
            subscription.topic_name,
            subscription.name,
            message.message_id,
            message.body,
            message.body_md5,
            message.tag,
            message.publish_time,
        )

    # -- HTTP endpoints --------------------------------------------------------------------

    def _kick(self, subscription: SubscriptionState) -> None:
        if not subscription.ready:
            return
        worker = self._workers.get(subscription)
        if worker is None:
            worker = self._workers[subscription] = _Worker()
            self.broker.start_soon(self._work, subscription, worker)
        elif worker.running < self._limit(subscription):
            worker.lot.unpark()  # else a slot frees when a push ends, and that wakes it

    def _limit(self, subscription: SubscriptionState) -> int:
        """Pushes in flight allowed: one at a time while backing off."""
        return 1 if subscription.failure_streak >= BACKOFF_AFTER else self.concurrency

    async def _work(self, subscription: SubscriptionState, worker: _Worker) -> None:
        with worker.scope:
            async with trio.open_nursery() as nursery:
                while True:
                    limit = self._limit(subscription)
                    while worker.running < limit:
                        delivery = subscription.take()
                        if delivery is None:
                            break
                        worker.running += 1
                        nursery.start_soon(self._push, subscription, worker, delivery)
                    if worker.running == 0:
                        break
                    await worker.lot.park()
        if self._workers.get(subscription) is worker:
            del self._workers[subscription]
            if subscription.ready:  # became ready as the worker was leaving
                self._kick(subscription)

    async def _push(self, subscription: SubscriptionState, worker: _Worker, delivery: Delivery) -> None:
        reason: str | None = None
        try:
            url, headers, body = self._request(subscription, delivery)
            if self.pusher is None:  # a Broker made without an edge's pusher
                raise RuntimeError("no HTTP pusher: run the broker with minimns.open_broker")
            await self.pusher.push(url, headers, body)
        except trio.Cancelled:
            subscription.abandoned(delivery)
            raise
        except Exception as error:  # any failure is the push's, never the broker's
            reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
        now = self.broker.now()
        if subscription.closed:  # unsubscribed meanwhile: nothing left to change
            self.apply_outcome(subscription, delivery, reason, now)
        else:
            self.broker.commit(PushOutcome(now, subscription.topic_name, subscription.name,
                                           delivery.message.message_id, reason, delivery))
        self._wake_idle()
        streak = subscription.failure_streak - BACKOFF_AFTER
        if reason is not None and streak >= 0:  # hold this push's slot: the next one waits
            await trio.sleep(min(BACKOFF_FIRST * 2 ** min(streak, 16), BACKOFF_MAX))
        worker.running -= 1
        worker.lot.unpark()

    def _request(
        self, subscription: SubscriptionState, delivery: Delivery
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        fmt = subscription.attributes.notify_content_format
        fields = self._fields(subscription, delivery)
        body = notification_body(fmt, fields).encode("utf-8")
        self._request_count += 1
        headers = push_headers(
            fmt,
            fields,
            body_md5_bytes(body),
            formatdate(self.broker.now() / 1000, usegmt=True),
            f"{self._request_prefix}{self._request_count:012X}",
        )
        return subscription.endpoint.target, headers, body

    def _schedule(self, subscription: SubscriptionState) -> None:
        due = subscription.next_due()
        if due is not None:
            self.broker.schedule(subscription, due)

    def _wake_idle(self) -> None:
        if len(self._idle):
            self._idle.unpark_all()


def body_md5_bytes(body: bytes) -> str:
    """Content-md5 of a push: upper-case hex MD5 of the bytes sent."""
    return hashlib.md5(body).hexdigest().upper()
