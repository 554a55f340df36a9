"""The MNS server through the official Python SDK (``aliyun-mns-sdk`` 1.3.0), as users drive it.

One server per module (plus one with access keys for the signature tests);
every test works on its own queues. Time moves with ``server.advance``, never
with sleeps; a long poll only waits in real time when a message is made to
arrive during the wait, or for at most about a second.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import warnings

import pytest
from mns.account import Account, AccountMeta
from mns.message_property import MessagePropertyValue, MessageSystemPropertyValue, PropertyType
from mns.mns_common import RequestInfo
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.mns_request import CreateQueueRequest, CreateQueueResponse
from mns.queue import Message, QueueMeta

from tests.server_helpers import server_error, md5_upper, wait_until

# GetQueueAttributes copies the deprecated message counts; the SDK warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")

# -- fixtures and helpers ------------------------------------------------------------------------


def make_queue(account, name, **meta):
    queue = account.get_queue(name)
    queue.create(QueueMeta(**meta))
    return queue


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def server_now_ms(server) -> int:
    async def now():
        return server.broker.now()

    return server.call(now)


def parked(server, name: str) -> int:
    return server.waiting(name)




def counts(meta) -> tuple[int, int, int]:
    """(active, inactive, delayed): the SDK marks these deprecated, so mute its warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meta.active_messages, meta.inactive_messages, meta.delay_messages


class Background:
    """Run ``fn`` in a thread; ``result()`` returns its value or raises its exception."""

    def __init__(self, fn, *args):
        self._outcome: list = []
        self.elapsed = None

        def run():
            start = time.monotonic()
            try:
                self._outcome.append(("ok", fn(*args)))
            except BaseException as error:  # noqa: BLE001 - handed to the test
                self._outcome.append(("error", error))
            self.elapsed = time.monotonic() - start

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 10.0):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "background call did not finish"
        kind, value = self._outcome[0]
        if kind == "error":
            raise value
        return value


# -- queues: create, attributes, list, delete ----------------------------------------------------


def test_create_201_then_identical_recreate_204_then_conflict(server, account, qname):
    client = account.get_client()

    def create(**meta):
        req = CreateQueueRequest(qname, *_meta_args(QueueMeta(**meta)))
        resp = CreateQueueResponse()
        client.create_queue(req, resp)
        return resp

    first = create(vis_timeout=60, polling_wait_sec=5, logging_enabled=True)
    assert first.status == 201
    assert first.queue_url == f"{server.endpoint}/queues/{qname}"
    again = create(vis_timeout=60, polling_wait_sec=5, logging_enabled=True)
    assert again.status == 204
    assert again.queue_url == first.queue_url

    queue = account.get_queue(qname)
    # Queue.create, as users call it, returns the URL on both paths.
    assert queue.create(QueueMeta(vis_timeout=60, polling_wait_sec=5, logging_enabled=True)) == (
        first.queue_url
    )
    error = server_error(queue.create, QueueMeta(vis_timeout=61))
    assert error.type == "QueueAlreadyExist"
    assert error.message == "The queue you want to create is already exist."
    assert error.req_id and error.host_id
    # the failed create changed nothing
    assert queue.get_attributes().visibility_timeout == 60


def _meta_args(meta):
    return (
        meta.visibility_timeout,
        meta.maximum_message_size,
        meta.message_retention_period,
        meta.delay_seconds,
        meta.polling_wait_seconds,
        meta.logging_enabled,
    )


def test_create_with_default_values_spelled_out_is_identical(account, qname):
    queue = make_queue(account, qname)
    queue.create(
        QueueMeta(
            vis_timeout=30,
            max_msg_size=65536,
            msg_ttl=345600,
            delay_sec=0,
            polling_wait_sec=0,
            logging_enabled=False,
        )
    )
    assert server_error(queue.create, QueueMeta(logging_enabled=True)).type == "QueueAlreadyExist"


def test_get_attributes_defaults(server, account, qname):
    before = server_now_ms(server) // 1000
    queue = make_queue(account, qname)
    after = server_now_ms(server) // 1000
    meta = queue.get_attributes()
    assert meta.queue_name == qname
    assert meta.delay_seconds == 0
    assert meta.maximum_message_size == 65536
    assert meta.message_retention_period == 345600
    assert meta.visibility_timeout == 30
    assert meta.polling_wait_seconds == 0
    assert meta.logging_enabled is False
    assert counts(meta) == (0, 0, 0)
    assert before <= meta.create_time <= after  # seconds, not ms
    assert meta.last_modify_time == meta.create_time


def test_get_attributes_after_create_with_every_attribute(account, qname):
    queue = make_queue(
        account,
        qname,
        vis_timeout=100,
        max_msg_size=2048,
        msg_ttl=600,
        delay_sec=7,
        polling_wait_sec=3,
        logging_enabled=True,
    )
    meta = queue.get_attributes()
    assert (
        meta.visibility_timeout,
        meta.maximum_message_size,
        meta.message_retention_period,
        meta.delay_seconds,
        meta.polling_wait_seconds,
        meta.logging_enabled,
    ) == (100, 2048, 600, 7, 3, True)


def test_get_attributes_counts_messages_by_state(account, qname):
    queue = make_queue(account, qname)
    queue.batch_send_message([Message("a"), Message("b"), Message("c", delay_seconds=60)])
    queue.receive_message()
    assert counts(queue.get_attributes()) == (1, 1, 1)


def test_set_attributes_changes_only_the_given_ones(server, account, qname):
    queue = make_queue(account, qname, vis_timeout=60, polling_wait_sec=1)
    created = queue.get_attributes()
    server.advance(2)
    queue.set_attributes(QueueMeta(max_msg_size=2048))
    meta = queue.get_attributes()
    assert meta.maximum_message_size == 2048
    assert meta.visibility_timeout == 60
    assert meta.polling_wait_seconds == 1
    assert meta.message_retention_period == 345600
    assert meta.delay_seconds == 0
    assert meta.logging_enabled is False
    assert meta.create_time == created.create_time
    assert meta.last_modify_time >= created.create_time + 2

    queue.set_attributes(QueueMeta(logging_enabled=True, delay_sec=5))
    meta = queue.get_attributes()
    assert (meta.logging_enabled, meta.delay_seconds, meta.maximum_message_size) == (True, 5, 2048)

    queue.set_attributes(QueueMeta())  # nothing given: a no-op
    assert queue.get_attributes().delay_seconds == 5


def test_set_attributes_out_of_range_is_invalid_argument_and_changes_nothing(account, qname):
    queue = make_queue(account, qname)
    for meta in (
        QueueMeta(vis_timeout=43201),
        QueueMeta(max_msg_size=1023),
        QueueMeta(max_msg_size=65537),
        QueueMeta(msg_ttl=59),
        QueueMeta(delay_sec=604801),
        QueueMeta(polling_wait_sec=31),
        QueueMeta(vis_timeout=60, polling_wait_sec=31),  # all or nothing
    ):
        assert server_error(queue.set_attributes, meta).type == "InvalidArgument"
    meta = queue.get_attributes()
    assert (meta.visibility_timeout, meta.polling_wait_seconds) == (30, 0)


def test_create_out_of_range_is_invalid_argument(account, qname):
    queue = account.get_queue(qname)
    assert server_error(queue.create, QueueMeta(vis_timeout=43201)).type == "InvalidArgument"
    assert server_error(queue.get_attributes).type == "QueueNotExist"


def test_list_queue_prefix_ret_number_and_marker_paging(server, account, qname):
    names = [f"{qname}-{i:02d}" for i in (3, 1, 4, 0, 2)]
    for name in names:
        make_queue(account, name)
    make_queue(account, f"x{qname}")  # does not start with the prefix
    expected = [f"{server.endpoint}/queues/{name}" for name in sorted(names)]

    urls, marker = account.list_queue(prefix=qname)
    assert (urls, marker) == (expected, "")

    pages, marker = [], ""
    while True:
        urls, marker = account.list_queue(prefix=qname, ret_number=2, marker=marker)
        pages.append(urls)
        if not marker:
            break
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]

    # a page that ends exactly at the last match has no next marker
    urls, marker = account.list_queue(prefix=qname, ret_number=5)
    assert (urls, marker) == (expected, "")
    assert account.list_queue(prefix=f"{qname}-none") == ([], "")
    assert server_error(account.list_queue, prefix=qname, ret_number=1001).type == "InvalidArgument"


def test_delete_queue(account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("gone with the queue"))
    queue.delete()
    assert server_error(queue.get_attributes).type == "QueueNotExist"
    assert account.list_queue(prefix=qname) == ([], "")
    queue.delete()  # deleting a missing queue is not an error
    queue.create(QueueMeta())
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"


# -- sending and receiving -----------------------------------------------------------------------


def test_send_receive_base64_default(server, account, qname):
    queue = make_queue(account, qname)
    body = "I am 测试字符串."
    sent = queue.send_message(Message(body))
    assert re.fullmatch(r"[0-9A-F]{32}", sent.message_id)
    # MD5 of the MessageBody text as received, i.e. of the base64 text (SDK test vector)
    assert sent.message_body_md5 == "A9B134C465C384F49EB89A6E3870D996" == md5_upper(b64(body))
    assert sent.receipt_handle == ""  # only delayed messages get one at send time

    before = server_now_ms(server)
    got = queue.receive_message()
    after = server_now_ms(server)
    assert got.message_body == body.encode("utf-8")  # bytes with encoding on
    assert got.message_id == sent.message_id
    assert got.message_body_md5 == sent.message_body_md5
    assert got.dequeue_count == 1
    assert got.priority == 8
    assert got.receipt_handle
    assert got.enqueue_time <= got.first_dequeue_time
    assert before <= got.first_dequeue_time <= after
    assert got.next_visible_time == got.first_dequeue_time + 30_000


def test_receive_with_str_body(account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("hello 世界"))
    queue.send_message(Message("second"))
    assert queue.receive_message_with_str_body().message_body == "hello 世界"
    got = queue.batch_receive_message_with_str_body(16)
    assert [m.message_body for m in got] == ["second"]


def test_send_receive_without_base64(account, qname):
    queue = make_queue(account, qname)
    queue.set_encoding(False)
    body = "I am 测试字符串."
    sent = queue.send_message(Message(body))
    assert sent.message_body_md5 == "9D75198CAA17528AB23790C1861987AF" == md5_upper(body)
    tricky = "<tag attr=\"v\">&amp; ' ]]> \t tab</tag> 世界 😀"
    queue.send_message(Message(tricky))
    first = queue.receive_message()
    assert first.message_body == body  # str with encoding off
    assert first.message_body_md5 == sent.message_body_md5
    second = queue.receive_message()
    assert second.message_body == tricky
    assert second.message_body_md5 == md5_upper(tricky)


def test_peek_changes_nothing(account, qname):
    queue = make_queue(account, qname)
    sent = queue.send_message(Message("peek me"))
    first = queue.peek_message()
    second = queue.peek_message_with_str_body()
    assert first.message_body == b"peek me"
    assert second.message_body == "peek me"
    assert first.message_id == second.message_id == sent.message_id
    assert first.dequeue_count == 0
    assert first.first_dequeue_time == first.enqueue_time  # never received
    assert first.priority == 8
    assert first.receipt_handle == ""

    got = queue.receive_message()
    assert got.dequeue_count == 1
    # the only message is now inactive: nothing to peek
    assert server_error(queue.peek_message).type == "MessageNotExist"


def test_batch_send_receive_peek(account, qname):
    queue = make_queue(account, qname)
    bodies = [f"m{i}" for i in range(5)]
    sent = queue.batch_send_message([Message(b) for b in bodies])
    assert len(sent) == 5
    assert [s.message_body_md5 for s in sent] == [md5_upper(b64(b)) for b in bodies]
    assert len({s.message_id for s in sent}) == 5

    peeked = queue.batch_peek_message(3)
    assert len(peeked) == 3
    assert all(m.dequeue_count == 0 for m in peeked)
    everything = queue.batch_peek_message_with_str_body(16)
    assert sorted(m.message_body for m in everything) == bodies

    got = queue.batch_receive_message(3)
    assert len(got) == 3
    rest = queue.batch_receive_message(16)
    received = got + rest
    assert sorted(m.message_body.decode() for m in received) == bodies
    assert {m.message_id for m in received} == {s.message_id for s in sent}
    assert all(m.dequeue_count == 1 and m.receipt_handle for m in received)
    assert len({m.receipt_handle for m in received}) == 5
    assert server_error(queue.batch_receive_message, 16, 0).type == "MessageNotExist"
    assert server_error(queue.batch_peek_message, 16).type == "MessageNotExist"


def test_batch_send_without_base64_up_to_64k_total(account, qname):
    queue = make_queue(account, qname)
    queue.set_encoding(False)
    full = [Message(chr(ord("a") + i) * 4096) for i in range(16)]  # exactly 65536 bytes
    assert len(queue.batch_send_message(full)) == 16
    over = [Message("x" * 4096) for _ in range(15)] + [Message("y" * 4097)]
    assert server_error(queue.batch_send_message, over).type == "InvalidArgument"
    assert counts(queue.get_attributes())[0] == 16  # the rejected batch stored nothing


def test_batch_send_partial_failure(account, qname):
    queue = make_queue(account, qname)
    error = server_error(
        queue.batch_send_message, [Message("ok1"), Message("bad", priority=17), Message("ok2")]
    )
    assert error.type == "InvalidArgument"
    assert re.fullmatch(r"[0-9A-F]{24}", error.req_id)  # read from the x-mns-request-id header
    assert len(error.sub_errors) == 3
    ok1, bad, ok2 = error.sub_errors
    assert ok1["MessageBodyMD5"] == md5_upper(b64("ok1"))
    assert ok2["MessageBodyMD5"] == md5_upper(b64("ok2"))
    assert bad["ErrorCode"] == "InvalidArgument"
    # the valid entries were sent
    got = queue.batch_receive_message_with_str_body(16)
    assert sorted(m.message_body for m in got) == ["ok1", "ok2"]


# -- handles: delete, batch delete, change visibility ----------------------------------------------


def test_delete_message_and_stale_handles(server, account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("one"))
    got = queue.receive_message()
    queue.delete_message(got.receipt_handle)
    assert server_error(queue.delete_message, got.receipt_handle).type == "MessageNotExist"
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"

    # a handle whose visibility timeout passed is stale too
    queue.send_message(Message("two"))
    first = queue.receive_message()
    server.advance(31)
    again = queue.receive_message()
    assert again.message_id == first.message_id
    assert again.dequeue_count == 2
    assert again.receipt_handle != first.receipt_handle
    assert again.first_dequeue_time == first.first_dequeue_time
    error = server_error(queue.delete_message, first.receipt_handle)
    assert error.type == "MessageNotExist"
    queue.delete_message(again.receipt_handle)


def test_garbled_receipt_handle(account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("x"))
    got = queue.receive_message()
    garbled = (
        "garbage",
        "1-ab+c/d==",
        got.receipt_handle.replace("-", "_"),
        "1-" + got.receipt_handle,
    )
    for handle in garbled:
        error = server_error(queue.delete_message, handle)
        assert error.type == "ReceiptHandleError", handle
        assert error.message == "The receipt handle you provide is not valid."
    assert server_error(queue.change_message_visibility, "garbage", 10).type == "ReceiptHandleError"
    queue.delete_message(got.receipt_handle)  # the real one still works


def test_batch_delete_full_success(account, qname):
    queue = make_queue(account, qname)
    queue.batch_send_message([Message(f"m{i}") for i in range(4)])
    got = queue.batch_receive_message(16)
    assert len(got) == 4
    queue.batch_delete_message([m.receipt_handle for m in got])
    assert counts(queue.get_attributes()) == (0, 0, 0)


def test_batch_delete_partial_failure(account, qname):
    queue = make_queue(account, qname)
    queue.batch_send_message([Message("keep"), Message("drop"), Message("stale")])
    got = {m.message_body.decode(): m for m in queue.batch_receive_message(16)}
    stale = got["stale"].receipt_handle
    queue.delete_message(stale)

    handles = [got["drop"].receipt_handle, "garbage-handle", stale]
    error = server_error(queue.batch_delete_message, handles)
    assert re.fullmatch(r"[0-9A-F]{24}", error.req_id)  # read from the x-mns-request-id header
    by_handle = {entry["ReceiptHandle"]: entry for entry in error.sub_errors}
    assert set(by_handle) == {"garbage-handle", stale}  # only the failed handles are listed
    assert by_handle["garbage-handle"]["ErrorCode"] == "ReceiptHandleError"
    assert by_handle[stale]["ErrorCode"] == "MessageNotExist"
    assert error.type == error.sub_errors[0]["ErrorCode"]
    # the good handle's message was deleted, the one not named is untouched
    assert counts(queue.get_attributes()) == (0, 1, 0)
    queue.delete_message(got["keep"].receipt_handle)


def test_change_message_visibility(server, account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("hide me"))
    got = queue.receive_message()
    before = server_now_ms(server)
    changed = queue.change_message_visibility(got.receipt_handle, 100)
    after = server_now_ms(server)
    assert changed.receipt_handle and changed.receipt_handle != got.receipt_handle
    assert before + 100_000 <= int(changed.next_visible_time) <= after + 100_000

    # the old handle is void
    assert server_error(queue.delete_message, got.receipt_handle).type == "MessageNotExist"
    error = server_error(queue.change_message_visibility, got.receipt_handle, 10)
    assert error.type == "MessageNotExist"

    # invisible for 100 s from the change, not from the receive
    server.advance(60)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    server.advance(41)
    again = queue.receive_message()
    assert again.message_id == got.message_id
    assert again.dequeue_count == 2
    # the handle from the change went stale when the message became visible again
    error = server_error(queue.delete_message, changed.receipt_handle)
    assert error.type == "MessageNotExist"
    queue.delete_message(again.receipt_handle)


def test_change_visibility_then_delete_with_new_handle(account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("x"))
    got = queue.receive_message()
    changed = queue.change_message_visibility(got.receipt_handle, 5)
    queue.delete_message(changed.receipt_handle)
    assert counts(queue.get_attributes()) == (0, 0, 0)


def test_twelve_hour_visibility_timeout(server, account, qname):
    # A fresh Account (so a fresh connection) after each long jump: the server's HTTP idle
    # timeout runs on the virtual clock, so advance(> 300 s) drops idle keep-alive
    # connections (see test_server_raw.py::test_advancing_the_clock_keeps_idle_connections_open).
    def fresh():
        return Account(server.endpoint, "id", "secret").get_queue(qname)

    queue = make_queue(account, qname, vis_timeout=43200)
    queue.send_message(Message("slow job"))
    got = queue.receive_message()
    assert got.next_visible_time == got.first_dequeue_time + 43_200_000
    server.advance(43200 - 5)
    queue = fresh()
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    queue.delete_message(got.receipt_handle)  # the handle is still good just before the end

    queue.send_message(Message("slower job"))
    got = queue.receive_message()
    changed = queue.change_message_visibility(got.receipt_handle, 43200)
    server.advance(43200 - 5)
    queue = fresh()
    assert server_error(queue.peek_message).type == "MessageNotExist"
    server.advance(10)
    again = queue.receive_message()
    assert again.message_id == got.message_id
    assert again.dequeue_count == 2
    assert server_error(queue.delete_message, changed.receipt_handle).type == "MessageNotExist"
    queue.delete_message(again.receipt_handle)


# -- delays, priority, retention, properties ----------------------------------------------------


def test_delayed_send(server, account, qname):
    queue = make_queue(account, qname)
    sent = queue.send_message(Message("later", delay_seconds=5))
    assert sent.receipt_handle  # MNS hands out a handle for a delayed message
    assert server_error(queue.peek_message).type == "MessageNotExist"
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    assert counts(queue.get_attributes()) == (0, 0, 1)
    server.advance(4)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    server.advance(1.5)
    got = queue.receive_message()
    assert got.message_body == b"later"
    assert got.message_id == sent.message_id
    assert got.first_dequeue_time >= got.enqueue_time + 5000


def test_delayed_message_can_be_deleted_with_its_send_handle(server, account, qname):
    queue = make_queue(account, qname)
    sent = queue.send_message(Message("never mind", delay_seconds=10))
    queue.delete_message(sent.receipt_handle)
    server.advance(11)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"


def test_queue_delay_applies_unless_the_message_sets_its_own(server, account, qname):
    queue = make_queue(account, qname, delay_sec=10)
    queue.set_encoding(False)
    queue.send_message(Message("queue delay"))
    queue.send_message(Message("no delay", delay_seconds=0))
    assert queue.receive_message(0).message_body == "no delay"
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    server.advance(10.5)
    assert queue.receive_message(0).message_body == "queue delay"


def test_maximum_delay_is_accepted(server, account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("a week", delay_seconds=604800))
    assert counts(queue.get_attributes()) == (0, 0, 1)


def test_priority_order(account, qname):
    queue = make_queue(account, qname)
    queue.set_encoding(False)
    priorities = [8, 16, 1, 8, 1, 3, 16]
    for i, priority in enumerate(priorities):
        queue.send_message(Message(f"p{priority}-{i}", priority=priority))
    order = [queue.receive_message(0).message_body for _ in priorities]
    # smallest number first, then in sending order
    assert order == ["p1-2", "p1-4", "p3-5", "p8-0", "p8-3", "p16-1", "p16-6"]
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"


def test_priority_in_batch_and_peek(account, qname):
    queue = make_queue(account, qname)
    queue.set_encoding(False)
    queue.batch_send_message([Message("low", priority=16), Message("high", priority=1)])
    peeked = queue.peek_message()
    assert (peeked.message_body, peeked.priority) == ("high", 1)
    got = queue.batch_receive_message(16)
    assert [(m.message_body, m.priority) for m in got] == [("high", 1), ("low", 16)]


def test_retention_period_drops_old_messages(server, account, qname):
    queue = make_queue(account, qname, msg_ttl=60)
    queue.send_message(Message("short lived"))
    server.advance(61)
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"
    assert counts(queue.get_attributes()) == (0, 0, 0)


def _message_with_properties(body):
    message = Message(body, message_group_id="group-1")
    message.add_user_property("n", MessagePropertyValue.create_number(42))
    message.add_user_property("s", MessagePropertyValue.create_string("hi <&> 世界"))
    message.add_user_property("b", MessagePropertyValue.create_boolean(True))
    message.add_user_property("bin", MessagePropertyValue.create_binary(b"\x00\x01\xfe\xff"))
    message.add_system_property(
        "traceparent", MessageSystemPropertyValue.create_string("00-abc-def-01")
    )
    return message


EXPECTED_USER = {
    "n": (PropertyType.NUMBER, "42"),
    "s": (PropertyType.STRING, "hi <&> 世界"),
    "b": (PropertyType.BOOLEAN, "true"),
    "bin": (PropertyType.BINARY, b"\x00\x01\xfe\xff"),
}


def _props(message):
    user = {k: (v.get_data_type(), v.get_raw_value()) for k, v in message.user_properties.items()}
    system = {k: v.get_raw_value() for k, v in message.system_properties.items()}
    return user, system


def test_message_properties_round_trip(account, qname):
    queue = make_queue(account, qname)
    queue.send_message(_message_with_properties("with props"))
    expected = (EXPECTED_USER, {"traceparent": "00-abc-def-01"})
    assert _props(queue.peek_message()) == expected
    assert _props(queue.batch_peek_message(1)[0]) == expected
    got = queue.receive_message()
    assert _props(got) == expected
    assert got.message_group_id == "group-1"
    assert got.message_body == b"with props"


def test_message_properties_round_trip_in_batches(account, qname):
    queue = make_queue(account, qname)
    plain = Message("plain")
    sent = queue.batch_send_message([_message_with_properties("rich"), plain])
    assert len(sent) == 2
    got = {m.message_body: m for m in queue.batch_receive_message(16)}
    assert _props(got[b"rich"]) == (EXPECTED_USER, {"traceparent": "00-abc-def-01"})
    assert got[b"rich"].message_group_id == "group-1"
    assert _props(got[b"plain"]) == ({}, {})
    assert got[b"plain"].message_group_id == ""


# -- errors as the SDK surfaces them ------------------------------------------------------------


def test_queue_not_exist_everywhere(account, qname):
    queue = account.get_queue(qname)
    calls = [
        (queue.get_attributes,),
        (queue.set_attributes, QueueMeta(vis_timeout=5)),
        (queue.send_message, Message("x")),
        (queue.batch_send_message, [Message("x")]),
        (queue.receive_message, 0),
        (queue.batch_receive_message, 2, 0),
        (queue.peek_message,),
        (queue.batch_peek_message, 2),
        (queue.delete_message, "1-0-1-1"),
        (queue.batch_delete_message, ["1-0-1-1"]),
        (queue.change_message_visibility, "1-0-1-1", 10),
    ]
    for call, *args in calls:
        error = server_error(call, *args)
        assert error.type == "QueueNotExist", call.__name__
        assert error.message == "The queue name you provided is not exist."


def test_message_not_exist_on_empty_queue(account, qname):
    queue = make_queue(account, qname)
    for call, *args in [
        (queue.receive_message,),
        (queue.receive_message, 0),
        (queue.batch_receive_message, 16, 0),
        (queue.peek_message,),
        (queue.batch_peek_message, 16),
    ]:
        error = server_error(call, *args)
        assert error.type == "MessageNotExist", call.__name__
        assert error.message == "Message not exist."


@pytest.mark.parametrize(
    "message",
    [
        Message("x", priority=0),
        Message("x", priority=17),
        Message("x", delay_seconds=604801),
    ],
    ids=["priority-0", "priority-17", "delay-604801"],
)
def test_invalid_message_arguments(account, qname, message):
    queue = make_queue(account, qname)
    error = server_error(queue.send_message, message)
    assert error.type == "InvalidArgument"
    assert counts(queue.get_attributes()) == (0, 0, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.receive_message(31),
        lambda q: q.batch_receive_message(2, 31),
        lambda q: q.batch_receive_message(17, 0),
        lambda q: q.batch_receive_message(0, 0),
        lambda q: q.batch_peek_message(17),
    ],
    ids=["receive-wait-31", "batch-receive-wait-31", "batch-receive-17", "batch-receive-0", "batch-peek-17"],
)
def test_receive_arguments_checked_before_the_queue_is_touched(account, qname, call):
    """A waitseconds outside 0-30 or a numOfMessages outside 1-16 is refused even
    when a message could be taken at once, and the message stays where it was."""
    queue = make_queue(account, qname)
    queue.send_message(Message("waiting"))
    error = server_error(call, queue)
    assert error.type == "InvalidArgument"
    assert counts(queue.get_attributes()) == (1, 0, 0)
    assert server_error(call, account.get_queue(qname + "-absent")).type == "InvalidArgument"


def test_range_error_messages_read_cleanly(account, qname):
    queue = make_queue(account, qname)
    error = server_error(queue.send_message, Message("x", priority=17))
    assert error.message.startswith("The value of Priority should between 1 and 16")
    assert not error.message.endswith(" .")
    error = server_error(queue.batch_receive_message, 17, 0)
    assert not error.message.endswith(" .")


def test_body_size_limit(account, qname):
    queue = make_queue(account, qname)
    # base64 on: the limit applies to the encoded text (49152 bytes -> 65536 characters)
    queue.send_message(Message("a" * 49152))
    assert server_error(queue.send_message, Message("a" * 49153)).type == "InvalidArgument"
    queue.set_encoding(False)
    queue.send_message(Message("b" * 65536))
    assert server_error(queue.send_message, Message("b" * 65537)).type == "InvalidArgument"


def test_body_size_limit_counts_utf8_bytes(account, qname):
    queue = make_queue(account, qname, max_msg_size=1024)
    queue.set_encoding(False)
    queue.send_message(Message("x" * 1024))
    queue.send_message(Message("世" * 341))  # 1023 bytes
    error = server_error(queue.send_message, Message("世" * 342))  # 342 chars, 1026 bytes
    assert error.type == "InvalidArgument"
    assert counts(queue.get_attributes())[0] == 2


def test_batch_of_17_is_invalid_argument(account, qname):
    queue = make_queue(account, qname)
    assert server_error(queue.batch_send_message, [Message("x")] * 17).type == "InvalidArgument"
    assert counts(queue.get_attributes()) == (0, 0, 0)
    queue.batch_send_message([Message("x")] * 16)
    assert server_error(queue.batch_receive_message, 17, 0).type == "InvalidArgument"
    assert server_error(queue.batch_peek_message, 17).type == "InvalidArgument"
    assert server_error(queue.batch_receive_message, 0, 0).type == "InvalidArgument"
    got = queue.batch_receive_message(16)
    assert len(got) == 16
    handles = [m.receipt_handle for m in got]
    error = server_error(queue.batch_delete_message, handles + [handles[0]])
    assert error.type == "InvalidArgument"
    assert counts(queue.get_attributes()) == (0, 16, 0)  # nothing deleted
    queue.batch_delete_message(handles)


def test_wait_seconds_31_is_invalid_argument(account, qname):
    queue = make_queue(account, qname)
    assert server_error(queue.receive_message, 31).type == "InvalidArgument"
    assert server_error(queue.batch_receive_message, 4, 31).type == "InvalidArgument"


@pytest.mark.parametrize(
    "name, code",
    [
        ("bad_name", "InvalidQueueName"),
        ("-leading-dash", "InvalidQueueName"),
        ("dot.ted", "InvalidQueueName"),
        ("a" * 121, "QueueNameLengthError"),
    ],
    ids=["underscore", "leading-dash", "dot", "121-chars"],
)
def test_invalid_queue_names(account, name, code):
    error = server_error(account.get_queue(name).create, QueueMeta())
    assert error.type == code


def test_longest_queue_name_and_digit_first(account, qname):
    for name in (("a" * 119) + "z", f"9{qname}"):
        queue = make_queue(account, name)
        assert queue.get_attributes().queue_name == name
        queue.delete()


# -- account attributes ----------------------------------------------------------------------------


def test_account_attributes(account):
    account.set_attributes(AccountMeta("my-log-bucket"))
    assert account.get_attributes().logging_bucket == "my-log-bucket"
    account.set_attributes(AccountMeta())  # nothing given: unchanged
    assert account.get_attributes().logging_bucket == "my-log-bucket"


def test_debug_output_prints_the_request_id(server, qname, capsys):
    """With debug on the SDK looks up ``x-mns-request-id`` case-sensitively."""
    account = Account(server.endpoint, "id", "secret", debug=True)
    queue = make_queue(account, qname)
    queue.send_message(Message("debug"))
    queue.receive_message()
    account.list_queue(prefix=qname)
    printed = capsys.readouterr().out
    assert len(re.findall(r"RequestId: [0-9A-F]{24}\b", printed)) >= 4


# -- long polling over HTTP ---------------------------------------------------------------------


def test_long_poll_woken_by_a_send_from_another_thread(server, account, qname):
    queue = make_queue(account, qname)
    poller = Account(server.endpoint, "id", "secret").get_queue(qname)
    waiting = Background(poller.receive_message, 10)
    assert wait_until(lambda: parked(server, qname) == 1)
    sent = queue.send_message(Message("wake up"))
    got = waiting.result()
    assert got.message_id == sent.message_id
    assert got.message_body == b"wake up"
    assert waiting.elapsed < 5


def test_batch_long_poll_returns_as_soon_as_a_message_arrives(server, account, qname):
    queue = make_queue(account, qname)
    poller = Account(server.endpoint, "id", "secret").get_queue(qname)
    waiting = Background(poller.batch_receive_message, 16, 10)
    assert wait_until(lambda: parked(server, qname) == 1)
    queue.send_message(Message("first"))
    got = waiting.result()
    assert [m.message_body for m in got] == [b"first"]
    assert waiting.elapsed < 5


def test_long_poll_times_out_in_real_time(account, qname):
    queue = make_queue(account, qname)
    start = time.monotonic()
    assert server_error(queue.receive_message, 1).type == "MessageNotExist"
    assert 0.9 <= time.monotonic() - start < 5


def test_queue_polling_wait_seconds_applies_without_a_wait(server, account, qname):
    queue = make_queue(account, qname, polling_wait_sec=30)
    start = time.monotonic()
    assert server_error(queue.receive_message, 0).type == "MessageNotExist"  # 0 overrides
    assert time.monotonic() - start < 5
    poller = Account(server.endpoint, "id", "secret").get_queue(qname)
    waiting = Background(poller.receive_message)  # no waitseconds: the queue's 30 s apply
    assert wait_until(lambda: parked(server, qname) == 1)
    server.advance(30)
    with pytest.raises(MNSServerException) as caught:
        waiting.result()
    assert caught.value.type == "MessageNotExist"
    assert waiting.elapsed < 5


def test_long_poll_sees_a_delayed_message_become_visible(server, account, qname):
    queue = make_queue(account, qname)
    queue.send_message(Message("soon", delay_seconds=20))
    poller = Account(server.endpoint, "id", "secret").get_queue(qname)
    waiting = Background(poller.receive_message, 30)
    assert wait_until(lambda: parked(server, qname) == 1)
    server.advance(20)
    assert waiting.result().message_body == b"soon"


def test_long_poll_on_a_deleted_queue(server, account, qname):
    queue = make_queue(account, qname)
    poller = Account(server.endpoint, "id", "secret").get_queue(qname)
    waiting = Background(poller.receive_message, 10)
    assert wait_until(lambda: parked(server, qname) == 1)
    queue.delete()
    with pytest.raises(MNSServerException) as caught:
        waiting.result()
    assert caught.value.type == "QueueNotExist"


def test_concurrent_long_pollers_each_get_a_different_message(server, account, qname):
    queue = make_queue(account, qname)
    pollers = [Account(server.endpoint, "id", "secret").get_queue(qname) for _ in range(6)]
    waiting = [Background(p.receive_message_with_str_body, 10) for p in pollers]
    assert wait_until(lambda: parked(server, qname) == 6)
    bodies = [f"job-{i}" for i in range(6)]
    for body in bodies[:3]:
        queue.send_message(Message(body))
    queue.batch_send_message([Message(body) for body in bodies[3:]])
    got = [w.result() for w in waiting]
    assert sorted(m.message_body for m in got) == bodies
    assert len({m.message_id for m in got}) == 6
    assert all(m.dequeue_count == 1 for m in got)
    assert counts(queue.get_attributes()) == (0, 6, 0)


def test_concurrent_senders_and_receivers(server, account, qname):
    make_queue(account, qname)

    def send_many(worker):
        queue = Account(server.endpoint, "id", "secret").get_queue(qname)
        for start in range(0, 20, 5):
            queue.batch_send_message([Message(f"w{worker}-{i}") for i in range(start, start + 5)])

    senders = [Background(send_many, w) for w in range(4)]
    for sender in senders:
        sender.result()

    def receive_all():
        queue = Account(server.endpoint, "id", "secret").get_queue(qname)
        got = []
        while True:
            try:
                batch = queue.batch_receive_message(16, 0)
            except MNSServerException as error:
                assert error.type == "MessageNotExist"
                return got
            queue.batch_delete_message([m.receipt_handle for m in batch])
            got += [m.message_body.decode() for m in batch]

    receivers = [Background(receive_all) for _ in range(4)]
    received = [body for r in receivers for body in r.result()]
    assert sorted(received) == sorted(f"w{w}-{i}" for w in range(4) for i in range(20))


# -- signatures and tokens ------------------------------------------------------------------------


def test_signed_requests_with_the_right_key_work(auth_server, qname):
    account = Account(auth_server.endpoint, "id", "secret")
    queue = make_queue(account, qname, vis_timeout=60)
    queue.send_message(Message("signed"))
    got = queue.receive_message(1)
    queue.change_message_visibility(got.receipt_handle, 30)
    # x-mns-* paging headers and a signed x-mns-user-request-id
    urls, marker = account.list_queue(
        prefix=qname, ret_number=1, marker="", req_info=RequestInfo("my-req-1")
    )
    assert urls == [f"{auth_server.endpoint}/queues/{qname}"]
    assert marker == ""
    account.set_attributes(AccountMeta("bucket"))
    assert account.get_attributes().logging_bucket == "bucket"
    queue.delete()


def test_wrong_secret_is_signature_does_not_match(auth_server, qname):
    account = Account(auth_server.endpoint, "id", "not-the-secret")
    error = server_error(account.get_queue(qname).create, QueueMeta())
    assert error.type == "SignatureDoesNotMatch"
    assert server_error(account.list_queue).type == "SignatureDoesNotMatch"
    right = Account(auth_server.endpoint, "id", "secret")
    assert server_error(right.get_queue(qname).get_attributes).type == "QueueNotExist"


def test_unknown_key_id_is_invalid_access_key_id(auth_server, qname):
    account = Account(auth_server.endpoint, "someone-else", "secret")
    error = server_error(account.get_queue(qname).create, QueueMeta())
    assert error.type == "InvalidAccessKeyId"
    assert error.message == "The AccessKey Id you provided is not exist."


@pytest.mark.parametrize("which", ["plain", "auth"])
def test_sts_token_is_accepted(server, auth_server, qname, which):
    endpoint = (server if which == "plain" else auth_server).endpoint
    account = Account(endpoint, "id", "secret", "TOKEN")
    queue = make_queue(account, qname)
    queue.send_message(Message("with token"))
    assert queue.receive_message().message_body == b"with token"
    queue.delete()


def test_closed_port_is_a_network_error():
    account = Account("http://127.0.0.1:1", "id", "secret")
    with pytest.raises(MNSClientNetworkException) as caught:
        account.list_queue()
    assert caught.value.type == "NetWorkException"
