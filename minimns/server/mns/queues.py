"""Queue and message operations on ``/queues[/{name}[/messages]]``.

One small function per REST operation; the path and method pick the
function, query keys pick among the eight that share ``/messages``
(docs/protocol.md 1.1). Each parses its input into broker calls and renders
the result exactly as the official SDK's decoders read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from ...broker.queue import WAIT_SECONDS_MAX
from ...core.attributes import QueueMeta, check_range
from ...core.message import Message, PeekedMessage, ReceivedMessage
from ...core.queue import BATCH_MAX
from ...errors import (
    BatchDeleteFail,
    BatchSendFail,
    InvalidArgument,
    InvalidRequestURL,
    MalformedXML,
    MessageNotExist,
    MissingReceiptHandle,
    MissingVisibilityTimeout,
    MNSError,
)
from ..params import count
from .xmlcodec import child_texts, document, element, escape, local, parse, parse_properties, to_int

if TYPE_CHECKING:
    from ..app import Call
    from ..http import Response

__all__ = ["route"]

_QUEUE_FIELDS = {
    "DelaySeconds": "delay_seconds",
    "MaximumMessageSize": "maximum_message_size",
    "MessageRetentionPeriod": "message_retention_period",
    "VisibilityTimeout": "visibility_timeout",
    "PollingWaitSeconds": "polling_wait_seconds",
}


def route(method: str, rest: list[str]) -> Callable[["Call"], Awaitable["Response"]]:
    """The handler for ``/queues`` + ``rest`` (path segments after "queues")."""
    if not rest or rest == [""]:
        if method == "GET":
            return list_queue
    elif len(rest) == 1 and rest[0]:
        handler = {"PUT": put_queue, "GET": get_queue_attributes, "DELETE": delete_queue}.get(method)
        if handler:
            return handler
    elif len(rest) == 2 and rest[0] and rest[1] == "messages":
        handler = {
            "POST": send_message,
            "GET": receive_or_peek,
            "DELETE": delete_message,
            "PUT": change_message_visibility,
        }.get(method)
        if handler:
            return handler
    raise InvalidRequestURL(f"{method} /queues/{'/'.join(rest)} is not an MNS operation.")


def _name(call: "Call") -> str:
    return call.request.path.split("/")[2]


def _location(call: "Call", name: str) -> list[tuple[str, str]]:
    return [("Location", f"{call.base_url}/queues/{name}")]


# -- queues ------------------------------------------------------------------------------------


def _queue_attributes(call: "Call") -> dict[str, object]:
    body = call.request.body
    if not body.strip():
        return {}
    fields = child_texts(parse(body, "Queue"))
    attributes: dict[str, object] = {
        snake: to_int(fields, mns) for mns, snake in _QUEUE_FIELDS.items()
    }
    if "LoggingEnabled" in fields:
        attributes["logging_enabled"] = fields["LoggingEnabled"].strip()
    return attributes


async def put_queue(call: "Call") -> "Response":
    """CreateQueue (201 new, 204 identical), or SetQueueAttributes with ?metaoverride=true."""
    call.allow_query("metaoverride")
    name = _name(call)
    attributes = _queue_attributes(call)
    if call.request.query.get("metaoverride", "").lower() == "true":
        await call.broker.get_queue(name).set_attributes(**attributes)
        return call.respond(204)
    existed = name in call.broker.account.queues
    await call.broker.create_queue(name, **attributes)
    return call.respond(204 if existed else 201, headers=_location(call, name))


def _meta_elements(meta: QueueMeta) -> list[str]:
    return [
        element("QueueName", meta.queue_name),
        element("CreateTime", meta.create_time),
        element("LastModifyTime", meta.last_modify_time),
        element("DelaySeconds", meta.delay_seconds),
        element("MaximumMessageSize", meta.maximum_message_size),
        element("MessageRetentionPeriod", meta.message_retention_period),
        element("VisibilityTimeout", meta.visibility_timeout),
        element("PollingWaitSeconds", meta.polling_wait_seconds),
        element("ActiveMessages", meta.active_messages),
        element("InactiveMessages", meta.inactive_messages),
        element("DelayMessages", meta.delay_messages),
        element("LoggingEnabled", meta.logging_enabled),
    ]


async def get_queue_attributes(call: "Call") -> "Response":
    call.allow_query()
    meta = await call.broker.get_queue(_name(call)).get_attributes()
    return call.respond(200, document("Queue", _meta_elements(meta)))


async def delete_queue(call: "Call") -> "Response":
    call.allow_query()
    await call.broker.get_queue(_name(call)).delete()
    return call.respond(204)


async def list_queue(call: "Call") -> "Response":
    call.allow_query()
    # One synchronous read of the page and its metadata: no queue can vanish midway.
    queues, next_marker = call.broker.account.list_queues(*call.paging())
    with_meta = call.request.headers.get("x-mns-with-meta", "").lower() == "true"
    now = call.broker.now()
    entries = []
    for queue in queues:
        inner = element("QueueURL", f"{call.base_url}/queues/{queue.name}")
        if with_meta:
            inner += "".join(_meta_elements(queue.meta(now)))
        entries.append(f"<Queue>{inner}</Queue>")
    if next_marker:
        entries.append(element("NextMarker", next_marker))
    return call.respond(200, document("Queues", entries))


# -- sending -----------------------------------------------------------------------------------


def _outgoing(node) -> Message:  # type: ignore[no-untyped-def]
    fields = child_texts(node)
    if "MessageBody" not in fields:
        raise InvalidArgument("The MessageBody is missing.")
    user = system = None
    for child in node:
        tag = local(child.tag)
        if tag == "UserProperties":
            user = parse_properties(child, "PropertyValue")
        elif tag == "SystemProperties":
            system = parse_properties(child, "SystemPropertyValue")
    return Message(
        fields["MessageBody"],
        delay_seconds=to_int(fields, "DelaySeconds"),
        priority=to_int(fields, "Priority"),
        message_group_id=fields.get("MessageGroupId") or None,
        user_properties=user,
        system_properties=system,
    )


async def send_message(call: "Call") -> "Response":
    """SendMessage (root <Message>) or BatchSendMessage (root <Messages>)."""
    call.allow_query()
    root = parse(call.request.body, "Message", "Messages")
    queue = call.broker.get_queue(_name(call))
    if local(root.tag) == "Message":
        sent = queue.send_message_nowait(_outgoing(root))
        await call.broker.durable()
        inner = element("MessageId", sent.message_id) + element(
            "MessageBodyMD5", sent.message_body_md5
        )
        if sent.receipt_handle:
            inner += element("ReceiptHandle", sent.receipt_handle)
        return call.respond(201, document("Message", inner))
    entries = [child for child in root if local(child.tag) == "Message"]
    if len(entries) > BATCH_MAX:
        raise InvalidArgument(f"The count of messages should between 1 and {BATCH_MAX}.")
    try:
        results = queue.batch_send_message_nowait([_outgoing(entry) for entry in entries])
        status = 201
    except BatchSendFail as failure:
        results, status = failure.results, 500
    await call.broker.durable()
    rendered = []
    for result in results:
        if isinstance(result, MNSError):
            inner = element("ErrorCode", result.code) + element("ErrorMessage", result.message)
        else:
            inner = element("MessageId", result.message_id) + element(
                "MessageBodyMD5", result.message_body_md5
            )
        rendered.append(f"<Message>{inner}</Message>")
    return call.respond(status, document("Messages", rendered))


# -- receiving ---------------------------------------------------------------------------------


def _query_int(call: "Call", key: str, mns_name: str) -> int | None:
    value = call.request.query.get(key)
    return None if value is None else count(value, mns_name)


def _message_elements(message: PeekedMessage) -> str:
    """The children of a received or peeked ``<Message>``, in the order MNS sends them.

    Written as one string: ids, handles and numbers need no escaping, and this
    is the hottest document the server writes.
    """
    received = isinstance(message, ReceivedMessage)
    parts = [
        f"<MessageId>{message.message_id}</MessageId>",
        f"<ReceiptHandle>{message.receipt_handle}</ReceiptHandle>" if received else "",  # type: ignore[attr-defined]
        f"<MessageBodyMD5>{message.message_body_md5}</MessageBodyMD5>"
        f"<MessageBody>{escape(message.message_body)}</MessageBody>"
        f"<EnqueueTime>{message.enqueue_time}</EnqueueTime>",
        f"<NextVisibleTime>{message.next_visible_time}</NextVisibleTime>" if received else "",  # type: ignore[attr-defined]
        f"<FirstDequeueTime>{message.first_dequeue_time}</FirstDequeueTime>"
        f"<DequeueCount>{message.dequeue_count}</DequeueCount>"
        f"<Priority>{message.priority}</Priority>",
    ]
    if message.message_group_id:
        parts.append(element("MessageGroupId", message.message_group_id))
    for tag, entry_tag, properties in (
        ("UserProperties", "PropertyValue", message.user_properties),
        ("SystemProperties", "SystemPropertyValue", message.system_properties),
    ):
        if properties:
            inner = "".join(
                f"<{entry_tag}>{element('Name', n)}{element('Value', v)}{element('Type', t)}</{entry_tag}>"
                for n, v, t in properties
            )
            parts.append(f"<{tag}>{inner}</{tag}>")
    return "".join(parts)


async def receive_or_peek(call: "Call") -> "Response":
    """ReceiveMessage, BatchReceiveMessage, PeekMessage, BatchPeekMessage."""
    call.allow_query("waitseconds", "numofmessages", "peekonly")
    # Every query value is checked before the queue is looked at: MNS refuses a
    # waitseconds of 31 even when a message is there to be taken at once.
    count = _query_int(call, "numofmessages", "numOfMessages")
    if count is not None:
        check_range("numOfMessages", count, 1, BATCH_MAX, "")
    peek = call.request.query.get("peekonly", "").lower() == "true"
    wait = None if peek else _query_int(call, "waitseconds", "waitseconds")
    if wait is not None:
        check_range("waitseconds", wait, 0, WAIT_SECONDS_MAX, "seconds")
    queue = call.broker.get_queue(_name(call))
    if peek:
        messages = await queue.batch_peek_message(1 if count is None else count)
    else:
        # What is there is taken at once, with no scheduling point; only a poll that
        # must wait parks, on its own socket (``request.idle``). (Written inline: a
        # parked poll holds every frame of its call stack, 10,000 of them at a time.)
        size = 1 if count is None else count
        messages = queue.batch_receive_message_nowait(size)
        if messages:
            await call.broker.durable()
        elif wait == 0:
            raise MessageNotExist()
        else:
            messages = await queue.batch_receive_message(size, wait, idle=call.request.idle)
    if count is None:
        return call.respond(200, document("Message", _message_elements(messages[0])))
    return call.respond(
        200, document("Messages", (f"<Message>{_message_elements(m)}</Message>" for m in messages))
    )


# -- handles -----------------------------------------------------------------------------------


async def delete_message(call: "Call") -> "Response":
    """DeleteMessage (?ReceiptHandle=) or BatchDeleteMessage (<ReceiptHandles> body)."""
    call.allow_query("receipthandle")
    queue = call.broker.get_queue(_name(call))
    handle = call.request.query.get("receipthandle")
    if handle is not None:
        if not handle:
            raise MissingReceiptHandle()
        queue.delete_message_nowait(handle)
        await call.broker.durable()
        return call.respond(204)
    if not call.request.body.strip():
        raise MissingReceiptHandle()
    root = parse(call.request.body, "ReceiptHandles")
    handles = [child.text or "" for child in root if local(child.tag) == "ReceiptHandle"]
    if not handles:
        raise MalformedXML("The ReceiptHandles element holds no ReceiptHandle.")
    try:
        queue.batch_delete_message_nowait(handles)
    except BatchDeleteFail as failure:
        await call.broker.durable()
        rendered = (
            "<Error>"
            + element("ErrorCode", error.code)
            + element("ErrorMessage", error.message)
            + element("ReceiptHandle", handle)
            + "</Error>"
            for handle, error in failure.errors.items()
        )
        return call.respond(404, document("Errors", rendered))
    await call.broker.durable()
    return call.respond(204)


async def change_message_visibility(call: "Call") -> "Response":
    call.allow_query("receipthandle", "visibilitytimeout")
    queue = call.broker.get_queue(_name(call))
    handle = call.request.query.get("receipthandle")
    if not handle:
        raise MissingReceiptHandle()
    timeout = _query_int(call, "visibilitytimeout", "VisibilityTimeout")
    if timeout is None:
        raise MissingVisibilityTimeout()
    changed = queue.change_message_visibility_nowait(handle, timeout)
    await call.broker.durable()
    inner = element("ReceiptHandle", changed.receipt_handle) + element(
        "NextVisibleTime", changed.next_visible_time
    )
    return call.respond(200, document("ChangeVisibility", inner))
