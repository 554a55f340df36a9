"""The community Node.js client ``ali-mns`` (npm 2.6.8) against ``minimns serve`` with
signatures on, through its public classes: MNS, MQ, MQBatch, MNSTopic, Topic,
Subscription.

ali-mns has no endpoint setting: it always calls
``http://<account>.mns.cn-hangzhou.aliyuncs.com``. Its HTTP library honours
``HTTP_PROXY``, so the Node process is given minimns as its proxy, and minimns
takes the absolute-form request target a client sends to a proxy (RFC 9112
section 3.2.2). That is also how to point an unchanged ali-mns program at minimns.
Its bodies go base64-encoded (it encodes and decodes them itself), and its
Content-MD5 is the RFC 1864 form, which minimns accepts beside the SDKs' own.
"""

from __future__ import annotations

import base64
import threading

import pytest
from mns.account import Account
from mns.queue import Message

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

from ..node_driver import ACCOUNT_ID, KEY_ID, KEY_SECRET, NODE_DIR, NODE_MISSING, Node, NodeError
from ..server_helpers import wait_until

pytestmark = [NODE_MISSING, pytest.mark.skipif(
    not (NODE_DIR / "package.json").read_text().count('"ali-mns"'),
    reason="ali-mns is not in tests/node/package.json")]

HOST = f"http://{ACCOUNT_ID}.mns.cn-hangzhou.aliyuncs.com"


@pytest.fixture(scope="module")
def mns_server():
    options = ServerOptions(port=0, access_key_id=KEY_ID, access_key_secret=KEY_SECRET,
                            account_id=ACCOUNT_ID)
    with ServerThread(options) as running:
        yield running


@pytest.fixture(scope="module")
def node(mns_server):
    driver = Node(mns_server.endpoint, proxy=mns_server.endpoint)
    yield driver
    driver.close()


@pytest.fixture(autouse=True)
def clean(mns_server):
    yield
    mns_server.call(mns_server.app.reset)


def ali(node, target: list[str], method: str, *args):
    return node.call(method, *args, client="ali", target=target)


def msg(body: str, priority: int = 8, delay: int = 0) -> dict:
    return {"$msg": [body, priority, delay]}


def as_list(value) -> list:
    """xml2js gives one element as an object, several as a list."""
    return value if isinstance(value, list) else [value]


# -- queues ----------------------------------------------------------------------------------


def test_create_list_attributes_and_delete_a_queue(node):
    assert ali(node, ["MNS"], "createP", "ali-q", {"VisibilityTimeout": 45}) == 201
    assert ali(node, ["MNS"], "createP", "ali-q", {"VisibilityTimeout": 45}) == 204
    listed = ali(node, ["MNS"], "listP", "ali-", 10)["Queues"]["Queue"]
    assert as_list(listed) == [{"QueueURL": f"{HOST}/queues/ali-q"}]
    attributes = ali(node, ["MQ", "ali-q"], "getAttrsP")["Queue"]
    assert (attributes["QueueName"], attributes["VisibilityTimeout"]) == ("ali-q", "45")
    assert ali(node, ["MQ", "ali-q"], "setAttrsP", {"DelaySeconds": 3}) == 204
    assert ali(node, ["MQ", "ali-q"], "getAttrsP")["Queue"]["DelaySeconds"] == "3"
    assert ali(node, ["MNS"], "deleteP", "ali-q") == 204
    with pytest.raises(NodeError) as missing:
        ali(node, ["MQ", "ali-q"], "getAttrsP")
    assert missing.value.code == "QueueNotExist"


def test_list_pages_with_its_marker(node):
    for i in range(3):
        ali(node, ["MNS"], "createP", f"page-{i}")
    first = ali(node, ["MNS"], "listP", "page-", 2)["Queues"]
    assert [q["QueueURL"].rsplit("/", 1)[1] for q in first["Queue"]] == ["page-0", "page-1"]
    rest = ali(node, ["MNS"], "listP", "page-", 2, first["NextMarker"])["Queues"]
    assert as_list(rest["Queue"]) == [{"QueueURL": f"{HOST}/queues/page-2"}]


def test_send_receive_peek_reserve_and_delete(node, mns_server):
    ali(node, ["MNS"], "createP", "work")
    sent = ali(node, ["MQ", "work"], "sendP", "你好 ali-mns", 3, 0)["Message"]
    assert len(sent["MessageId"]) == 32
    peeked = ali(node, ["MQ", "work"], "peekP")["Message"]
    assert (peeked["MessageBody"], peeked["Priority"]) == ("你好 ali-mns", "3")
    got = ali(node, ["MQ", "work"], "recvP", 1)["Message"]
    assert (got["MessageId"], got["MessageBody"], got["DequeueCount"]) == (
        sent["MessageId"], "你好 ali-mns", "1")
    reserved = ali(node, ["MQ", "work"], "reserveP", got["ReceiptHandle"], 60)["ChangeVisibility"]
    assert reserved["ReceiptHandle"] != got["ReceiptHandle"]
    with pytest.raises(NodeError) as stale:
        ali(node, ["MQ", "work"], "deleteP", got["ReceiptHandle"])
    assert stale.value.code == "MessageNotExist"
    assert ali(node, ["MQ", "work"], "deleteP", reserved["ReceiptHandle"]) == 204
    with pytest.raises(NodeError) as empty:
        ali(node, ["MQ", "work"], "recvP", None)
    assert empty.value.code == "MessageNotExist"
    # the Python SDK reads what ali-mns sent: ali-mns base64-encodes bodies itself
    ali(node, ["MQ", "work"], "sendP", "for python")
    body = Account(mns_server.endpoint, KEY_ID, KEY_SECRET).get_queue("work").receive_message(0)
    assert body.message_body == b"for python"  # the SDK's base64 decoding gives bytes


def test_a_long_poll_waits_for_the_message(node, mns_server):
    ali(node, ["MNS"], "createP", "poll")
    python = Account(mns_server.endpoint, KEY_ID, KEY_SECRET).get_queue("poll")
    python.set_encoding(False)
    timer = threading.Timer(0.3, python.send_message,
                            args=(Message(base64.b64encode(b"late").decode()),))
    timer.start()
    try:
        got = ali(node, ["MQ", "poll"], "recvP", 20)["Message"]
    finally:
        timer.join()
    assert got["MessageBody"] == "late"


def test_batches_send_receive_peek_and_delete(node):
    ali(node, ["MNS"], "createP", "batch")
    sent = ali(node, ["MQBatch", "batch"], "sendP", [msg("a", 1), msg("b", 2), msg("c", 3)])
    assert len(sent["Messages"]["Message"]) == 3
    peeked = ali(node, ["MQBatch", "batch"], "peekP", 16)["Messages"]["Message"]
    assert [m["MessageBody"] for m in peeked] == ["a", "b", "c"]
    got = ali(node, ["MQBatch", "batch"], "recvP", 1, 16)["Messages"]["Message"]
    assert [m["MessageBody"] for m in got] == ["a", "b", "c"]
    handles = [m["ReceiptHandle"] for m in got]
    assert ali(node, ["MQBatch", "batch"], "deleteP", handles) == 204
    assert ali(node, ["MQ", "batch"], "getAttrsP")["Queue"]["InactiveMessages"] == "0"


def test_notify_recv_hands_each_message_to_its_callback_and_deletes_it(node):
    ali(node, ["MNS"], "createP", "notify")
    for body in ("n1", "n2"):
        ali(node, ["MQ", "notify"], "sendP", body)
    assert ali(node, ["MQ", "notify"], "notifyRecv", 2, 1) == ["n1", "n2"]
    ali(node, ["MQBatch", "notify"], "sendP", [msg("b1"), msg("b2"), msg("b3")])
    assert ali(node, ["MQBatch", "notify"], "notifyRecv", 3, 1, 16) == ["b1", "b2", "b3"]

    def all_deleted() -> bool:  # ali-mns sends each delete without waiting for it
        attributes = ali(node, ["MQ", "notify"], "getAttrsP")["Queue"]
        return (attributes["ActiveMessages"], attributes["InactiveMessages"]) == ("0", "0")

    assert wait_until(all_deleted)


# -- topics ----------------------------------------------------------------------------------


def test_topics_subscriptions_and_publish(node):
    ali(node, ["MNS"], "createP", "sink")
    assert ali(node, ["MNSTopic"], "createTopicP", "news", {"MaximumMessageSize": 2048}) == 201
    listed = ali(node, ["MNSTopic"], "listTopicP", "ne")["Topics"]["Topic"]
    assert as_list(listed) == [{"TopicURL": f"{HOST}/topics/news"}]
    assert ali(node, ["Topic", "news"], "setAttrsP", {"LoggingEnabled": True}) == 204
    attributes = ali(node, ["Topic", "news"], "getAttrsP")["Topic"]
    assert (attributes["MaximumMessageSize"], attributes["LoggingEnabled"]) == ("2048", "True")
    endpoint = f"acs:mns:cn-hangzhou:{ACCOUNT_ID}:queues/sink"
    assert ali(node, ["Topic", "news"], "subscribeP", "to-sink", endpoint, "BACKOFF_RETRY",
               "SIMPLIFIED", "hot") == 201
    subscription = ali(node, ["Subscription", "news", "to-sink"], "getAttrsP")["Subscription"]
    assert (subscription["Endpoint"], subscription["FilterTag"]) == (endpoint, "hot")
    assert ali(node, ["Subscription", "news", "to-sink"], "setAttrsP",
               {"NotifyStrategy": "EXPONENTIAL_DECAY_RETRY"}) == 204
    assert ali(node, ["Subscription", "news", "to-sink"], "getAttrsP")["Subscription"][
        "NotifyStrategy"] == "EXPONENTIAL_DECAY_RETRY"
    subscriptions = ali(node, ["Topic", "news"], "listP")["Subscriptions"]["Subscription"]
    assert as_list(subscriptions)[0]["SubscriptionURL"].endswith("/topics/news/subscriptions/to-sink")
    published = ali(node, ["Topic", "news"], "publishP", "breaking", True, "hot")["Message"]
    assert len(published["MessageId"]) == 32
    ali(node, ["Topic", "news"], "publishP", "filtered out", True, "cold")
    got = ali(node, ["MQ", "sink"], "recvP", 5)["Message"]
    assert got["MessageBody"] == "breaking"  # SIMPLIFIED: the body as published (base64), decoded
    assert ali(node, ["Topic", "news"], "unsubscribeP", "to-sink") == 204
    assert ali(node, ["MNSTopic"], "deleteTopicP", "news") == 204
    with pytest.raises(NodeError) as missing:
        ali(node, ["Topic", "news"], "getAttrsP")
    assert missing.value.code == "TopicNotExist"


# -- signatures --------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused(mns_server):
    driver = Node(mns_server.endpoint, key_secret="wrong", proxy=mns_server.endpoint)
    try:
        with pytest.raises(NodeError) as refused:
            driver.call("listP", client="ali", target=["MNS"])
        assert refused.value.code == "SignatureDoesNotMatch"
    finally:
        driver.close()
