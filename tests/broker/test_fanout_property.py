"""Fan-out as a property: with endpoints that accept everything, every subscription whose
filter takes a message gets it exactly once, and no other subscription gets it.

Copies are read back from the queues (and from a recording pusher for HTTP
endpoints) and attributed to subscriptions: XML and JSON notifications name
their subscription; SIMPLIFIED copies are the bare body, so for those only the
multiset per queue can be checked, which is exact all the same.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections import Counter

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import minimns
from tests.broker_helpers import drain
from minimns import errors
from tests.conftest import EPOCH_MS

QUEUES = ["q0", "q1", "q2"]
TAGS = [None, "a", "b", "c"]
MESSAGE_TAGS = [None, "", "a", "b", "c", "d", "A"]
FORMATS = ["SIMPLIFIED", "XML", "JSON"]
NS = "{http://mns.aliyuncs.com/doc/v1/}"


def queue_endpoint(name):
    return f"acs:mns:cn-hangzhou:1234567890:queues/{name}"


def takes(filter_tag, message_tag):
    return not filter_tag or filter_tag == message_tag


def decode(body: str):
    """(subscription name, message body, message id, tag) of a notification; or
    (None, body, None, None) for a SIMPLIFIED copy (bodies never start with < or {)."""
    if body.startswith("<?xml"):
        root = ET.fromstring(body.encode("utf-8"))
        fields = {child.tag[len(NS):]: child.text or "" for child in root}
        return (fields["SubscriptionName"], fields["Message"], fields["MessageId"],
                fields.get("MessageTag"))
    if body.startswith("{"):
        fields = json.loads(body)
        return (fields["SubscriptionName"], fields["Message"], fields["MessageId"],
                fields.get("MessageTag"))
    return None, body, None, None


class RecordingPusher:
    def __init__(self):
        self.got = []  # (url, subscription name, body)

    async def push(self, url, headers, body):
        await trio.sleep(0)
        self.got.append((url, dict(headers)["x-mns-subscription-name"], body.decode("utf-8")))
        return 204


subscription_specs = st.lists(
    st.tuples(
        st.sampled_from(QUEUES + ["http"]),  # the endpoint: a queue (maybe shared) or HTTP
        st.sampled_from(TAGS),
        st.sampled_from(FORMATS),
    ),
    max_size=8,
)
publish_specs = st.lists(
    st.tuples(st.sampled_from(MESSAGE_TAGS), st.sampled_from([0, 0, 0, 0.5, 20])),
    max_size=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subscriptions=subscription_specs, publishes=publish_specs, seed=st.integers(0, 2**32))
def test_every_matching_subscription_gets_each_message_exactly_once(subscriptions, publishes,
                                                                   seed):
    async def main():
        pusher = RecordingPusher()
        async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=seed, pusher=pusher) as broker:
            for name in QUEUES:
                await broker.create_queue(name)
            topic = await broker.create_topic("t")
            subs = {}
            for i, (target, tag, fmt) in enumerate(subscriptions):
                name = f"s{i}"
                endpoint = f"http://h/{name}" if target == "http" else queue_endpoint(target)
                await topic.subscribe(name, endpoint, filter_tag=tag, notify_content_format=fmt)
                subs[name] = (target, tag, fmt)
            published = []  # (id, body, tag)
            for n, (tag, pause) in enumerate(publishes):
                body = f"m{n}"
                result = await topic.publish_message(body, message_tag=tag)
                published.append((result.message_id, body, tag or None))
                await trio.sleep(pause)
            await broker.wait_pushes_settled(include_retries=True)

            # What each subscription should have got.
            expected_named = Counter()  # (sub, body, id, tag) for XML / JSON copies
            expected_plain = Counter()  # (where, body) for SIMPLIFIED copies
            for name, (target, filter_tag, fmt) in subs.items():
                for message_id, body, tag in published:
                    if takes(filter_tag, tag):
                        if fmt == "SIMPLIFIED":
                            # Queue copies by queue; HTTP ones by their url, one per subscription.
                            where = f"http/{name}" if target == "http" else target
                            expected_plain[(where, body)] += 1
                        else:
                            expected_named[(name, body, message_id, tag)] += 1

            got_named, got_plain = Counter(), Counter()
            for queue_name in QUEUES:
                for text in await drain(broker.get_queue(queue_name)):
                    name, body, message_id, tag = decode(text)
                    if name is None:
                        got_plain[(queue_name, body)] += 1
                    else:
                        assert subs[name][0] == queue_name  # in its own subscription's queue
                        got_named[(name, body, message_id, tag)] += 1
            for url, name, text in pusher.got:
                assert url == f"http://h/{name}"
                sub_name, body, message_id, tag = decode(text)
                if sub_name is None:
                    got_plain[(f"http/{name}", body)] += 1
                else:
                    assert sub_name == name
                    got_named[(name, body, message_id, tag)] += 1

            assert got_named == expected_named
            assert got_plain == expected_plain
            for name, (_, filter_tag, _) in subs.items():
                wanted = sum(1 for _, _, tag in published if takes(filter_tag, tag))
                assert topic.get_subscription(name).stats() == minimns.SubscriptionStats(
                    delivered=wanted, pending=0, retrying=0, dropped=0, attempts=wanted,
                    failures=0, last_error="", last_error_time=None, next_retry_time=None)
            assert (await topic.get_attributes()).message_count == 0

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=60, deadline=None)
@given(
    filters=st.lists(st.sampled_from(TAGS), min_size=1, max_size=6),
    tags=st.lists(st.sampled_from(MESSAGE_TAGS), max_size=10),
)
def test_simplified_copies_per_subscription_with_a_queue_each(filters, tags):
    """One queue per subscription: each queue holds exactly its subscription's messages,
    in publish order."""
    async def main():
        async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=0) as broker:
            topic = await broker.create_topic("t")
            for i, filter_tag in enumerate(filters):
                await broker.create_queue(f"q{i}")
                await topic.subscribe(f"s{i}", queue_endpoint(f"q{i}"), filter_tag=filter_tag,
                                      notify_content_format="SIMPLIFIED")
            for n, tag in enumerate(tags):
                await topic.publish_message(f"m{n}", message_tag=tag)
            for i, filter_tag in enumerate(filters):
                got = await drain(broker.get_queue(f"q{i}"))
                assert got == [f"m{n}" for n, tag in enumerate(tags)
                               if takes(filter_tag, tag or None)]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- the same, as a state machine --------------------------------------------------------------


class TrioThread:
    """One trio run on its own thread, with a broker open, that rules call into.

    Its clock never jumps by itself (an autojumping clock would spin while the run
    waits for the next rule); ``advance`` moves it.
    """

    def __init__(self):
        self.clock = trio.testing.MockClock()
        self._ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self):
        async def main():
            async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=0) as broker:
                self.broker = broker
                self.token = trio.lowlevel.current_trio_token()
                with trio.CancelScope() as self._scope:
                    self._ready.set()
                    await trio.sleep_forever()

        try:
            trio.run(main, clock=self.clock)
        except BaseException as error:  # reported to the test thread
            self._error = error
            self._ready.set()

    def run(self, fn, *args):
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def advance(self, seconds):
        async def go():
            self.clock.jump(seconds)
            await trio.testing.wait_all_tasks_blocked()

        self.run(go)

    def close(self):
        trio.from_thread.run_sync(self._scope.cancel, trio_token=self.token)
        self._thread.join()
        if self._error is not None:
            raise self._error


NAMES = ["s0", "s1", "s2", "s3", "s4"]


class FanOut(RuleBasedStateMachine):
    """Subscribe, resubscribe, unsubscribe, change strategies and publish at random;
    the queues hold exactly the copies the model says, each once."""

    def __init__(self):
        super().__init__()
        self.trio = TrioThread()
        self.broker = self.trio.broker
        self.topic = self.trio.run(self.broker.create_topic, "t")
        for name in QUEUES:
            self.trio.run(self.broker.create_queue, name)
        self.subs = {}  # name -> [queue, filter tag, format, strategy, delivered]
        self.in_queues = {q: Counter() for q in QUEUES}  # queue -> Counter of decoded copies
        self.count = 0

    def teardown(self):
        self.trio.close()

    @rule(name=st.sampled_from(NAMES), queue=st.sampled_from(QUEUES),
          tag=st.sampled_from(TAGS), fmt=st.sampled_from(FORMATS))
    def subscribe(self, name, queue, tag, fmt):
        async def go():
            await self.topic.subscribe(name, queue_endpoint(queue), filter_tag=tag,
                                       notify_content_format=fmt)

        existing = self.subs.get(name)
        if existing is None:
            self.trio.run(go)
            self.subs[name] = [queue, tag, fmt, "BACKOFF_RETRY", 0]
        elif existing[:4] == [queue, tag, fmt, "BACKOFF_RETRY"]:
            self.trio.run(go)  # identical: found
        else:
            try:
                self.trio.run(go)
            except errors.SubscriptionAlreadyExist:
                pass
            else:
                raise AssertionError("a differing subscribe should be SubscriptionAlreadyExist")

    @precondition(lambda self: self.subs)
    @rule(data=st.data())
    def unsubscribe(self, data):
        name = data.draw(st.sampled_from(sorted(self.subs)))
        self.trio.run(self.topic.get_subscription(name).unsubscribe)
        del self.subs[name]

    @precondition(lambda self: self.subs)
    @rule(data=st.data(), strategy=st.sampled_from(["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]))
    def set_strategy(self, data, strategy):
        name = data.draw(st.sampled_from(sorted(self.subs)))

        async def go():
            await self.topic.get_subscription(name).set_attributes(notify_strategy=strategy)

        self.trio.run(go)
        self.subs[name][3] = strategy

    @rule(tag=st.sampled_from(MESSAGE_TAGS))
    def publish(self, tag):
        body = f"m{self.count}"
        self.count += 1

        async def go():
            return await self.topic.publish_message(body, message_tag=tag)

        published = self.trio.run(go)
        for name, spec in self.subs.items():
            queue, filter_tag, fmt, _, _ = spec
            if takes(filter_tag, tag or None):
                spec[4] += 1
                if fmt == "SIMPLIFIED":
                    self.in_queues[queue][(None, body, None, None)] += 1
                else:
                    self.in_queues[queue][(name, body, published.message_id, tag or None)] += 1

    @rule(seconds=st.sampled_from([1, 30, 3600]))
    def let_time_pass(self, seconds):
        self.trio.advance(seconds)

    @rule()
    def drain_and_check(self):
        for queue in QUEUES:
            got = Counter(decode(text) for text in self.trio.run(drain,
                                                                  self.broker.get_queue(queue)))
            assert got == self.in_queues[queue]
            self.in_queues[queue] = Counter()

    @invariant()
    def subscriptions_and_counters(self):
        async def look():
            names, marker = await self.topic.list_subscription()
            metas = {n: await self.topic.get_subscription(n).get_attributes() for n in names}
            stats = {n: self.topic.get_subscription(n).stats() for n in names}
            count = (await self.topic.get_attributes()).message_count
            return names, marker, metas, stats, count

        names, marker, metas, stats, count = self.trio.run(look)
        assert (names, marker, count) == (sorted(self.subs), "", 0)
        for name, (queue, tag, fmt, strategy, delivered) in self.subs.items():
            meta = metas[name]
            assert (meta.endpoint, meta.filter_tag, meta.notify_content_format,
                    meta.notify_strategy) == (queue_endpoint(queue), tag or "", fmt, strategy)
            assert (stats[name].delivered, stats[name].attempts, stats[name].failures,
                    stats[name].pending, stats[name].retrying) == (delivered, delivered, 0, 0, 0)


FanOut.TestCase.settings = settings(max_examples=50, stateful_step_count=25, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])
TestFanOut = FanOut.TestCase
