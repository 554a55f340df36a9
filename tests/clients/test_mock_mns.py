"""mock_mns: the official SDK, unchanged, against an in-process minimns (no sockets)."""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest
import trio
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.mns_http import MNSHttp, RequestInternal
from mns.queue import Message, QueueMeta

import minimns
from minimns.server.http import HttpLimits
from minimns.testing import MNSMock, active_mock, mock_mns
from minimns.testing.sdk_patch import wire_request as _wire_request
from tests.server_helpers import server_error

# The SDK flags its own QueueMeta counters as deprecated on every get_attributes.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")

ORIGINAL_SEND = MNSHttp.__dict__["send_request"]


def closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def new_queue(account: Account, name: str = "jobs", **meta: int):
    queue = account.get_queue(name)
    queue_meta = QueueMeta()
    for key, value in meta.items():
        getattr(queue_meta, "set_visibilitytimeout" if key == "visibility_timeout" else f"set_{key}")(value)
    queue.create(queue_meta)
    return queue


# -- the SDK as a user drives it -------------------------------------------------------------------


def test_send_receive_delete_on_any_endpoint():
    with mock_mns() as mock:
        # Accounts on any host and scheme share the one in-process account.
        cloud = Account("https://1234567890.mns.cn-hangzhou.aliyuncs.com", "id", "secret")
        local = Account("http://127.0.0.1:1", "id", "secret")  # port 1: would be refused
        queue = new_queue(cloud, "orders", visibility_timeout=45)
        sent = queue.send_message(Message("héllo, 世界"))
        got = local.get_queue("orders").receive_message(wait_seconds=1)
        assert got.message_id == sent.message_id
        assert got.message_body == "héllo, 世界".encode()  # the SDK base64-decodes to bytes
        assert got.dequeue_count == 1
        local.get_queue("orders").delete_message(got.receipt_handle)
        assert server_error(queue.receive_message).type == "MessageNotExist"
        assert queue.get_attributes().visibility_timeout == 45
        assert mock.call(mock.broker.list_queue) == (["orders"], "")


def test_batch_peek_visibility_attributes_and_listing():
    with mock_mns() as mock:
        account = mock.account()
        queue = new_queue(account, "batch")
        new_queue(account, "other")
        sent = queue.batch_send_message([Message(f"m{i}", priority=i % 16 + 1) for i in range(5)])
        assert len(sent) == 5
        assert queue.peek_message().message_body == b"m0"
        assert len(queue.batch_peek_message(10)) == 5
        got = queue.batch_receive_message(3, wait_seconds=1)
        assert [m.message_body for m in got] == [b"m0", b"m1", b"m2"]
        changed = queue.change_message_visibility(got[0].receipt_handle, 100)
        queue.batch_delete_message([m.receipt_handle for m in got[1:]])
        assert queue.get_attributes().active_messages == 2
        assert queue.get_attributes().inactive_messages == 1
        mock.advance(100)
        again = queue.receive_message()
        assert again.message_body == b"m0" and again.dequeue_count == 2
        assert again.receipt_handle != changed.receipt_handle
        meta = QueueMeta()
        meta.set_delay_seconds(5)
        queue.set_attributes(meta)
        assert queue.get_attributes().delay_seconds == 5
        names, marker = account.list_queue(prefix="ba")
        assert [name.rsplit("/", 1)[1] for name in names] == ["batch"] and marker == ""
        queue.delete()
        assert server_error(queue.get_attributes).type == "QueueNotExist"


def test_errors_are_server_exceptions():
    with mock_mns() as mock:
        account = mock.account()
        error = server_error(account.get_queue("missing").send_message, Message("x"))
        assert error.type == "QueueNotExist"
        assert error.request_id  # x-mns-request-id reached the SDK
        new_queue(account, "q", visibility_timeout=30)
        assert server_error(lambda: new_queue(account, "q", visibility_timeout=60)).type == "QueueAlreadyExist"
        queue = account.get_queue("q")
        queue.send_message(Message("x"))
        handle = queue.receive_message().receipt_handle
        queue.delete_message(handle)
        assert server_error(queue.delete_message, handle).type == "MessageNotExist"


def test_long_poll_is_woken_by_a_send_from_another_thread():
    with mock_mns() as mock:
        queue = new_queue(mock.account(), "poll")
        sender = threading.Timer(0.1, lambda: mock.account().get_queue("poll").send_message(Message("late")))
        started = time.perf_counter()
        sender.start()
        got = queue.receive_message(wait_seconds=10)
        elapsed = time.perf_counter() - started
        sender.join()
        assert got.message_body == b"late"
        assert 0.05 < elapsed < 2


def test_long_poll_wait_ends_when_the_clock_is_advanced():
    with mock_mns() as mock:
        queue = new_queue(mock.account(), "poll")
        result: list[BaseException] = []

        def poll():
            try:
                queue.receive_message(wait_seconds=30)
            except BaseException as error:  # noqa: BLE001
                result.append(error)

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.05)
        mock.advance(30)
        poller.join(timeout=5)
        assert not poller.is_alive()
        assert isinstance(result[0], MNSServerException) and result[0].type == "MessageNotExist"


def test_threads_share_the_mock():
    with mock_mns() as mock:
        new_queue(mock.account(), "shared")
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                queue = mock.account().get_queue("shared")  # an Account per thread, as the SDK wants
                for i in range(10):
                    queue.send_message(Message(f"{n}-{i}"))
                    queue.delete_message(queue.receive_message(wait_seconds=1).receipt_handle)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        workers = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        assert errors == []
        assert mock.call(mock.broker.get_queue("shared").get_attributes).active_messages == 0


def test_advance_skips_a_delay():
    with mock_mns() as mock:
        queue = new_queue(mock.account(), "later")
        queue.send_message(Message("in a minute", delay_seconds=60))
        assert server_error(queue.receive_message).type == "MessageNotExist"
        assert queue.get_attributes().delay_messages == 1
        mock.advance(59)
        assert server_error(queue.receive_message).type == "MessageNotExist"
        mock.advance(1)
        assert queue.receive_message().message_body == b"in a minute"


def test_reset_drops_queues_and_account_settings():
    with mock_mns() as mock:
        account = mock.account()
        new_queue(account, "a").send_message(Message("x"))
        meta = account.get_attributes()
        meta.logging_bucket = "bucket"
        account.set_attributes(meta)
        mock.reset()
        assert account.list_queue() == ([], "")
        assert account.get_attributes().logging_bucket == ""
        new_queue(account, "a")
        assert server_error(account.get_queue("a").receive_message).type == "MessageNotExist"


def test_signatures_are_verified_with_keys():
    with mock_mns(access_key_id="key-id", access_key_secret="key-secret") as mock:
        good = mock.account()
        new_queue(good, "signed").send_message(Message("x"))
        wrong_secret = Account("http://any", "key-id", "nope").get_queue("signed")
        assert server_error(wrong_secret.receive_message).type == "SignatureDoesNotMatch"
        wrong_id = Account("http://any", "other", "key-secret").get_queue("signed")
        assert server_error(wrong_id.receive_message).type == "InvalidAccessKeyId"
        # raw receipt handles (+, /, =) are signed over the target exactly as sent
        handle = good.get_queue("signed").receive_message().receipt_handle
        good.get_queue("signed").delete_message(handle)
    with mock_mns() as mock:  # without keys any signature goes
        new_queue(Account("http://any", "x", "y"), "anything")


def test_body_limit_applies_as_on_the_socket_server():
    with mock_mns(limits=HttpLimits(max_body=1000)) as mock:
        queue = new_queue(mock.account(), "small")
        error = server_error(queue.send_message, Message("x" * 2000))
        assert error.type == "InvalidArgument"


def test_broker_is_reachable_from_the_test_thread():
    with mock_mns(epoch_ms=1_700_000_000_000) as mock:
        queue = mock.call(mock.broker.create_queue, "direct")
        mock.call(queue.send_message, base64.b64encode(b"from the broker").decode())  # SDK-style body
        got = mock.account().get_queue("direct").receive_message()
        assert got.message_body == b"from the broker"
        assert got.enqueue_time >= 1_700_000_000_000


# -- the patch, its lifetime and nesting ----------------------------------------------------------


def test_patch_is_removed_after_the_block_and_on_errors():
    endpoint = closed_port_endpoint()
    account = Account(endpoint, "id", "secret")  # made before the mock: patched all the same
    with mock_mns():
        assert MNSHttp.__dict__["send_request"] is not ORIGINAL_SEND
        new_queue(account, "q")
    assert MNSHttp.__dict__["send_request"] is ORIGINAL_SEND
    assert active_mock() is None
    with pytest.raises(MNSClientNetworkException):
        account.get_queue("q").get_attributes()

    with pytest.raises(ZeroDivisionError):
        with mock_mns():
            raise ZeroDivisionError
    assert MNSHttp.__dict__["send_request"] is ORIGINAL_SEND
    with pytest.raises(MNSClientNetworkException):
        Account(endpoint, "id", "secret").list_queue()


def test_nested_mocks_answer_innermost_first():
    with mock_mns() as outer:
        account = outer.account()
        new_queue(account, "outer-only")
        with mock_mns() as inner:
            assert active_mock() is inner
            assert account.list_queue() == ([], "")
            new_queue(account, "inner-only")
        assert active_mock() is outer
        names, _ = account.list_queue()
        assert [n.rsplit("/", 1)[1] for n in names] == ["outer-only"]
        assert not inner.active
        with pytest.raises(RuntimeError):
            _ = inner.broker
    assert MNSHttp.__dict__["send_request"] is ORIGINAL_SEND


def test_the_same_mock_can_be_reentered():
    mock = MNSMock()
    with mock:
        new_queue(mock.account(), "kept")
        with mock:
            assert mock.call(mock.broker.list_queue) == (["kept"], "")
        assert mock.call(mock.broker.list_queue) == (["kept"], "")  # still the same broker
    assert not mock.active
    with mock:  # a new run starts empty
        assert mock.call(mock.broker.list_queue) == ([], "")


_decorated = mock_mns()


@_decorated
def test_decorator_form(tmp_path):  # fixtures still reach a decorated test
    assert tmp_path.exists()
    assert active_mock() is _decorated
    account = Account("http://decorated", "id", "secret")
    assert account.list_queue() == ([], "")  # each call starts empty
    new_queue(account, "decorated").send_message(Message("x"))
    _decorated.advance(1)


def test_decorator_forms_start_fresh_and_clean_up():
    calls = []

    @mock_mns
    def bare():
        account = Account("http://bare", "id", "secret")
        calls.append(account.list_queue()[0])
        new_queue(account, "left-behind")

    bare()
    bare()
    assert calls == [[], []]
    assert MNSHttp.__dict__["send_request"] is ORIGINAL_SEND

    @mock_mns(access_key_id="i", access_key_secret="s")
    class Suite:
        def test_one(self):
            return active_mock().account().list_queue()

        def helper(self):
            return active_mock()

    assert Suite().test_one() == ([], "")
    assert Suite().helper() is None  # only test* methods are wrapped


async def test_sdk_called_from_a_trio_test(mns_mock):
    # conftest runs this under trio: a sync SDK call inside a trio task is relayed
    # to the mock's loop through a helper thread.
    queue = new_queue(mns_mock.account(), "from-trio")
    queue.send_message(Message("x"))
    assert queue.receive_message().message_body == b"x"
    await trio.sleep(0)


def test_exit_during_a_long_poll_fails_it_as_a_network_error():
    mock = mock_mns()
    result: list[BaseException] = []
    with mock:
        queue = new_queue(mock.account(), "poll")

        def poll():
            try:
                queue.receive_message(wait_seconds=30)
            except BaseException as error:  # noqa: BLE001
                result.append(error)

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.05)
    poller.join(timeout=5)
    assert not poller.is_alive()
    assert isinstance(result[0], MNSClientNetworkException)


# -- the request as http.client would have sent it -------------------------------------------------


def test_wire_request_keeps_the_raw_target_and_adds_http_client_headers():
    uri = "/queues/q/messages?ReceiptHandle=1-ab+c/d==&VisibilityTimeout=10"
    req = RequestInternal("PUT", uri, {"Connection": "Keep-Alive", "host": "h:1", "x-mns-version": "2015-06-06"})
    request, size = _wire_request(req)
    assert request.target == uri
    assert request.query["receipthandle"] == "1-ab+c/d=="
    assert request.headers == {
        "accept-encoding": "identity",
        "connection": "Keep-Alive",
        "host": "h:1",
        "x-mns-version": "2015-06-06",
        "content-length": "0",
    }
    assert request.body == b"" and size > len(uri)

    with_body, _ = _wire_request(RequestInternal("POST", "/x", {"host": "h"}, b"<a/>"))
    assert with_body.body == b"<a/>" and with_body.headers["content-length"] == "4"


def test_requests_http_client_would_refuse_fail_as_network_errors():
    with mock_mns() as mock:
        account = mock.account()
        with pytest.raises(MNSClientNetworkException):
            account.get_queue("bad name").get_attributes()  # a space in the request-target
        with pytest.raises(MNSClientNetworkException):
            account.get_queue("队列").get_attributes()  # not ASCII


def test_public_name():
    assert minimns.mock_mns is mock_mns
    assert "mock_mns" in minimns.__all__


def test_topics_fan_out_and_push_through_the_mock():
    """Topics work through mock_mns as on a server: queue copies at once, HTTP pushes
    to a real receiver, and reset() drops topics and the recorded mail."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mns.subscription import SubscriptionMeta
    from mns.topic import TopicMessage, TopicMeta

    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the stdlib's name)
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with mock_mns() as mock:
            account = mock.account()
            queue = new_queue(account, "copies")
            queue.set_encoding(False)
            topic = account.get_topic("events")
            topic.create(TopicMeta())
            topic.get_subscription("q").subscribe(
                SubscriptionMeta("acs:mns:cn-hangzhou:1:queues/copies", notify_content_format="SIMPLIFIED")
            )
            topic.get_subscription("h").subscribe(
                SubscriptionMeta(f"http://127.0.0.1:{receiver.server_port}/hook")
            )
            topic.get_subscription("m").subscribe(SubscriptionMeta("mail:directmail:a@example.com"))
            topic.publish_message(TopicMessage("hello"))
            assert queue.receive_message().message_body == "hello"
            mock.wait_pushes_settled()
            assert len(got) == 1 and b"<Message>hello</Message>" in got[0]
            assert [d.message_body for d in mock.broker.outbox.mail] == ["hello"]
            mock.reset()
            assert account.list_topic() == ([], "")
            assert not mock.broker.outbox.mail
    finally:
        receiver.shutdown()


def test_a_declared_world_and_sms_in_process():
    config = {
        "queue": [{"name": "jobs", "visibility_timeout": 60}],
        "sms": {"subscribe": ["SmsReport"], "carrier": {"latency_ms": 0},
                "signatures": [{"name": "阿里云"}],
                "templates": [{"code": "SMS_1", "name": "c", "content": "您的验证码为${code}",
                               "type": "verification"}]},
    }
    from mns.topic import DirectSMSInfo, TopicMessage

    with mock_mns(config=config) as mock:
        account = Account("http://anything.example", "id", "key")
        assert account.get_queue("jobs").get_attributes().visibility_timeout == 60
        info = DirectSMSInfo(free_sign_name="阿里云", template_code="SMS_1", single=True)
        info.add_receiver("13800000000")
        info.set_params({"code": "4321"})
        account.get_topic("sms.topic-cn-hangzhou").publish_message(TopicMessage("s", direct_sms=info))
        receipts = account.get_queue("Alicom-Queue-1234567890-SmsReport")
        receipts.set_encoding(False)
        assert '"success": true' in receipts.receive_message().message_body

        async def inbox():
            return [m.text for m in mock.broker.sms.inbox("13800000000")]

        assert mock.call(inbox) == ["【阿里云】您的验证码为4321"]
