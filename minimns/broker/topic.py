"""The async Topic and Subscription handles: the official SDK's topic methods, in process.

Like ``Queue``, a handle is a name and a broker: it finds its topic afresh on
every call. Every method is a trio checkpoint that, once it changed state,
is not cancelled afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from ..core.subscription import SubscriptionMeta, SubscriptionStats
from ..core.topic import PublishedMessage, TopicMessage, TopicMeta
from ..errors import InvalidArgument
from .changes import (
    DeleteTopic,
    PublishMessage,
    SetNotifyStrategy,
    SetTopicAttributes,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Subscription", "Topic"]


class Topic:
    def __init__(self, broker: "Broker", topic_name: str) -> None:
        self.broker = broker
        self.topic_name = topic_name

    def __repr__(self) -> str:
        return f"<Topic {self.topic_name!r}>"

    async def create(self, **attributes: object) -> "Topic":
        return await self.broker.create_topic(self.topic_name, **attributes)

    async def get_attributes(self) -> TopicMeta:
        await checkpoint_if_cancelled()
        meta = self.broker.account.topic(self.topic_name).meta()
        await cancel_shielded_checkpoint()
        return meta

    async def set_attributes(
        self, *, maximum_message_size: int | None = None, logging_enabled: bool | None = None
    ) -> None:
        broker = self.broker
        changes = {"maximum_message_size": maximum_message_size, "logging_enabled": logging_enabled}
        await broker.perform(SetTopicAttributes(broker.now(), self.topic_name, changes))

    async def delete(self) -> None:
        """Delete the topic, its subscriptions and their pending pushes (missing is no error)."""
        broker = self.broker
        await broker.perform(DeleteTopic(broker.now(), self.topic_name))

    async def publish_message(
        self, message: str | TopicMessage, *, message_tag: str | None = None
    ) -> PublishedMessage:
        """Publish a body (or a ``TopicMessage``) to every subscription whose filter takes it.
        Queue, mail and SMS copies are delivered when this returns; HTTP pushes are under way."""
        await checkpoint_if_cancelled()
        published = self.publish_message_nowait(message, message_tag=message_tag)
        await self.broker.acknowledge()
        return published

    def publish_message_nowait(
        self, message: str | TopicMessage, *, message_tag: str | None = None
    ) -> PublishedMessage:
        """``publish_message`` without its checkpoint, for an edge that awaits
        ``broker.durable()`` itself."""
        broker = self.broker
        if type(message) is str:
            change = PublishMessage(broker.now(), self.topic_name, message, message_tag, {})
        elif isinstance(message, TopicMessage):
            if message_tag is not None:
                raise InvalidArgument("Give the tag in the TopicMessage.")
            change = PublishMessage(broker.now(), self.topic_name, message.message_body,
                                    message.message_tag, message.attributes(),
                                    message.properties())
        else:
            raise InvalidArgument("A message should be a str or a minimns.TopicMessage.")
        record = broker.commit(change)
        return PublishedMessage(
            record.message_id, record.body_md5, record.properties.message_group_id
        )

    async def list_subscription(
        self, prefix: str = "", ret_number: int = 1000, marker: str = ""
    ) -> tuple[list[str], str]:
        """(subscription names, next marker); "" as the marker means the last page."""
        await checkpoint_if_cancelled()
        found, next_marker = self.broker.account.topic(self.topic_name).list_subscriptions(
            prefix, ret_number, marker
        )
        await cancel_shielded_checkpoint()
        return [s.name for s in found], next_marker

    def get_subscription(self, subscription_name: str) -> "Subscription":
        return Subscription(self.broker, self.topic_name, subscription_name)

    async def subscribe(
        self,
        subscription_name: str,
        endpoint: str,
        *,
        notify_strategy: str | None = None,
        notify_content_format: str | None = None,
        filter_tag: str | None = None,
    ) -> "Subscription":
        """Subscribe ``endpoint`` under ``subscription_name`` (see ``Subscription.subscribe``)."""
        return await self.get_subscription(subscription_name).subscribe(
            endpoint,
            notify_strategy=notify_strategy,
            notify_content_format=notify_content_format,
            filter_tag=filter_tag,
        )


class Subscription:
    def __init__(self, broker: "Broker", topic_name: str, subscription_name: str) -> None:
        self.broker = broker
        self.topic_name = topic_name
        self.subscription_name = subscription_name

    def __repr__(self) -> str:
        return f"<Subscription {self.topic_name!r}/{self.subscription_name!r}>"

    async def subscribe(
        self,
        endpoint: str,
        *,
        notify_strategy: str | None = None,
        notify_content_format: str | None = None,
        filter_tag: str | None = None,
    ) -> "Subscription":
        """Create the subscription. An identical one is found as is; any difference
        is SubscriptionAlreadyExist. Defaults as MNS: BACKOFF_RETRY, XML (SIMPLIFIED
        for mail and SMS endpoints), no filter tag."""
        broker = self.broker
        attributes = [endpoint, notify_strategy, notify_content_format, filter_tag]
        await broker.perform(Subscribe(broker.now(), self.topic_name, self.subscription_name,
                                       attributes))
        return self

    async def get_attributes(self) -> SubscriptionMeta:
        await checkpoint_if_cancelled()
        broker = self.broker
        state = broker.account.topic(self.topic_name).subscription(self.subscription_name)
        meta = state.meta(broker.account_id)
        await cancel_shielded_checkpoint()
        return meta

    async def set_attributes(self, *, notify_strategy: str | None = None) -> None:
        """Change the NotifyStrategy, the one attribute MNS lets change; None changes nothing."""
        await checkpoint_if_cancelled()
        broker = self.broker
        broker.account.topic(self.topic_name).subscription(self.subscription_name)  # exists?
        if notify_strategy is not None:
            broker.commit(SetNotifyStrategy(broker.now(), self.topic_name,
                                            self.subscription_name, notify_strategy))
        await broker.acknowledge()

    async def unsubscribe(self) -> None:
        """Remove the subscription and cancel its pending pushes (missing is no error)."""
        broker = self.broker
        await broker.perform(Unsubscribe(broker.now(), self.topic_name, self.subscription_name))

    def stats(self) -> SubscriptionStats:
        """Delivered, pending, retrying and dropped counts and the last error, right now."""
        broker = self.broker
        return broker.account.topic(self.topic_name).subscription(self.subscription_name).stats()
