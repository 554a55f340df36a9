"""Stateful property test: one ``QueueState`` against an obviously-correct model.

Hypothesis drives a single queue with random sends (single and batch, with
and without delay / priority), receives, peeks, deletes (valid, stale and
garbage handles, single and batch), visibility changes, attribute changes and
clock jumps (random, and exactly onto / just before / just after the next due
time so boundaries are hit). The reference model below is deliberately naive:
a dict of messages, recomputed from scratch at every step, with no heaps,
no laziness and no bookkeeping beyond the message list itself.

Modelled MNS semantics (the time a transition is due at is T; it has happened
once ``now >= T``):

- DELAYED until enqueue + delay, then ACTIVE.
- receive takes ACTIVE messages ordered by (priority, time it became ACTIVE,
  send order), makes each INACTIVE until now + VisibilityTimeout under a new
  receipt handle; then it is ACTIVE again.
- A message whose enqueue_time + MessageRetentionPeriod <= now is gone,
  whatever its state.
- A handle is valid iff it is the latest minted for its message and that
  message is still DELAYED or INACTIVE (a delayed send's handle counts).
- change_visibility keeps the message's state (DELAYED stays DELAYED,
  INACTIVE stays INACTIVE) and moves its due time to now + t.
- set_attributes(now, ...) first lets everything due at ``now`` under the old
  attributes happen, like every other method taking ``now``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from minimns.core.attributes import QueueAttributes
from minimns.core.message import NO_PROPERTIES, MessageState
from minimns.core.queue import QueueState
from minimns.errors import InvalidArgument, MessageNotExist, ReceiptHandleError

DELAYED, ACTIVE, INACTIVE = "DELAYED", "ACTIVE", "INACTIVE"
_STATE_NAMES = {MessageState.DELAYED: DELAYED, MessageState.ACTIVE: ACTIVE,
                MessageState.INACTIVE: INACTIVE}


def md5_upper(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


# -- the reference model --------------------------------------------------------------------


@dataclass
class ModelMessage:
    mid: str
    order: int  # send order
    body: str
    priority: int
    enqueue: int
    state: str
    due: int | None  # when a DELAYED / INACTIVE message becomes ACTIVE
    active_since: int | None
    handle: str | None  # the latest handle minted for it
    dequeue_count: int = 0
    first_dequeue: int | None = None


class Model:
    def __init__(self, visibility: int, retention: int, delay: int) -> None:
        self.visibility = visibility
        self.retention = retention
        self.delay = delay
        self.messages: dict[str, ModelMessage] = {}
        self.sent = 0
        self.handle_owner: dict[str, str] = {}  # every handle ever minted -> message id

    def advance(self, now: int) -> None:
        """Apply everything due at or before ``now`` (exactly, from scratch)."""
        for mid, m in list(self.messages.items()):
            expiry = m.enqueue + self.retention * 1000
            if expiry <= now:
                event(f"expired {m.state} message" + (" on the boundary" if expiry == now else ""))
                del self.messages[mid]
            elif m.state in (DELAYED, INACTIVE) and m.due <= now:
                event(f"{m.state} -> ACTIVE" + (" on the boundary" if m.due == now else ""))
                m.state, m.active_since, m.due = ACTIVE, m.due, None

    def add(self, mid: str, body: str, delay: int, priority: int, now: int,
            handle: str | None) -> None:
        assert mid not in self.messages
        self.sent += 1
        if delay:
            m = ModelMessage(mid, self.sent, body, priority, now, DELAYED, now + delay * 1000,
                             None, handle)
        else:
            m = ModelMessage(mid, self.sent, body, priority, now, ACTIVE, None, now, None)
        self.messages[mid] = m

    def receive_order(self) -> list[ModelMessage]:
        active = [m for m in self.messages.values() if m.state == ACTIVE]
        return sorted(active, key=lambda m: (m.priority, m.active_since, m.order))

    def holder(self, handle: object) -> ModelMessage | None:
        """The message a known handle validly holds now, else None."""
        mid = self.handle_owner.get(handle) if isinstance(handle, str) else None
        m = self.messages.get(mid) if mid is not None else None
        if m is None or m.handle != handle or m.state not in (DELAYED, INACTIVE):
            return None
        return m

    def count(self, state: str) -> int:
        return sum(1 for m in self.messages.values() if m.state == state)

    def next_activation(self) -> int | None:
        """When time alone next makes a message receivable."""
        dues = [m.due for m in self.messages.values() if m.due is not None]
        return min(dues) if dues else None

    def next_expiry(self) -> int | None:
        """When time alone next deletes a message."""
        expiries = [m.enqueue + self.retention * 1000 for m in self.messages.values()]
        return min(expiries) if expiries else None

    def next_due(self) -> int | None:
        """When time alone next changes anything."""
        dues = [d for d in (self.next_activation(), self.next_expiry()) if d is not None]
        return min(dues) if dues else None


# -- strategies -----------------------------------------------------------------------------

BODIES = st.text(alphabet="ab<&\u00e9\u4e2d\U0001f600", min_size=1, max_size=4)
PRIORITIES = st.one_of(st.none(), st.integers(1, 16))
DELAYS = st.one_of(st.none(), st.just(0), st.integers(1, 40))
# (kind, amount): how far to move the clock before an operation.
JUMPS = st.one_of(
    st.just(("none", 0)),
    st.just(("none", 0)),
    st.just(("none", 0)),
    st.tuples(st.sampled_from(["due", "due-1", "due+1"]), st.just(0)),
    st.tuples(st.just("ms"), st.integers(1, 5_000)),
    st.tuples(st.just("s"), st.integers(1, 120)),
)
PREFER = st.sampled_from(["any", "valid", "inactive"])  # which minted handles to pick from
INVALID_OUTGOING = st.sampled_from([
    ("", None, None),  # empty body
    ("x", -1, None),
    ("x", 604801, None),
    ("x", None, 0),
    ("x", None, 17),
    ("x", "5", None),
    ("x", None, True),
])


class QueueMachine(RuleBasedStateMachine):
    # -- setup --------------------------------------------------------------------------------

    @initialize(
        visibility=st.integers(1, 60),
        retention=st.integers(60, 600),
        delay=st.integers(0, 30),
        token=st.integers(0, 2**64 - 2),
    )
    def create(self, visibility: int, retention: int, delay: int, token: int) -> None:
        attrs = QueueAttributes().with_changes(
            visibility_timeout=visibility, message_retention_period=retention, delay_seconds=delay
        )
        self.now = 0
        self.token = token
        self.queue = QueueState("q", attrs, now=0, token=token)
        self.model = Model(visibility, retention, delay)
        self.handles: list[str] = []  # every handle ever minted, in order

    # -- helpers ------------------------------------------------------------------------------

    def jump(self, how: tuple[str, int]) -> None:
        """Move the clock (the queue sees it at its next call)."""
        kind, amount = how
        due = self.model.next_due()
        if kind == "ms":
            self.now += amount
        elif kind == "s":
            self.now += amount * 1000
        elif kind.startswith("due") and due is not None:
            target = due + {"due": 0, "due-1": -1, "due+1": 1}[kind]
            self.now = max(self.now, target)
        self.model.advance(self.now)

    def new_handle(self, handle: object, mid: str) -> None:
        assert isinstance(handle, str) and handle, handle
        assert handle not in self.model.handle_owner, f"handle {handle} minted twice"
        self.model.handle_owner[handle] = mid
        self.handles.append(handle)

    def check_sent(self, sent: object, body: str, delay: int, priority: int) -> None:
        assert sent.message_body_md5 == md5_upper(body)
        assert sent.message_id not in self.model.messages
        assert len(sent.message_id) == 32
        if delay:
            self.new_handle(sent.receipt_handle, sent.message_id)
        else:
            assert sent.receipt_handle is None
        self.model.add(sent.message_id, body, delay, priority, self.now, sent.receipt_handle)

    def effective(self, delay: int | None, priority: int | None) -> tuple[int, int]:
        return (self.model.delay if delay is None else delay), (8 if priority is None else priority)

    def garbage_handles(self) -> list[tuple[object, type]]:
        """(handle, expected error) pairs no valid handle can be."""
        t = self.token
        out: list[tuple[object, type]] = [
            ("", ReceiptHandleError),
            ("not-a-handle", ReceiptHandleError),
            (None, ReceiptHandleError),
            (12345, ReceiptHandleError),
            (f"1-{t + 1:X}-1-1", ReceiptHandleError),  # another queue's
            (f"2-{t:X}-1-1", ReceiptHandleError),  # unknown version
            (f"1-{t:X}-a-1", ReceiptHandleError),  # lower case
            (f"1-{t:X}-+1-1", ReceiptHandleError),
            (f"1-{t:X}-1-", ReceiptHandleError),
            (f"1-{t:X}-1-1" + "0" * 64, ReceiptHandleError),  # absurdly long
            (f"1-{t:X}-1-1-1", ReceiptHandleError),
            (f"1-{t:X}-1-g", ReceiptHandleError),
            # well formed, for this queue, but naming nothing that ever existed
            (f"1-{t:X}-0-1", MessageNotExist),
            (f"1-{t:X}-{10**9:X}-1", MessageNotExist),
        ]
        if self.handles:
            h = self.handles[-1]
            out += [(" " + h, ReceiptHandleError), (h + " ", ReceiptHandleError),
                    (h + "-0", ReceiptHandleError)]
            parts = h.split("-")
            if len(parts) == 4:
                # a generation never minted for a real message
                out.append(("-".join(parts[:3] + ["FFFFFFFF"]), MessageNotExist))
        return out

    # -- rules: sending -----------------------------------------------------------------------

    @rule(jump=JUMPS, body=BODIES, delay=DELAYS, priority=PRIORITIES)
    def send(self, jump, body, delay, priority) -> None:
        self.jump(jump)
        sent = self.queue.send(self.now, body, delay_seconds=delay, priority=priority)
        self.check_sent(sent, body, *self.effective(delay, priority))

    @rule(
        jump=JUMPS,
        entries=st.lists(
            st.one_of(
                st.tuples(st.just(True), st.tuples(BODIES, DELAYS, PRIORITIES)),
                st.tuples(st.just(True), st.tuples(BODIES, DELAYS, PRIORITIES)),
                st.tuples(st.just(False), INVALID_OUTGOING),
            ),
            min_size=1,
            max_size=16,
        ),
    )
    def batch_send(self, jump, entries) -> None:
        self.jump(jump)
        outgoing = [(b, d, p, NO_PROPERTIES) for _, (b, d, p) in entries]
        results = self.queue.batch_send(self.now, outgoing)
        assert len(results) == len(entries)
        for (ok, (body, delay, priority)), result in zip(entries, results):
            if ok:
                assert not isinstance(result, Exception), result
                self.check_sent(result, body, *self.effective(delay, priority))
            else:
                assert isinstance(result, InvalidArgument), result

    # -- rules: receiving ---------------------------------------------------------------------

    @rule(jump=JUMPS, count=st.integers(1, 16))
    def receive(self, jump, count) -> None:
        self.jump(jump)
        self.do_receive(count)

    def do_receive(self, count: int) -> list:
        expected = self.model.receive_order()[:count]
        got = self.queue.receive(self.now, count)
        event(f"receive: {'none' if not got else 'some' if len(got) < count else 'full'}")
        ids = [r.message_id for r in got]
        assert len(set(ids)) == len(ids), "a message received twice in one call"
        assert ids == [m.mid for m in expected]
        visible_at = self.now + self.model.visibility * 1000
        for r, m in zip(got, expected):
            # never handed out twice while invisible
            assert m.state == ACTIVE
            m.state, m.due, m.active_since = INACTIVE, visible_at, None
            m.dequeue_count += 1
            if m.first_dequeue is None:
                m.first_dequeue = self.now
            m.handle = r.receipt_handle
            self.new_handle(r.receipt_handle, m.mid)
            assert r.next_visible_time == visible_at
            assert r.dequeue_count == m.dequeue_count
            assert r.first_dequeue_time == m.first_dequeue
            assert r.enqueue_time == m.enqueue
            assert r.priority == m.priority
            assert r.message_body == m.body
            assert r.message_body_md5 == md5_upper(m.body)
        return got

    @rule(
        jump=JUMPS,
        count=st.integers(1, 16),
        later=st.integers(0, 2_000),
        actions=st.lists(st.sampled_from(["delete", "hide", "keep"]), min_size=16, max_size=16),
        timeout=st.integers(1, 60),
    )
    def receive_then_handle(self, jump, count, later, actions, timeout) -> None:
        """Receive, then soon after delete / change the visibility of what came,
        through the handles just minted (mostly still valid, INACTIVE ones)."""
        self.jump(jump)
        got = self.do_receive(count)
        self.jump(("ms", later) if later else ("none", 0))
        for r, action in zip(got, actions):
            if action == "delete":
                self.delete_with(r.receipt_handle)
            elif action == "hide":
                self.change_visibility_with(r.receipt_handle, timeout)

    @rule(jump=JUMPS, count=st.integers(1, 16))
    def peek(self, jump, count) -> None:
        self.jump(jump)
        expected = self.model.receive_order()[:count]
        got = self.queue.peek(self.now, count)
        self.check_peeked(got, expected)

    def check_peeked(self, got, expected) -> None:
        assert [p.message_id for p in got] == [m.mid for m in expected]
        for p, m in zip(got, expected):
            assert p.dequeue_count == m.dequeue_count
            first = m.enqueue if m.first_dequeue is None else m.first_dequeue
            assert p.first_dequeue_time == first
            assert p.enqueue_time == m.enqueue
            assert p.priority == m.priority
            assert p.message_body == m.body

    # -- rules: handles -----------------------------------------------------------------------

    def pick_handle(self, data, prefer: str) -> object:
        """A handle minted earlier (any; valid now; valid for an INACTIVE message,
        as asked and when there is one), else a garbage one."""
        holders = [(h, self.model.holder(h)) for h in self.handles]
        valid = [h for h, m in holders if m is not None]
        inactive = [h for h, m in holders if m is not None and m.state == INACTIVE]
        pool = {"valid": valid, "inactive": inactive or valid}.get(prefer) or self.handles
        if not pool:
            return self.pick_garbage(data)
        return pool[data.draw(st.integers(0, len(pool) - 1), label="handle index")]

    def pick_garbage(self, data) -> object:
        garbage = self.garbage_handles()
        return garbage[data.draw(st.integers(0, len(garbage) - 1), label="garbage index")][0]

    def expected_error(self, handle: object) -> type | None:
        """What deleting ``handle`` now must raise (None: it must work)."""
        for garbage, error in self.garbage_handles():
            if garbage == handle and type(garbage) is type(handle):
                return error
        return None if self.model.holder(handle) is not None else MessageNotExist

    @rule(jump=JUMPS, prefer=PREFER, data=st.data())
    def delete(self, jump, prefer, data) -> None:
        self.jump(jump)
        self.delete_with(self.pick_handle(data, prefer))

    def delete_with(self, handle: object) -> None:
        error = self.expected_error(handle)
        m = self.model.holder(handle)
        event(f"delete: {error.__name__ if error else 'valid ' + m.state + ' handle'}")
        if error is not None:
            with pytest.raises(error):
                self.queue.delete(self.now, handle)
        else:
            self.queue.delete(self.now, handle)
            del self.model.messages[m.mid]

    @rule(jump=JUMPS, prefer=PREFER, timeout=st.integers(1, 60), data=st.data())
    def change_visibility(self, jump, prefer, timeout, data) -> None:
        self.jump(jump)
        self.change_visibility_with(self.pick_handle(data, prefer), timeout)

    def change_visibility_with(self, handle: object, timeout: int) -> None:
        error = self.expected_error(handle)
        m = self.model.holder(handle)
        event(f"change_visibility: {error.__name__ if error else 'valid ' + m.state + ' handle'}")
        if error is not None:
            with pytest.raises(error):
                self.queue.change_visibility(self.now, handle, timeout)
        else:
            new_handle, next_visible = self.queue.change_visibility(self.now, handle, timeout)
            assert next_visible == self.now + timeout * 1000
            self.new_handle(new_handle, m.mid)
            m.handle, m.due = new_handle, next_visible  # the state stays as it was

    @rule(
        jump=JUMPS,
        picks=st.lists(st.tuples(st.booleans(), PREFER), min_size=1, max_size=16),
        data=st.data(),
    )
    def batch_delete(self, jump, picks, data) -> None:
        """Handles are applied in order, so a repeated valid handle is stale the second time."""
        self.jump(jump)
        handles: list = []
        expected: dict = {}
        for is_garbage, prefer in picks:
            if is_garbage:
                handle = self.pick_garbage(data)
            else:
                handle = self.pick_handle(data, prefer)
            handles.append(handle)
            error = self.expected_error(handle)
            if error is not None:
                expected[handle] = error
            else:
                del self.model.messages[self.model.holder(handle).mid]
        errors = self.queue.batch_delete(self.now, handles)
        event(f"batch_delete: {len(handles) - len(errors)} deleted")
        assert {h: type(e) for h, e in errors.items()} == expected

    @rule(jump=JUMPS, kind=st.integers(0, 8), data=st.data())
    def invalid_request(self, jump, kind, data) -> None:
        """Requests that must be refused whole, changing nothing."""
        self.jump(jump)
        q, now = self.queue, self.now
        with pytest.raises(InvalidArgument):
            if kind <= 6:
                body, delay, priority = data.draw(INVALID_OUTGOING, label="outgoing")
                q.send(now, body, delay_seconds=delay, priority=priority)
            elif kind == 7:
                size = data.draw(st.sampled_from([0, 17]), label="size")
                if data.draw(st.booleans(), label="which"):
                    q.batch_send(now, [("x", None, None, NO_PROPERTIES)] * size)
                else:
                    q.batch_delete(now, [f"1-{self.token:X}-0-1"] * size)
            else:
                timeout = data.draw(st.sampled_from([0, -1, 43201]), label="timeout")
                q.change_visibility(now, self.pick_handle(data, "valid"), timeout)

    # -- rules: time and attributes -----------------------------------------------------------

    @rule(jump=JUMPS, drive=st.booleans())
    def advance_clock(self, jump, drive) -> None:
        self.jump(jump)
        if drive:
            self.queue.advance(self.now)

    @rule(
        jump=JUMPS,
        visibility=st.one_of(st.none(), st.integers(1, 60)),
        retention=st.one_of(st.none(), st.integers(60, 600)),
        delay=st.one_of(st.none(), st.integers(0, 30)),
    )
    def set_attributes(self, jump, visibility, retention, delay) -> None:
        self.jump(jump)  # the model lets what is due at now happen under the old attributes
        self.queue.set_attributes(
            self.now, visibility_timeout=visibility, message_retention_period=retention,
            delay_seconds=delay,
        )
        model = self.model
        model.visibility = model.visibility if visibility is None else visibility
        model.retention = model.retention if retention is None else retention
        model.delay = model.delay if delay is None else delay
        a = self.queue.attributes
        assert (a.visibility_timeout, a.message_retention_period, a.delay_seconds) == (
            model.visibility, model.retention, model.delay)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        model, queue, now = self.model, self.queue, self.now
        model.advance(now)
        meta = queue.meta(now)  # brings the queue to now
        # exact counts
        assert (meta.active_messages, meta.inactive_messages, meta.delay_messages) == (
            model.count(ACTIVE), model.count(INACTIVE), model.count(DELAYED))
        assert (queue.active_count, queue.inactive_count, queue.delayed_count) == (
            model.count(ACTIVE), model.count(INACTIVE), model.count(DELAYED))
        assert len(queue) == len(model.messages)
        # nothing lost, nothing extra, each in exactly one state
        records = queue.records()
        by_mid = {f"{self.token:016X}{r.seq:016X}": r for r in records}
        assert len(by_mid) == len(records)
        assert set(by_mid) == set(model.messages)
        for mid, r in by_mid.items():
            m = model.messages[mid]
            assert r.state in _STATE_NAMES, r
            assert _STATE_NAMES[r.state] == m.state, (r, m)
            if m.state != ACTIVE:
                assert r.next_visible == m.due, (r, m)
            assert (r.body, r.priority, r.enqueue_time) == (m.body, m.priority, m.enqueue)
            assert (r.dequeue_count, r.first_dequeue_time) == (m.dequeue_count, m.first_dequeue)
        # the whole receive order, through peek (which changes nothing)
        expected = model.receive_order()
        self.check_peeked(queue.peek(now, len(expected) + 1), expected)
        # when the owner must next wake the queue: at the next activation exactly
        # (counting retention too, i.e. the next change of any kind, is also right)
        assert queue.next_due() in (model.next_activation(), model.next_due())


QueueMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    report_multiple_bugs=False,  # shrink one failure, not every distinct one
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestQueueStateMachine = QueueMachine.TestCase


def test_set_attributes_applies_what_was_due_first() -> None:
    """Regression (found by the machine): set_attributes used to skip applying
    what was due at ``now``, so growing the retention period revived a message
    that had already expired under the old one."""
    q = QueueState("q", QueueAttributes().with_changes(message_retention_period=60), 0, 1)
    q.send(0, "m")
    q.set_attributes(60_000, message_retention_period=61)
    assert q.peek(60_000, 16) == []
    assert len(q) == 0
