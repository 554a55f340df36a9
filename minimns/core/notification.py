"""What a subscription pushes: the body in its NotifyContentFormat, and the push headers.

The same body goes to HTTP endpoints and into queue endpoints
(docs/protocol.md 6.2, 6.3): SIMPLIFIED is the published body verbatim, XML
the ``<Notification>`` document, JSON the same fields as an object (with
PublishTime as a string, as MNS sends it).
"""

from __future__ import annotations

import json

__all__ = [
    "FORMATS",
    "JSON",
    "SIMPLIFIED",
    "XML",
    "escape_xml",
    "notification_body",
    "push_headers",
]

XML, JSON, SIMPLIFIED = "XML", "JSON", "SIMPLIFIED"
FORMATS = (XML, JSON, SIMPLIFIED)
NAMESPACE = "http://mns.aliyuncs.com/doc/v1/"
API_VERSION = "2015-06-06"
CONTENT_TYPES = {
    XML: "text/xml;charset=utf-8",
    JSON: "application/json;charset=utf-8",
    SIMPLIFIED: "text/plain;charset=utf-8",
}
# \r escaped as a character reference, or XML parsers fold it into \n.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def escape_xml(text: str) -> str:
    return text.translate(_ESCAPES)


def notification_fields(
    owner: str, topic: str, subscription: str, message_id: str, body: str, md5: str,
    tag: str | None, publish_time: int,
) -> list[tuple[str, str]]:
    """The notification's fields in MNS's order; MessageTag only when tagged."""
    fields = [
        ("TopicOwner", owner),
        ("TopicName", topic),
        ("Subscriber", owner),
        ("SubscriptionName", subscription),
        ("MessageId", message_id),
        ("Message", body),
        ("MessageMD5", md5),
    ]
    if tag:
        fields.append(("MessageTag", tag))
    fields.append(("PublishTime", str(publish_time)))
    return fields


def notification_body(fmt: str, fields: list[tuple[str, str]]) -> str:
    """The pushed body in format ``fmt`` for the fields of ``notification_fields``."""
    if fmt == SIMPLIFIED:
        return dict(fields)["Message"]
    if fmt == JSON:
        return json.dumps(dict(fields), ensure_ascii=False)
    inner = "".join(f"<{name}>{escape_xml(value)}</{name}>" for name, value in fields)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Notification xmlns="{NAMESPACE}">{inner}</Notification>'
    )


def push_headers(
    fmt: str, fields: list[tuple[str, str]], body_md5: str, date: str, request_id: str
) -> list[tuple[str, str]]:
    """The headers MNS signs on an HTTP push, with the lower-case names that
    every official sample receiver can verify (docs/protocol.md 6.3, 6.5).
    ``body_md5`` is the upper-case hex MD5 of the pushed body."""
    values = dict(fields)
    headers = [
        ("content-md5", body_md5),
        ("content-type", CONTENT_TYPES[fmt]),
        ("date", date),
        ("x-mns-request-id", request_id),
        ("x-mns-version", API_VERSION),
        ("x-mns-message-id", values["MessageId"]),
    ]
    if "MessageTag" in values:
        headers.append(("x-mns-message-tag", values["MessageTag"]))
    headers += [
        ("x-mns-topic-owner", values["TopicOwner"]),
        ("x-mns-topic-name", values["TopicName"]),
        ("x-mns-subscriber", values["Subscriber"]),
        ("x-mns-subscription-name", values["SubscriptionName"]),
        ("x-mns-publish-time", values["PublishTime"]),
    ]
    return headers
