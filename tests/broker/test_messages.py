"""Sending, receiving, peeking and deleting messages: fields, order, limits."""

import hashlib
import re

import pytest
import trio

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS


async def test_send_returns_id_and_upper_case_md5_of_the_body_text():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        sent = await queue.send_message("I am 测试字符串.")
        assert sent.message_body_md5 == "9D75198CAA17528AB23790C1861987AF"  # SDK's own vector
        assert re.fullmatch(r"[0-9A-F]{32}", sent.message_id)
        assert sent.receipt_handle is None
        again = await queue.send_message("SSBhbSDmtYvor5XlrZfnrKbkuLIu")
        assert again.message_body_md5 == "A9B134C465C384F49EB89A6E3870D996"
        assert again.message_id != sent.message_id


async def test_received_fields_are_exact():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=45)
        sent = await queue.send_message("hello", priority=3)
        await trio.sleep(1.5)
        got = await queue.receive_message()
        assert got.message_body_md5 == hashlib.md5(b"hello").hexdigest().upper()
        assert got == minimns.ReceivedMessage(
            message_id=sent.message_id,
            message_body="hello",
            dequeue_count=1,
            enqueue_time=EPOCH_MS,
            first_dequeue_time=EPOCH_MS + 1500,
            priority=3,
            receipt_handle=got.receipt_handle,
            next_visible_time=EPOCH_MS + 1500 + 45000,
        )
        await trio.sleep(45)
        again = await queue.receive_message()
        assert (again.dequeue_count, again.first_dequeue_time) == (2, EPOCH_MS + 1500)
        assert again.next_visible_time == EPOCH_MS + 46500 + 45000
        assert again.receipt_handle != got.receipt_handle


async def test_priority_one_is_served_first_then_send_order():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        for body, priority in [("p8a", None), ("p16", 16), ("p1", 1), ("p8b", 8), ("p3", 3)]:
            await queue.send_message(body, priority=priority)
        got = await queue.batch_receive_message(16)
        assert [m.message_body for m in got] == ["p1", "p3", "p8a", "p8b", "p16"]
        assert [m.priority for m in got] == [1, 3, 8, 8, 16]


@pytest.mark.parametrize("priority", [0, 17, -1, "1", 2.0])
async def test_bad_priority_is_rejected_and_nothing_stored(priority):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with pytest.raises(errors.InvalidArgument):
            await queue.send_message("x", priority=priority)
        assert (await queue.get_attributes()).active_messages == 0


@pytest.mark.parametrize("delay", [-1, 604801, "5"])
async def test_bad_delay_is_rejected_and_nothing_stored(delay):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with pytest.raises(errors.InvalidArgument):
            await queue.send_message("x", delay_seconds=delay)
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.delay_messages) == (0, 0)


async def test_body_size_is_checked_in_utf8_bytes_against_the_queue_maximum():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", maximum_message_size=1024)
        await queue.send_message("a" * 1024)
        await queue.send_message("é" * 512)  # 1024 bytes
        for body in ("a" * 1025, "é" * 513, ""):
            with pytest.raises(errors.InvalidArgument):
                await queue.send_message(body)
        assert (await queue.get_attributes()).active_messages == 2
        await queue.set_attributes(maximum_message_size=2048)
        await queue.send_message("a" * 2048)


async def test_message_delay_and_queue_delay():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", delay_seconds=10)
        queued = await queue.send_message("queue default")
        own = await queue.send_message("own", delay_seconds=2)
        now = await queue.send_message("now", delay_seconds=0)
        assert queued.receipt_handle and own.receipt_handle and now.receipt_handle is None
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.delay_messages) == (1, 2)
        assert [m.message_body for m in await queue.batch_peek_message(16)] == ["now"]
        await trio.sleep(2)
        assert [m.message_body for m in await queue.batch_peek_message(16)] == ["now", "own"]
        await trio.sleep(7.999)
        assert (await queue.get_attributes()).delay_messages == 1
        await trio.sleep(0.001)
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.delay_messages) == (3, 0)


async def test_a_delayed_message_can_be_deleted_with_the_handle_from_send():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        sent = await queue.send_message("later", delay_seconds=60)
        await queue.delete_message(sent.receipt_handle)
        await trio.sleep(61)
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.delay_messages) == (0, 0)


async def test_peek_changes_nothing_and_shows_active_messages_only():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("a", priority=2)
        await queue.send_message("b", priority=1)
        await queue.send_message("c", delay_seconds=5)
        peeked = await queue.batch_peek_message(16)
        assert [m.message_body for m in peeked] == ["b", "a"]
        assert all(m.dequeue_count == 0 for m in peeked)
        assert all(m.first_dequeue_time == m.enqueue_time == EPOCH_MS for m in peeked)
        assert await queue.batch_peek_message(16) == peeked
        assert (await queue.peek_message()) == peeked[0]
        received = await queue.receive_message()
        assert received.message_body == "b"
        assert [m.message_body for m in await queue.batch_peek_message(16)] == ["a"]
        await queue.receive_message()
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (0, 2, 1)


async def test_peek_after_a_redelivery_shows_counts():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=5)
        await queue.send_message("a")
        await trio.sleep(1)
        await queue.receive_message()
        await trio.sleep(5)
        peeked = await queue.peek_message()
        assert (peeked.dequeue_count, peeked.first_dequeue_time) == (1, EPOCH_MS + 1000)


async def test_receive_from_empty_queue_is_message_not_exist():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with pytest.raises(errors.MessageNotExist) as caught:
            await queue.receive_message()
        assert (caught.value.status, caught.value.message) == (404, "Message not exist.")
        with pytest.raises(errors.MessageNotExist):
            await queue.batch_receive_message(16)


async def test_batch_send_receive_peek_delete():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        sent = await queue.batch_send_message(
            [f"m{i}" for i in range(15)] + [minimns.Message("last", priority=16)]
        )
        assert len(sent) == 16 and len({s.message_id for s in sent}) == 16
        assert len(await queue.batch_peek_message(16)) == 16
        got = await queue.batch_receive_message(10)
        assert [m.message_body for m in got] == [f"m{i}" for i in range(10)]
        await queue.batch_delete_message([m.receipt_handle for m in got])
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages) == (6, 0)


async def test_batch_limits():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        for call in (
            queue.batch_send_message(["x"] * 17),
            queue.batch_send_message([]),
            queue.batch_receive_message(17),
            queue.batch_receive_message(0),
            queue.batch_peek_message(17),
            queue.batch_delete_message(["1-1-1-1"] * 17),
        ):
            with pytest.raises(errors.InvalidArgument):
                await call
        assert (await queue.get_attributes()).active_messages == 0
        with pytest.raises(errors.InvalidArgument):
            await queue.batch_send_message(["x" * 65536, "y"])  # 64 KB per batch in all
        assert (await queue.get_attributes()).active_messages == 0


async def test_batch_send_reports_each_rejected_entry_and_stores_the_rest():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", maximum_message_size=1024)
        with pytest.raises(errors.BatchSendFail) as caught:
            await queue.batch_send_message(
                ["ok", minimns.Message("bad", priority=0), "x" * 1025, "fine"]
            )
        ok, bad_priority, too_big, fine = caught.value.results
        assert isinstance(ok, minimns.SentMessage) and isinstance(fine, minimns.SentMessage)
        assert isinstance(bad_priority, errors.InvalidArgument)
        assert isinstance(too_big, errors.InvalidArgument)
        assert caught.value.code == "InvalidArgument"
        got = await queue.batch_receive_message(16)
        assert [m.message_body for m in got] == ["ok", "fine"]


async def test_batch_delete_reports_each_failed_handle_and_deletes_the_rest():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.batch_send_message(["a", "b"])
        a, b = await queue.batch_receive_message(2)
        await queue.delete_message(a.receipt_handle)
        with pytest.raises(errors.BatchDeleteFail) as caught:
            await queue.batch_delete_message([a.receipt_handle, "garbage", b.receipt_handle])
        failures = caught.value.errors
        assert set(failures) == {a.receipt_handle, "garbage"}
        assert isinstance(failures[a.receipt_handle], errors.MessageNotExist)
        assert isinstance(failures["garbage"], errors.ReceiptHandleError)
        assert caught.value.code == "MessageNotExist"
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages) == (0, 0)


async def test_properties_and_group_id_are_stored_and_returned_verbatim():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.send_message(
            minimns.Message(
                "with props",
                message_group_id="g1",
                user_properties={"k1": "v1", "n": ("42", "NUMBER"), "b": ("AAE=", "BINARY")},
                system_properties=[("traceparent", "00-abc-def-01", "STRING")],
            )
        )
        peeked = await queue.peek_message()
        got = await queue.receive_message()
        for message in (peeked, got):
            assert message.message_group_id == "g1"
            assert message.user_properties == (
                ("k1", "v1", "STRING"),
                ("n", "42", "NUMBER"),
                ("b", "AAE=", "BINARY"),
            )
            assert message.system_properties == (("traceparent", "00-abc-def-01", "STRING"),)


async def test_bodies_are_text_and_kept_verbatim():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        body = "line1\r\nline2 <tag> & \"quotes\" 世界 \x7f"
        await queue.send_message(body)
        assert (await queue.receive_message()).message_body == body
        with pytest.raises(errors.InvalidArgument):
            await queue.send_message(b"bytes")  # type: ignore[arg-type]
