"""Receipt handles: one per receive, void when superseded, expired or used."""

import pytest
import trio

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS


async def test_each_receive_mints_a_new_handle_and_voids_the_old():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", visibility_timeout=10)
        await queue.send_message("m")
        first = await queue.receive_message()
        await trio.sleep(10)  # visibility over: active again
        second = await queue.receive_message()
        assert second.receipt_handle != first.receipt_handle
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(first.receipt_handle)
        await queue.delete_message(second.receipt_handle)
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(second.receipt_handle)  # already deleted


async def test_handle_expires_exactly_at_next_visible_time():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=10)
        await queue.send_message("m")
        got = await queue.receive_message()
        await trio.sleep(9.999)
        changed = await queue.change_message_visibility(got.receipt_handle, 1)
        await trio.sleep(1)
        assert broker.now() == changed.next_visible_time
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(changed.receipt_handle)
        assert (await queue.get_attributes()).active_messages == 1


@pytest.mark.parametrize(
    "handle", ["", "garbage", "1-ab+c/d==", "2-1-1-1", "1-1-1", "1-X-1-1", "1-1-1-1-1", None, 7]
)
async def test_malformed_handles_are_receipt_handle_error(handle):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("m")
        await queue.receive_message()
        with pytest.raises(errors.ReceiptHandleError) as caught:
            await queue.delete_message(handle)
        assert caught.value.status == 400
        assert caught.value.message == "The receipt handle you provide is not valid."
        with pytest.raises(errors.ReceiptHandleError):
            await queue.change_message_visibility(handle, 10)
        assert (await queue.get_attributes()).inactive_messages == 1


async def test_a_handle_of_another_queue_is_not_valid_here():
    async with minimns.open_broker() as broker:
        q1 = await broker.create_queue("q1")
        q2 = await broker.create_queue("q2")
        await q1.send_message("m")
        await q2.send_message("m")
        handle = (await q1.receive_message()).receipt_handle
        with pytest.raises(errors.ReceiptHandleError):
            await q2.delete_message(handle)
        await q1.delete_message(handle)


async def test_change_visibility_gives_a_new_handle_from_now():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=30)
        await queue.send_message("m")
        got = await queue.receive_message()
        await trio.sleep(20)
        changed = await queue.change_message_visibility(got.receipt_handle, 60)
        assert changed.next_visible_time == EPOCH_MS + 20000 + 60000  # from now, not added
        assert changed.receipt_handle != got.receipt_handle
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(got.receipt_handle)
        with pytest.raises(errors.MessageNotExist):
            await queue.change_message_visibility(got.receipt_handle, 60)
        await trio.sleep(59.999)
        assert (await queue.get_attributes()).inactive_messages == 1
        await trio.sleep(0.001)
        assert (await queue.get_attributes()).active_messages == 1


@pytest.mark.parametrize("timeout", [0, 43201, -5, "10"])
async def test_change_visibility_range(timeout):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("m")
        got = await queue.receive_message()
        with pytest.raises(errors.InvalidArgument):
            await queue.change_message_visibility(got.receipt_handle, timeout)
        await queue.delete_message(got.receipt_handle)  # the handle is still the valid one


async def test_change_visibility_at_the_upper_bound():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("m")
        got = await queue.receive_message()
        changed = await queue.change_message_visibility(got.receipt_handle, 43200)
        assert changed.next_visible_time == EPOCH_MS + 43200 * 1000


async def test_twelve_hour_visibility_plays_out_on_the_virtual_clock():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=43200)
        await queue.send_message("m")
        first = await queue.receive_message()
        await trio.sleep(43200 - 10)
        again = await queue.receive_message(wait_seconds=30)  # woken at the due time, not a tick
        assert again.message_id == first.message_id
        assert broker.now() == EPOCH_MS + 43200 * 1000 == first.next_visible_time
