"""Alibaba's Node.js MNS client ``@alicloud/mns`` (npm 1.2.0) against ``minimns serve``
with signatures on: every queue operation it has, topics, and errors as it names
them (``MNS<Code>Error``).

A real Node process (tests/node/driver.js) makes each call through the client's
public methods and answers with what the client returned; nothing here reaches
into minimns to make a call pass. The npm packages are installed into
tests/node/node_modules (git ignores it) by ``.ci/run``, or here on first use.
"""

from __future__ import annotations

import base64
import threading

import pytest
from mns.account import Account
from mns.subscription import SubscriptionMeta

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

from ..node_driver import ACCOUNT_ID, KEY_ID, KEY_SECRET, NODE_MISSING, Node, NodeError

pytestmark = NODE_MISSING

@pytest.fixture(scope="module")
def mns_server():
    options = ServerOptions(port=0, access_key_id=KEY_ID, access_key_secret=KEY_SECRET)
    with ServerThread(options) as running:
        yield running


@pytest.fixture(scope="module")
def node(mns_server):
    driver = Node(mns_server.endpoint)
    yield driver
    driver.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------ queues


def test_create_get_set_list_and_delete_a_queue(node):
    created = node.call("createQueue", "node-q", {"VisibilityTimeout": 45, "DelaySeconds": 2})
    assert created["code"] == 201
    assert created["headers"]["location"].endswith("/queues/node-q")
    again = node.call("createQueue", "node-q", {"VisibilityTimeout": 45, "DelaySeconds": 2})
    assert again["code"] == 204  # the same attributes: MNS answers 204
    attributes = node.call("getQueueAttributes", "node-q")["body"]
    assert attributes["QueueName"] == "node-q"
    assert attributes["VisibilityTimeout"] == "45" and attributes["DelaySeconds"] == "2"
    assert attributes["MaximumMessageSize"] == "65536"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert node.call("setQueueAttributes", "node-q", {"DelaySeconds": 0})["code"] == 204
    assert node.call("getQueueAttributes", "node-q")["body"]["DelaySeconds"] == "0"
    listed = node.call("listQueue", None, 10, "node-")["body"]
    assert [entry["QueueURL"].rsplit("/", 1)[1] for entry in listed] == ["node-q"]
    assert node.call("deleteQueue", "node-q")["code"] == 204
    with pytest.raises(NodeError) as missing:
        node.call("getQueueAttributes", "node-q")
    assert missing.value.name == "MNSQueueNotExistError"


def test_list_queue_pages_with_its_marker(node):
    for i in range(3):
        node.call("createQueue", f"page-{i}")
    first = node.call("listQueue", None, 2, "page-")
    names = [entry["QueueURL"].rsplit("/", 1)[1] for entry in first["body"]]
    assert names == ["page-0", "page-1"]
    # the client hands back the body's NextMarker only through its raw body: ask again with it
    rest = node.call("listQueue", "page-2", 2, "page-")["body"]
    assert [entry["QueueURL"].rsplit("/", 1)[1] for entry in rest] == ["page-2"]


def test_send_receive_change_visibility_and_delete(node, mns_server):
    node.call("createQueue", "node-msgs")
    sent = node.call("sendMessage", "node-msgs", {"MessageBody": b64("你好, node"), "Priority": 3})
    assert sent["code"] == 201
    assert len(sent["body"]["MessageId"]) == 32 and len(sent["body"]["MessageBodyMD5"]) == 32
    peeked = node.call("peekMessage", "node-msgs")["body"]
    assert peeked["MessageId"] == sent["body"]["MessageId"] and "ReceiptHandle" not in peeked
    received = node.call("receiveMessage", "node-msgs", 1)["body"]
    assert base64.b64decode(received["MessageBody"]).decode() == "你好, node"
    assert received["DequeueCount"] == "1" and received["Priority"] == "3"
    changed = node.call("changeMessageVisibility", "node-msgs", received["ReceiptHandle"], 60)
    assert changed["code"] == 200
    handle = changed["body"]["ReceiptHandle"]
    assert handle != received["ReceiptHandle"]
    with pytest.raises(NodeError) as old:
        node.call("deleteMessage", "node-msgs", received["ReceiptHandle"])
    assert old.value.name == "MNSMessageNotExistError"
    assert node.call("deleteMessage", "node-msgs", handle)["code"] == 204
    with pytest.raises(NodeError) as empty:
        node.call("receiveMessage", "node-msgs")
    assert empty.value.name == "MNSMessageNotExistError"


def test_a_long_poll_waits_for_the_message(node, mns_server):
    node.call("createQueue", "node-wait")
    node.call("sendMessage", "node-wait", {"MessageBody": "later", "DelaySeconds": 5})
    # the server's clock is virtual: jump it while the Node client is parked

    timer = threading.Timer(0.3, mns_server.advance, args=(5,))
    timer.start()
    received = node.call("receiveMessage", "node-wait", 30)["body"]
    timer.join()
    assert received["MessageBody"] == "later"


def test_batches_send_receive_peek_and_delete(node):
    node.call("createQueue", "node-batch")
    messages = [{"MessageBody": f"m{i}", "Priority": 8} for i in range(5)]
    sent = node.call("batchSendMessage", "node-batch", messages)
    assert sent["code"] == 201 and len(sent["body"]) == 5
    peeked = node.call("batchPeekMessage", "node-batch", 16)["body"]
    assert sorted(m["MessageBody"] for m in peeked) == [f"m{i}" for i in range(5)]
    received = node.call("batchReceiveMessage", "node-batch", 16)["body"]
    assert len(received) == 5
    deleted = node.call("batchDeleteMessage", "node-batch", [m["ReceiptHandle"] for m in received])
    assert deleted["code"] == 204
    with pytest.raises(NodeError) as empty:
        node.call("batchReceiveMessage", "node-batch", 16)
    assert empty.value.name == "MNSMessageNotExistError"


def test_a_batch_delete_with_a_stale_handle_reports_it(node):
    node.call("createQueue", "node-stale")
    node.call("sendMessage", "node-stale", {"MessageBody": "x"})
    good = node.call("receiveMessage", "node-stale")["body"]["ReceiptHandle"]
    stale = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    # a partial failure is no exception for this client: the <Errors> come back as its body
    partly = node.call("batchDeleteMessage", "node-stale", [good, stale])
    assert partly["code"] == 404
    (error,) = partly["body"]
    assert error["ReceiptHandle"] == stale and error["ErrorCode"] == "ReceiptHandleError"


# ------------------------------------------------------------------ topics


def test_topics_create_attributes_list_and_publish_to_a_queue(node, mns_server):
    node.call("createQueue", "node-sink")
    created = node.call("createTopic", "node-topic", {"MaximumMessageSize": 1024})
    assert created["code"] == 201 and created["headers"]["location"].endswith("/topics/node-topic")
    attributes = node.call("getTopicAttributes", "node-topic")["body"]
    assert attributes["TopicName"] == "node-topic" and attributes["MaximumMessageSize"] == "1024"
    assert node.call("setTopicAttributes", "node-topic", {"LoggingEnabled": True})["code"] == 204
    assert node.call("getTopicAttributes", "node-topic")["body"]["LoggingEnabled"] == "True"
    listed = node.call("listTopic", None, 10, "node-")["body"]
    assert [t["TopicURL"].rsplit("/", 1)[1] for t in listed] == ["node-topic"]
    # the Node client has no subscribe (an empty stub in 1.2.0): subscribe with the Python SDK
    python = Account(mns_server.endpoint, KEY_ID, KEY_SECRET)
    endpoint = f"acs:mns:cn-hangzhou:{ACCOUNT_ID}:queues/node-sink"
    python.get_topic("node-topic").get_subscription("to-sink").subscribe(
        SubscriptionMeta(endpoint, notify_content_format="SIMPLIFIED"))
    published = node.call("publishMessage", "node-topic", {"MessageBody": "to every subscriber"})
    assert published["code"] == 201 and len(published["body"]["MessageId"]) == 32
    received = node.call("receiveMessage", "node-sink", 5)["body"]
    assert received["MessageBody"] == "to every subscriber"
    with pytest.raises(NodeError) as too_big:
        node.call("publishMessage", "node-topic", {"MessageBody": "x" * 2000})
    assert too_big.value.name == "MNSInvalidArgumentError"


# ------------------------------------------------------------------ errors


def test_errors_are_named_as_the_client_names_them(node, mns_server):
    with pytest.raises(NodeError) as bad_name:
        node.call("createQueue", "-bad-")
    assert bad_name.value.name == "MNSInvalidQueueNameError"
    with pytest.raises(NodeError) as out_of_range:
        node.call("createQueue", "node-range", {"VisibilityTimeout": 0})
    assert out_of_range.value.name == "MNSInvalidArgumentError"
    node.call("createQueue", "node-conflict", {"VisibilityTimeout": 30})
    with pytest.raises(NodeError) as conflict:
        node.call("createQueue", "node-conflict", {"VisibilityTimeout": 31})
    assert conflict.value.name == "MNSQueueAlreadyExistError"
    with pytest.raises(NodeError) as wait_range:
        node.call("receiveMessage", "node-conflict", 31)
    assert wait_range.value.name == "MNSInvalidArgumentError"
    with pytest.raises(NodeError) as no_topic:
        node.call("publishMessage", "no-such-topic", {"MessageBody": "x"})
    assert no_topic.value.name == "MNSTopicNotExistError"
    for keys, expected in (({"key_secret": "not-the-secret"}, "MNSSignatureDoesNotMatchError"),
                           ({"key_id": "nobody"}, "MNSInvalidAccessKeyIdError")):
        other = Node(mns_server.endpoint, **keys)
        try:
            with pytest.raises(NodeError) as refused:
                other.call("listQueue")
            assert refused.value.name == expected
        finally:
            other.close()
