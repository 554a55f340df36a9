"""Retention: a message is deleted when its period passes, consumed or not."""

import pytest
import trio

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS

FOUR_DAYS = 345600


async def test_default_four_day_retention_deletes_every_state():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=43200)
        await queue.send_message("a")
        await queue.send_message("b")
        await queue.send_message("delayed", delay_seconds=604800)
        first = await queue.receive_message()  # visible again after 12 hours, behind "b"
        await trio.sleep(FOUR_DAYS - 10)
        got = await queue.receive_message()
        assert (first.message_body, got.message_body) == ("a", "b")
        await trio.sleep(10 - 0.001)
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (1, 1, 1)
        await trio.sleep(0.001)
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (0, 0, 0)
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(got.receipt_handle)


async def test_expiry_follows_enqueue_order():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", message_retention_period=60)
        for i in range(5):
            await queue.send_message(f"m{i}")
            await trio.sleep(10)
        await trio.sleep(15)  # now 65 s: only m0 (sent at 0 s) is older than 60 s
        assert [m.message_body for m in await queue.batch_peek_message(16)] == [
            "m1", "m2", "m3", "m4"
        ]


async def test_shortening_retention_applies_to_queued_messages():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("old")
        await trio.sleep(120)
        await queue.send_message("new")
        await queue.set_attributes(message_retention_period=60)
        assert [m.message_body for m in await queue.batch_peek_message(16)] == ["new"]


async def test_a_waiter_is_not_woken_by_an_expiry():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", message_retention_period=60, visibility_timeout=100)
        await queue.send_message("m")
        await queue.receive_message()
        await trio.sleep(45)
        with pytest.raises(errors.MessageNotExist):
            await queue.receive_message(wait_seconds=30)  # expired at 60 s, never visible again
        assert broker.now() == EPOCH_MS + 75000
