"""Topic and subscription operations on ``/topics[/{t}[/messages|/subscriptions[/{s}]]]``.

One small function per REST operation (docs/protocol.md 1.1, 3), rendering
exactly what the official SDK's decoders read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from ...core.subscription import SubscriptionMeta
from ...core.topic import TopicMessage, TopicMeta
from ...errors import InvalidArgument, InvalidRequestURL
from .xmlcodec import child_texts, document, element, local, parse, parse_properties, to_int

if TYPE_CHECKING:
    from ..app import Call
    from ..http import Response

__all__ = ["route"]

Handler = Callable[["Call"], Awaitable["Response"]]


def route(method: str, rest: list[str]) -> Handler:
    """The handler for ``/topics`` + ``rest`` (path segments after "topics")."""
    handler: Handler | None = None
    if not rest or rest == [""]:
        handler = list_topic if method == "GET" else None
    elif len(rest) == 1 and rest[0]:
        handler = {"PUT": put_topic, "GET": get_topic_attributes, "DELETE": delete_topic}.get(method)
    elif len(rest) == 2 and rest[0] and rest[1] == "messages":
        handler = publish_message if method == "POST" else None
    elif len(rest) == 2 and rest[0] and rest[1] == "subscriptions":
        handler = list_subscription if method == "GET" else None
    elif len(rest) == 3 and rest[0] and rest[1] == "subscriptions" and rest[2]:
        handler = {
            "PUT": put_subscription,
            "GET": get_subscription_attributes,
            "DELETE": unsubscribe,
        }.get(method)
    if handler is None:
        raise InvalidRequestURL(f"{method} /topics/{'/'.join(rest)} is not an MNS operation.")
    return handler


def _names(call: "Call") -> list[str]:
    return call.request.path.split("/")[2:]


def _topic_url(call: "Call", topic: str) -> str:
    return f"{call.base_url}/topics/{topic}"


def _metaoverride(call: "Call") -> bool:
    call.allow_query("metaoverride")
    return call.request.query.get("metaoverride", "").lower() == "true"


# -- topics ------------------------------------------------------------------------------------


def _topic_attributes(call: "Call") -> dict[str, object]:
    body = call.request.body
    if not body.strip():
        return {}
    fields = child_texts(parse(body, "Topic"))
    attributes: dict[str, object] = {"maximum_message_size": to_int(fields, "MaximumMessageSize")}
    if "LoggingEnabled" in fields:
        attributes["logging_enabled"] = fields["LoggingEnabled"].strip()
    return attributes


async def put_topic(call: "Call") -> "Response":
    """CreateTopic (201 new, 204 identical), or SetTopicAttributes with ?metaoverride=true."""
    name = _names(call)[0]
    override = _metaoverride(call)
    attributes = _topic_attributes(call)
    if override:
        await call.broker.get_topic(name).set_attributes(**attributes)  # type: ignore[arg-type]
        return call.respond(204)
    existed = name in call.broker.account.topics
    await call.broker.create_topic(name, **attributes)
    return call.respond(204 if existed else 201, headers=[("Location", _topic_url(call, name))])


def _topic_elements(meta: TopicMeta) -> list[str]:
    return [
        element("TopicName", meta.topic_name),
        element("CreateTime", meta.create_time),
        element("LastModifyTime", meta.last_modify_time),
        element("MaximumMessageSize", meta.maximum_message_size),
        element("MessageRetentionPeriod", meta.message_retention_period),
        element("MessageCount", meta.message_count),
        element("LoggingEnabled", meta.logging_enabled),
    ]


async def get_topic_attributes(call: "Call") -> "Response":
    call.allow_query()
    meta = await call.broker.get_topic(_names(call)[0]).get_attributes()
    return call.respond(200, document("Topic", _topic_elements(meta)))


async def delete_topic(call: "Call") -> "Response":
    call.allow_query()
    await call.broker.get_topic(_names(call)[0]).delete()
    return call.respond(204)


async def list_topic(call: "Call") -> "Response":
    call.allow_query()
    # One synchronous read of the page and its metadata: no topic can vanish midway.
    topics, next_marker = call.broker.account.list_topics(*call.paging())
    with_meta = call.request.headers.get("x-mns-with-meta", "").lower() == "true"
    entries = []
    for topic in topics:
        inner = element("TopicURL", _topic_url(call, topic.name))
        if with_meta:
            inner += "".join(_topic_elements(topic.meta()))
        entries.append(f"<Topic>{inner}</Topic>")
    if next_marker:
        entries.append(element("NextMarker", next_marker))
    return call.respond(200, document("Topics", entries))


# -- publishing --------------------------------------------------------------------------------


async def publish_message(call: "Call") -> "Response":
    call.allow_query()
    root = parse(call.request.body, "Message")
    fields = child_texts(root)
    if "MessageBody" not in fields:
        raise InvalidArgument("The MessageBody is missing.")
    attributes: dict[str, str] = {}
    user = system = None
    for child in root:
        tag = local(child.tag)
        if tag == "MessageAttributes":
            attributes = {local(entry.tag): entry.text or "" for entry in child}
        elif tag == "UserProperties":
            user = parse_properties(child, "PropertyValue")
        elif tag == "SystemProperties":
            system = parse_properties(child, "SystemPropertyValue")
    published = call.broker.get_topic(_names(call)[0]).publish_message_nowait(
        TopicMessage(
            fields["MessageBody"],
            message_tag=fields.get("MessageTag") or None,
            message_attributes=attributes,
            message_group_id=fields.get("MessageGroupId") or None,
            user_properties=user,
            system_properties=system,
        )
    )
    await call.broker.durable()
    inner = element("MessageId", published.message_id) + element(
        "MessageBodyMD5", published.message_body_md5
    )
    if published.message_group_id:
        inner += element("MessageGroupId", published.message_group_id)
    return call.respond(201, document("Message", inner))


# -- subscriptions -----------------------------------------------------------------------------


async def put_subscription(call: "Call") -> "Response":
    """Subscribe (201 new, 204 identical), or SetSubscriptionAttributes with ?metaoverride=true
    (the SDK sends only NotifyStrategy there; an empty document changes nothing)."""
    topic, _, name = _names(call)
    override = _metaoverride(call)
    body = call.request.body
    fields = child_texts(parse(body, "Subscription")) if body.strip() else {}
    subscription = call.broker.get_topic(topic).get_subscription(name)
    if override:
        await subscription.set_attributes(notify_strategy=fields.get("NotifyStrategy") or None)
        return call.respond(204)
    existed = name in call.broker.account.topic(topic).subscriptions
    await subscription.subscribe(
        fields.get("Endpoint", ""),
        notify_strategy=fields.get("NotifyStrategy") or None,
        notify_content_format=fields.get("NotifyContentFormat") or None,
        filter_tag=fields.get("FilterTag") or None,
    )
    location = f"{_topic_url(call, topic)}/subscriptions/{name}"
    return call.respond(204 if existed else 201, headers=[("Location", location)])


def _subscription_elements(meta: SubscriptionMeta) -> list[str]:
    elements = [
        element("TopicOwner", meta.topic_owner),
        element("TopicName", meta.topic_name),
        element("Subscriber", meta.topic_owner),
        element("SubscriptionName", meta.subscription_name),
        element("Endpoint", meta.endpoint),
        element("NotifyStrategy", meta.notify_strategy),
        element("NotifyContentFormat", meta.notify_content_format),
    ]
    if meta.filter_tag:
        elements.append(element("FilterTag", meta.filter_tag))
    elements += [
        element("CreateTime", meta.create_time),
        element("LastModifyTime", meta.last_modify_time),
    ]
    return elements


async def get_subscription_attributes(call: "Call") -> "Response":
    call.allow_query()
    topic, _, name = _names(call)
    meta = await call.broker.get_topic(topic).get_subscription(name).get_attributes()
    return call.respond(200, document("Subscription", _subscription_elements(meta)))


async def unsubscribe(call: "Call") -> "Response":
    call.allow_query()
    topic, _, name = _names(call)
    await call.broker.get_topic(topic).get_subscription(name).unsubscribe()
    return call.respond(204)


async def list_subscription(call: "Call") -> "Response":
    call.allow_query()
    topic = _names(call)[0]
    names, next_marker = await call.broker.get_topic(topic).list_subscription(*call.paging())
    entries = [
        f"<Subscription>{element('SubscriptionURL', f'{_topic_url(call, topic)}/subscriptions/{name}')}</Subscription>"
        for name in names
    ]
    if next_marker:
        entries.append(element("NextMarker", next_marker))
    return call.respond(200, document("Subscriptions", entries))
