"""Long polling: waiters wake the moment a message becomes receivable, never on a tick."""

import math

import pytest
import trio
import trio.testing

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS


async def _receive_at(broker, queue, results, wait_seconds=30, batch=None):
    try:
        if batch:
            got = await queue.batch_receive_message(batch, wait_seconds=wait_seconds)
        else:
            got = [await queue.receive_message(wait_seconds=wait_seconds)]
        results.append((broker.now(), [m.message_body for m in got]))
    except errors.MNSError as error:
        results.append((broker.now(), error.code))


async def test_a_waiter_wakes_at_the_send():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        results = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(7.321)
            await queue.send_message("m")
        assert results == [(EPOCH_MS + 7321, ["m"])]


async def test_a_waiter_wakes_when_a_delay_ends():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("late", delay_seconds=12)
        results = []
        await _receive_at(broker, queue, results)
        assert results == [(EPOCH_MS + 12000, ["late"])]


async def test_a_waiter_wakes_when_visibility_expires():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=20)
        await queue.send_message("m")
        await queue.receive_message()
        results = []
        await _receive_at(broker, queue, results)
        assert results == [(EPOCH_MS + 20000, ["m"])]


async def test_a_waiter_wakes_when_visibility_is_changed_to_sooner():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=3600)
        await queue.send_message("m")
        got = await queue.receive_message()
        results = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(2)
            await queue.change_message_visibility(got.receipt_handle, 5)
        assert results == [(EPOCH_MS + 7000, ["m"])]


async def test_the_wait_ends_with_message_not_exist_exactly_at_wait_seconds():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        results = []
        await _receive_at(broker, queue, results, wait_seconds=13)
        assert results == [(EPOCH_MS + 13000, "MessageNotExist")]


async def test_the_queue_polling_wait_is_the_default_wait():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", polling_wait_seconds=4)
        results = []
        await _receive_at(broker, queue, results, wait_seconds=None)
        assert results == [(EPOCH_MS + 4000, "MessageNotExist")]
        await queue.set_attributes(polling_wait_seconds=0)
        await _receive_at(broker, queue, results, wait_seconds=None)
        assert results[1] == (EPOCH_MS + 4000, "MessageNotExist")


@pytest.mark.parametrize("wait", [-1, 31, "5"])
async def test_wait_seconds_range(wait):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with pytest.raises(errors.InvalidArgument):
            await queue.receive_message(wait_seconds=wait)


async def test_many_waiters_each_get_a_different_message():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        results = []
        async with trio.open_nursery() as nursery:
            for _ in range(500):
                nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(1)
            await queue.batch_send_message([f"a{i}" for i in range(16)])
            for i in range(484 // 4):
                await queue.send_message(f"b{i}")
                await queue.send_message(f"c{i}", delay_seconds=2)
                await queue.batch_send_message([f"d{i}", f"e{i}"])
        bodies = [body for _, got in results for body in got]
        assert len(results) == 500
        assert len(bodies) == len(set(bodies)) == 500
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (0, 500, 0)


async def test_a_batch_waiter_returns_as_soon_as_anything_is_there():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        results = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive_at, broker, queue, results, 30, 16)
            await trio.sleep(3)
            await queue.send_message("one")
        assert results == [(EPOCH_MS + 3000, ["one"])]


async def test_a_cancelled_waiter_leaves_no_trace():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with trio.move_on_after(5):
            await queue.receive_message(wait_seconds=30)
        results = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(1)
            await queue.send_message("m")
        assert results[0][1] == ["m"]
        peekable = await queue.send_message("untouched")
        peeked = await queue.peek_message()
        assert (peeked.message_id, peeked.dequeue_count) == (peekable.message_id, 0)
        assert len(broker.waiters_of("q")) == 0


async def test_cancelling_many_waiters_then_sending_loses_nothing():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(queue.receive_message, 30)
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
        await queue.batch_send_message(["x", "y"])
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages) == (2, 0)


async def test_deleting_the_queue_wakes_its_waiters_with_queue_not_exist():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        results = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(2)
            await queue.delete()
        assert results == [(EPOCH_MS + 2000, "QueueNotExist")]


async def test_waiters_beyond_the_bound_answer_at_once():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, max_waiters=3) as broker:
        queue = await broker.create_queue("q")
        results = []
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(_receive_at, broker, queue, results)
            await trio.sleep(1)
            assert results == [(EPOCH_MS, "MessageNotExist")]
            await queue.batch_send_message(["a", "b", "c"])
        assert sorted(r[1][0] for r in results[1:]) == ["a", "b", "c"]


async def test_an_idle_broker_has_no_timer_armed(mock_clock):
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", message_retention_period=60)
        await queue.send_message("m", delay_seconds=5)
        assert broker._timer._scope.deadline == pytest.approx(trio.current_time() + 5)
        await trio.sleep(5)
        await queue.delete_message((await queue.receive_message()).receipt_handle)
        # The deleted message's visibility deadline may still fire once; then nothing is armed.
        await trio.sleep(30)
        await trio.testing.wait_all_tasks_blocked()
        assert broker._timer._scope.deadline == math.inf
        assert len(broker._timer) == 0


async def test_one_timer_fire_per_due_time_however_many_waiters():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q")
        fired = []
        original = broker._on_due
        broker._timer._fire = lambda key: (fired.append(broker.now()), original(key))
        results = []
        async with trio.open_nursery() as nursery:
            for _ in range(100):
                nursery.start_soon(_receive_at, broker, queue, results)
            await queue.batch_send_message([minimns.Message(f"m{i}", delay_seconds=3) for i in range(16)])
        assert fired == [EPOCH_MS + 3000]
        assert len([r for r in results if r[1] != "MessageNotExist"]) == 16
        assert {r[0] for r in results if r[1] == "MessageNotExist"} == {EPOCH_MS + 30000}
