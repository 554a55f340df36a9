"""How each change type (changes.py) changes the broker's state: one applier per type.

``Broker.commit`` finds the applier by the change's type and calls it, live and
in replay alike; an applier that raises an MNS error has changed nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..core.subscription import SubscriptionAttributes, SubscriptionState
from . import changes as c

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Appliers"]

log = logging.getLogger("minimns.broker")


class Appliers:
    """The broker's appliers, one per change type (mixed into ``Broker``)."""

    def _appliers(self: "Broker") -> dict[type, Callable[[Any], Any]]:
        return {
            c.CreateQueue: self._create_queue,
            c.SetQueueAttributes: self._set_queue_attributes,
            c.DeleteQueue: self._delete_queue,
            c.SendMessage: self._send,
            c.BatchSendMessage: self._batch_send,
            c.ReceiveMessages: self._receive,
            c.DeleteMessage: self._delete_message,
            c.BatchDeleteMessage: self._batch_delete,
            c.ChangeVisibility: self._change_visibility,
            c.MoveDeadLetters: self._move_dead_letters_of,
            c.CreateTopic: self._create_topic,
            c.SetTopicAttributes: self._set_topic_attributes,
            c.DeleteTopic: self._delete_topic,
            c.Subscribe: self._subscribe,
            c.SetNotifyStrategy: self._set_notify_strategy,
            c.Unsubscribe: self._unsubscribe,
            c.PublishMessage: self._publish,
            c.PushOutcome: self._push_outcome,
            c.LocalRetriesDue: self._local_due,
            c.DataDirectoryMeta: self._meta,
            c.SetLoggingBucket: self._set_logging_bucket,
            c.SetAccountSettings: self._set_account_settings,
            c.ClockReached: self._clock_reached,
            c.SmsChange: self._sms_change,
        }

    def _sms_change(self: "Broker", change: c.SmsChange) -> Any:
        return self._sms.apply(change.now, change.op, change.args)

    def _clock_reached(self: "Broker", change: c.ClockReached) -> None:
        """Nothing changes: the record only moves recovery's clock on."""

    def _meta(self: "Broker", change: c.DataDirectoryMeta) -> None:
        self._pushes.seed = change.meta["push_seed"]

    def _set_logging_bucket(self: "Broker", change: c.SetLoggingBucket) -> None:
        """SetAccountAttributes (REST): the account's LoggingBucket."""
        self.logging_bucket = change.bucket

    def _set_account_settings(self: "Broker", change: c.SetAccountSettings) -> None:
        self.settings.update((k, v) for k, v in change.settings.items() if k in self.settings)

    # -- queues ------------------------------------------------------------------------------

    def _create_queue(self: "Broker", change: c.CreateQueue) -> bool:
        state, created = self.account.create_queue(
            change.now, change.queue_name, change.token, **change.attributes)
        if created:
            self._lots[change.queue_name] = self._new_lot()
        self.wake_and_schedule(state)
        return created

    def _set_queue_attributes(self: "Broker", change: c.SetQueueAttributes) -> None:
        self.queue_state(change.queue_name)  # QueueNotExist first, as MNS answers
        self.wake_and_schedule(self.account.set_queue_attributes(
            change.now, change.queue_name, **change.attributes))

    def _delete_queue(self: "Broker", change: c.DeleteQueue) -> None:
        state = self.account.delete_queue(change.queue_name)
        if state is not None:
            self._timer.cancel(state)
            self._lots.pop(change.queue_name).wake_all()  # waiters wake to QueueNotExist

    def _send(self: "Broker", change: c.SendMessage) -> Any:
        state = self.queue_state(change.queue_name)
        sent = state.send(change.now, change.body, change.delay_seconds, change.priority,
                          change.properties)
        self.wake_and_schedule(state)
        return sent

    def _batch_send(self: "Broker", change: c.BatchSendMessage) -> list:
        state = self.queue_state(change.queue_name)
        results = state.batch_send(change.now, change.messages)
        self.wake_and_schedule(state)
        return results

    def _receive(self: "Broker", change: c.ReceiveMessages) -> list:
        state = self.queue_state(change.queue_name)
        got = state.receive(change.now, change.count)
        if got:
            self.wake_and_schedule(state)
        return got

    def _delete_message(self: "Broker", change: c.DeleteMessage) -> None:
        self.queue_state(change.queue_name).delete(change.now, change.receipt_handle)

    def _batch_delete(self: "Broker", change: c.BatchDeleteMessage) -> dict:
        return self.queue_state(change.queue_name).batch_delete(change.now, change.receipt_handles)

    def _change_visibility(self: "Broker", change: c.ChangeVisibility) -> Any:
        state = self.queue_state(change.queue_name)
        changed = state.change_visibility(change.now, change.receipt_handle,
                                          change.visibility_timeout)
        self.wake_and_schedule(state)
        return changed

    def _move_dead_letters_of(self: "Broker", change: c.MoveDeadLetters) -> None:
        """Out of the source and into the target together, or (the target deleted
        since) dropped, with a warning."""
        name = change.queue_name
        source = self.queue_state(name)
        letters = source.take_dead_letters(change.now)
        by_target: dict[str, list] = {}
        for letter in letters:  # each to the target named when it became a dead letter
            by_target.setdefault(letter.target, []).append(letter)
        for target_name, group in by_target.items():
            target = self._queues.get(target_name)
            if target is None:
                log.warning("queue %s: its dead-letter queue %s does not exist; %d messages "
                            "stay in %s", name, target_name, len(group), name)
                source.return_dead_letters(change.now, group)
                self.wake_and_schedule(source)
                continue
            target.accept_dead_letters(change.now, group, self.queue_arn(name))
            self.wake_and_schedule(target)

    # -- topics ------------------------------------------------------------------------------

    def _create_topic(self: "Broker", change: c.CreateTopic) -> bool:
        return self.account.create_topic(
            change.now, change.topic_name, change.token, **change.attributes)[1]

    def _set_topic_attributes(self: "Broker", change: c.SetTopicAttributes) -> None:
        self.account.topic(change.topic_name).set_attributes(change.now, **change.attributes)

    def _delete_topic(self: "Broker", change: c.DeleteTopic) -> None:
        topic = self.account.topics.get(change.topic_name)
        if topic is not None:
            subscriptions = list(topic.subscriptions.values())
            self.account.delete_topic(change.topic_name)
            for subscription in subscriptions:
                self._pushes.forget(subscription)

    def _subscribe(self: "Broker", change: c.Subscribe) -> bool:
        made = SubscriptionAttributes.make(*change.attributes)
        topic = self.account.topic(change.topic_name)
        return topic.subscribe(change.now, change.subscription_name, made)[1]

    def _set_notify_strategy(self: "Broker", change: c.SetNotifyStrategy) -> None:
        subscription = self.account.topic(change.topic_name).subscription(change.subscription_name)
        subscription.set_notify_strategy(change.now, change.notify_strategy)

    def _unsubscribe(self: "Broker", change: c.Unsubscribe) -> None:
        subscription = self.account.topic(change.topic_name).unsubscribe(change.subscription_name)
        if subscription is not None:
            self._pushes.forget(subscription)

    def _publish(self: "Broker", change: c.PublishMessage) -> Any:
        record, deliveries = self.account.topic(change.topic_name).publish(
            change.now, change.body, change.message_tag, change.message_attributes,
            change.properties)
        self._pushes.fan_out(deliveries, change.now)
        return record

    def _subscription(self: "Broker", topic: str, name: str) -> SubscriptionState | None:
        state = self.account.topics.get(topic)
        return None if state is None else state.subscriptions.get(name)

    def _push_outcome(self: "Broker", change: c.PushOutcome) -> None:
        subscription = self._subscription(change.topic_name, change.subscription_name)
        if subscription is None:
            return
        delivery = change.delivery
        if delivery is None:  # replay: the delivery waits under its message id
            subscription.advance(change.now)
            delivery = subscription.take_message(change.message_id)
        if delivery is not None:
            self._pushes.apply_outcome(subscription, delivery, change.reason, change.now)

    def _local_due(self: "Broker", change: c.LocalRetriesDue) -> None:
        subscription = self._subscription(change.topic_name, change.subscription_name)
        if subscription is not None:
            self._pushes.run_local_due(subscription, change.now)
