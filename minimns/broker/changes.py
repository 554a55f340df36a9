"""Every state change of a broker, as a record and the function that applies it.

A change is a list ``[op, now, *args]`` of plain values. ``Broker.change``
applies it and, in durable mode, appends it to the journal; recovery applies
the same records again. Because the core is deterministic given ``now`` and
these arguments (ids and handles come from tokens in the records, retry
jitter from the message and attempt), replay rebuilds exactly the state that
was acknowledged. Anything that changes state goes through here: a feature
adds an op and its function, and is durable.

Reads (attributes, peek, listing) apply what time made due but record
nothing: that catch-up gives the same state whenever it runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..core.message import properties_from_list
from ..core.subscription import SubscriptionAttributes, SubscriptionState

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Changes"]

log = logging.getLogger("minimns.broker")


class Changes:
    """The broker's appliers, one per op (mixed into ``Broker``)."""

    def _appliers(self: "Broker") -> dict[str, Callable[..., Any]]:
        return {
            "cq": self._create_queue,
            "sq": self._set_queue_attributes,
            "dq": self._delete_queue,
            "s": self._send,
            "bs": self._batch_send,
            "r": self._receive,
            "d": self._delete_message,
            "bd": self._batch_delete,
            "cv": self._change_visibility,
            "dl": self._move_dead_letters_of,
            "ct": self._create_topic,
            "st": self._set_topic_attributes,
            "dt": self._delete_topic,
            "sub": self._subscribe,
            "ss": self._set_subscription_strategy,
            "us": self._unsubscribe,
            "p": self._publish,
            "po": self._push_outcome,
            "due": self._local_due,
            "meta": self._meta,
            "la": self._set_logging_bucket,
            "as": self._set_account_settings,
            "clock": self._clock_reached,
            "sms": self._sms_change,
        }

    def _sms_change(self: "Broker", now: int, op: str, args: dict) -> Any:
        """Any SMS change (see broker/sms.py; sends through a topic replay with "p")."""
        return self._sms.apply(now, op, args)

    def _clock_reached(self: "Broker", now: int) -> None:
        """The clock reached ``now`` (recorded at a clean close): recovery resumes from it."""

    def _meta(self: "Broker", now: int, meta: dict) -> None:
        """A new data directory's first record: the push jitter key."""
        self._pushes.seed = meta["push_seed"]

    def _set_account_settings(self: "Broker", now: int, changes: dict) -> None:
        """The OpenAPI's SetAccountAttributes and Enable / DisableEndpoint."""
        self.settings.update((k, v) for k, v in changes.items() if k in self.settings)

    def _set_logging_bucket(self: "Broker", now: int, bucket: str) -> None:
        """SetAccountAttributes: the account's LoggingBucket."""
        self.logging_bucket = bucket

    # -- queues ------------------------------------------------------------------------------

    def _create_queue(self: "Broker", now: int, name: str, token: int, attributes: dict) -> bool:
        state, created = self.account.create_queue(now, name, token, **attributes)
        if created:
            self._lots[name] = self._new_lot()
        self._settle(state)
        return created

    def _set_queue_attributes(self: "Broker", now: int, name: str, changes: dict) -> None:
        self._state(name)  # QueueNotExist first, as MNS answers
        self._settle(self.account.set_queue_attributes(now, name, **changes))

    def _delete_queue(self: "Broker", now: int, name: str) -> None:
        state = self.account.delete_queue(name)
        if state is not None:
            self._timer.cancel(state)
            self._lots.pop(name).wake_all()  # waiters wake to QueueNotExist

    def _send(self: "Broker", now: int, name: str, body: str, delay: Any, priority: Any,
              properties: list | None) -> Any:
        state = self._state(name)
        sent = state.send(now, body, delay, priority, properties_from_list(properties))
        self._settle(state)
        return sent

    def _batch_send(self: "Broker", now: int, name: str, messages: list) -> list:
        state = self._state(name)
        results = state.batch_send(
            now, [(b, d, p, properties_from_list(props)) for b, d, p, props in messages]
        )
        self._settle(state)
        return results

    def _receive(self: "Broker", now: int, name: str, count: int) -> list:
        state = self._state(name)
        got = state.receive(now, count)
        if got:
            self._settle(state)
        return got

    def _delete_message(self: "Broker", now: int, name: str, handle: str) -> None:
        self._state(name).delete(now, handle)

    def _batch_delete(self: "Broker", now: int, name: str, handles: list) -> dict:
        return self._state(name).batch_delete(now, handles)

    def _change_visibility(self: "Broker", now: int, name: str, handle: str, timeout: int) -> Any:
        state = self._state(name)
        changed = state.change_visibility(now, handle, timeout)
        self._settle(state)
        return changed

    def _move_dead_letters_of(self: "Broker", now: int, name: str) -> None:
        """One queue's dead letters move to its DlqPolicy's target in one change: out of
        the source and into the target together, or (the target deleted since) dropped."""
        source = self._state(name)
        letters = source.take_dead_letters(now)
        if not letters:
            return
        target_name = source.attributes.dlq_policy.dead_letter_target_queue
        target = self._queues.get(target_name)
        if target is None:
            log.warning("queue %s: %d dead letters dropped, their dead-letter queue %s "
                        "does not exist", name, len(letters), target_name)
            return
        target.accept_dead_letters(now, letters, self.queue_arn(name))
        self._settle(target)

    # -- topics ------------------------------------------------------------------------------

    def _create_topic(self: "Broker", now: int, name: str, token: int, attributes: dict) -> bool:
        return self.account.create_topic(now, name, token, **attributes)[1]

    def _set_topic_attributes(self: "Broker", now: int, name: str, changes: dict) -> None:
        self.account.topic(name).set_attributes(now, **changes)

    def _delete_topic(self: "Broker", now: int, name: str) -> None:
        topic = self.account.topics.get(name)
        if topic is not None:
            subscriptions = list(topic.subscriptions.values())
            self.account.delete_topic(name)
            for subscription in subscriptions:
                self._pushes.forget(subscription)

    def _subscribe(self: "Broker", now: int, topic: str, name: str, attributes: list) -> bool:
        endpoint, strategy, fmt, tag = attributes
        made = SubscriptionAttributes.make(endpoint, strategy, fmt, tag)
        return self.account.topic(topic).subscribe(now, name, made)[1]

    def _set_subscription_strategy(self: "Broker", now: int, topic: str, name: str,
                                   strategy: str) -> None:
        self.account.topic(topic).subscription(name).set_notify_strategy(now, strategy)

    def _unsubscribe(self: "Broker", now: int, topic: str, name: str) -> None:
        subscription = self.account.topic(topic).unsubscribe(name)
        if subscription is not None:
            self._pushes.forget(subscription)

    def _publish(self: "Broker", now: int, topic: str, body: str, tag: Any, attributes: dict,
                 properties: list | None) -> Any:
        record, deliveries = self.account.topic(topic).publish(
            now, body, tag, attributes, properties_from_list(properties)
        )
        self._pushes.fan_out(deliveries, now)
        return record

    def _subscription(self: "Broker", topic: str, name: str) -> SubscriptionState | None:
        state = self.account.topics.get(topic)
        return None if state is None else state.subscriptions.get(name)

    def _push_outcome(self: "Broker", now: int, topic: str, name: str, message_id: str,
                      reason: str | None) -> None:
        """Replay of an HTTP push's outcome (live pushes record it, see PushEngine)."""
        subscription = self._subscription(topic, name)
        if subscription is None:
            return
        subscription.advance(now)
        delivery = subscription.take_message(message_id)
        if delivery is not None:
            self._pushes.settle_outcome(subscription, delivery, reason, now)

    def _local_due(self: "Broker", now: int, topic: str, name: str) -> None:
        """Retries of a local endpoint coming due (they change queues, so they are recorded)."""
        subscription = self._subscription(topic, name)
        if subscription is not None:
            self._pushes.run_local_due(subscription, now)
