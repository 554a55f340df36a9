"""Topics and subscriptions on a running server: the official SDK, raw HTTP, and HTTP push.

One server per module (plus one with access keys); every test works on its
own topics, queues and subscriptions. Queue, mail and SMS deliveries are done
when a publish returns, so they are read at once. HTTP pushes travel over real
loopback to a small receiver in a thread: those tests wait for them with a
deadline (never a fixed sleep); retry delays pass with ``server.advance``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.request
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import pytest
import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from mns.account import Account
from mns.message_property import MessagePropertyValue, PropertyType
from mns.mns_common import TopicHelper
from mns.mns_request import (
    CreateTopicRequest,
    CreateTopicResponse,
    ListTopicRequest,
    ListTopicResponse,
    SubscribeRequest,
    SubscribeResponse,
)
from mns.queue import QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import Base64TopicMessage, DirectMailInfo, DirectSMSInfo, TopicMessage, TopicMeta

from minimns.server.http import Request
from tests.http_wire import Reply, Wire, assert_error_document, assert_request_id, request_bytes
from tests.server_helpers import server_error, drain, md5_upper, wait_until

NS = "{http://mns.aliyuncs.com/doc/v1/}"
OWNER = "1234567890"  # the server's default account id: TopicOwner and Subscriber
REQUEST_ID = re.compile(r"[0-9A-F]{24}")
CERT_PATH = "/_minimns/x509_public_certificate.pem"
NOTIFICATION_FIELDS = [
    "TopicOwner",
    "TopicName",
    "Subscriber",
    "SubscriptionName",
    "MessageId",
    "Message",
    "MessageMD5",
    "MessageTag",
    "PublishTime",
]
TOPIC_META_FIELDS = [
    "TopicName",
    "CreateTime",
    "LastModifyTime",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "MessageCount",
    "LoggingEnabled",
]

# -- fixtures and helpers ------------------------------------------------------------------------


def on_loop(server, fn, *args):
    """Run a synchronous broker read on the server's own trio loop."""

    async def run():
        return fn(*args)

    return server.call(run)


def server_now_ms(server) -> int:
    return on_loop(server, server.broker.now)


def sub_stats(server, topic: str, subscription: str):
    return on_loop(server, lambda: server.broker.get_topic(topic).get_subscription(subscription).stats())


def outbox(server, topic: str) -> tuple[list, list]:
    """(mail, sms) deliveries recorded for ``topic``."""

    def read():
        box = server.broker.outbox
        return (
            [d for d in box.mail if d.topic_name == topic],
            [d for d in box.sms if d.topic_name == topic],
        )

    return on_loop(server, read)


def queue_endpoint(queue_name: str) -> str:
    return TopicHelper.generate_queue_endpoint("cn-hangzhou", OWNER, queue_name)


def make_topic(account, topic_name, **meta):
    topic = account.get_topic(topic_name)
    topic.create(TopicMeta(**meta))
    return topic


def make_queue(account, queue_name):
    queue = account.get_queue(queue_name)
    queue.create(QueueMeta())
    queue.set_encoding(False)  # topic deliveries are not base64: read the raw text
    return queue


def notification(xml_text: str) -> list[tuple[str, str]]:
    """The (field, text) pairs of a <Notification> document, in document order."""
    root = ElementTree.fromstring(xml_text.encode("utf-8"))
    assert root.tag == NS + "Notification"
    assert root.attrib == {}
    pairs = []
    for child in root:
        assert child.tag.startswith(NS)
        assert len(child) == 0
        pairs.append((child.tag[len(NS):], child.text or ""))
    return pairs


def expected_fields(topic, subscription, message_id, body, tag, publish_time):
    fields = [
        ("TopicOwner", OWNER),
        ("TopicName", topic),
        ("Subscriber", OWNER),
        ("SubscriptionName", subscription),
        ("MessageId", message_id),
        ("Message", body),
        ("MessageMD5", md5_upper(body)),
    ]
    if tag:
        fields.append(("MessageTag", tag))
    fields.append(("PublishTime", str(publish_time)))
    return fields


def publish_time_of(pairs) -> int:
    return int(dict(pairs)["PublishTime"])


# -- topics: create, attributes, list, delete ------------------------------------------------------


def test_create_topic_201_identical_204_differing_conflict(server, account, name):
    client = account.get_client()

    def create(maximum_message_size=-1, logging_enabled=None):
        resp = CreateTopicResponse()
        client.create_topic(CreateTopicRequest(name, maximum_message_size, logging_enabled), resp)
        return resp

    first = create(2048, True)
    assert first.status == 201
    assert first.topic_url == f"{server.endpoint}/topics/{name}"
    again = create(2048, True)
    assert again.status == 204
    assert again.topic_url == first.topic_url
    topic = account.get_topic(name)
    # Topic.create, as users call it, returns the URL on both paths
    assert topic.create(TopicMeta(2048, True)) == first.topic_url
    for meta in [TopicMeta(4096, True), TopicMeta(2048, False), TopicMeta()]:
        error = server_error(topic.create, meta)
        assert error.type == "TopicAlreadyExist"
        assert error.message == "The topic you want to create is already exist."
        assert error.req_id and error.host_id == server.endpoint
    meta = topic.get_attributes()
    assert (meta.maximum_message_size, meta.logging_enabled) == (2048, True)


def test_create_with_defaults_spelled_out_is_identical(account, name):
    topic = make_topic(account, name)
    topic.create(TopicMeta(maximum_message_size=65536, logging_enabled=False))
    assert server_error(topic.create, TopicMeta(logging_enabled=True)).type == "TopicAlreadyExist"


def test_get_topic_attributes_exact(server, account, name):
    before = server_now_ms(server) // 1000
    topic = make_topic(account, name)
    after = server_now_ms(server) // 1000
    meta = topic.get_attributes()
    assert meta.topic_name == name
    assert meta.maximum_message_size == 65536
    assert meta.message_retention_period == 86400
    assert meta.message_count == 0
    assert meta.logging_enabled is False
    assert before <= meta.create_time <= after  # seconds
    assert meta.last_modify_time == meta.create_time

    other = make_topic(account, name + "-b", maximum_message_size=1024, logging_enabled=True)
    meta = other.get_attributes()
    assert (meta.maximum_message_size, meta.logging_enabled, meta.message_retention_period) == (
        1024,
        True,
        86400,
    )


def test_set_topic_attributes_changes_only_the_given_ones(server, account, name):
    topic = make_topic(account, name, maximum_message_size=2048)
    created = topic.get_attributes().create_time
    server.advance(5)
    topic.set_attributes(TopicMeta(maximum_message_size=4096))
    meta = topic.get_attributes()
    assert (meta.maximum_message_size, meta.logging_enabled) == (4096, False)
    assert meta.create_time == created
    assert created + 5 <= meta.last_modify_time <= created + 6
    topic.set_attributes(TopicMeta(logging_enabled=True))
    meta = topic.get_attributes()
    assert (meta.maximum_message_size, meta.logging_enabled) == (4096, True)
    topic.set_attributes(TopicMeta())  # an empty <Topic/> changes nothing
    meta = topic.get_attributes()
    assert (meta.maximum_message_size, meta.logging_enabled) == (4096, True)


@pytest.mark.parametrize("size", [1023, 65537])
def test_maximum_message_size_out_of_range(account, name, size):
    topic = account.get_topic(name)
    error = server_error(topic.create, TopicMeta(maximum_message_size=size))
    assert error.type == "InvalidArgument"
    assert "MaximumMessageSize" in error.message
    assert server_error(topic.get_attributes).type == "TopicNotExist"
    make_topic(account, name, maximum_message_size=1024)
    error = server_error(topic.set_attributes, TopicMeta(maximum_message_size=size))
    assert error.type == "InvalidArgument"
    assert topic.get_attributes().maximum_message_size == 1024
    topic.set_attributes(TopicMeta(maximum_message_size=65536))
    assert topic.get_attributes().maximum_message_size == 65536


def test_list_topic_prefix_ret_number_marker_paging(server, account, name):
    names = [f"{name}-{i}" for i in range(5)]
    for topic_name in reversed(names):
        make_topic(account, topic_name)
    make_topic(account, name + "x-other")  # shares the prefix `name`, not `name-`
    urls = [f"{server.endpoint}/topics/{n}" for n in names]

    assert account.list_topic(prefix=f"{name}-") == (urls, "")
    page1, marker = account.list_topic(prefix=f"{name}-", ret_number=2)
    assert page1 == urls[:2] and marker
    page2, marker2 = account.list_topic(prefix=f"{name}-", ret_number=2, marker=marker)
    assert page2 == urls[2:4] and marker2
    page3, marker3 = account.list_topic(prefix=f"{name}-", ret_number=2, marker=marker2)
    assert (page3, marker3) == (urls[4:], "")
    # exactly ret_number left: no marker
    assert account.list_topic(prefix=f"{name}-", ret_number=5) == (urls, "")
    assert account.list_topic(prefix=f"{name}-nothing") == ([], "")
    everything, _ = account.list_topic(prefix=name)
    assert everything == urls + [f"{server.endpoint}/topics/{name}x-other"]


def test_list_topic_with_meta(server, account, name):
    make_topic(account, f"{name}-a", maximum_message_size=1024, logging_enabled=True)
    make_topic(account, f"{name}-b")
    created = account.get_topic(f"{name}-a").get_attributes().create_time
    resp = ListTopicResponse()
    account.get_client().list_topic(ListTopicRequest(f"{name}-", 1000, "", True), resp)
    assert resp.next_marker == ""
    assert resp.topicurl_list == [f"{server.endpoint}/topics/{name}-a", f"{server.endpoint}/topics/{name}-b"]
    first, second = resp.topicmeta_list
    assert first == {
        "TopicURL": f"{server.endpoint}/topics/{name}-a",
        "TopicName": f"{name}-a",
        "CreateTime": str(created),
        "LastModifyTime": str(created),
        "MaximumMessageSize": "1024",
        "MessageRetentionPeriod": "86400",
        "MessageCount": "0",
        "LoggingEnabled": "True",
    }
    assert second["MaximumMessageSize"] == "65536" and second["LoggingEnabled"] == "False"


def test_delete_topic(account, name):
    queue = make_queue(account, name)
    topic = make_topic(account, name)
    topic.get_subscription("s").subscribe(SubscriptionMeta(queue_endpoint(name)))
    topic.delete()
    assert server_error(topic.get_attributes).type == "TopicNotExist"
    assert server_error(topic.get_subscription("s").get_attributes).type == "TopicNotExist"
    assert server_error(topic.list_subscription).type == "TopicNotExist"
    assert server_error(topic.publish_message, TopicMessage("x")).type == "TopicNotExist"
    topic.delete()  # a missing topic is no error
    # re-created, it starts empty
    topic.create(TopicMeta())
    assert topic.list_subscription() == ([], "")
    topic.publish_message(TopicMessage("nobody listens"))
    assert drain(queue) == []


def test_topic_not_exist_everywhere(account, name):
    topic = account.get_topic(name)
    subscription = topic.get_subscription("s")
    calls = [
        (topic.get_attributes,),
        (topic.set_attributes, TopicMeta(maximum_message_size=2048)),
        (topic.publish_message, TopicMessage("x")),
        (topic.list_subscription,),
        (subscription.subscribe, SubscriptionMeta("http://127.0.0.1:1/x")),
        (subscription.get_attributes,),
        (subscription.set_attributes, SubscriptionMeta(notify_strategy="BACKOFF_RETRY")),
        (subscription.unsubscribe,),
    ]
    for call, *args in calls:
        error = server_error(call, *args)
        assert (error.type, error.message) == ("TopicNotExist", "The topic you provided does not exist."), call


@pytest.mark.parametrize(
    "topic_name, code",
    [
        ("bad_name", "TopicNameInvalid"),
        ("-dash-first", "TopicNameInvalid"),
        ("dot.ted", "TopicNameInvalid"),
        ("a" * 121, "TopicNameLengthError"),
    ],
)
def test_invalid_topic_names(account, topic_name, code):
    assert server_error(account.get_topic(topic_name).create, TopicMeta()).type == code


def test_longest_topic_name_and_digit_first(server, account, name):
    longest = ("L" + name + "x" * 120)[:120]
    assert make_topic(account, longest).get_attributes().topic_name == longest
    digit = "7" + name
    assert account.get_topic(digit).create(TopicMeta()) == f"{server.endpoint}/topics/{digit}"


# -- subscriptions -------------------------------------------------------------------------------


ENDPOINT_KINDS = [
    ("queue", lambda n: queue_endpoint(n), "XML"),
    ("http", lambda n: f"http://127.0.0.1:1/{n}", "XML"),
    ("https", lambda n: f"https://example.invalid:8443/hooks/{n}?a=1", "XML"),
    ("mail", lambda n: TopicHelper.generate_mail_endpoint("someone@example.com"), "SIMPLIFIED"),
    ("sms-anonymous", lambda n: TopicHelper.generate_sms_endpoint(), "SIMPLIFIED"),
    ("sms-phone", lambda n: TopicHelper.generate_sms_endpoint("13800000000"), "SIMPLIFIED"),
]


@pytest.mark.parametrize("kind, make_endpoint, default_format", ENDPOINT_KINDS, ids=[k[0] for k in ENDPOINT_KINDS])
def test_subscribe_each_endpoint_kind(server, account, name, kind, make_endpoint, default_format):
    topic = make_topic(account, name)
    endpoint = make_endpoint(name)
    before = server_now_ms(server) // 1000
    url = topic.get_subscription("sub-1").subscribe(SubscriptionMeta(endpoint))
    after = server_now_ms(server) // 1000
    assert url == f"{server.endpoint}/topics/{name}/subscriptions/sub-1"
    meta = account.get_subscription(name, "sub-1").get_attributes()
    assert meta.topic_owner == OWNER
    assert meta.topic_name == name
    assert meta.subscription_name == "sub-1"
    assert meta.endpoint == endpoint
    assert meta.filter_tag == ""
    assert meta.notify_strategy == "BACKOFF_RETRY"
    assert meta.notify_content_format == default_format
    assert before <= meta.create_time <= after
    assert meta.last_modify_time == meta.create_time


def test_get_subscription_attributes_every_field(account, name):
    topic = make_topic(account, name)
    meta = SubscriptionMeta(queue_endpoint(name), "EXPONENTIAL_DECAY_RETRY", "JSON", "tag-A")
    topic.get_subscription("s").subscribe(meta)
    got = topic.get_subscription("s").get_attributes()
    assert (got.endpoint, got.notify_strategy, got.notify_content_format, got.filter_tag) == (
        queue_endpoint(name),
        "EXPONENTIAL_DECAY_RETRY",
        "JSON",
        "tag-A",
    )
    # a 16-character filter tag is the longest
    topic.get_subscription("s16").subscribe(SubscriptionMeta(queue_endpoint(name), filter_tag="t" * 16))
    assert topic.get_subscription("s16").get_attributes().filter_tag == "t" * 16


def test_subscribe_identical_again_and_conflicts(server, account, name):
    topic = make_topic(account, name)
    endpoint = queue_endpoint(name)
    subscription = topic.get_subscription("s")
    url = subscription.subscribe(SubscriptionMeta(endpoint, filter_tag="a"))
    client = account.get_client()
    resp = SubscribeResponse()
    client.subscribe(SubscribeRequest(name, "s", endpoint, "", "", "a"), resp)
    assert resp.status == 204 and resp.subscription_url == url
    # the defaults spelled out are the same subscription
    assert subscription.subscribe(SubscriptionMeta(endpoint, "BACKOFF_RETRY", "XML", "a")) == url
    for meta in [
        SubscriptionMeta(endpoint),  # no filter tag
        SubscriptionMeta(endpoint, filter_tag="b"),
        SubscriptionMeta(endpoint, notify_content_format="JSON", filter_tag="a"),
        SubscriptionMeta(endpoint, notify_strategy="EXPONENTIAL_DECAY_RETRY", filter_tag="a"),
        SubscriptionMeta(queue_endpoint(name + "-other"), filter_tag="a"),
    ]:
        error = server_error(subscription.subscribe, meta)
        assert error.type == "SubscriptionAlreadyExist"
        assert error.message == "The subscription you want to create is already exist."
    assert subscription.get_attributes().filter_tag == "a"


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://127.0.0.1/x",
        "127.0.0.1:8080/path",
        "http://",
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1/mns-reserved-x",
        "acs:mns:cn-hangzhou:123:queues/bad_queue",
        "acs:mns:cn-hangzhou:123:topics/t",
        "acs:mns:cn-hangzhou:123:queues/q/extra",
        "acs:mns:cn-hangzhou:123:queues/",
        "mail:directmail:not-an-address",
        "sms:directsms:12",
        "sms:directsms:someone",
    ],
)
def test_invalid_endpoints(account, name, endpoint):
    topic = make_topic(account, name)
    error = server_error(topic.get_subscription("s").subscribe, SubscriptionMeta(endpoint))
    assert error.type == "EndpointInvalid"
    assert server_error(topic.get_subscription("s").get_attributes).type == "SubscriptionNotExist"


@pytest.mark.parametrize(
    "sub_name, code",
    [
        ("bad_sub", "SubscriptionNameInvalid"),
        ("-sub", "SubscriptionNameInvalid"),
        ("s" * 256, "SubscriptionNameLengthError"),
    ],
)
def test_invalid_subscription_names(account, name, sub_name, code):
    topic = make_topic(account, name)
    meta = SubscriptionMeta(queue_endpoint(name))
    assert server_error(topic.get_subscription(sub_name).subscribe, meta).type == code
    assert topic.list_subscription() == ([], "")


def test_longest_subscription_name(server, account, name):
    topic = make_topic(account, name)
    longest = "s" * 255
    url = topic.get_subscription(longest).subscribe(SubscriptionMeta(queue_endpoint(name)))
    assert url == f"{server.endpoint}/topics/{name}/subscriptions/{longest}"


@pytest.mark.parametrize(
    "meta",
    [
        {"notify_strategy": "NOPE"},
        {"notify_content_format": "YAML"},
    ],
    ids=["strategy", "format"],
)
def test_invalid_subscription_attributes(account, name, meta):
    topic = make_topic(account, name)
    error = server_error(
        topic.get_subscription("s").subscribe, SubscriptionMeta(queue_endpoint(name), **meta)
    )
    assert error.type == "InvalidArgument"


@pytest.mark.parametrize("fmt", ["XML", "JSON"])
def test_mail_and_sms_take_only_simplified(account, name, fmt):
    topic = make_topic(account, name)
    for endpoint in ["mail:directmail:a@example.com", "sms:directsms:anonymous"]:
        error = server_error(
            topic.get_subscription("s").subscribe, SubscriptionMeta(endpoint, notify_content_format=fmt)
        )
        assert error.type == "InvalidArgument"
    topic.get_subscription("s").subscribe(
        SubscriptionMeta("mail:directmail:a@example.com", notify_content_format="SIMPLIFIED")
    )


def test_subscription_not_exist(account, name):
    topic = make_topic(account, name)
    subscription = topic.get_subscription("nobody")
    for call, *args in [
        (subscription.get_attributes,),
        (subscription.set_attributes, SubscriptionMeta(notify_strategy="BACKOFF_RETRY")),
        (subscription.set_attributes, SubscriptionMeta()),
    ]:
        assert server_error(call, *args).type == "SubscriptionNotExist"
    subscription.unsubscribe()  # a missing subscription is no error


def test_set_subscription_attributes(server, account, name):
    topic = make_topic(account, name)
    subscription = topic.get_subscription("s")
    subscription.subscribe(SubscriptionMeta(queue_endpoint(name), notify_content_format="JSON", filter_tag="x"))
    created = subscription.get_attributes().create_time
    server.advance(3)
    subscription.set_attributes(SubscriptionMeta(notify_strategy="EXPONENTIAL_DECAY_RETRY"))
    meta = subscription.get_attributes()
    assert meta.notify_strategy == "EXPONENTIAL_DECAY_RETRY"
    assert (meta.endpoint, meta.notify_content_format, meta.filter_tag) == (queue_endpoint(name), "JSON", "x")
    assert meta.create_time == created
    assert created + 3 <= meta.last_modify_time <= created + 4
    modified = meta.last_modify_time

    server.advance(3)
    # the SDK's empty <Subscription/> (no strategy) changes nothing, not even LastModifyTime
    subscription.set_attributes(SubscriptionMeta())
    meta = subscription.get_attributes()
    assert (meta.notify_strategy, meta.last_modify_time) == ("EXPONENTIAL_DECAY_RETRY", modified)
    # the SDK drops endpoint, format and tag: only the strategy travels
    subscription.set_attributes(SubscriptionMeta("http://127.0.0.1:1/x", "BACKOFF_RETRY", "XML", "y"))
    meta = subscription.get_attributes()
    assert (meta.endpoint, meta.notify_strategy, meta.notify_content_format, meta.filter_tag) == (
        queue_endpoint(name),
        "BACKOFF_RETRY",
        "JSON",
        "x",
    )
    error = server_error(subscription.set_attributes, SubscriptionMeta(notify_strategy="SOMETIMES"))
    assert error.type == "InvalidArgument"
    assert subscription.get_attributes().notify_strategy == "BACKOFF_RETRY"


def test_list_subscription_paging_and_unsubscribe(server, account, name):
    topic = make_topic(account, name)
    subs = [f"s{i}" for i in range(5)]
    for sub in reversed(subs):
        topic.get_subscription(sub).subscribe(SubscriptionMeta(queue_endpoint(name)))
    topic.get_subscription("other").subscribe(SubscriptionMeta(queue_endpoint(name)))
    base = f"{server.endpoint}/topics/{name}/subscriptions/"
    urls = [base + s for s in subs]
    assert topic.list_subscription(prefix="s") == (urls, "")
    assert topic.list_subscription() == ([base + "other"] + urls, "")  # sorted by name
    page1, marker = topic.list_subscription("s", 2)
    assert page1 == urls[:2] and marker
    page2, marker = topic.list_subscription("s", 2, marker)
    assert page2 == urls[2:4] and marker
    assert topic.list_subscription("s", 2, marker) == (urls[4:], "")
    assert topic.list_subscription("zzz") == ([], "")

    topic.get_subscription("s2").unsubscribe()
    assert server_error(topic.get_subscription("s2").get_attributes).type == "SubscriptionNotExist"
    assert topic.list_subscription(prefix="s") == ([urls[0], urls[1], urls[3], urls[4]], "")
    topic.get_subscription("s2").unsubscribe()  # again: no error


# -- publishing ----------------------------------------------------------------------------------


def test_publish_to_queues_in_every_format(server, account, name):
    topic = make_topic(account, name)
    queues = {}
    for fmt in ["SIMPLIFIED", "XML", "JSON"]:
        queues[fmt] = make_queue(account, f"{name}-{fmt.lower()}")
        topic.get_subscription(f"s-{fmt.lower()}").subscribe(
            SubscriptionMeta(queue_endpoint(f"{name}-{fmt.lower()}"), notify_content_format=fmt)
        )
    body = 'hi <there> & "世界" \'q\'\n{"json": [1, 2]}'
    before = server_now_ms(server)
    published = topic.publish_message(TopicMessage(body, "tag-1"))
    after = server_now_ms(server)
    assert published.message_body_md5 == md5_upper(body)
    assert re.fullmatch(r"[0-9A-F]{32}", published.message_id)

    assert drain(queues["SIMPLIFIED"]) == [body]

    [xml_text] = drain(queues["XML"])
    assert xml_text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    pairs = notification(xml_text)
    publish_time = publish_time_of(pairs)
    assert before <= publish_time <= after
    assert pairs == expected_fields(name, "s-xml", published.message_id, body, "tag-1", publish_time)

    [json_text] = drain(queues["JSON"])
    decoded = json.loads(json_text)
    assert decoded == dict(expected_fields(name, "s-json", published.message_id, body, "tag-1", publish_time))
    assert list(decoded) == NOTIFICATION_FIELDS
    assert isinstance(decoded["PublishTime"], str)
    # no message is left over: the topic's MessageCount is back to 0
    assert topic.get_attributes().message_count == 0


def test_untagged_notification_has_no_message_tag(account, name):
    topic = make_topic(account, name)
    xml_queue = make_queue(account, f"{name}-x")
    json_queue = make_queue(account, f"{name}-j")
    topic.get_subscription("x").subscribe(SubscriptionMeta(queue_endpoint(f"{name}-x")))
    topic.get_subscription("j").subscribe(
        SubscriptionMeta(queue_endpoint(f"{name}-j"), notify_content_format="JSON")
    )
    published = topic.publish_message(TopicMessage("plain"))
    [xml_text] = drain(xml_queue)
    pairs = notification(xml_text)
    assert [field for field, _ in pairs] == [f for f in NOTIFICATION_FIELDS if f != "MessageTag"]
    assert dict(pairs)["MessageId"] == published.message_id
    [json_text] = drain(json_queue)
    assert "MessageTag" not in json.loads(json_text)


def test_carriage_returns_survive_every_format(server, account, name):
    """The SDK's XML would fold a raw CR; a raw request escapes it as &#13;."""
    topic = make_topic(account, name)
    plain, xml_queue = make_queue(account, f"{name}-s"), make_queue(account, f"{name}-x")
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(f"{name}-s"), notify_content_format="SIMPLIFIED")
    )
    topic.get_subscription("x").subscribe(SubscriptionMeta(queue_endpoint(f"{name}-x")))
    body = "line1\r\nline2\r"
    with Raw(server.endpoint) as conn:
        response = conn.request(
            "POST", f"/topics/{name}/messages", publish_body("line1&#13;\nline2&#13;")
        )
    assert response.status == 201
    assert response.fields()["MessageBodyMD5"] == md5_upper(body)
    assert drain(plain) == [body]
    [xml_text] = drain(xml_queue)
    assert dict(notification(xml_text))["Message"] == body


def test_base64_topic_message(account, name):
    topic = make_topic(account, name)
    queue = make_queue(account, name)
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(name), notify_content_format="SIMPLIFIED", filter_tag="b64")
    )
    message = Base64TopicMessage("héllo <wörld> & more", "b64")
    encoded = base64.b64encode("héllo <wörld> & more".encode()).decode()
    assert message.message_body == encoded
    published = topic.publish_message(message)
    # the server keeps the base64 text as the body: its MD5 is of that text
    assert published.message_body_md5 == md5_upper(encoded)
    assert drain(queue) == [encoded]
    # ...so a queue subscriber with the SDK's default base64 decoding gets the original bytes
    queue.set_encoding(True)
    topic.publish_message(Base64TopicMessage("héllo again", "b64"))
    assert queue.receive_message().message_body == "héllo again".encode()


def test_filter_tags(account, name):
    topic = make_topic(account, name)
    queues = {}
    for tag in ["", "tagA", "tagB"]:
        queue_name = f"{name}-{tag or 'all'}"
        queues[tag] = make_queue(account, queue_name)
        topic.get_subscription(f"s-{tag or 'all'}").subscribe(
            SubscriptionMeta(queue_endpoint(queue_name), notify_content_format="SIMPLIFIED", filter_tag=tag)
        )
    topic.publish_message(TopicMessage("untagged"))
    topic.publish_message(TopicMessage("a", "tagA"))
    topic.publish_message(TopicMessage("b", "tagB"))
    topic.publish_message(TopicMessage("c", "tagC"))
    topic.publish_message(TopicMessage("a-lower", "taga"))  # tags match exactly
    assert sorted(drain(queues[""])) == sorted(["untagged", "a", "b", "c", "a-lower"])
    assert drain(queues["tagA"]) == ["a"]
    assert drain(queues["tagB"]) == ["b"]


def test_user_properties_reach_queue_subscribers(account, name):
    topic = make_topic(account, name)
    queue = make_queue(account, name)
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(name), notify_content_format="SIMPLIFIED")
    )
    message = TopicMessage("with props", "t")
    message.add_user_property("n", MessagePropertyValue.create_number(7))
    message.add_user_property("s", MessagePropertyValue.create_string("v <&>"))
    topic.publish_message(message)
    got = queue.receive_message()
    assert got.message_body == "with props"
    props = {k: (v.get_data_type(), v.get_raw_value()) for k, v in got.user_properties.items()}
    assert props == {"n": (PropertyType.NUMBER, "7"), "s": (PropertyType.STRING, "v <&>")}


def test_mail_and_sms_deliveries_are_recorded(server, account, name):
    topic = make_topic(account, name)
    topic.get_subscription("mail").subscribe(SubscriptionMeta("mail:directmail:to@example.com"))
    topic.get_subscription("sms-any").subscribe(SubscriptionMeta("sms:directsms:anonymous"))
    topic.get_subscription("sms-one").subscribe(SubscriptionMeta("sms:directsms:13900000000", filter_tag="sms"))
    mail = DirectMailInfo("sender@example.com", "Subject <1>", 0, 1, 0)
    sms = DirectSMSInfo("SignName", "SMS_123", single=False)
    sms.add_receiver("13800000000", {"code": "1234", "name": "王"})
    sms.add_receiver("13800000001")
    before = server_now_ms(server)
    published = topic.publish_message(TopicMessage("mail body <b>hi</b>", "sms", mail, sms))
    after = server_now_ms(server)

    mails, texts = outbox(server, name)
    assert [d.subscription_name for d in mails] == ["mail"]
    assert sorted(d.subscription_name for d in texts) == ["sms-any", "sms-one"]
    [delivery] = mails
    assert delivery.kind == "mail"
    assert delivery.endpoint == "mail:directmail:to@example.com"
    assert delivery.address == "to@example.com"
    assert delivery.message_id == published.message_id
    assert delivery.message_body == "mail body <b>hi</b>"
    assert delivery.message_tag == "sms"
    assert before <= delivery.time <= after
    assert json.loads(delivery.message_attributes["DirectMail"]) == mail.get()
    by_name = {d.subscription_name: d for d in texts}
    assert by_name["sms-any"].address == "anonymous"
    assert by_name["sms-one"].address == "13900000000"
    for delivery in texts:
        assert delivery.kind == "sms"
        # the DirectSMS JSON arrives as the SDK wrote it, SmsParams still a JSON string
        assert delivery.message_attributes["DirectSMS"] == json.dumps(sms.get())
        attribute = json.loads(delivery.message_attributes["DirectSMS"])
        assert attribute["Type"] == "multiContent" and attribute["Receiver"] == ""
        assert json.loads(attribute["SmsParams"]) == {
            "13800000000": {"code": "1234", "name": "王"},
            "13800000001": {},
        }

    # single content: receivers comma-joined; untagged messages skip the filtered subscription
    single = DirectSMSInfo("SignName", "SMS_9", single=True)
    single.add_receiver("13700000000")
    single.set_params({"code": "42"})
    topic.publish_message(TopicMessage("sms only", direct_sms=single))
    mails, texts = outbox(server, name)
    assert len(mails) == 2 and len(texts) == 3
    newest = texts[-1]
    assert (newest.subscription_name, newest.message_tag) == ("sms-any", None)
    attribute = json.loads(newest.message_attributes["DirectSMS"])
    assert (attribute["Type"], attribute["Receiver"], json.loads(attribute["SmsParams"])) == (
        "singleContent",
        "13700000000",
        {"code": "42"},
    )
    assert "DirectMail" not in newest.message_attributes


def test_publish_size_limit_counts_utf8_bytes(account, name):
    topic = make_topic(account, name, maximum_message_size=1024)
    topic.publish_message(TopicMessage("x" * 1024))
    error = server_error(topic.publish_message, TopicMessage("x" * 1025))
    assert error.type == "InvalidArgument"
    topic.publish_message(TopicMessage("世" * 341))  # 1023 bytes
    assert server_error(topic.publish_message, TopicMessage("世" * 342)).type == "InvalidArgument"


def test_queue_endpoint_retries_until_the_queue_exists(server, account, name):
    """A push to a missing queue fails and is retried (BACKOFF_RETRY, 10-20 s)."""
    topic = make_topic(account, name)
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(name), notify_content_format="SIMPLIFIED")
    )
    topic.publish_message(TopicMessage("late"))
    stats = sub_stats(server, name, "s")
    assert (stats.attempts, stats.failures, stats.retrying, stats.delivered) == (1, 1, 1, 0)
    assert stats.last_error.startswith("QueueNotExist")
    assert topic.get_attributes().message_count == 1
    queue = make_queue(account, name)
    server.advance(20)
    assert wait_until(lambda: sub_stats(server, name, "s").delivered == 1)
    assert drain(queue) == ["late"]
    assert topic.get_attributes().message_count == 0


def test_unknown_message_attributes_are_kept(server, name):
    """Newer SDKs write DYSMS / DM children: they reach the outbox verbatim."""
    raw_create_topic(server, name)
    with Raw(server.endpoint) as conn:
        assert conn.request(
            "PUT", f"/topics/{name}/subscriptions/sms", doc("Subscription", Endpoint="sms:directsms:anonymous")
        ).status == 201
        attributes = '<DYSMS>{"TemplateCode": "T1"}</DYSMS><Other>raw &amp; text</Other>'
        response = conn.request(
            "POST", f"/topics/{name}/messages", publish_body("x", MessageAttributes=attributes)
        )
        assert response.status == 201
    [delivery] = outbox(server, name)[1]
    assert delivery.message_attributes == {"DYSMS": '{"TemplateCode": "T1"}', "Other": "raw & text"}


def test_queue_too_small_for_the_notification_is_retried(server, account, name):
    queue = account.get_queue(name)
    queue.create(QueueMeta(max_msg_size=1024))
    topic = make_topic(account, name)
    topic.get_subscription("s").subscribe(SubscriptionMeta(queue_endpoint(name)))  # XML
    topic.publish_message(TopicMessage("y" * 1000))  # fits the topic, not the queue once wrapped
    stats = sub_stats(server, name, "s")
    assert (stats.failures, stats.retrying, stats.delivered) == (1, 1, 0)
    assert stats.last_error.startswith("InvalidArgument")
    topic.get_subscription("s").unsubscribe()


def test_message_group_id_reaches_queue_subscribers(account, name):
    topic = make_topic(account, name)
    queue = make_queue(account, name)
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(name), notify_content_format="SIMPLIFIED")
    )
    topic.publish_message(TopicMessage("grouped", message_group_id="g-1"))
    got = queue.receive_message()
    assert (got.message_body, got.message_group_id) == ("grouped", "g-1")


def test_subscription_limit_is_100_per_topic(account, name):
    topic = make_topic(account, name)
    for i in range(100):
        topic.get_subscription(f"s{i}").subscribe(SubscriptionMeta("sms:directsms:anonymous"))
    error = server_error(topic.get_subscription("s100").subscribe, SubscriptionMeta("sms:directsms:anonymous"))
    assert error.type == "SubscriptionNumExceeded"
    # an identical re-subscribe of an existing one is still fine
    topic.get_subscription("s7").subscribe(SubscriptionMeta("sms:directsms:anonymous"))


# -- with access keys ----------------------------------------------------------------------------


def test_signed_topic_round_trip(auth_server, name):
    account = Account(auth_server.endpoint, "id", "secret")
    topic = make_topic(account, name, maximum_message_size=2048)
    queue = make_queue(account, name)
    topic.get_subscription("s").subscribe(
        SubscriptionMeta(queue_endpoint(name), notify_content_format="SIMPLIFIED", filter_tag="t")
    )
    topic.get_subscription("s").set_attributes(SubscriptionMeta(notify_strategy="EXPONENTIAL_DECAY_RETRY"))
    published = topic.publish_message(TopicMessage("signed", "t"))
    assert published.message_body_md5 == md5_upper("signed")
    assert drain(queue) == ["signed"]
    assert account.list_topic(prefix=name, ret_number=1)[0] == [f"{auth_server.endpoint}/topics/{name}"]
    assert topic.list_subscription()[0] == [f"{auth_server.endpoint}/topics/{name}/subscriptions/s"]
    assert topic.get_subscription("s").get_attributes().notify_strategy == "EXPONENTIAL_DECAY_RETRY"
    topic.get_subscription("s").unsubscribe()
    topic.delete()
    wrong = Account(auth_server.endpoint, "id", "not-the-secret")
    assert server_error(wrong.get_topic(name).create, TopicMeta()).type == "SignatureDoesNotMatch"
    assert server_error(topic.get_attributes).type == "TopicNotExist"


# -- raw HTTP ------------------------------------------------------------------------------------


class Raw(Wire):
    """One keep-alive connection, with requests built as the SDK builds them (unsigned)."""

    def request(self, method, target, body=b"", headers=None, host="127.0.0.1") -> Reply:
        all_headers = {"Host": host, "x-mns-version": "2015-06-06"}
        if body:
            all_headers["content-type"] = "text/xml;charset=UTF-8"
        all_headers.update(headers or {})
        return self.exchange(request_bytes(method, target, all_headers, body))


def doc(root: str, **fields) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<{root} xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</{root}>'
    ).encode("utf-8")


def publish_body(text: str, **fields) -> bytes:
    return doc("Message", MessageBody=text, **fields)


def fetch(url: str):
    """GET ``url`` directly (no proxy from the environment), as a receiver fetches the cert."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=5)


def assert_error(response: Reply, status: int, code: str) -> dict[str, str]:
    fields = assert_error_document(response, status, code)
    assert fields["HostId"] == "http://127.0.0.1"
    return fields


def raw_create_topic(server, topic_name, **fields) -> None:
    with Raw(server.endpoint) as conn:
        assert conn.request("PUT", f"/topics/{topic_name}", doc("Topic", **fields)).status == 201


def assert_no_empty_elements(root: ElementTree.Element) -> None:
    for element in root.iter():
        if len(element) == 0 and element is not root:
            assert (element.text or "").strip(), f"empty <{element.tag}>"


def test_raw_put_topic_status_and_location(server, name):
    with Raw(server.endpoint) as conn:
        created = conn.request("PUT", f"/topics/{name}", doc("Topic", MaximumMessageSize=2048))
        assert created.status == 201
        assert created.header("Location") == f"http://127.0.0.1/topics/{name}"
        assert created.body == b""
        assert_request_id(created)
        same = conn.request("PUT", f"/topics/{name}", doc("Topic", MaximumMessageSize=2048))
        assert same.status == 204
        assert same.header("Location") == f"http://127.0.0.1/topics/{name}"
        assert same.body == b""
        assert_error(
            conn.request("PUT", f"/topics/{name}", doc("Topic", MaximumMessageSize=4096)),
            409,
            "TopicAlreadyExist",
        )
        # Location follows the Host header; an empty body creates with defaults
        other = conn.request("PUT", f"/topics/{name}-2", b"", host="mns.example:8080")
        assert other.status == 201
        assert other.header("Location") == f"http://mns.example:8080/topics/{name}-2"
        override = conn.request(
            "PUT", f"/topics/{name}?metaoverride=true", doc("Topic", LoggingEnabled="true")
        )
        assert override.status == 204 and override.body == b""
        attributes = conn.request("GET", f"/topics/{name}")
        assert attributes.status == 200
        assert attributes.xml().tag == NS + "Topic"
        fields = attributes.fields()
        assert list(fields) == TOPIC_META_FIELDS
        assert fields["LoggingEnabled"] == "True" and fields["MaximumMessageSize"] == "2048"
        assert_no_empty_elements(attributes.xml())


def test_raw_put_subscription_status_and_location(server, name):
    raw_create_topic(server, name)
    body = doc("Subscription", Endpoint=queue_endpoint(name), NotifyContentFormat="JSON")
    target = f"/topics/{name}/subscriptions/s1"
    with Raw(server.endpoint) as conn:
        created = conn.request("PUT", target, body)
        assert created.status == 201
        assert created.header("Location") == f"http://127.0.0.1{target}"
        assert created.body == b""
        same = conn.request("PUT", target, body)
        assert same.status == 204
        assert same.header("Location") == f"http://127.0.0.1{target}"
        differing = doc("Subscription", Endpoint=queue_endpoint(name), NotifyContentFormat="XML")
        assert_error(conn.request("PUT", target, differing), 409, "SubscriptionAlreadyExist")
        override = conn.request(
            "PUT",
            target + "?metaoverride=true",
            doc("Subscription", NotifyStrategy="EXPONENTIAL_DECAY_RETRY"),
        )
        assert override.status == 204 and override.body == b""
        got = conn.request("GET", target)
        assert got.status == 200
        assert got.xml().tag == NS + "Subscription"
        fields = got.fields()
        assert fields == {
            "TopicOwner": OWNER,
            "TopicName": name,
            "Subscriber": OWNER,
            "SubscriptionName": "s1",
            "Endpoint": queue_endpoint(name),
            "NotifyStrategy": "EXPONENTIAL_DECAY_RETRY",
            "NotifyContentFormat": "JSON",
            "CreateTime": fields["CreateTime"],
            "LastModifyTime": fields["LastModifyTime"],
        }
        assert fields["CreateTime"].isdigit() and fields["LastModifyTime"].isdigit()
        assert_no_empty_elements(got.xml())
        # FilterTag appears when set
        tagged = doc("Subscription", Endpoint=queue_endpoint(name), FilterTag="ft")
        assert conn.request("PUT", f"/topics/{name}/subscriptions/s2", tagged).status == 201
        assert conn.request("GET", f"/topics/{name}/subscriptions/s2").fields()["FilterTag"] == "ft"
        deleted = conn.request("DELETE", target)
        assert deleted.status == 204 and deleted.body == b""


def test_every_topic_response_carries_x_mns_request_id(server, name):
    seen = []
    sub = f"/topics/{name}/subscriptions/s"
    with Raw(server.endpoint) as conn:
        for args in [
            ("PUT", f"/topics/{name}", doc("Topic")),  # 201
            ("PUT", f"/topics/{name}", doc("Topic")),  # 204
            ("PUT", f"/topics/{name}?metaoverride=true", doc("Topic", MaximumMessageSize=2048)),
            ("GET", f"/topics/{name}"),
            ("GET", "/topics"),
            ("PUT", sub, doc("Subscription", Endpoint=queue_endpoint(name))),  # 201
            ("PUT", sub, doc("Subscription", Endpoint=queue_endpoint(name))),  # 204
            ("PUT", sub + "?metaoverride=true", doc("Subscription")),
            ("GET", sub),
            ("GET", f"/topics/{name}/subscriptions"),
            ("POST", f"/topics/{name}/messages", publish_body("hi")),  # 201
            ("DELETE", sub),
            ("GET", sub),  # 404
            ("GET", f"/topics/{name}-missing"),  # 404
            ("PUT", f"/topics/{name}", doc("Topic", MaximumMessageSize=1024)),  # 409
            ("GET", f"/topics/{name}/nothing"),  # 400
            ("GET", CERT_PATH),
            ("DELETE", f"/topics/{name}"),
        ]:
            response = conn.request(*args)
            assert response.status < 500, (args, response.body)
            seen.append(assert_request_id(response))
            assert response.header("x-mns-version") == "2015-06-06"
    assert len(set(seen)) == len(seen)


def test_topic_error_documents(server, name):
    raw_create_topic(server, name)
    sub = f"/topics/{name}/subscriptions"
    good = doc("Subscription", Endpoint=queue_endpoint(name))
    with Raw(server.endpoint) as conn:
        assert conn.request("PUT", f"{sub}/exists", good).status == 201
        for args, status, code in [
            (("GET", f"/topics/{name}-nope"), 404, "TopicNotExist"),
            (("PUT", f"/topics/{name}-nope?metaoverride=true", doc("Topic")), 404, "TopicNotExist"),
            (("POST", f"/topics/{name}-nope/messages", publish_body("x")), 404, "TopicNotExist"),
            (("GET", f"/topics/{name}-nope/subscriptions"), 404, "TopicNotExist"),
            (("PUT", f"/topics/{name}-nope/subscriptions/s", good), 404, "TopicNotExist"),
            (("GET", f"{sub}/nope"), 404, "SubscriptionNotExist"),
            (("PUT", f"{sub}/nope?metaoverride=true", doc("Subscription")), 404, "SubscriptionNotExist"),
            (("PUT", "/topics/bad_name", doc("Topic")), 400, "TopicNameInvalid"),
            (("PUT", "/topics/" + "a" * 121, doc("Topic")), 400, "TopicNameLengthError"),
            (("PUT", f"/topics/{name}-x", doc("Topic", MaximumMessageSize=1023)), 400, "InvalidArgument"),
            (("PUT", f"/topics/{name}-x", doc("Topic", MaximumMessageSize=65537)), 400, "InvalidArgument"),
            (("PUT", f"/topics/{name}-x", doc("Topic", MaximumMessageSize="big")), 400, "InvalidArgument"),
            (("PUT", f"/topics/{name}-x", doc("Topic", LoggingEnabled="maybe")), 400, "InvalidArgument"),
            (("PUT", f"/topics/{name}?metaoverride=true", doc("Topic", MaximumMessageSize=1023)), 400,
             "InvalidArgument"),
            (("PUT", f"{sub}/bad_sub", good), 400, "SubscriptionNameInvalid"),
            (("PUT", f"{sub}/" + "s" * 256, good), 400, "SubscriptionNameLengthError"),
            (("PUT", f"{sub}/s", doc("Subscription", Endpoint="gopher://x")), 400, "EndpointInvalid"),
            (("PUT", f"{sub}/s", doc("Subscription")), 400, "EndpointInvalid"),
            (("PUT", f"{sub}/s", b""), 400, "EndpointInvalid"),
            (("PUT", f"{sub}/s", doc("Subscription", Endpoint=queue_endpoint(name), NotifyStrategy="X")),
             400, "InvalidArgument"),
            (("PUT", f"{sub}/s", doc("Subscription", Endpoint=queue_endpoint(name), FilterTag="f" * 17)),
             400, "InvalidArgument"),
            (("PUT", f"{sub}/exists?metaoverride=true", doc("Subscription", NotifyStrategy="X")), 400,
             "InvalidArgument"),
            (("PUT", f"{sub}/exists", doc("Subscription", Endpoint="http://127.0.0.1:1/")), 409,
             "SubscriptionAlreadyExist"),
            (("POST", f"/topics/{name}/messages", publish_body("")), 400, "InvalidArgument"),
            (("POST", f"/topics/{name}/messages", doc("Message", MessageTag="t")), 400, "InvalidArgument"),
            (("POST", f"/topics/{name}/messages", publish_body("x", MessageTag="t" * 17)), 400,
             "InvalidArgument"),
            (("POST", f"/topics/{name}/messages",
              publish_body("x", MessageAttributes="<DirectSMS>not json</DirectSMS>")), 400, "InvalidArgument"),
            (("POST", f"/topics/{name}/messages",
              publish_body("x", MessageAttributes="<DirectMail>[1, 2]</DirectMail>")), 400, "InvalidArgument"),
            (("GET", "/topics", b"", {"x-mns-ret-number": "0"}), 400, "InvalidArgument"),
            (("GET", "/topics", b"", {"x-mns-ret-number": "1001"}), 400, "InvalidArgument"),
            (("GET", f"/topics/{name}/subscriptions", b"", {"x-mns-ret-number": "x"}), 400,
             "InvalidArgument"),
        ]:
            assert_error(conn.request(*args), status, code)
        # nothing was changed or created by the failures
        assert conn.request("GET", f"/topics/{name}").fields()["MaximumMessageSize"] == "65536"
        assert conn.request("GET", f"/topics/{name}-x").status == 404
        listing = conn.request("GET", f"/topics/{name}/subscriptions")
        assert [e[0].text for e in listing.xml()] == [f"http://127.0.0.1{sub}/exists"]
        assert conn.request("GET", f"{sub}/exists").fields()["NotifyStrategy"] == "BACKOFF_RETRY"


def test_list_topic_xml_shape(server, name):
    for i in range(3):
        raw_create_topic(server, f"{name}-{i}", MaximumMessageSize=1024 + i)
    with Raw(server.endpoint) as conn:
        headers = {"x-mns-prefix": f"{name}-", "x-mns-ret-number": "2", "x-mns-with-meta": "true"}
        first = conn.request("GET", "/topics", headers=headers)
        assert first.status == 200
        assert first.header("Content-Type").lower().startswith("text/xml")
        assert first.body.startswith(b"<?xml")
        root = first.xml()
        assert root.tag == NS + "Topics"
        assert_no_empty_elements(root)
        tags = [child.tag for child in root]
        assert tags == [NS + "Topic", NS + "Topic", NS + "NextMarker"]
        for i, entry in enumerate(root[:2]):
            fields = {c.tag.replace(NS, ""): c.text for c in entry}
            assert [c.tag.replace(NS, "") for c in entry] == ["TopicURL", *TOPIC_META_FIELDS]
            assert fields["TopicURL"] == f"http://127.0.0.1/topics/{name}-{i}"
            assert fields["TopicName"] == f"{name}-{i}"
            assert fields["MaximumMessageSize"] == str(1024 + i)
            assert fields["MessageRetentionPeriod"] == "86400"
            assert fields["MessageCount"] == "0"
            assert fields["LoggingEnabled"] == "False"
        marker = root[2].text
        second = conn.request("GET", "/topics", headers={**headers, "x-mns-marker": marker})
        root = second.xml()
        assert [child.tag for child in root] == [NS + "Topic"]  # the last page: no NextMarker
        assert root[0][0].text == f"http://127.0.0.1/topics/{name}-2"
        # without x-mns-with-meta: just the URLs
        plain = conn.request("GET", "/topics", headers={"x-mns-prefix": f"{name}-"})
        root = plain.xml()
        assert [[c.tag for c in entry] for entry in root] == [[NS + "TopicURL"]] * 3
        # nothing found: an empty <Topics/>, still namespaced
        empty = conn.request("GET", "/topics", headers={"x-mns-prefix": f"{name}-none"})
        root = empty.xml()
        assert root.tag == NS + "Topics" and len(root) == 0


def test_list_subscription_xml_shape(server, name):
    raw_create_topic(server, name)
    with Raw(server.endpoint) as conn:
        for sub in ["a", "b", "c"]:
            response = conn.request(
                "PUT", f"/topics/{name}/subscriptions/{sub}", doc("Subscription", Endpoint="http://127.0.0.1:1/")
            )
            assert response.status == 201
        target = f"/topics/{name}/subscriptions"
        first = conn.request("GET", target, headers={"x-mns-ret-number": "2"})
        assert first.status == 200
        root = first.xml()
        assert root.tag == NS + "Subscriptions"
        assert_no_empty_elements(root)
        assert [child.tag for child in root] == [NS + "Subscription"] * 2 + [NS + "NextMarker"]
        assert [[c.tag for c in entry] for entry in root[:2]] == [[NS + "SubscriptionURL"]] * 2
        assert [entry[0].text for entry in root[:2]] == [
            f"http://127.0.0.1{target}/a",
            f"http://127.0.0.1{target}/b",
        ]
        second = conn.request(
            "GET", target, headers={"x-mns-ret-number": "2", "x-mns-marker": root[2].text}
        )
        root = second.xml()
        assert [child.tag for child in root] == [NS + "Subscription"]
        assert root[0][0].text == f"http://127.0.0.1{target}/c"
        prefixed = conn.request("GET", target, headers={"x-mns-prefix": "b"}).xml()
        assert [entry[0].text for entry in prefixed] == [f"http://127.0.0.1{target}/b"]
        empty = conn.request("GET", target, headers={"x-mns-prefix": "z"}).xml()
        assert empty.tag == NS + "Subscriptions" and len(empty) == 0


def test_list_topic_with_meta_survives_a_concurrent_delete(server, name):
    """A DeleteTopic served while a ListTopic is being rendered (two clients at once)."""
    for i in range(20):
        raw_create_topic(server, f"{name}-{i:02d}")
    listing = Request(
        "GET", "/topics", {"host": "127.0.0.1", "x-mns-prefix": f"{name}-", "x-mns-with-meta": "true"}
    )

    async def race():
        responses = []

        async def lister():
            responses.append(await server.app(listing))

        async def deleter():
            for _ in range(3):  # the listing has taken its page of names by now
                await trio.sleep(0)
            await server.broker.get_topic(f"{name}-19").delete()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lister)
            nursery.start_soon(deleter)
        return responses[0]

    response = server.call(race)
    assert response.status == 200, response.body
    root = ElementTree.fromstring(response.body)
    urls = [entry[0].text for entry in root]
    # the deleted topic may be listed or left out, but the rest is there
    assert urls[:19] == [f"http://127.0.0.1/topics/{name}-{i:02d}" for i in range(19)]


@pytest.mark.parametrize(
    "method, target",
    [
        ("POST", "/topics"),
        ("PUT", "/topics"),
        ("DELETE", "/topics"),
        ("POST", "/topics/t"),
        ("GET", "/topics/t/messages"),
        ("PUT", "/topics/t/messages"),
        ("DELETE", "/topics/t/messages"),
        ("PUT", "/topics/t/subscriptions"),
        ("POST", "/topics/t/subscriptions"),
        ("DELETE", "/topics/t/subscriptions"),
        ("POST", "/topics/t/subscriptions/s"),
        ("GET", "/topics/t/subscriptions/s/x"),
        ("GET", "/topics/t/nothing"),
        ("GET", "/topics/t/"),
        ("GET", "/topics//subscriptions"),
        ("GET", "/topics/t/subscriptions/"),
        ("GET", "/topicsx"),
    ],
)
def test_invalid_request_url(server, method, target):
    with Raw(server.endpoint) as conn:
        assert_error(conn.request(method, target), 400, "InvalidRequestURL")


@pytest.mark.parametrize(
    "body",
    [
        b"<Message><MessageBody>x</MessageBody>",
        b"not xml",
        b"",
        b"<Topic><MessageBody>x</MessageBody></Topic>",
        b'<!DOCTYPE m [<!ENTITY a "aaaa">]><Message><MessageBody>&a;</MessageBody></Message>',
        b"<Message><MessageBody>caf\xe9</MessageBody></Message>",
    ],
    ids=["truncated", "text", "empty", "wrong-root", "entity", "bad-utf8"],
)
def test_malformed_publish_body(server, account, name, body):
    raw_create_topic(server, name)
    queue = make_queue(account, name)
    account.get_topic(name).get_subscription("s").subscribe(SubscriptionMeta(queue_endpoint(name)))
    with Raw(server.endpoint) as conn:
        assert_error(conn.request("POST", f"/topics/{name}/messages", body), 400, "MalformedXML")
    assert drain(queue) == []


@pytest.mark.parametrize(
    "method, target, body",
    [
        ("GET", "/topics?foo=1", b""),
        ("GET", "/topics/{t}?foo=1", b""),
        ("DELETE", "/topics/{t}?force=true", b""),
        ("PUT", "/topics/{t}?metaoverride=true&x=1", b""),
        ("PUT", "/topics/{t}?create=1", b""),
        ("POST", "/topics/{t}/messages?foo", b'<Message><MessageBody>x</MessageBody></Message>'),
        ("GET", "/topics/{t}/subscriptions?x=y", b""),
        ("GET", "/topics/{t}/subscriptions/s?x=y", b""),
        ("PUT", "/topics/{t}/subscriptions/s?x=y", b""),
        ("DELETE", "/topics/{t}/subscriptions/s?x=y", b""),
    ],
)
def test_invalid_query_string(server, name, method, target, body):
    raw_create_topic(server, name)
    with Raw(server.endpoint) as conn:
        response = conn.request(method, target.replace("{t}", name), body)
        assert_error(response, 400, "InvalidQueryString")
        assert conn.request("GET", f"/topics/{name}").status == 200  # still there


def test_query_keys_are_case_insensitive(server, name):
    raw_create_topic(server, name)
    with Raw(server.endpoint) as conn:
        response = conn.request(
            "PUT", f"/topics/{name}?MetaOverride=true", doc("Topic", MaximumMessageSize=4096)
        )
        assert response.status == 204
        assert conn.request("GET", f"/topics/{name}").fields()["MaximumMessageSize"] == "4096"


@pytest.mark.parametrize("which", ["plain", "auth"])
def test_signing_certificate_is_served(server, auth_server, which):
    running = server if which == "plain" else auth_server
    with Raw(running.endpoint) as conn:
        response = conn.request("GET", CERT_PATH)  # unsigned, even where signatures are required
    assert response.status == 200
    assert_request_id(response)
    assert response.header("Content-Type") == "application/x-pem-file"
    assert response.body.startswith(b"-----BEGIN CERTIFICATE-----")
    certificate = x509.load_pem_x509_certificate(response.body)
    assert certificate.public_key().key_size >= 2048
    # the same over urllib, as a receiver fetches it
    with fetch(running.endpoint + CERT_PATH) as fetched:
        assert fetched.read() == response.body
    if which == "auth":
        with Raw(running.endpoint) as conn:
            assert_error(conn.request("GET", "/topics"), 400, "MissingAuthorizationHeader")


# -- HTTP push end to end ------------------------------------------------------------------------


class Received:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.raw_headers = headers  # [(name as sent, value)]
        self.headers = dict(headers)  # by the exact names, as the Python sample reads them
        self.body = body


class Receiver:
    """An HTTP endpoint in a thread: records every request; answers per path (default 204)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.status: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        Received(self.command, self.path, list(self.headers.items()), body)
                    )
                    status = receiver.status.get(self.path, 204)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver():
    running = Receiver()
    yield running
    running.close()


def sample_string_to_sign(method: str, path: str, headers: dict[str, str]) -> str:
    """The official Python sample receiver's string to sign, written independently: the three
    standard headers looked up by their exact lower-case names, the x-mns-* headers (names
    as received) sorted as "name:value" strings, then the request path."""
    service = "\n".join(sorted(f"{k}:{v}" for k, v in headers.items() if k.startswith("x-mns-")))
    standard = "\n".join(headers.get(key, "") for key in ["content-md5", "content-type", "date"])
    return f"{method}\n{standard}\n{service}\n{path}"


def verify_push(pushed: Received) -> bool:
    """Fetch the certificate the push names and verify SHA1withRSA, as the sample does."""
    cert_url = base64.b64decode(pushed.headers["x-mns-signing-cert-url"]).decode()
    with fetch(cert_url) as response:
        certificate = x509.load_pem_x509_certificate(response.read())
    signature = base64.b64decode(pushed.headers["Authorization"])
    text = sample_string_to_sign(pushed.method, pushed.path, pushed.headers)
    try:
        certificate.public_key().verify(signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature:
        return False
    return True


CONTENT_TYPES = {
    "XML": "text/xml;charset=utf-8",
    "JSON": "application/json;charset=utf-8",
    "SIMPLIFIED": "text/plain;charset=utf-8",
}


def test_http_push_in_every_format(server, account, receiver, name):
    topic = make_topic(account, name)
    paths = {
        "XML": f"/{name}/xml",
        "JSON": f"/{name}/json",
        "SIMPLIFIED": f"/{name}/simple?token=a+b/c%20d",
    }
    for fmt, path in paths.items():
        topic.get_subscription(f"h-{fmt.lower()}").subscribe(
            SubscriptionMeta(receiver.url(path), notify_content_format=fmt)
        )
    body = "push <me> & \"世界\" {\"k\": 1}"
    before = server_now_ms(server)
    published = topic.publish_message(TopicMessage(body, "tag-9"))
    after = server_now_ms(server)
    assert wait_until(lambda: all(receiver.at(path) for path in paths.values()), timeout=10)

    cert_url = f"{server.endpoint}{CERT_PATH}"
    for fmt, path in paths.items():
        [pushed] = receiver.at(path)
        sub = f"h-{fmt.lower()}"
        assert pushed.method == "POST"
        assert pushed.path == path
        headers = pushed.headers
        # the signed headers arrive with lower-case names, as the samples need
        for header in ["content-md5", "content-type", "date", "x-mns-request-id", "x-mns-version",
                       "x-mns-message-id", "x-mns-message-tag", "x-mns-topic-owner",
                       "x-mns-topic-name", "x-mns-subscriber", "x-mns-subscription-name",
                       "x-mns-publish-time", "x-mns-signing-cert-url"]:
            assert header in headers, (header, pushed.raw_headers)
        assert headers["content-md5"] == hashlib.md5(pushed.body).hexdigest().upper()
        assert headers["content-type"] == CONTENT_TYPES[fmt]
        parsedate_to_datetime(headers["date"])  # an RFC 1123 date
        assert headers["date"].endswith(" GMT")
        assert REQUEST_ID.fullmatch(headers["x-mns-request-id"])
        assert headers["x-mns-version"] == "2015-06-06"
        assert headers["x-mns-message-id"] == published.message_id
        assert headers["x-mns-message-tag"] == "tag-9"
        assert headers["x-mns-topic-owner"] == OWNER
        assert headers["x-mns-topic-name"] == name
        assert headers["x-mns-subscriber"] == OWNER
        assert headers["x-mns-subscription-name"] == sub
        publish_time = int(headers["x-mns-publish-time"])
        assert before <= publish_time <= after
        assert base64.b64decode(headers["x-mns-signing-cert-url"]).decode() == cert_url
        assert headers["Host"] == f"127.0.0.1:{receiver.port}"
        assert headers["User-Agent"] == "Aliyun Notification Service Agent"
        assert int(headers["Content-Length"]) == len(pushed.body)
        assert verify_push(pushed), pushed.raw_headers
        # the check is not vacuous: another path or a changed header fails it
        assert not verify_push(Received("POST", path + "x", pushed.raw_headers, pushed.body))
        tampered = [(k, "X" if k == "x-mns-message-tag" else v) for k, v in pushed.raw_headers]
        assert not verify_push(Received("POST", path, tampered, pushed.body))

        expected = expected_fields(name, sub, published.message_id, body, "tag-9", publish_time)
        if fmt == "SIMPLIFIED":
            assert pushed.body == body.encode("utf-8")
        elif fmt == "XML":
            assert pushed.body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
            assert notification(pushed.body.decode("utf-8")) == expected
        else:
            decoded = json.loads(pushed.body.decode("utf-8"))
            assert decoded == dict(expected) and list(decoded) == NOTIFICATION_FIELDS

    for fmt in paths:
        sub = f"h-{fmt.lower()}"
        assert wait_until(lambda sub=sub: sub_stats(server, name, sub).delivered == 1)
        stats = sub_stats(server, name, sub)
        assert (stats.attempts, stats.failures, stats.dropped, stats.pending, stats.retrying) == (1, 0, 0, 0, 0)
    assert topic.get_attributes().message_count == 0


def test_http_push_untagged_and_without_path(server, account, receiver, name):
    topic = make_topic(account, name)
    # an endpoint without a path is pushed to /notifications
    topic.get_subscription("root").subscribe(
        SubscriptionMeta(f"http://127.0.0.1:{receiver.port}", notify_content_format="SIMPLIFIED")
    )
    published = topic.publish_message(TopicMessage(f"for {name}"))

    def mine():
        return [r for r in receiver.at("/notifications") if r.headers.get("x-mns-topic-name") == name]

    assert wait_until(lambda: mine(), timeout=10)
    [pushed] = mine()
    assert pushed.body == f"for {name}".encode()
    assert pushed.headers["x-mns-message-id"] == published.message_id
    assert "x-mns-message-tag" not in {k.lower() for k in pushed.headers}
    assert verify_push(pushed)

    # a localhost endpoint is reached over loopback, named as subscribed in Host
    topic.get_subscription("local").subscribe(
        SubscriptionMeta(f"http://localhost:{receiver.port}/{name}/local", notify_content_format="JSON")
    )
    topic.publish_message(TopicMessage("to localhost", "l"))
    assert wait_until(lambda: receiver.at(f"/{name}/local"), timeout=10)
    [pushed] = receiver.at(f"/{name}/local")
    assert pushed.headers["Host"] == f"localhost:{receiver.port}"
    assert json.loads(pushed.body)["Message"] == "to localhost"
    assert verify_push(pushed)


def test_http_push_filter_tag(server, account, receiver, name):
    topic = make_topic(account, name)
    topic.get_subscription("f").subscribe(
        SubscriptionMeta(receiver.url(f"/{name}/f"), notify_content_format="SIMPLIFIED", filter_tag="yes")
    )
    topic.get_subscription("all").subscribe(
        SubscriptionMeta(receiver.url(f"/{name}/all"), notify_content_format="SIMPLIFIED")
    )
    topic.publish_message(TopicMessage("no", "no"))
    topic.publish_message(TopicMessage("yes", "yes"))
    assert wait_until(lambda: len(receiver.at(f"/{name}/all")) == 2, timeout=10)
    assert wait_until(lambda: sub_stats(server, name, "f").delivered == 1)
    assert [r.body for r in receiver.at(f"/{name}/f")] == [b"yes"]


def test_http_push_backoff_retry_then_drop(server, account, receiver, name):
    path = f"/{name}/failing"
    receiver.status[path] = 500
    topic = make_topic(account, name)
    topic.get_subscription("h").subscribe(
        SubscriptionMeta(receiver.url(path), notify_strategy="BACKOFF_RETRY", notify_content_format="JSON")
    )
    published = topic.publish_message(TopicMessage("doomed", "t"))

    def settled_after(failures):
        stats = sub_stats(server, name, "h")
        return stats.failures == failures and stats.pending == 0

    assert wait_until(lambda: settled_after(1), timeout=10)
    stats = sub_stats(server, name, "h")
    assert (stats.attempts, stats.retrying, stats.dropped, stats.delivered) == (1, 1, 0, 0)
    assert stats.last_error == "HTTP 500"
    assert stats.next_retry_time is not None
    assert 10_000 <= stats.next_retry_time - stats.last_error_time <= 20_000
    assert topic.get_attributes().message_count == 1
    assert len(receiver.at(path)) == 1

    for retry in (1, 2, 3):
        server.advance(20)
        assert wait_until(lambda n=1 + retry: settled_after(n), timeout=10), sub_stats(server, name, "h")
        assert len(receiver.at(path)) == 1 + retry
    stats = sub_stats(server, name, "h")
    assert (stats.attempts, stats.failures, stats.retrying, stats.dropped, stats.delivered) == (4, 4, 0, 1, 0)
    assert stats.next_retry_time is None
    assert stats.last_error == "HTTP 500"
    # every attempt carried the same message, each with a new request id, each signed
    pushes = receiver.at(path)
    assert {p.headers["x-mns-message-id"] for p in pushes} == {published.message_id}
    assert len({p.headers["x-mns-request-id"] for p in pushes}) == 4
    assert all(verify_push(p) for p in pushes)
    assert topic.get_attributes().message_count == 0
    # nothing more happens later
    server.advance(60)
    assert sub_stats(server, name, "h").attempts == 4


def test_http_push_recovers_on_retry(server, account, receiver, name):
    path = f"/{name}/flaky"
    receiver.status[path] = 503
    topic = make_topic(account, name)
    topic.get_subscription("h").subscribe(SubscriptionMeta(receiver.url(path), notify_content_format="SIMPLIFIED"))
    topic.publish_message(TopicMessage("eventually"))
    assert wait_until(lambda: sub_stats(server, name, "h").failures == 1, timeout=10)
    receiver.status[path] = 200
    server.advance(20)
    assert wait_until(lambda: sub_stats(server, name, "h").delivered == 1, timeout=10)
    stats = sub_stats(server, name, "h")
    assert (stats.attempts, stats.failures, stats.retrying, stats.dropped) == (2, 1, 0, 0)
    assert [p.body for p in receiver.at(path)] == [b"eventually", b"eventually"]


def test_http_push_exponential_decay_retry_schedule(server, account, receiver, name):
    path = f"/{name}/decay"
    receiver.status[path] = 500
    topic = make_topic(account, name)
    topic.get_subscription("h").subscribe(
        SubscriptionMeta(receiver.url(path), notify_strategy="EXPONENTIAL_DECAY_RETRY")
    )
    topic.publish_message(TopicMessage("decaying"))
    for failures, delay_ms in [(1, 1000), (2, 2000), (3, 4000), (4, 8000)]:
        assert wait_until(
            lambda n=failures: sub_stats(server, name, "h").failures == n
            and sub_stats(server, name, "h").pending == 0,
            timeout=10,
        )
        stats = sub_stats(server, name, "h")
        assert stats.retrying == 1 and stats.attempts == failures
        assert stats.next_retry_time - stats.last_error_time == delay_ms
        server.advance(delay_ms / 1000)
    assert wait_until(lambda: sub_stats(server, name, "h").failures == 5, timeout=10)
    assert len(receiver.at(path)) == 5
    topic.get_subscription("h").unsubscribe()


def test_strategy_change_applies_from_the_next_failure(server, account, receiver, name):
    path = f"/{name}/switch"
    receiver.status[path] = 500
    topic = make_topic(account, name)
    subscription = topic.get_subscription("h")
    subscription.subscribe(SubscriptionMeta(receiver.url(path)))  # BACKOFF_RETRY
    topic.publish_message(TopicMessage("switch"))
    assert wait_until(lambda: sub_stats(server, name, "h").retrying == 1, timeout=10)
    stats = sub_stats(server, name, "h")
    assert 10_000 <= stats.next_retry_time - stats.last_error_time <= 20_000
    subscription.set_attributes(SubscriptionMeta(notify_strategy="EXPONENTIAL_DECAY_RETRY"))
    assert sub_stats(server, name, "h").next_retry_time == stats.next_retry_time  # kept
    server.advance(20)
    assert wait_until(
        lambda: sub_stats(server, name, "h").failures == 2 and sub_stats(server, name, "h").pending == 0,
        timeout=10,
    )
    stats = sub_stats(server, name, "h")
    assert stats.next_retry_time - stats.last_error_time == 2000  # 2 s after the 2nd attempt
    subscription.unsubscribe()


def test_unsubscribe_cancels_pending_retries(server, account, receiver, name):
    path = f"/{name}/gone"
    receiver.status[path] = 500
    topic = make_topic(account, name)
    topic.get_subscription("h").subscribe(SubscriptionMeta(receiver.url(path)))
    topic.publish_message(TopicMessage("x", "old"))
    assert wait_until(lambda: sub_stats(server, name, "h").retrying == 1, timeout=10)
    assert topic.get_attributes().message_count == 1
    topic.get_subscription("h").unsubscribe()
    assert topic.get_attributes().message_count == 0
    # a sentinel push to the same receiver, started after the retry would have been due
    topic.get_subscription("probe").subscribe(
        SubscriptionMeta(receiver.url(f"/{name}/probe"), notify_content_format="SIMPLIFIED")
    )
    server.advance(25)
    topic.publish_message(TopicMessage("probe"))
    assert wait_until(lambda: receiver.at(f"/{name}/probe"), timeout=10)
    assert len(receiver.at(path)) == 1
