"""Durable mode: what a data directory keeps across a restart, and how.

Most tests run on the suite's MockClock with ``fsync="never"``: a wait on a
worker thread (every fsync) would make the virtual clock jump. The fsync
policies that use threads (``always``, ``interval``) are tested on trio's real
clock, in short synchronous tests that call ``trio.run`` themselves.

A broker reopened in the same trio run is given the epoch that continues the
first one's (``epoch_at``), so "as if no restart happened" can be asserted to
the millisecond; tests of ``BrokerClock.resume_from`` give it an earlier one.
"""

from __future__ import annotations

import os
import shutil
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import minimns
from tests.broker_helpers import drain
from minimns.journal import read_frames
from minimns import errors
from minimns.journal import DataDirLocked, Store
from tests.conftest import EPOCH_MS

QUEUE_ENDPOINT = "acs:mns:cn-hangzhou:1234567890:queues/{}"


def epoch_at() -> int:
    """The epoch ms that continues a broker started with EPOCH_MS at trio time 0."""
    return EPOCH_MS + round(trio.current_time() * 1000)


@asynccontextmanager
async def durable(path, *, epoch_ms=None, **options):
    """A broker on ``path`` (fsync never), its epoch continuing the test's clock."""
    options.setdefault("fsync", "never")
    async with minimns.open_broker(
        data_dir=str(path), epoch_ms=epoch_at() if epoch_ms is None else epoch_ms, **options
    ) as broker:
        yield broker


async def state_of(broker) -> dict:
    """Broker.export() without the moment it was taken, every queue caught up to now
    first by a read (as any operation does). What time alone makes due (a delay
    ending, a visibility expiring, a retention passing) is applied by the timer or
    by the next operation and is not journaled: a recovered broker's timer applies
    it at once, so before that its export can lag the original's by exactly this."""
    for name in list(broker.account.queues):
        await broker.get_queue(name).get_attributes()
    state = broker.export()
    del state["now"]
    return state


class PushFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ScriptedPusher:
    """Records every push (trio time, message id); fails while ``failing``."""

    def __init__(self, failing: bool = True) -> None:
        self.failing = failing
        self.calls: list[tuple[float, str]] = []

    async def push(self, url, headers, body) -> int:
        await trio.sleep(0)
        self.calls.append((trio.current_time(), dict(headers)["x-mns-message-id"]))
        if self.failing:
            raise PushFailed("HTTP 503")
        return 204


# -- queues and messages ---------------------------------------------------------------------


ATTRIBUTES = dict(
    delay_seconds=5,
    maximum_message_size=2048,
    message_retention_period=7200,
    visibility_timeout=60,
    polling_wait_seconds=3,
    logging_enabled=True,
)


async def test_restart_keeps_queues_their_attributes_and_messages_in_every_state(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("jobs", **ATTRIBUTES)
        await broker.create_queue("plain")
        await trio.sleep(10)
        await queue.set_attributes(visibility_timeout=90)  # last_modify_time moves on
        # an inactive message, received twice (dequeue count 2, first dequeue time kept)
        held = await queue.send_message("held", delay_seconds=0, priority=2)
        first = await queue.receive_message(wait_seconds=0)
        await trio.sleep(90)
        second = await queue.receive_message(wait_seconds=0)
        assert second.message_id == held.message_id and second.dequeue_count == 2
        # a deleted one, and one in a batch delete
        await queue.send_message("gone", delay_seconds=0)
        gone = await queue.receive_message(wait_seconds=0)
        await queue.delete_message(gone.receipt_handle)
        # active ones with priorities, sent lowest priority first
        low = await queue.send_message("low", delay_seconds=0, priority=16)
        mid = await queue.send_message("mid", delay_seconds=0)
        high = await queue.send_message("high", delay_seconds=0, priority=1)
        props = await queue.send_message(
            minimns.Message("props", delay_seconds=0, priority=8, message_group_id="g",
                            user_properties={"k": "v"})
        )
        # a delayed one (the queue's default delay), deletable by its send handle
        delayed = await queue.send_message("later")
        delayed_too = await queue.send_message("later too", delay_seconds=100)
        meta = await queue.get_attributes()
        plain_meta = await broker.get_queue("plain").get_attributes()
        peeked = await queue.batch_peek_message(16)
        before = await state_of(broker)
    assert [m.message_id for m in peeked] == [high.message_id, mid.message_id, props.message_id,
                                              low.message_id]

    async with durable(tmp_path) as broker:
        assert await state_of(broker) == before
        queue = broker.get_queue("jobs")
        assert await queue.get_attributes() == meta
        assert await broker.get_queue("plain").get_attributes() == plain_meta
        assert meta.visibility_timeout == 90 and meta.logging_enabled is True
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (4, 1, 2)
        assert await queue.batch_peek_message(16) == peeked
        # handles minted before the restart: the first receive's is stale, the second's holds
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(first.receipt_handle)
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(gone.receipt_handle)
        changed = await queue.change_message_visibility(second.receipt_handle, 30)
        with pytest.raises(errors.MessageNotExist):
            await queue.delete_message(second.receipt_handle)
        await queue.delete_message(delayed_too.receipt_handle)
        got = await queue.batch_receive_message(16, wait_seconds=0)
        assert [m.message_id for m in got] == [high.message_id, mid.message_id,
                                               props.message_id, low.message_id]
        assert got[2].message_group_id == "g" and got[2].user_properties == (("k", "v", "STRING"),)
        assert all(m.dequeue_count == 1 for m in got)
        await queue.delete_message(changed.receipt_handle)
        await trio.sleep(5)  # the default delay (5 s) has passed
        late = await queue.receive_message(wait_seconds=0)
        assert late.message_id == delayed.message_id
    # after all that, a third start still agrees, and nothing deleted came back
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("jobs")
        await trio.sleep(3600)
        ids = await drain(queue, "message_id")
        assert sorted(ids) == sorted([high.message_id, mid.message_id, props.message_id,
                                      low.message_id, delayed.message_id])
        assert gone.message_id not in ids and held.message_id not in ids
        assert delayed_too.message_id not in ids


async def test_inactive_message_keeps_dequeue_count_first_dequeue_and_next_visible(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        sent = await queue.send_message("m")
        await trio.sleep(1)
        first = await queue.receive_message()
        await trio.sleep(60)
        second = await queue.receive_message()
    assert first.first_dequeue_time == EPOCH_MS + 1000
    assert second.next_visible_time == EPOCH_MS + 121_000
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("q")
        record = broker.account.queues["q"].records()[0]
        assert (record.dequeue_count, record.first_dequeue_time, record.next_visible) == (
            2, EPOCH_MS + 1000, EPOCH_MS + 121_000)
        await trio.sleep_until(120.999)
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        await trio.sleep_until(121)
        third = await queue.receive_message()
        assert third.message_id == sent.message_id
        assert (third.dequeue_count, third.first_dequeue_time) == (3, EPOCH_MS + 1000)


async def test_visibility_timeout_runs_from_the_receive_not_the_restart(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        await queue.send_message("m")
        got = await queue.receive_message()
        delayed = await queue.send_message("d", delay_seconds=45)
        await trio.sleep(30)
    async with durable(tmp_path) as broker:  # restarted at +30 s on a continuous clock
        queue = broker.get_queue("q")
        assert broker.now() == EPOCH_MS + 30_000
        await trio.sleep_until(44.999)
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        waited = await queue.receive_message(wait_seconds=30)  # woken by the timer
        assert waited.message_id == delayed.message_id and trio.current_time() == 45
        again = await queue.receive_message(wait_seconds=30)
        assert again.message_id == got.message_id and trio.current_time() == 60
        assert again.dequeue_count == 2


async def test_time_that_passed_while_stopped_counts(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        await queue.send_message("m")
        got = await queue.receive_message()
        delayed = await queue.send_message("d", delay_seconds=45)
    await trio.sleep(600)  # down for ten minutes
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("q")
        meta = await queue.get_attributes()
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (2, 0, 0)
        ids = [m.message_id for m in await queue.batch_receive_message(16, wait_seconds=0)]
        assert ids == [delayed.message_id, got.message_id]  # in the order they became active


async def test_clock_resumes_from_the_last_change_when_the_new_epoch_is_earlier(tmp_path):
    async with durable(tmp_path, epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        await queue.send_message("m")
        await trio.sleep(500)
        got = await queue.receive_message()
        assert got.next_visible_time == EPOCH_MS + 560_000
        last = broker.now()
    await trio.sleep(5)
    start = trio.current_time()
    async with durable(tmp_path, epoch_ms=EPOCH_MS - 3_600_000) as broker:  # an hour behind
        assert broker.now() == last
        queue = broker.get_queue("q")
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        await trio.sleep(59.999)
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        again = await queue.receive_message(wait_seconds=1)  # parks, woken by the timer
        assert again.message_id == got.message_id
        assert trio.current_time() - start == pytest.approx(60)
        assert broker.now() == EPOCH_MS + 560_000
        await trio.sleep(1)
        await queue.change_message_visibility(again.receipt_handle, 10)
    async with durable(tmp_path, epoch_ms=EPOCH_MS) as broker:  # still behind: resumes again
        assert broker.now() == EPOCH_MS + 561_000


async def test_a_later_epoch_is_kept(tmp_path):
    async with durable(tmp_path, epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        await queue.send_message("m")
        await queue.receive_message()
    async with durable(tmp_path, epoch_ms=EPOCH_MS + 3_600_000) as broker:
        assert broker.now() == EPOCH_MS + 3_600_000
        assert (await broker.get_queue("q").receive_message()).dequeue_count == 2


async def test_a_message_expired_by_retention_never_comes_back(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", message_retention_period=60)
        kept_queue = await broker.create_queue("kept")
        expired = await queue.send_message("old")
        await trio.sleep(30)
        young = await queue.send_message("young")
        await trio.sleep(31)
        # the expiry is noticed by a change (a send to another queue) and by reads
        await kept_queue.send_message("x")
        assert (await queue.get_attributes()).active_messages == 1
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("q")
        assert [m.message_id for m in await queue.batch_peek_message(16)] == [young.message_id]
        assert expired.message_id not in await drain(queue, "message_id")


async def test_an_expired_message_seen_gone_stays_gone_when_the_clock_restarts_behind(tmp_path):
    async with durable(tmp_path, epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", message_retention_period=60)
        expired = await queue.send_message("old")
        await trio.sleep(120)
        assert (await queue.get_attributes()).active_messages == 0
        with pytest.raises(errors.MessageNotExist):
            await queue.receive_message(wait_seconds=0)  # took nothing: records nothing
    async with durable(tmp_path, epoch_ms=EPOCH_MS) as broker:
        assert expired.message_id not in await drain(broker.get_queue("q"), "message_id")


@pytest.mark.parametrize("how", ["delayed", "received"])
async def test_ids_stay_after_a_message_that_became_visible_then_expired(tmp_path, how):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", message_retention_period=60, visibility_timeout=5)
        if how == "delayed":
            await queue.send_message("old", delay_seconds=10)  # active at 10 s
        else:
            await queue.send_message("old")
            await queue.receive_message()  # visible again at 5 s
        await trio.sleep(70)  # expired at 60 s
        sent = await queue.send_message("new", delay_seconds=10)
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("q")
        later = await queue.send_message("later")
        assert later.message_id != sent.message_id
        await queue.delete_message(sent.receipt_handle)


async def test_deleted_queue_stays_deleted_and_recreated_queue_keeps_its_new_attributes(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q", visibility_timeout=10)
        old = await queue.send_message("m")
        await queue.delete()
        await broker.create_queue("q", visibility_timeout=20)
        await broker.create_queue("gone")
        await broker.get_queue("gone").delete()
    async with durable(tmp_path) as broker:
        assert (await broker.list_queue())[0] == ["q"]
        queue = broker.get_queue("q")
        assert (await queue.get_attributes()).visibility_timeout == 20
        with pytest.raises(errors.MessageNotExist):
            await queue.peek_message()
        with pytest.raises(errors.QueueNotExist):
            await broker.get_queue("gone").get_attributes()
        assert old.message_id  # ids of the old queue are never handed out again
        await queue.send_message("n")
        assert (await queue.receive_message()).message_id != old.message_id


async def test_a_queue_made_after_a_restart_with_the_same_seed_gets_its_own_ids(tmp_path):
    async with durable(tmp_path, seed=7) as broker:
        first = await broker.create_queue("first")
        sent_first = await first.send_message("a")
    async with durable(tmp_path, seed=7) as broker:
        second = await broker.create_queue("second")
        sent_second = await second.send_message("b")
        assert sent_second.message_id != sent_first.message_id
        got = await second.receive_message()
        with pytest.raises(errors.ReceiptHandleError):
            await broker.get_queue("first").delete_message(got.receipt_handle)


# -- topics, subscriptions and pushes -------------------------------------------------------


async def test_topics_and_subscriptions_keep_attributes_and_counters(tmp_path):
    pusher = ScriptedPusher(failing=False)
    async with durable(tmp_path, pusher=pusher) as broker:
        await broker.create_queue("inbox")
        topic = await broker.create_topic("orders", maximum_message_size=4096,
                                          logging_enabled=True)
        await broker.create_topic("other")
        await topic.subscribe("to-inbox", QUEUE_ENDPOINT.format("inbox"),
                              notify_content_format="SIMPLIFIED", filter_tag="paid")
        hook = await topic.subscribe("hook", "http://127.0.0.1:1/h",
                                     notify_strategy="EXPONENTIAL_DECAY_RETRY",
                                     notify_content_format="JSON")
        await topic.subscribe("mail", "mail:directmail:ops@example.com")
        await trio.sleep(5)
        await hook.set_attributes(notify_strategy="BACKOFF_RETRY")
        await topic.publish_message(minimns.TopicMessage("paid 1", message_tag="paid"))
        await topic.publish_message("untagged")
        await broker.wait_pushes_settled()
        pusher.failing = True
        await topic.publish_message("will fail")
        await broker.wait_pushes_settled()
        topic_meta = await topic.get_attributes()
        metas = {n: await topic.get_subscription(n).get_attributes()
                 for n in ("to-inbox", "hook", "mail")}
        stats = {n: topic.get_subscription(n).stats() for n in ("to-inbox", "hook", "mail")}
        before = await state_of(broker)
    assert stats["hook"].delivered == 2 and stats["hook"].retrying == 1
    assert stats["mail"].delivered == 3 and stats["to-inbox"].delivered == 1
    assert topic_meta.message_count == 1  # the failed push is still under way

    async with durable(tmp_path, pusher=ScriptedPusher()) as broker:
        assert await state_of(broker) == before
        topic = broker.get_topic("orders")
        assert await topic.get_attributes() == topic_meta
        assert (await broker.list_topic())[0] == ["orders", "other"]
        assert (await topic.list_subscription())[0] == ["hook", "mail", "to-inbox"]
        for name in ("to-inbox", "hook", "mail"):
            assert await topic.get_subscription(name).get_attributes() == metas[name]
            assert topic.get_subscription(name).stats() == stats[name]
        assert metas["hook"].notify_strategy == "BACKOFF_RETRY"
        got = await broker.get_queue("inbox").receive_message()
        assert got.message_body == "paid 1"


async def test_pending_http_retry_keeps_its_schedule_position_across_restarts(tmp_path):
    pusher = ScriptedPusher()
    async with durable(tmp_path, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("hook", "http://127.0.0.1:1/h",
                              notify_strategy="EXPONENTIAL_DECAY_RETRY")
        published = await topic.publish_message("m")
        await trio.sleep(7.5)  # attempts at 0, 1, 3, 7 s; the next at 15 s
        sub = topic.get_subscription("hook")
        assert [t for t, _ in pusher.calls] == [0, 1, 3, 7]
        assert sub.stats().next_retry_time == EPOCH_MS + 15_000
    later = ScriptedPusher()
    async with durable(tmp_path, pusher=later) as broker:
        sub = broker.get_topic("t").get_subscription("hook")
        stats = sub.stats()
        assert (stats.attempts, stats.failures, stats.retrying) == (4, 4, 1)
        assert stats.next_retry_time == EPOCH_MS + 15_000
        await trio.sleep_until(40)
        assert [t for t, _ in later.calls] == [15, 31]  # after 8 s, then 16 s
        assert {i for _, i in later.calls} == {published.message_id}
        later.failing = False
        await trio.sleep_until(63.5)
        assert [t for t, _ in later.calls] == [15, 31, 63]
        assert sub.stats().delivered == 1 and sub.stats().retrying == 0
    async with durable(tmp_path, pusher=ScriptedPusher()) as broker:
        stats = broker.get_topic("t").get_subscription("hook").stats()
        assert (stats.delivered, stats.retrying, stats.pending, stats.attempts) == (1, 0, 0, 7)
        assert (await broker.get_topic("t").get_attributes()).message_count == 0


class SlowPusher(ScriptedPusher):
    """Each push takes a second before it answers."""

    async def push(self, url, headers, body) -> int:
        await trio.sleep(1)
        return await super().push(url, headers, body)


async def test_a_push_in_flight_during_a_snapshot_is_counted_once(tmp_path):
    async with durable(tmp_path, pusher=SlowPusher()) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("hook", "http://127.0.0.1:1/h",
                              notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await trio.sleep(0.5)  # the first push is in flight
        broker.journal.compact()
        await trio.sleep(1)  # it failed at 1 s: retry due at 2 s
        live = topic.get_subscription("hook").stats()
        before = await state_of(broker)
    assert (live.attempts, live.next_retry_time) == (1, EPOCH_MS + 2000)
    async with durable(tmp_path, pusher=SlowPusher()) as broker:
        assert broker.get_topic("t").get_subscription("hook").stats() == live
        assert await state_of(broker) == before


async def test_a_push_in_flight_at_shutdown_is_made_again_after_the_restart(tmp_path):
    """Pushes are at least once: one cut short by the shutdown is neither delivered nor
    dropped, and the restarted broker makes it."""
    pusher = SlowPusher(failing=False)
    async with durable(tmp_path, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("hook", "http://127.0.0.1:1/h")
        published = await topic.publish_message("m")
        await trio.sleep(0.5)
    assert pusher.calls == []
    again = ScriptedPusher(failing=False)
    async with durable(tmp_path, pusher=again) as broker:
        await broker.wait_pushes_settled()
        assert [i for _, i in again.calls] == [published.message_id]
        stats = broker.get_topic("t").get_subscription("hook").stats()
        assert (stats.delivered, stats.pending, stats.retrying, stats.dropped) == (1, 0, 0, 0)


async def test_a_retry_due_during_the_downtime_fires_at_once_after_the_restart(tmp_path):
    pusher = ScriptedPusher()
    async with durable(tmp_path, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("hook", "http://127.0.0.1:1/h",
                              notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await trio.sleep(1.5)  # attempts at 0 and 1 s; the next due at 3 s
    assert [t for t, _ in pusher.calls] == [0, 1]
    await trio.sleep(100)  # down past the due time
    later = ScriptedPusher(failing=False)
    async with durable(tmp_path, pusher=later) as broker:
        await broker.wait_pushes_settled(include_retries=True)
        assert [t for t, _ in later.calls] == [101.5]
        stats = broker.get_topic("t").get_subscription("hook").stats()
        assert (stats.delivered, stats.attempts, stats.failures) == (1, 3, 2)


async def test_backoff_retry_jitter_is_the_same_after_a_restart(tmp_path):
    """BACKOFF_RETRY's random 10-20 s delays come from a key kept in the data dir:
    a restarted broker (whatever its own seed) keeps the schedule a broker that
    never stopped would have followed."""
    async def run(path, restart_at):
        pusher = ScriptedPusher()
        start = trio.current_time()
        async with durable(path, epoch_ms=EPOCH_MS, seed=5, pusher=pusher) as broker:
            topic = await broker.create_topic("t")
            await topic.subscribe("hook", "http://127.0.0.1:1/h")
            await topic.publish_message("m")
            if restart_at is None:
                await broker.wait_pushes_settled(include_retries=True)
            else:
                await trio.sleep(restart_at)
        if restart_at is not None:
            elapsed = round((trio.current_time() - start) * 1000)
            async with durable(path, epoch_ms=EPOCH_MS + elapsed, seed=99,
                               pusher=pusher) as broker:
                await broker.wait_pushes_settled(include_retries=True)
                stats = broker.get_topic("t").get_subscription("hook").stats()
                assert (stats.dropped, stats.attempts) == (1, 4)
        return [round(t - start, 3) for t, _ in pusher.calls]

    straight = await run(tmp_path / "straight", None)
    assert len(straight) == 4
    assert all(10 <= b - a <= 20.001 for a, b in zip(straight, straight[1:])), straight
    assert await run(tmp_path / "restarted", 0.5) == straight
    assert await run(tmp_path / "restarted-later", straight[2] + 0.5) == straight


async def test_a_retry_into_a_missing_queue_goes_on_exponentially_across_restarts(tmp_path):
    async with durable(tmp_path) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("late", QUEUE_ENDPOINT.format("later"),
                              notify_strategy="EXPONENTIAL_DECAY_RETRY",
                              notify_content_format="SIMPLIFIED")
        await topic.publish_message("m")  # attempt 1 at 0 fails: retries at 1, 3, 7, 15, 31
        await trio.sleep(2)
        stats = topic.get_subscription("late").stats()
        assert (stats.attempts, stats.next_retry_time) == (2, EPOCH_MS + 3000)
        assert stats.last_error.startswith("QueueNotExist")
    async with durable(tmp_path) as broker:
        sub = broker.get_topic("t").get_subscription("late")
        await trio.sleep_until(10)
        stats = sub.stats()
        assert (stats.attempts, stats.next_retry_time) == (4, EPOCH_MS + 15_000)
    await trio.sleep_until(20)  # down while the 15 s retry comes due
    async with durable(tmp_path) as broker:
        await trio.sleep(0.001)
        sub = broker.get_topic("t").get_subscription("late")
        stats = sub.stats()  # the overdue retry ran at once, at 20 s: the next 16 s after it
        assert (stats.attempts, stats.next_retry_time) == (5, EPOCH_MS + 36_000)
        assert stats.last_error_time == EPOCH_MS + 20_000
        queue = await broker.create_queue("later")
    async with durable(tmp_path) as broker:
        queue = broker.get_queue("later")
        got = await queue.receive_message(wait_seconds=30)
        assert got.message_body == "m" and trio.current_time() == pytest.approx(36)
        stats = broker.get_topic("t").get_subscription("late").stats()
        assert (stats.delivered, stats.attempts, stats.retrying) == (1, 6, 0)
    async with durable(tmp_path) as broker:  # delivered once, and only once
        assert await drain(broker.get_queue("later"), "message_id") == []


# -- snapshots and compaction ----------------------------------------------------------------


def generation_files(path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n != "LOCK")


async def test_compaction_keeps_one_generation_and_recovers_the_same_state(tmp_path):
    pusher = ScriptedPusher()
    async with durable(tmp_path, compact_bytes=2048, pusher=pusher) as broker:
        queue = await broker.create_queue("q", visibility_timeout=40)
        await broker.create_queue("sink")
        topic = await broker.create_topic("t")
        await topic.subscribe("s", QUEUE_ENDPOINT.format("sink"))
        await topic.subscribe("hook", "http://127.0.0.1:1/h",
                              notify_strategy="EXPONENTIAL_DECAY_RETRY")
        churn = await broker.create_queue("churn")
        handles = []
        for i in range(60):
            for _ in range(3):  # changes that leave nothing behind: the journal outgrows
                await churn.send_message("x" * 100)  # the snapshot and is compacted
                await churn.delete_message((await churn.receive_message()).receipt_handle)
            await queue.send_message(f"message {i}", priority=1 + i % 16,
                                     delay_seconds=(i % 3) * 20)
            if i % 4 == 0:
                handles.append((await queue.receive_message()).receipt_handle)
            if i % 10 == 0:
                await topic.publish_message(f"published {i}")
            await trio.sleep(1)
        for handle in handles[:5]:
            try:
                await queue.delete_message(handle)
            except errors.MessageNotExist:
                pass
        store = broker.journal
        assert store.compactions >= 2
        generation = store.generation
        before = await state_of(broker)
        next_ids = [m.message_id for m in await queue.batch_peek_message(16)]
    assert generation_files(tmp_path) == [f"journal-{generation}.log",
                                          f"snapshot-{generation}.msgpack"]
    async with durable(tmp_path, compact_bytes=2048, pusher=ScriptedPusher()) as broker:
        assert broker.journal.generation == generation
        assert await state_of(broker) == before
        assert [m.message_id for m in await broker.get_queue("q").batch_peek_message(16)] == \
            next_ids


async def test_a_snapshot_alone_recovers_everything(tmp_path):
    async with durable(tmp_path) as broker:
        queue = await broker.create_queue("q")
        for i in range(5):
            await queue.send_message(f"m{i}", priority=16 - i)
        await queue.receive_message()
        broker.journal.compact()  # the whole state in snapshot-1, an empty journal-1
        before = await state_of(broker)
    journal, _ = read_frames((tmp_path / "journal-1.log").read_bytes())
    assert [change[0] for change in journal] == ["clock"]  # only the time reached at close
    assert generation_files(tmp_path) == ["journal-1.log", "snapshot-1.msgpack"]
    async with durable(tmp_path) as broker:
        assert await state_of(broker) == before


# -- fsync policies (trio's real clock) --------------------------------------------------------


async def _workload(path, fsync: str) -> tuple[dict, list[str]]:
    async with minimns.open_broker(data_dir=str(path), fsync=fsync, fsync_interval_ms=5,
                                   epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", visibility_timeout=3600)
        for i in range(20):
            await queue.send_message(f"m{i}", priority=1 + i % 3)
        await queue.send_message("delayed", delay_seconds=600)
        got = await queue.batch_receive_message(5, wait_seconds=0)
        await queue.batch_delete_message([m.receipt_handle for m in got[:3]])
        await queue.change_message_visibility(got[3].receipt_handle, 7200)
        topic = await broker.create_topic("t")
        await topic.subscribe("s", QUEUE_ENDPOINT.format("q"), notify_content_format="SIMPLIFIED")
        await topic.publish_message("published", message_tag="x")
        if fsync == "interval":
            await trio.sleep(0.05)  # several intervals of 5 ms
        if fsync != "never":
            assert broker.journal.fsyncs > 0
        else:
            assert broker.journal.fsyncs == 0
        state = await state_of(broker)
        peeked = [m.message_id for m in await queue.batch_peek_message(16)]
    return state, peeked


@pytest.mark.parametrize("fsync", ["always", "interval", "never"])
def test_every_fsync_policy_recovers_the_state_after_a_clean_close(tmp_path, fsync):
    async def main():
        before, peeked = await _workload(tmp_path, fsync)
        async with minimns.open_broker(data_dir=str(tmp_path), fsync=fsync,
                                       epoch_ms=EPOCH_MS) as broker:
            assert await state_of(broker) == before
            queue = broker.get_queue("q")
            assert [m.message_id for m in await queue.batch_peek_message(16)] == peeked
        return before

    before = trio.run(main)
    queue = before["queues"][0]
    assert len(queue[7][0]) == 19  # 21 sent + 1 published - 3 deleted (column of seqs)
    assert set(queue[7][1]) >= {"published", "delayed"}  # the column of bodies


def test_fsync_always_group_commits_concurrent_sends(tmp_path):
    senders, each = 64, 4

    async def main():
        async with minimns.open_broker(data_dir=str(tmp_path), fsync="always") as broker:
            queue = await broker.create_queue("q")
            store = broker.journal
            base = store.fsyncs
            assert base >= 1  # creating the queue was acknowledged after an fsync

            async def sender(n):
                for i in range(each):
                    await queue.send_message(f"{n}-{i}")

            async with trio.open_nursery() as nursery:
                for n in range(senders):
                    nursery.start_soon(sender, n)
            fsyncs = store.fsyncs - base
        async with minimns.open_broker(data_dir=str(tmp_path), fsync="never") as broker:
            meta = await broker.get_queue("q").get_attributes()
        return fsyncs, meta.active_messages

    fsyncs, count = trio.run(main)
    assert count == senders * each
    assert 1 <= fsyncs <= senders * each // 8, fsyncs


def test_fsync_always_acknowledges_only_what_is_on_disk(tmp_path):
    """Each acknowledged send is in the journal file when the send returns."""

    async def main():
        async with minimns.open_broker(data_dir=str(tmp_path), fsync="always") as broker:
            queue = await broker.create_queue("q")
            path = broker.journal.path
            for i in range(3):
                sent = await queue.send_message(f"body-{i}")
                with open(os.path.join(path, "journal-0.log"), "rb") as f:
                    data = f.read()
                assert f"body-{i}".encode() in data, sent

    trio.run(main)


# -- the lock --------------------------------------------------------------------------------


async def test_a_second_broker_on_the_same_dir_is_refused_until_the_first_closes(tmp_path):
    async with durable(tmp_path) as broker:
        await broker.create_queue("q")
        with pytest.raises(DataDirLocked) as caught:
            async with durable(tmp_path):
                pass  # pragma: no cover
        text = str(caught.value)
        assert str(tmp_path) in text and "in use" in text and f"pid {os.getpid()}" in text
        # the refused open changed nothing: the first goes on
        await broker.get_queue("q").send_message("still here")
    async with durable(tmp_path) as broker:
        assert (await broker.get_queue("q").receive_message()).message_body == "still here"


def test_unknown_fsync_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fsync"):
        Store(str(tmp_path), fsync="sometimes")


# -- replay equivalence (Hypothesis) ---------------------------------------------------------


QUEUES = ["q0", "q1", "q2"]
TOPICS = ["t0", "t1"]
HANDLE_SLOTS = 6

_each = [
    # retention periods short enough to pass within a run: expiries unobserved by any
    # recorded change (see test_ids_stay_after_a_message_that_became_visible_then_expired)
    st.tuples(st.just("create_queue"), st.sampled_from(QUEUES),
              st.sampled_from([None, 1, 5, 30]), st.sampled_from([None, None, 60, 120])),
    st.tuples(st.just("delete_queue"), st.sampled_from(QUEUES)),
    st.tuples(st.just("set_attributes"), st.sampled_from(QUEUES),
              st.sampled_from([None, 2, 10, 40]), st.sampled_from([None, 0, 3])),
    st.tuples(st.just("send"), st.sampled_from(QUEUES), st.sampled_from([None, 0, 0, 2, 15]),
              st.sampled_from([None, 1, 8, 16])),
    st.tuples(st.just("batch_send"), st.sampled_from(QUEUES),
              st.lists(st.tuples(st.sampled_from([None, 0, 3]), st.sampled_from([None, 2, 9])),
                       min_size=1, max_size=4)),
    st.tuples(st.just("receive"), st.sampled_from(QUEUES)),
    st.tuples(st.just("batch_receive"), st.sampled_from(QUEUES), st.integers(1, 5)),
    st.tuples(st.just("delete"), st.sampled_from(QUEUES), st.integers(0, HANDLE_SLOTS - 1)),
    st.tuples(st.just("batch_delete"), st.sampled_from(QUEUES),
              st.lists(st.integers(0, HANDLE_SLOTS - 1), min_size=1, max_size=3)),
    st.tuples(st.just("change_visibility"), st.sampled_from(QUEUES),
              st.integers(0, HANDLE_SLOTS - 1), st.sampled_from([1, 5, 50])),
    st.tuples(st.just("peek"), st.sampled_from(QUEUES)),
    st.tuples(st.just("sleep"), st.sampled_from([0.5, 1, 3, 10, 61, 125])),
    st.tuples(st.just("create_topic"), st.sampled_from(TOPICS)),
    st.tuples(st.just("delete_topic"), st.sampled_from(TOPICS)),
    st.tuples(st.just("subscribe"), st.sampled_from(TOPICS), st.sampled_from(QUEUES + ["nope"]),
              st.sampled_from(["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]),
              st.sampled_from([None, "a"])),
    st.tuples(st.just("unsubscribe"), st.sampled_from(TOPICS), st.sampled_from(QUEUES + ["nope"])),
    st.tuples(st.just("publish"), st.sampled_from(TOPICS), st.sampled_from([None, "a", "b"])),
]


# sends and receives (and time) weigh more: they make the states worth recovering
operations = st.one_of(*_each, *_each[3:8], _each[11])


PRELUDE = [  # so that most random operations find something to work on
    ("create_queue", "q0", None, None),
    ("create_queue", "q1", 5, None),
    ("create_topic", "t0"),
    ("subscribe", "t0", "q1", "BACKOFF_RETRY", None),
    ("subscribe", "t0", "q2", "EXPONENTIAL_DECAY_RETRY", None),
]


def _pick(handles: dict[str, list[str]], name: str, slot: int) -> str | None:
    """A recent handle of queue ``name`` (maybe stale); the last slot takes the newest
    handle of any queue (often foreign: ReceiptHandleError)."""
    if slot == HANDLE_SLOTS - 1:
        return handles["*"][-1] if handles["*"] else None
    mine = handles.setdefault(name, [])
    return mine[-1 - slot % len(mine)] if mine else None


def _keep(handles: dict[str, list[str]], name: str, handle: str | None) -> None:
    if handle:
        handles.setdefault(name, []).append(handle)
        handles["*"].append(handle)


async def _apply(broker, op, handles: dict[str, list[str]], counter) -> None:
    """One operation; an MNS error is part of the run (it must change nothing)."""
    kind, *args = op
    try:
        if kind == "create_queue":
            name, visibility, retention = args
            attributes = {}
            if visibility is not None:
                attributes["visibility_timeout"] = visibility
            if retention is not None:
                attributes["message_retention_period"] = retention
            await broker.create_queue(name, **attributes)
        elif kind == "delete_queue":
            await broker.get_queue(args[0]).delete()
        elif kind == "set_attributes":
            name, visibility, delay = args
            await broker.get_queue(name).set_attributes(visibility_timeout=visibility,
                                                        delay_seconds=delay)
        elif kind == "send":
            name, delay, priority = args
            sent = await broker.get_queue(name).send_message(
                f"body {next(counter)}", delay_seconds=delay, priority=priority)
            _keep(handles, name, sent.receipt_handle)
        elif kind == "batch_send":
            name, entries = args
            messages = [minimns.Message(f"batch {next(counter)}", delay_seconds=d, priority=p)
                        for d, p in entries]
            for sent in await broker.get_queue(name).batch_send_message(messages):
                _keep(handles, name, sent.receipt_handle)
        elif kind == "receive":
            got = await broker.get_queue(args[0]).receive_message(wait_seconds=0)
            _keep(handles, args[0], got.receipt_handle)
        elif kind == "batch_receive":
            got = await broker.get_queue(args[0]).batch_receive_message(args[1], wait_seconds=0)
            for message in got:
                _keep(handles, args[0], message.receipt_handle)
        elif kind == "delete":
            handle = _pick(handles, args[0], args[1])
            if handle:
                await broker.get_queue(args[0]).delete_message(handle)
        elif kind == "batch_delete":
            chosen = {_pick(handles, args[0], i) for i in args[1]} - {None}
            if chosen:
                await broker.get_queue(args[0]).batch_delete_message(sorted(chosen))
        elif kind == "change_visibility":
            name, slot, seconds = args
            handle = _pick(handles, name, slot)
            if handle:
                changed = await broker.get_queue(name).change_message_visibility(handle, seconds)
                _keep(handles, name, changed.receipt_handle)
        elif kind == "peek":
            await broker.get_queue(args[0]).batch_peek_message(16)
        elif kind == "sleep":
            await trio.sleep(args[0])
        elif kind == "create_topic":
            await broker.create_topic(args[0])
        elif kind == "delete_topic":
            await broker.get_topic(args[0]).delete()
        elif kind == "subscribe":
            topic, queue, strategy, tag = args
            await broker.get_topic(topic).subscribe(
                f"to-{queue}", QUEUE_ENDPOINT.format(queue), notify_strategy=strategy,
                notify_content_format="SIMPLIFIED", filter_tag=tag)
        elif kind == "unsubscribe":
            await broker.get_topic(args[0]).get_subscription(f"to-{args[1]}").unsubscribe()
        elif kind == "publish":
            await broker.get_topic(args[0]).publish_message(
                minimns.TopicMessage(f"published {next(counter)}", message_tag=args[1]))
        else:  # pragma: no cover
            raise AssertionError(kind)
    except (errors.MNSError, errors.BatchDeleteFail, errors.BatchSendFail):
        pass


async def _next_peeks(broker) -> dict[str, list[str]]:
    out = {}
    for name in QUEUES:
        try:
            got = await broker.get_queue(name).batch_peek_message(16)
            out[name] = [m.message_id for m in got]
        except (errors.QueueNotExist, errors.MessageNotExist) as error:
            out[name] = [type(error).__name__]
    return out


async def _next_receives(broker) -> dict[str, list[str]]:
    out = {}
    for name in QUEUES:
        try:
            got = await broker.get_queue(name).batch_receive_message(16, wait_seconds=0)
            out[name] = [m.message_id for m in got]
        except (errors.QueueNotExist, errors.MessageNotExist) as error:
            out[name] = [type(error).__name__]
    return out


def _replay_equivalence(path, ops, compact_bytes) -> int:
    """Run ``ops`` on a broker, close it and reopen its data dir: the export is the
    same, and each queue's next receive hands out what the original's would have
    (its peek, taken before the close, names exactly those messages and changes
    nothing). The number of compactions during the ops."""
    shutil.rmtree(path, ignore_errors=True)

    async def run():
        counter = iter(range(10**9))
        handles: dict[str, list[str]] = {"*": []}
        async with durable(path, epoch_ms=EPOCH_MS, seed=3,
                           compact_bytes=compact_bytes) as original:
            for op in PRELUDE + ops:
                await _apply(original, op, handles, counter)
            # Past any timer due at this very millisecond (which of two tasks woken at
            # one virtual instant runs first is up to trio), still within it.
            await trio.sleep(0.0003)
            peeked = await _next_peeks(original)
            before = await state_of(original)
            compactions = original.journal.compactions
        async with durable(path, compact_bytes=compact_bytes) as recovered:
            assert await state_of(recovered) == before
            assert await _next_receives(recovered) == peeked
        return compactions

    return trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=20, max_size=60))
def test_replay_gives_back_the_state_it_recorded(tmp_path, ops):
    sends = sum(1 for op in ops if op[0] in ("send", "batch_send", "publish"))
    event(f"sends and publishes: {min(sends, 5)}{'+' if sends >= 5 else ''}")
    _replay_equivalence(str(tmp_path / "data"), ops, compact_bytes=64 * 1024 * 1024)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=30, max_size=80))
def test_replay_with_compactions_in_the_middle_gives_back_the_same_state(tmp_path, ops):
    compactions = _replay_equivalence(str(tmp_path / "data"), ops, compact_bytes=300)
    event(f"compactions: {min(compactions, 3)}")
