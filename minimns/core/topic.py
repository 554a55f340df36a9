"""A topic: its attributes, its subscriptions, and publishing with fan-out.

``publish`` validates one message against the topic and hands back one
``Delivery`` per subscription whose filter takes it; the broker carries
them out. A published message counts in the topic's MessageCount until every
delivery of it has succeeded or been dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sortedcontainers import SortedDict

from ..errors import (
    InvalidArgument,
    SubscriptionAlreadyExist,
    SubscriptionNameInvalid,
    SubscriptionNameLengthError,
    SubscriptionNotExist,
    SubscriptionNumExceeded,
)
from .attributes import check_name, check_range, make_tags, parse_bool
from .message import (
    NO_PROPERTIES,
    Properties,
    body_md5,
    check_body,
    list_properties,
    make_properties,
    properties_from_list,
    utf8_size,
)
from .paging import RET_NUMBER_MAX, page
from .catalog import create_or_match
from .receipt import id_prefix, message_id
from .subscription import FILTER_TAG_MAX, Delivery, SubscriptionAttributes, SubscriptionState

__all__ = [
    "MESSAGE_RETENTION_PERIOD",
    "SUBSCRIPTIONS_MAX",
    "PublishedMessage",
    "TopicAttributes",
    "TopicMessage",
    "TopicMessageRecord",
    "TopicMeta",
    "TopicState",
]

MESSAGE_RETENTION_PERIOD = 86400  # topic messages live one day; not settable
SUBSCRIPTIONS_MAX = 100
SUBSCRIPTION_NAME_MAX = 255
_JSON_ATTRIBUTES = ("DirectMail", "DirectSMS")


@dataclass(frozen=True, slots=True)
class TopicAttributes:
    maximum_message_size: int = 65536
    logging_enabled: bool = False
    tags: tuple[tuple[str, str], ...] = ()  # resource tags (the OpenAPI's Tag)

    def with_changes(self, **given: object) -> "TopicAttributes":
        """A validated copy; None leaves an attribute as it is. InvalidArgument
        for an unknown name or a value out of range, before anything changes."""
        changes: dict[str, object] = {}
        for key, value in given.items():
            if value is None:
                continue
            if key == "maximum_message_size":
                changes[key] = check_range("MaximumMessageSize", value, 1024, 65536, "bytes")
            elif key == "logging_enabled":
                changes[key] = parse_bool("LoggingEnabled", value)
            elif key == "tags":
                changes[key] = make_tags(value)
            else:
                raise InvalidArgument(f"Unknown topic attribute {key!r}.")
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TopicMeta:
    """GetTopicAttributes as MNS returns it; times in epoch seconds."""

    topic_name: str
    create_time: int
    last_modify_time: int
    maximum_message_size: int
    message_retention_period: int
    message_count: int
    logging_enabled: bool
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TopicMessage:
    """A message to publish, named as in the official SDK. ``direct_mail`` and
    ``direct_sms`` are the DirectMail / DirectSMS attributes as dicts (sent as
    JSON); ``message_attributes`` holds any attribute as its raw text."""

    message_body: str
    message_tag: str | None = None
    direct_mail: Mapping[str, object] | None = None
    direct_sms: Mapping[str, object] | None = None
    message_attributes: Mapping[str, str] | None = None
    message_group_id: str | None = None
    user_properties: object = None
    system_properties: object = None

    def attributes(self) -> dict[str, str]:
        out = dict(self.message_attributes or {})
        if self.direct_mail is not None:
            out["DirectMail"] = json.dumps(dict(self.direct_mail))
        if self.direct_sms is not None:
            out["DirectSMS"] = json.dumps(dict(self.direct_sms))
        return out

    def properties(self) -> Properties:
        return make_properties(self.message_group_id, self.user_properties, self.system_properties)


@dataclass(frozen=True, slots=True)
class PublishedMessage:
    """What a publish returns."""

    message_id: str
    message_body_md5: str
    message_group_id: str | None = None


class TopicMessageRecord:
    """A published message, shared by its deliveries; ``outstanding`` counts
    the deliveries not yet done with it."""

    __slots__ = (
        "topic",
        "message_id",
        "body",
        "body_md5",
        "tag",
        "publish_time",
        "attributes",
        "properties",
        "outstanding",
    )

    def __init__(
        self,
        topic: "TopicState",
        message_id: str,
        body: str,
        tag: str | None,
        publish_time: int,
        attributes: dict[str, str],
        properties: Properties,
    ) -> None:
        self.topic = topic
        self.message_id = message_id
        self.body = body
        self.body_md5 = body_md5(body)
        self.tag = tag
        self.publish_time = publish_time
        self.attributes = attributes
        self.properties = properties
        self.outstanding = 0

    def release(self) -> None:
        """One delivery is done (delivered, dropped or discarded)."""
        self.outstanding -= 1
        if self.outstanding == 0:
            self.topic.message_count -= 1


def check_subscription_name(name: object) -> str:
    return check_name(
        name,
        "Subscription",
        SUBSCRIPTION_NAME_MAX,
        SubscriptionNameLengthError,
        SubscriptionNameInvalid,
    )


def check_message_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """DirectMail and DirectSMS must hold JSON objects; any other attribute is kept as is."""
    out = {}
    for name, text in attributes.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise InvalidArgument("MessageAttributes should map names to strings.")
        if name in _JSON_ATTRIBUTES:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):  # RecursionError: nesting past any sense
                raise InvalidArgument(f"The {name} attribute should be a JSON object.") from None
            if not isinstance(value, dict):
                raise InvalidArgument(f"The {name} attribute should be a JSON object.")
        out[name] = text
    return out


class TopicState:
    def __init__(self, name: str, attributes: TopicAttributes, now: int, token: int) -> None:
        self.name = name
        self.attributes = attributes
        self.create_time = now
        self.last_modify_time = now
        self.subscriptions: SortedDict[str, SubscriptionState] = SortedDict()
        self.message_count = 0
        self.max_subscriptions = SUBSCRIPTIONS_MAX
        self.token = token
        self._id_prefix = id_prefix(token)
        self._seq = 0

    def __repr__(self) -> str:
        return f"<TopicState {self.name} subscriptions={len(self.subscriptions)}>"

    def set_attributes(self, now: int, **changes: object) -> None:
        self.attributes = self.attributes.with_changes(**changes)  # type: ignore[arg-type]
        self.last_modify_time = now

    def meta(self) -> TopicMeta:
        return TopicMeta(
            topic_name=self.name,
            create_time=self.create_time // 1000,
            last_modify_time=self.last_modify_time // 1000,
            maximum_message_size=self.attributes.maximum_message_size,
            message_retention_period=MESSAGE_RETENTION_PERIOD,
            message_count=self.message_count,
            logging_enabled=self.attributes.logging_enabled,
            tags=self.attributes.tags,
        )

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(
        self, now: int, name: str, attributes: SubscriptionAttributes
    ) -> tuple[SubscriptionState, bool]:
        """(subscription, created): identical attributes find the existing one,
        any difference is SubscriptionAlreadyExist."""
        check_subscription_name(name)

        def check_quota() -> None:
            if len(self.subscriptions) >= self.max_subscriptions:
                raise SubscriptionNumExceeded(
                    f"A topic has at most {self.max_subscriptions} subscriptions.")

        return create_or_match(
            self.subscriptions, name, lambda existing: existing.attributes == attributes,
            SubscriptionAlreadyExist, lambda: SubscriptionState(self.name, name, attributes, now),
            check_quota)

    def subscription(self, name: str) -> SubscriptionState:
        subscription = self.subscriptions.get(name)
        if subscription is None:
            raise SubscriptionNotExist()
        return subscription

    def unsubscribe(self, name: str) -> SubscriptionState | None:
        """Remove a subscription and forget its pending pushes; missing is not an error."""
        subscription = self.subscriptions.pop(name, None)
        if subscription is not None:
            subscription.discard()
        return subscription

    def list_subscriptions(
        self, prefix: str = "", ret_number: int = RET_NUMBER_MAX, marker: str = ""
    ) -> tuple[list[SubscriptionState], str]:
        return page(self.subscriptions, prefix, ret_number, marker)

    def clear(self) -> list[SubscriptionState]:
        """Drop every subscription and pending push (the topic is being deleted)."""
        gone = list(self.subscriptions.values())
        for subscription in gone:
            subscription.discard()
        self.subscriptions.clear()
        return gone

    # -- snapshots -------------------------------------------------------------------------

    def export(self) -> list:
        """Plain values for a snapshot: attributes, subscriptions, and the messages
        their pending deliveries carry."""
        subscriptions = [sub.export() for sub in self.subscriptions.values()]
        records: dict[str, TopicMessageRecord] = {}
        for sub in self.subscriptions.values():
            for delivery in sub.deliveries():
                records.setdefault(delivery.message.message_id, delivery.message)
        messages = [  # in publish order: the same export however deliveries are ordered
            [r.message_id, r.body, r.tag, r.publish_time, r.attributes, list_properties(r.properties)]
            for r in sorted(records.values(), key=lambda r: r.message_id)
        ]
        return [
            self.name, [self.attributes.maximum_message_size, self.attributes.logging_enabled,
                        *([[list(t) for t in self.attributes.tags]] if self.attributes.tags else [])],
            self.create_time, self.last_modify_time, self.token, self._seq, messages, subscriptions,
        ]

    @classmethod
    def restore(cls, data: list) -> "TopicState":
        name, (size, logging, *tags), create, modify, token, seq, messages, subscriptions = data
        topic = cls(name, TopicAttributes(size, logging, tuple(tuple(t) for t in tags[0])
                                          if tags else ()), create, token)
        topic.last_modify_time = modify
        topic._seq = seq
        records = {
            m[0]: TopicMessageRecord(topic, m[0], m[1], m[2], m[3], m[4], properties_from_list(m[5]))
            for m in messages
        }
        for sub_data in subscriptions:
            sub = SubscriptionState.restore(name, sub_data, records)
            topic.subscriptions[sub.name] = sub
        topic.message_count = sum(1 for r in records.values() if r.outstanding > 0)
        return topic

    # -- publishing ------------------------------------------------------------------------

    def check_message(self, body: object, tag: object) -> str | None:
        check_body(body, self.attributes.maximum_message_size, "topic")
        if tag in (None, ""):
            return None
        if not isinstance(tag, str) or len(tag) > FILTER_TAG_MAX:
            raise InvalidArgument(f"The length of MessageTag should between 0 and {FILTER_TAG_MAX}.")
        utf8_size("MessageTag", tag)
        return tag

    def publish(
        self,
        now: int,
        body: str,
        tag: str | None = None,
        attributes: Mapping[str, str] | None = None,
        properties: Properties = NO_PROPERTIES,
    ) -> tuple[TopicMessageRecord, list[tuple[SubscriptionState, Delivery]]]:
        """Validate and record one message: it and a delivery per matching subscription."""
        tag = self.check_message(body, tag)
        checked = check_message_attributes(attributes) if attributes else {}
        self._seq += 1
        record = TopicMessageRecord(
            self, message_id(self._id_prefix, self._seq), body, tag, now, checked, properties
        )
        deliveries = [
            (subscription, Delivery(record))
            for subscription in self.subscriptions.values()
            if not subscription.attributes.filter_tag or subscription.attributes.filter_tag == tag
        ]  # SubscriptionState.accepts, inlined: this is the publish hot path
        if deliveries:
            record.outstanding = len(deliveries)
            self.message_count += 1
        return record, deliveries
