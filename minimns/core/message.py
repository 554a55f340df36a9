"""Messages: the mutable record a queue keeps, and the frozen views it hands out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import InvalidArgument

__all__ = [
    "ChangedVisibility",
    "DeadLetter",
    "Message",
    "MessageRecord",
    "MessageState",
    "PeekedMessage",
    "Properties",
    "ReceivedMessage",
    "SentMessage",
    "body_md5",
    "check_body",
    "utf8_size",
    "list_properties",
    "make_properties",
    "properties_from_list",
    "property_list",
]

# (name, value, type) triples, kept verbatim: the SDK 1.3.0 properties are opaque to MNS queues.
PropertyList = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True, slots=True)
class Properties:
    """SDK 1.3.0 message extras: FIFO group id and user / system properties."""

    message_group_id: str | None = None
    user_properties: PropertyList = ()
    system_properties: PropertyList = ()


NO_PROPERTIES = Properties()

def property_list(value: object) -> PropertyList:
    """Normalise user input to (name, value, type) triples.

    Accepts a mapping name -> value (type STRING) or name -> (value, type),
    or an iterable of (name, value, type) triples.
    """
    if not value:
        return ()
    if isinstance(value, Mapping):
        items = [(k, *v) if isinstance(v, tuple) else (k, v, "STRING") for k, v in value.items()]
    else:
        items = [tuple(v) for v in value]  # type: ignore[union-attr]
    for item in items:
        if len(item) != 3 or not all(isinstance(part, str) for part in item):
            raise InvalidArgument(f"A message property should be (name, value, type) strings: {item!r}.")
    return tuple(items)  # type: ignore[return-value]


def list_properties(properties: Properties) -> list | None:
    """Properties as plain lists (for journals and snapshots); None when empty."""
    if properties is NO_PROPERTIES:
        return None
    return [
        properties.message_group_id,
        [list(p) for p in properties.user_properties],
        [list(p) for p in properties.system_properties],
    ]


def properties_from_list(value: list | None) -> Properties:
    if value is None:
        return NO_PROPERTIES
    group, user, system = value
    return Properties(group, tuple(tuple(p) for p in user), tuple(tuple(p) for p in system))


def make_properties(message_group_id: object, user: object, system: object) -> Properties:
    if message_group_id is None and not user and not system:
        return NO_PROPERTIES
    if message_group_id is not None and not isinstance(message_group_id, str):
        raise InvalidArgument("The MessageGroupId should be a string.")
    return Properties(message_group_id, property_list(user), property_list(system))


class MessageState(IntEnum):
    DELAYED = 0  # waiting for DelaySeconds to pass
    ACTIVE = 1  # receivable
    INACTIVE = 2  # received; invisible until next_visible
    DELETED = 3  # gone (deleted, expired, or its queue deleted)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message on its way from a queue to that queue's dead-letter queue: the target
    its policy named when the message became a dead letter, and what the source needs
    to take it back if that queue is gone (``seq`` onward)."""

    message_id: str
    body: str
    priority: int
    enqueue_time: int
    properties: Properties
    target: str = ""
    seq: int = 0
    dequeue_count: int = 0
    first_dequeue_time: int | None = None
    handle_gen: int = 0

    def as_list(self) -> list:
        return [self.message_id, self.body, self.priority, self.enqueue_time,
                list_properties(self.properties), self.target, self.seq, self.dequeue_count,
                self.first_dequeue_time, self.handle_gen]

    @classmethod
    def from_list(cls, value: list) -> "DeadLetter":
        message_id, body, priority, enqueue_time, props, *rest = value
        return cls(message_id, body, priority, enqueue_time, properties_from_list(props), *rest)


def utf8_size(mns_name: str, text: str) -> int:
    """Bytes of ``text`` in UTF-8; InvalidArgument for text UTF-8 cannot carry
    (lone surrogates), which no client could send over the wire either."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument(f"The {mns_name} is not valid Unicode text.") from None


def check_body(body: object, limit: int, owner: str) -> str:
    """A MessageBody as MNS takes it: text, not empty, at most ``limit`` UTF-8
    bytes (the ``owner``'s MaximumMessageSize), else InvalidArgument."""
    if not isinstance(body, str):
        raise InvalidArgument("The MessageBody should be a string.")
    size = len(body) if body.isascii() else utf8_size("MessageBody", body)
    if size == 0:
        raise InvalidArgument("The MessageBody should not be empty.")
    if size > limit:
        raise InvalidArgument(
            f"The length of MessageBody is {size} bytes, more than MaximumMessageSize "
            f"{limit} bytes of this {owner}."
        )
    return body


def body_md5(body: str) -> str:
    """MessageBodyMD5: upper-case hex MD5 of the body text's UTF-8 bytes."""
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


class MessageRecord:
    """One message as a queue holds it. Slots keep a queued message small.

    ``handle_gen`` counts the receipt handles minted for the message; only
    the handle carrying the current count is valid, and only while the
    message is DELAYED or INACTIVE.
    """

    __slots__ = (
        "seq",
        "body",
        "priority",
        "enqueue_time",
        "first_dequeue_time",
        "dequeue_count",
        "next_visible",
        "handle_gen",
        "state",
        "properties",
    )

    def __init__(
        self,
        seq: int,
        body: str,
        priority: int,
        enqueue_time: int,
        next_visible: int,
        state: MessageState,
        properties: Properties,
    ) -> None:
        self.seq = seq
        self.body = body
        self.priority = priority
        self.enqueue_time = enqueue_time
        self.first_dequeue_time: int | None = None
        self.dequeue_count = 0
        self.next_visible = next_visible
        self.handle_gen = 0
        self.state = state
        self.properties = properties

    def __repr__(self) -> str:
        return (
            f"<MessageRecord seq={self.seq} {self.state.name} p={self.priority} "
            f"dq={self.dequeue_count} nv={self.next_visible}>"
        )


@dataclass(slots=True)
class SentMessage:
    """What a send returns. ``receipt_handle`` is set for delayed messages only,
    as MNS does, so a delayed message can be deleted before it is delivered.

    Message views are plain values: changing one changes nothing in the queue.
    ``message_body_md5`` is computed when read, so callers that never look at
    it never pay for it.
    """

    message_id: str
    message_body: str = field(repr=False)
    receipt_handle: str | None = None

    @property
    def message_body_md5(self) -> str:
        return body_md5(self.message_body)


@dataclass(slots=True)
class PeekedMessage:
    """A message as peek shows it: no handle, no state change."""

    message_id: str
    message_body: str
    dequeue_count: int
    enqueue_time: int
    first_dequeue_time: int
    priority: int
    message_group_id: str | None = None
    user_properties: PropertyList = ()
    system_properties: PropertyList = ()

    @property
    def message_body_md5(self) -> str:
        return body_md5(self.message_body)


@dataclass(slots=True)
class ReceivedMessage(PeekedMessage):
    """A received message: invisible until ``next_visible_time`` (epoch ms),
    deletable with ``receipt_handle`` until then."""

    receipt_handle: str = ""
    next_visible_time: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A message to send, named as in the official SDK. None means the queue's
    default (DelaySeconds) or MNS's (Priority 8)."""

    message_body: str
    delay_seconds: int | None = None
    priority: int | None = None
    message_group_id: str | None = None
    user_properties: object = None
    system_properties: object = None

    def outgoing(self) -> tuple[str, int | None, int | None, Properties]:
        return (
            self.message_body,
            self.delay_seconds,
            self.priority,
            make_properties(self.message_group_id, self.user_properties, self.system_properties),
        )


@dataclass(slots=True)
class ChangedVisibility:
    """What change_message_visibility returns: the new handle and when it expires."""

    receipt_handle: str
    next_visible_time: int
