"""Every state change of a broker, as a small frozen record of what happened.

``Broker.commit(change)`` is the one way state changes: it applies the change
(``appliers.py`` holds one applier per type) and, in durable mode, appends its
journal record. Recovery decodes the same records and applies them again.
Because the core is deterministic given ``now`` and these fields (ids and
handles come from tokens, retry jitter from the message and the attempt),
replay rebuilds exactly the state that was acknowledged. A feature adds a
change type here and its applier there, and is durable.

The journal holds each change as the plain list ``[OP, now, *fields]``
(msgpack-able; the format of every data directory since the first), with
message properties as ``list_properties`` lists. ``encode`` / ``decode`` are
the codec; a field marked ``journal=False`` is live-only help for the applier
and is never written.

Reads (attributes, peek, listing) apply what time made due but commit nothing:
that catch-up gives the same state whenever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, TypeVar

from ..core.message import NO_PROPERTIES, Properties, list_properties, properties_from_list

__all__ = [
    "Change", "decode", "encode",
    "CreateQueue", "SetQueueAttributes", "DeleteQueue", "SendMessage", "BatchSendMessage",
    "ReceiveMessages", "DeleteMessage", "BatchDeleteMessage", "ChangeVisibility",
    "MoveDeadLetters", "CreateTopic", "SetTopicAttributes", "DeleteTopic", "Subscribe",
    "SetNotifyStrategy", "Unsubscribe", "PublishMessage", "PushOutcome", "LocalRetriesDue",
    "DataDirectoryMeta", "SetLoggingBucket", "SetAccountSettings", "ClockReached", "SmsChange",
]


class Change:
    """Base of the change types: ``OP`` is the journal's code for the type."""

    __slots__ = ()
    OP: ClassVar[str]
    # Journal only when the applier changed something (a receive that took nothing).
    ONLY_IF_CHANGED: ClassVar[bool] = False
    _CODEC: ClassVar[tuple[tuple[str, Callable | None, Callable | None], ...]]
    now: int


_BY_OP: dict[str, type[Change]] = {}
C = TypeVar("C", bound=type)


def _props_out(value: Properties) -> list | None:
    return list_properties(value)


def _batch_out(messages: tuple) -> list:
    return [[body, delay, priority, list_properties(props)]
            for body, delay, priority, props in messages]


def _batch_in(messages: list) -> tuple:
    return tuple((body, delay, priority, properties_from_list(props))
                 for body, delay, priority, props in messages)


PROPERTIES = {"encode": _props_out, "decode": properties_from_list}
BATCH = {"encode": _batch_out, "decode": _batch_in}
LIVE_ONLY = {"journal": False}


def change(op: str) -> Callable[[C], C]:
    """Make a frozen change type with journal code ``op`` (unique)."""
    def wrap(cls: C) -> C:
        made = dataclass(frozen=True, slots=True)(cls)
        assert op not in _BY_OP, op
        made.OP = op  # type: ignore[attr-defined]
        made._CODEC = tuple(  # type: ignore[attr-defined]
            (f.name, f.metadata.get("encode"), f.metadata.get("decode"))
            for f in fields(made) if f.metadata.get("journal", True))
        _BY_OP[op] = made  # type: ignore[assignment]
        return made
    return wrap


def encode(item: Change) -> list:
    """The journal record of a change: ``[OP, now, *fields]`` in plain values."""
    return [item.OP, *(getattr(item, name) if out is None else out(getattr(item, name))
                       for name, out, _ in item._CODEC)]


def decode(record: list) -> Change:
    """The change a journal record holds; KeyError for an unknown op, TypeError for
    a record of the wrong shape."""
    cls = _BY_OP[record[0]]
    values = record[1:]
    if len(values) != len(cls._CODEC):
        raise TypeError(f"a {record[0]!r} record has {len(cls._CODEC)} fields, not {len(values)}")
    return cls(*(value if back is None else back(value)
                 for (_, _, back), value in zip(cls._CODEC, values)))


# -- queues ----------------------------------------------------------------------------------


@change("cq")
class CreateQueue(Change):
    now: int
    queue_name: str
    token: int  # its message ids and receipt handles derive from it
    attributes: dict  # plain (see attributes.plain_attributes)


@change("sq")
class SetQueueAttributes(Change):
    now: int
    queue_name: str
    attributes: dict


@change("dq")
class DeleteQueue(Change):
    now: int
    queue_name: str


@change("s")
class SendMessage(Change):
    now: int
    queue_name: str
    body: str
    delay_seconds: int | None
    priority: int | None
    properties: Properties = field(default=NO_PROPERTIES, metadata=PROPERTIES)


@change("bs")
class BatchSendMessage(Change):
    now: int
    queue_name: str
    messages: tuple = field(metadata=BATCH)  # (body, delay, priority, Properties) each


@change("r")
class ReceiveMessages(Change):
    ONLY_IF_CHANGED = True
    now: int
    queue_name: str
    count: int


@change("d")
class DeleteMessage(Change):
    now: int
    queue_name: str
    receipt_handle: str


@change("bd")
class BatchDeleteMessage(Change):
    now: int
    queue_name: str
    receipt_handles: list


@change("cv")
class ChangeVisibility(Change):
    now: int
    queue_name: str
    receipt_handle: str
    visibility_timeout: int


@change("dl")
class MoveDeadLetters(Change):
    """A queue's dead letters to its DlqPolicy's target, out of one and into the other."""

    now: int
    queue_name: str


# -- topics ----------------------------------------------------------------------------------


@change("ct")
class CreateTopic(Change):
    now: int
    topic_name: str
    token: int
    attributes: dict


@change("st")
class SetTopicAttributes(Change):
    now: int
    topic_name: str
    attributes: dict


@change("dt")
class DeleteTopic(Change):
    now: int
    topic_name: str


@change("sub")
class Subscribe(Change):
    now: int
    topic_name: str
    subscription_name: str
    attributes: list  # [endpoint, notify strategy, content format, filter tag]


@change("ss")
class SetNotifyStrategy(Change):
    now: int
    topic_name: str
    subscription_name: str
    notify_strategy: str


@change("us")
class Unsubscribe(Change):
    now: int
    topic_name: str
    subscription_name: str


@change("p")
class PublishMessage(Change):
    now: int
    topic_name: str
    body: str
    message_tag: str | None
    message_attributes: dict
    properties: Properties = field(default=NO_PROPERTIES, metadata=PROPERTIES)


@change("po")
class PushOutcome(Change):
    """An HTTP push came back: ``reason`` None for success, else why it failed.
    Live, ``delivery`` is the push's own delivery; replay finds it by message id."""

    now: int
    topic_name: str
    subscription_name: str
    message_id: str
    reason: str | None
    delivery: Any = field(default=None, compare=False, metadata=LIVE_ONLY)


@change("due")
class LocalRetriesDue(Change):
    """Retries into a queue, mail or SMS endpoint came due (they change queues)."""

    now: int
    topic_name: str
    subscription_name: str


# -- the account and the data directory ------------------------------------------------------


@change("meta")
class DataDirectoryMeta(Change):
    """A new data directory's first record: the push jitter key."""

    now: int
    meta: dict


@change("la")
class SetLoggingBucket(Change):
    now: int
    bucket: str


@change("as")
class SetAccountSettings(Change):
    """The OpenAPI's account attributes and endpoint state."""

    now: int
    settings: dict


@change("clock")
class ClockReached(Change):
    """The clock reached ``now`` (recorded at a clean close): recovery resumes from it."""

    now: int


@change("sms")
class SmsChange(Change):
    """Any SMS change (applied by broker/sms_hub.py; sends through a topic replay as PublishMessage)."""

    now: int
    op: str
    args: dict
