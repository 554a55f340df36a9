"""The broker: core state under trio, with long-poll waiters and the one timer.

Every operation reads the clock once and applies one core operation. An
operation that can make a message receivable now, or that adds a due time
(a delayed send, a receive, a visibility change), then calls ``wake_and_schedule``:
wake as many waiters as messages became receivable, and make sure the timer
fires no later than the queue's next due time. So the timer always holds a
due time at or before the queue's true next one, which is why operations that
only remove things (delete, peek, read attributes) need not call it: anything
their own catch-up made receivable was due, so the timer fires for it now.
"""

from __future__ import annotations

import logging
import random
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Protocol

import trio

from ..core.account import QUEUES_MAX, TOPICS_MAX, Account
from ..core.attributes import plain_attributes
from ..core.queue import QueueState
from ..core.subscription import SubscriptionState
from ..errors import QueueNotExist
from .appliers import Appliers
from .changes import (
    Change,
    ClockReached,
    CreateQueue,
    CreateTopic,
    DataDirectoryMeta,
    MoveDeadLetters,
    encode,
)
from .clock import BrokerClock
from .delivery import PushEngine, Pusher
from .outbox import Outbox
from .queue import Queue
from .recovery import Recovery
from .sms import Sms
from .sms_hub import SmsHub
from .timer import DueTimer
from .topic import Topic
from .waiters import Waiters

__all__ = ["Broker", "Journal", "run_broker"]

log = logging.getLogger("minimns.broker")

# The management OpenAPI's account attributes (GetAccountAttributes) and whether the
# public endpoint (the MNS REST API) is enabled (EnableEndpoint / DisableEndpoint).
ACCOUNT_SETTINGS = {"LogEnabled": False, "ProjectName": "", "LogStoreName": "",
                    "MessageTraceEnabled": False, "PublicEndpointEnabled": True}
WAITERS_MAX = 10000  # long polls parked per queue; beyond it a poll answers at once


class Broker(Appliers, Recovery):
    """Owns an account's queues and topics. Run it with ``minimns.open_broker`` (or, from an
    edge that builds its own journal and pusher, ``run_broker``); it needs a running nursery."""

    def __init__(
        self,
        *,
        epoch_ms: int | None = None,
        max_queues: int = QUEUES_MAX,
        max_topics: int = TOPICS_MAX,
        max_waiters: int = WAITERS_MAX,
        seed: int | None = None,
        account_id: str = "1234567890",
        region: str = "cn-hangzhou",
        pusher: Pusher | None = None,
    ) -> None:
        self.clock = BrokerClock(epoch_ms)
        self.account = Account(max_queues=max_queues, max_topics=max_topics)
        self.account_id = account_id
        self.region = region
        self.logging_bucket = ""  # the account's LoggingBucket (SetAccountAttributes)
        self.settings = dict(ACCOUNT_SETTINGS)  # the OpenAPI's account attributes and endpoint
        self._queues = self.account.queues
        self.max_waiters = max_waiters
        self._random = random.Random(seed)
        self._lots: dict[str, Waiters] = {}  # queue name -> its parked long polls
        self._timer = DueTimer(self.clock, self._on_due)
        self._pushes = PushEngine(self, pusher, random.Random(self._random.getrandbits(64)))
        self._nursery: trio.Nursery | None = None
        self._apply = self._appliers()
        self._sms = SmsHub(self, region)
        self._pushes.outbox.handlers["sms"] = self._sms.deliver
        self.sms = Sms(self)
        self._dead_pending: dict[str, QueueState] = {}  # queues holding dead letters to move
        self.journal: Any = None  # a minimns.journal Store in durable mode
        self._seq = 0  # journal sequence of the last change recorded

    # -- the one path of every change ------------------------------------------------------

    def commit(self, change: Change) -> Any:
        """Apply a change (changes.py) and, in durable mode, journal it; its result.
        An MNS error changes nothing and journals nothing."""
        result = self._apply[change.__class__](change)
        if self.journal is not None and (result or not change.ONLY_IF_CHANGED):
            self._seq = self.journal.append(encode(change))
        if self._dead_pending:
            self._move_dead_letters()
        return result

    async def perform(self, change: Change) -> Any:
        """An async operation whole: a cancellation point, the change, then its
        acknowledgement, which is never cancelled once the change is made."""
        await trio.lowlevel.checkpoint_if_cancelled()
        result = self.commit(change)
        await self.acknowledge()
        return result

    async def durable(self) -> None:
        """For edges that apply ``*_nowait`` operations: in durable mode, wait until
        the last change is as safe as the fsync policy says. In memory mode this
        returns at once, with no checkpoint: the edge's own I/O is its checkpoint."""
        if self.journal is not None:
            await self.journal.durable(self._seq)

    async def acknowledge(self) -> None:
        """The checkpoint after a change: in durable mode, not before the change is
        as safe as the fsync policy says. Never cancelled once the change is made."""
        if self.journal is not None and await self.journal.durable(self._seq):
            return  # it waited: that was the checkpoint
        await trio.lowlevel.cancel_shielded_checkpoint()

    def token(self) -> int:
        """A fresh token for a new queue or topic (its ids and handles derive from it),
        never one a live queue or topic has."""
        taken = {q.token for q in self.account.queues.values()}
        taken.update(t.token for t in self.account.topics.values())
        while (token := self._random.getrandbits(63)) in taken:
            pass
        return token

    @staticmethod
    def _new_lot() -> Waiters:
        return Waiters()

    # -- queues ------------------------------------------------------------------------------

    async def create_queue(self, queue_name: str, **attributes: object) -> Queue:
        """Create a queue (or find an identical one); QueueAlreadyExist if it differs."""
        await self.perform(CreateQueue(self.now(), queue_name, self.token(),
                                       plain_attributes(attributes)))
        return Queue(self, queue_name)

    def get_queue(self, queue_name: str) -> Queue:
        """A handle by name; no I/O, and the queue need not exist yet."""
        return Queue(self, queue_name)

    async def list_queue(
        self, prefix: str = "", ret_number: int = 1000, marker: str = ""
    ) -> tuple[list[str], str]:
        """(queue names, next marker); pass the marker back for the next page, "" ends."""
        await trio.lowlevel.checkpoint()
        states, next_marker = self.account.list_queues(prefix, ret_number, marker)
        return [s.name for s in states], next_marker

    def waiting(self, queue_name: str) -> int:
        """How many long polls are parked on a queue right now (tests sync on it)."""
        lot = self._lots.get(queue_name)
        return 0 if lot is None else len(lot)

    # -- topics ------------------------------------------------------------------------------

    async def create_topic(self, topic_name: str, **attributes: object) -> Topic:
        """Create a topic (or find an identical one); TopicAlreadyExist if it differs.
        Attributes: ``maximum_message_size`` (1024-65536), ``logging_enabled``."""
        await self.perform(CreateTopic(self.now(), topic_name, self.token(), attributes))
        return Topic(self, topic_name)

    def get_topic(self, topic_name: str) -> Topic:
        """A handle by name; no I/O, and the topic need not exist yet."""
        return Topic(self, topic_name)

    async def list_topic(
        self, prefix: str = "", ret_number: int = 1000, marker: str = ""
    ) -> tuple[list[str], str]:
        """(topic names, next marker); pass the marker back for the next page, "" ends."""
        await trio.lowlevel.checkpoint()
        states, next_marker = self.account.list_topics(prefix, ret_number, marker)
        return [s.name for s in states], next_marker

    @property
    def pusher(self) -> Pusher | None:
        """The HTTP push client (None until the first HTTP push when none was given)."""
        return self._pushes.pusher

    @pusher.setter
    def pusher(self, pusher: Pusher) -> None:
        self._pushes.pusher = pusher

    @property
    def outbox(self) -> Outbox:
        """Mail and SMS deliveries, recorded (``outbox.mail``, ``outbox.sms``)."""
        return self._pushes.outbox

    async def wait_pushes_settled(self, include_retries: bool = False) -> None:
        """Wait until no push is waiting or in flight; with ``include_retries``, also
        until every scheduled retry has run out (on a virtual clock that is instant)."""
        await self._pushes.wait_settled(include_retries)

    # -- what Queue handles use --------------------------------------------------------------

    def now(self) -> int:
        """Epoch milliseconds on the broker's clock."""
        return self.clock.now_ms()

    def queue_state(self, queue_name: str) -> QueueState:
        state = self._queues.get(queue_name)
        if state is None:
            raise QueueNotExist()
        return state

    def waiters_of(self, queue_name: str) -> Waiters:
        return self._lots[queue_name]

    def pass_wake(self, queue_name: str) -> None:
        """A woken poll left without taking its message: wake the next one."""
        waiters = self._lots.get(queue_name)
        if waiters is not None:
            waiters.wake(1)

    def queue_arn(self, queue_name: str) -> str:
        """The queue's resource name, as MNS gives it (a dead letter's DLQSourceArn)."""
        return f"acs:mns:{self.region}:{self.account_id}:/queues/{queue_name}"

    # -- the helpers' interface (queue.py, topic.py, delivery.py, sms.py use only these) --

    def schedule(self, key: Any, due: int | None) -> None:
        """Have ``_on_due(key)`` run at epoch ms ``due`` (None: never)."""
        self._timer.schedule(key, due)

    def unschedule(self, key: Any) -> None:
        self._timer.cancel(key)

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a task (a push worker) in the broker's nursery."""
        assert self._nursery is not None, "the broker is not running"
        self._nursery.start_soon(fn, *args)

    def fan_out(self, deliveries: Any, now: int) -> None:
        """Hand a publish's deliveries to their endpoints (delivery.py)."""
        self._pushes.fan_out(deliveries, now)

    @property
    def push_seed(self) -> int:
        """This data directory's push jitter key (SMS ids derive from it too)."""
        return self._pushes.seed

    @property
    def sms_hub(self) -> SmsHub:
        return self._sms

    def apply_within(self, change: Change) -> Any:
        """Apply ``change`` as part of the change being applied (an SMS subscription
        making its queue): not journaled on its own, the outer change replays it."""
        return self._apply[change.__class__](change)

    def _move_dead_letters(self) -> None:
        """Move every queue's dead letters to its dead-letter queue, each move one
        recorded change ("dl"), journaled right after the change that made them."""
        while self._dead_pending:
            name, state = self._dead_pending.popitem()
            if self._queues.get(name) is state and state.dead_letters:
                self.commit(MoveDeadLetters(self.now(), name))

    def wake_and_schedule(self, state: QueueState) -> None:
        if state.dead_letters:
            self._dead_pending[state.name] = state
        woken = state.newly_active
        if woken:
            state.newly_active = 0
            self._lots[state.name].wake(woken)
        due = state.next_due()
        if due is not None:
            self._timer.schedule(state, due)

    def _on_due(self, state: QueueState | SubscriptionState | SmsHub) -> None:
        if state is self._sms:
            self._sms.on_due()
            return
        if isinstance(state, SubscriptionState):
            self._pushes.on_due(state)
            return
        if self.account.queues.get(state.name) is not state:
            return  # deleted since
        state.advance(self.now())
        self.wake_and_schedule(state)
        if self._dead_pending:
            self._move_dead_letters()

    async def _run(self) -> None:
        await self._timer.run()


class Journal(Protocol):
    """What the broker needs of a durable store (``minimns.journal.Store`` is one):
    the broker never builds one; an edge does and passes it to ``run_broker``."""

    def open(self) -> Any:
        """Lock the data and read it: ``.snapshot`` (or None) and ``.changes``."""

    def append(self, record: list) -> int:
        """Write a change's record; its sequence number."""

    async def durable(self, seq: int) -> bool:
        """Wait until record ``seq`` is as safe as the policy says; whether it waited."""

    async def run(self, export: Callable[[], dict]) -> None:
        """The store's own work (group commit, snapshots of ``export()``), until cancelled."""

    def close(self) -> None:
        """Flush and unlock."""


@asynccontextmanager
async def run_broker(
    *, journal: Journal | None = None, **options: object
) -> AsyncIterator[Broker]:
    """Run a broker for the duration of the block, with the journal an edge built
    (``minimns.open_broker`` is the one users call; its docstring lists the options).
    With a journal, the state is recovered from it first and every change is
    journaled before it is acknowledged."""
    broker = Broker(**options)  # type: ignore[arg-type]
    recovered = None
    if journal is not None:  # outside the nursery: a locked directory raises plainly
        recovered = journal.open()
    try:
        async with trio.open_nursery() as nursery:
            broker._nursery = nursery
            if journal is not None:
                broker.recover(recovered)
                broker.journal = journal
                if recovered.snapshot is None and not recovered.changes:  # a new directory
                    broker.commit(DataDirectoryMeta(broker.now(), {"push_seed": broker._pushes.seed}))
                broker._move_dead_letters()  # any the recovery left waiting, now journaled
                nursery.start_soon(journal.run, broker.export)
            nursery.start_soon(broker._run)
            try:
                yield broker
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if journal is not None:
            if broker.journal is not None:  # reads since the last change saw this time too
                broker.commit(ClockReached(broker.now()))
            journal.close()
        aclose = getattr(broker.pusher, "aclose", None)
        if aclose is not None:
            with trio.CancelScope(shield=True):
                await aclose()
