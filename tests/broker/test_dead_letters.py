"""Dead-letter queues: a queue's DlqPolicy moves a message received MaxReceiveCount
times to its dead-letter queue, with the DLQ system properties, in one change.

The core's move (``take_dead_letters`` / ``accept_dead_letters``) is driven by a
Hypothesis state machine against a plain model; the broker's, by the virtual clock
and by recovering every prefix of a journal (a crash at any record boundary leaves
each message in exactly one queue, or not yet sent).
"""

from __future__ import annotations

import os

import pytest
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import minimns
from minimns import errors
from minimns.core.attributes import NO_DLQ, DlqPolicy, QueueAttributes
from minimns.core.queue import QueueState
from minimns.journal import frame, read_frames
from tests.broker_helpers import drain
from tests.conftest import EPOCH_MS

POLICY = {"Enabled": True, "DeadLetterTargetQueue": "dlq", "MaxReceiveCount": 3}
ARN = "acs:mns:cn-hangzhou:1234567890:/queues/jobs"


def system(message) -> dict[str, str]:
    return {name: value for name, value, _type in message.system_properties}


async def jobs_and_dlq(broker, **policy):
    dlq = await broker.create_queue("dlq")
    jobs = await broker.create_queue("jobs", visibility_timeout=10,
                                     dlq_policy={**POLICY, **policy})
    return jobs, dlq


async def receive_and_let_go(queue, times: int) -> None:
    """Receive a message ``times`` times, each time letting its visibility expire."""
    for _ in range(times):
        await queue.receive_message(wait_seconds=0)
        await trio.sleep(11)


# -- the broker ------------------------------------------------------------------------------


async def test_a_message_received_max_times_moves_with_the_dlq_system_properties():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker)
        sent = await jobs.send_message(minimns.Message(
            "poison", priority=3, user_properties={"k": "v"}))
        await receive_and_let_go(jobs, 3)
        meta = await jobs.get_attributes()
        assert (meta.active_messages, meta.inactive_messages) == (0, 0)
        got = await dlq.receive_message(wait_seconds=0)
        assert got.message_body == "poison"
        assert got.message_id != sent.message_id
        assert got.priority == 3
        assert got.dequeue_count == 1  # received once in the dead-letter queue
        assert got.enqueue_time == EPOCH_MS  # retention runs on from the first send
        assert dict((n, v) for n, v, _ in got.user_properties) == {"k": "v"}
        assert system(got) == {"DLQMessageType": "QUEUE", "DLQSourceArn": ARN,
                               "DLQOriginMessageId": sent.message_id}
        assert broker.account.queue("jobs").dead_lettered == 1


async def test_until_the_count_is_reached_the_message_comes_back_to_its_queue():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker)
        await jobs.send_message("retry me")
        await receive_and_let_go(jobs, 2)
        third = await jobs.receive_message(wait_seconds=0)
        assert third.dequeue_count == 3
        await jobs.delete_message(third.receipt_handle)  # handled at the last try: stays gone
        await trio.sleep(60)
        assert (await dlq.get_attributes()).active_messages == 0


async def test_a_long_poll_on_the_dead_letter_queue_wakes_for_the_move():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker, MaxReceiveCount=1)
        await jobs.send_message("once")
        await jobs.receive_message(wait_seconds=0)
        got = await dlq.receive_message(wait_seconds=30)
        assert got.message_body == "once"
        assert trio.current_time() == pytest.approx(10)  # the moment its visibility ended


async def test_a_disabled_policy_changes_nothing_and_reads_back_disabled():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker)
        await jobs.set_attributes(dlq_policy={"Enabled": False})
        assert (await jobs.get_attributes()).dlq_policy == NO_DLQ
        await jobs.send_message("x")
        await receive_and_let_go(jobs, 5)
        assert (await jobs.receive_message(wait_seconds=0)).dequeue_count == 6


@pytest.mark.parametrize("policy, error", [
    ({"DeadLetterTargetQueue": "jobs"}, errors.InvalidArgument),  # its own queue
    ({"DeadLetterTargetQueue": "missing"}, errors.QueueNotExist),
    ({"DeadLetterTargetQueue": "-bad"}, errors.InvalidQueueName),
    ({"MaxReceiveCount": 0}, errors.InvalidArgument),
    ({"MaxReceiveCount": 1001}, errors.InvalidArgument),
    ({"Enabled": "maybe"}, errors.InvalidArgument),
    ({"Color": "red"}, errors.InvalidArgument),
])
async def test_a_bad_policy_is_refused_on_create_and_on_set_and_changes_nothing(policy, error):
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        await broker.create_queue("dlq")
        with pytest.raises(error):
            await broker.create_queue("jobs", dlq_policy={**POLICY, **policy})
        assert "jobs" not in broker.account.queues
        jobs = await broker.create_queue("jobs")
        with pytest.raises(error):
            await jobs.set_attributes(dlq_policy={**POLICY, **policy}, visibility_timeout=99)
        meta = await jobs.get_attributes()
        assert (meta.dlq_policy, meta.visibility_timeout) == (NO_DLQ, 30)


async def test_with_its_dead_letter_queue_deleted_a_message_stays_in_its_queue(caplog):
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker, MaxReceiveCount=1)
        sent = await jobs.send_message("nowhere to go")
        await dlq.delete()
        await receive_and_let_go(jobs, 1)
        back = await jobs.receive_message(wait_seconds=0)  # nothing is lost
        assert (back.message_id, back.dequeue_count) == (sent.message_id, 2)
        assert "does not exist; 1 messages stay in jobs" in caplog.text
        await jobs.set_attributes(visibility_timeout=20)  # the stale policy blocks nothing
        assert broker.account.queue("jobs").dead_lettered == 0


async def test_a_policy_changed_as_visibility_ends_moves_to_the_target_named_before(
        mock_clock):
    """The message became a dead letter under the old policy: the change that follows
    (disabling it, or naming another queue) does not strand or redirect it."""
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker, MaxReceiveCount=1)
        await jobs.send_message("on the edge")
        await jobs.receive_message(wait_seconds=0)
        mock_clock.jump(10)  # visibility ends now, and before the timer runs:
        await jobs.set_attributes(dlq_policy={"Enabled": False})
        got = await dlq.receive_message(wait_seconds=0)
        assert got.message_body == "on the edge"


async def test_a_snapshot_keeps_a_dead_letter_in_its_age_order(tmp_path):
    """A dead letter keeps its original EnqueueTime, older than messages sent to the
    dead-letter queue before it came: after a snapshot it still expires first."""
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never",
                                   epoch_ms=EPOCH_MS) as broker:
        dlq = await broker.create_queue("dlq", message_retention_period=120)
        jobs = await broker.create_queue("jobs", visibility_timeout=10, dlq_policy={
            **POLICY, "MaxReceiveCount": 1})
        await jobs.send_message("old")
        await trio.sleep(5)
        await dlq.send_message("newer")
        await receive_and_let_go(jobs, 1)  # "old" moves in, enqueued at t0
        broker.journal.compact()
        epoch = broker.now()
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never",
                                   epoch_ms=epoch) as broker:
        await trio.sleep(122 - (epoch - EPOCH_MS) / 1000)  # "old" is past 120 s, "newer" not
        got = await drain(broker.get_queue("dlq"))
        assert got == ["newer"]


def test_a_policy_round_trips_through_the_journal_record_form():
    policy = DlqPolicy.make(POLICY, "jobs")
    attributes = QueueAttributes().with_changes("jobs", dlq_policy=policy, tags={"team": "a"})
    assert QueueAttributes.from_record(attributes.as_record()) == attributes
    assert "dlq_policy" not in QueueAttributes().as_record()  # old snapshots look as before


# -- durability: the move is one journaled change ---------------------------------------------


async def _scenario(path) -> list[str]:
    """Two messages become dead letters, a third (sent later) stays: the ids, in send order."""
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=EPOCH_MS,
                                   seed=7) as broker:
        jobs, dlq = await jobs_and_dlq(broker, MaxReceiveCount=2)
        ids = [(await jobs.send_message(f"m{i}")).message_id for i in range(2)]
        await jobs.batch_receive_message(16, wait_seconds=0)
        await trio.sleep(11)
        ids.append((await jobs.send_message("m2")).message_id)
        assert len(await jobs.batch_receive_message(16, wait_seconds=0)) == 3
        await trio.sleep(11)
        return ids


async def _where(path, epoch_ms: int) -> dict[str, str]:
    """Recover ``path``: each origin message id -> "jobs" or "dlq"."""
    found: dict[str, str] = {}
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=epoch_ms) as b:
        for name in ("jobs", "dlq"):
            if name in b.account.queues:
                for entry in b.account.queue(name).dump(b.now()):
                    origin = entry["system_properties"].get("DLQOriginMessageId",
                                                            entry["message_id"])
                    assert origin not in found, f"{origin} is in {found[origin]} and {name}"
                    found[origin] = name
    return found


async def test_a_crash_at_any_record_boundary_leaves_each_message_in_exactly_one_queue(tmp_path):
    source = tmp_path / "live"
    ids = await _scenario(source)
    records, damage = read_frames((source / "journal-0.log").read_bytes())
    assert damage is None
    moves = [i for i, r in enumerate(records) if r[0] == "dl"]
    assert moves, "the scenario made no dead letters"
    for cut in range(len(records) + 1):
        directory = tmp_path / f"cut-{cut}"
        os.makedirs(directory)
        (directory / "journal-0.log").write_bytes(b"".join(frame(r) for r in records[:cut]))
        last = max((r[1] for r in records[:cut]), default=EPOCH_MS)
        where = await _where(directory, last)  # recovered at the moment of the cut
        sent = [i for i in ids if i in where]
        assert sent == ids[:len(sent)]
        if cut > moves[-1]:
            assert sorted(where.values()) == ["dlq", "dlq", "jobs"]


async def test_dead_letters_and_their_count_survive_a_restart_and_a_snapshot(tmp_path):
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never",
                                   epoch_ms=EPOCH_MS) as broker:
        jobs, dlq = await jobs_and_dlq(broker, MaxReceiveCount=1)
        await jobs.send_message("a")
        await receive_and_let_go(jobs, 1)
        broker.journal.compact()
        await jobs.send_message("b")
        await receive_and_let_go(jobs, 1)
        epoch = broker.now()
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never",
                                   epoch_ms=epoch) as broker:
        assert broker.account.queue("jobs").dead_lettered == 2
        got = await broker.get_queue("dlq").batch_receive_message(16, wait_seconds=0)
        assert sorted(m.message_body for m in got) == ["a", "b"]
        assert (await broker.get_queue("jobs").get_attributes()).dlq_policy.max_receive_count == 1


# -- the core move, against a model -----------------------------------------------------------


class DeadLetterMachine(RuleBasedStateMachine):
    """A source queue with a DlqPolicy and its target; the broker's move is
    ``take_dead_letters`` then ``accept_dead_letters``, done after every step.

    Model: each sent message is in the source with a receive count, or in the target,
    or deleted. A message leaves the source exactly when its visibility ends after
    MaxReceiveCount receives, and it is never received there more often than that."""

    @initialize(max_receive=st.integers(1, 4))
    def start(self, max_receive: int) -> None:
        self.now = EPOCH_MS
        self.max_receive = max_receive
        policy = DlqPolicy(True, "dlq", max_receive)
        self.source = QueueState("jobs", QueueAttributes(visibility_timeout=5,
                                                         dlq_policy=policy), self.now, 1)
        self.target = QueueState("dlq", QueueAttributes(visibility_timeout=5), self.now, 2)
        self.where: dict[str, str] = {}  # origin id -> "jobs" / "dlq" / "deleted"
        self.held: list[tuple[QueueState, str, str]] = []  # (queue, handle, origin id)
        self.moved = 0

    def _origin(self, queue: QueueState, message) -> str:
        if queue is self.source:
            return message.message_id
        return dict((n, v) for n, v, _ in message.system_properties)["DLQOriginMessageId"]

    def _move(self) -> None:
        letters = self.source.take_dead_letters(self.now)
        for letter in letters:
            assert self.where[letter.message_id] == "jobs"
            self.where[letter.message_id] = "dlq"
            self.moved += 1
        self.target.accept_dead_letters(self.now, letters, ARN)

    @rule(count=st.integers(1, 3))
    def send(self, count: int) -> None:
        for _ in range(count):
            self.where[self.source.send(self.now, "body").message_id] = "jobs"
        self._move()

    @rule(on_target=st.booleans(), count=st.integers(1, 4))
    def receive(self, on_target: bool, count: int) -> None:
        queue = self.target if on_target else self.source
        for message in queue.receive(self.now, count):
            origin = self._origin(queue, message)
            assert self.where[origin] == queue.name
            if queue is self.source:
                assert message.dequeue_count <= self.max_receive
            self.held.append((queue, message.receipt_handle, origin))
        self._move()

    @rule(data=st.data())
    def delete(self, data) -> None:
        if not self.held:
            return
        queue, handle, origin = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        try:
            queue.delete(self.now, handle)
        except errors.MessageNotExist:
            return  # its visibility ended: received again, or moved
        assert self.where[origin] == queue.name
        self.where[origin] = "deleted"
        self._move()

    @rule(seconds=st.sampled_from([1, 4, 5, 6, 11, 30]))
    def wait(self, seconds: int) -> None:
        self.now += seconds * 1000
        self._move()

    @invariant()
    def each_message_is_in_one_place(self) -> None:
        if not hasattr(self, "source"):
            return
        in_source = {m["message_id"] for m in self.source.dump(self.now)}
        in_target = {m["system_properties"]["DLQOriginMessageId"]
                     for m in self.target.dump(self.now)}
        assert not in_source & in_target
        assert in_source == {i for i, w in self.where.items() if w == "jobs"}
        assert in_target == {i for i, w in self.where.items() if w == "dlq"}
        assert self.source.dead_lettered == self.moved


DeadLetterMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_dead_letter_machine = DeadLetterMachine.TestCase
