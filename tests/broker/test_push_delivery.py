"""Push delivery from topics, in process: what each endpoint kind receives, when, and
how failures are retried, all on trio's virtual clock.

HTTP endpoints are served by ``FakePusher``, passed to ``open_broker(pusher=...)``:
it records every attempt (trio time, url, headers, body) and answers per a plan
(succeed, fail with a reason, be slow, or hang forever).
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from email.utils import formatdate
from typing import NamedTuple

import pytest
import trio

import minimns
from tests.broker_helpers import drain
from minimns import errors
from minimns.broker.delivery import PUSH_CONCURRENCY
from tests.conftest import EPOCH_MS

QUEUE_EP = "acs:mns:cn-hangzhou:1234567890:queues/"
OWNER = "1234567890"
NS = "http://mns.aliyuncs.com/doc/v1/"
DAY = 86400
OK, HANG = "ok", "hang"


class PushError(Exception):
    """What a real pusher raises: ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fail(NamedTuple):
    reason: str = "HTTP 503"


class Slow(NamedTuple):
    seconds: float
    then: object = OK


class Call(NamedTuple):
    time: float  # trio time of the attempt
    url: str
    headers: list
    body: bytes


class FakePusher:
    """``plan(url, n)`` says what the n-th (from 0) attempt to ``url`` does:
    OK, HANG, Fail(reason) or Slow(seconds, then)."""

    def __init__(self, plan=None) -> None:
        self.plan = plan or (lambda url, n: OK)
        self.calls: list[Call] = []
        self.counts: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    async def push(self, url, headers, body) -> int:
        n = self.counts[url]
        self.counts[url] += 1
        self.calls.append(Call(trio.current_time(), url, list(headers), body))
        action = self.plan(url, n)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            while isinstance(action, Slow):
                await trio.sleep(action.seconds)
                action = action.then
            if action == HANG:
                await trio.sleep_forever()
            if isinstance(action, Fail):
                raise PushError(action.reason)
            return 200
        finally:
            self.in_flight -= 1

    def to(self, url):
        return [c for c in self.calls if c.url == url]


def always(action):
    return lambda url, n: action


def per_url(**plans):
    """Plans by a url key (the url's last path segment), default OK."""
    def plan(url, n):
        key = url.rsplit("/", 1)[-1]
        chosen = plans.get(key, OK)
        return chosen(n) if callable(chosen) else chosen
    return plan


def fail_first(count, reason="HTTP 503"):
    return lambda url, n: Fail(reason) if n < count else OK


def ms(trio_time: float) -> int:
    """Epoch ms of a trio time (every test's MockClock starts at 0)."""
    return EPOCH_MS + round(trio_time * 1000)


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def md5_upper(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest().upper()


def stats(delivered=0, pending=0, retrying=0, dropped=0, attempts=0, failures=0,
          last_error="", last_error_time=None, next_retry_time=None):
    return minimns.SubscriptionStats(
        delivered=delivered, pending=pending, retrying=retrying, dropped=dropped,
        attempts=attempts, failures=failures, last_error=last_error,
        last_error_time=last_error_time, next_retry_time=next_retry_time)


async def settle(broker, include_retries=True, limit=2 * DAY):
    with trio.fail_after(limit):  # virtual seconds: a hang fails instead of blocking
        await broker.wait_pushes_settled(include_retries=include_retries)


def xml_notification(topic, sub, message_id, body, tag, publish_time, owner=OWNER):
    def esc(text):
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("\r", "&#13;"))
    tag_element = f"<MessageTag>{esc(tag)}</MessageTag>" if tag else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Notification xmlns="{NS}">'
        f"<TopicOwner>{owner}</TopicOwner>"
        f"<TopicName>{topic}</TopicName>"
        f"<Subscriber>{owner}</Subscriber>"
        f"<SubscriptionName>{sub}</SubscriptionName>"
        f"<MessageId>{message_id}</MessageId>"
        f"<Message>{esc(body)}</Message>"
        f"<MessageMD5>{md5_upper(body)}</MessageMD5>"
        f"{tag_element}"
        f"<PublishTime>{publish_time}</PublishTime>"
        "</Notification>"
    )


def json_notification(topic, sub, message_id, body, tag, publish_time, owner=OWNER):
    out = {
        "TopicOwner": owner, "TopicName": topic, "Subscriber": owner, "SubscriptionName": sub,
        "MessageId": message_id, "Message": body, "MessageMD5": md5_upper(body),
    }
    if tag:
        out["MessageTag"] = tag
    out["PublishTime"] = str(publish_time)
    return out


TRICKY = 'a<b&c>d\r\ne "q" \'s\' 世界 ✓ &amp; ]]> \t end'


# -- queue endpoints ---------------------------------------------------------------------------


async def test_simplified_queue_copy_is_there_when_publish_returns():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        await trio.sleep(2.5)
        published = await topic.publish_message(TRICKY, message_tag="tag")
        got = await queue.peek_message()  # no wait: it is already there
        assert (got.message_body, got.enqueue_time, got.priority) == (TRICKY, EPOCH_MS + 2500, 8)
        assert got.message_id != published.message_id  # the queue mints its own
        assert sub.stats() == stats(delivered=1, attempts=1)
        assert (await topic.get_attributes()).message_count == 0


async def test_a_waiting_receiver_wakes_at_the_publish():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("t")
        await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        results = []

        async def receive():
            got = await queue.receive_message(wait_seconds=30)
            results.append((broker.now(), got.message_body))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.sleep(7.25)
            await topic.publish_message("wake")
        assert results == [(EPOCH_MS + 7250, "wake")]


@pytest.mark.parametrize("tag", [None, "tag<&>"])
async def test_xml_queue_copy_exact_document(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("topic-1")
        await topic.subscribe("sub-1", QUEUE_EP + "q")  # XML is the default
        await trio.sleep(1.234)
        published = await topic.publish_message(TRICKY, message_tag=tag)
        [got] = await drain(queue, None, delete=False)
        expected = xml_notification("topic-1", "sub-1", published.message_id, TRICKY, tag,
                                    EPOCH_MS + 1234)
        assert got.message_body == expected
        # Spelled out once, so the helper is checked too.
        if tag:
            assert "<Message>a&lt;b&amp;c&gt;d&#13;\ne \"q\" 's' 世界 ✓ &amp;amp; ]]&gt; \t end</Message>" \
                in got.message_body
            assert "<MessageTag>tag&lt;&amp;&gt;</MessageTag><PublishTime>1700000001234</PublishTime>" \
                in got.message_body
        else:
            assert "<MessageTag>" not in got.message_body
        # A parser reads back exactly what was published, \r included.
        root = ET.fromstring(got.message_body.encode("utf-8"))
        assert root.tag == f"{{{NS}}}Notification"
        fields = {child.tag.split("}")[1]: child.text for child in root}
        assert list(fields) == ["TopicOwner", "TopicName", "Subscriber", "SubscriptionName",
                                "MessageId", "Message", "MessageMD5",
                                *(["MessageTag"] if tag else []), "PublishTime"]
        assert fields["Message"] == TRICKY
        assert fields["MessageMD5"] == published.message_body_md5
        assert fields.get("MessageTag") == tag


@pytest.mark.parametrize("tag", [None, "t1"])
async def test_json_queue_copy(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, account_id="777") as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("t")
        await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="JSON")
        await trio.sleep(3)
        published = await topic.publish_message(TRICKY, message_tag=tag)
        [got] = await drain(queue, None, delete=False)
        decoded = json.loads(got.message_body)
        assert decoded == json_notification("t", "s", published.message_id, TRICKY, tag,
                                            EPOCH_MS + 3000, owner="777")
        assert isinstance(decoded["PublishTime"], str)
        assert list(decoded)[-1] == "PublishTime"


async def test_the_same_queue_subscribed_twice_gets_two_copies():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("t")
        await topic.subscribe("a", QUEUE_EP + "q")
        await topic.subscribe("b", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        published = await topic.publish_message("m")
        bodies = sorted(m.message_body for m in await drain(queue, None, delete=False))
        assert bodies == sorted(["m", xml_notification("t", "a", published.message_id, "m", None,
                                                       EPOCH_MS)])


async def test_the_queue_default_delay_applies_to_pushed_copies():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        queue = await broker.create_queue("q", delay_seconds=30)
        topic = await broker.create_topic("t")
        await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        await topic.publish_message("later")
        await trio.sleep(20)
        assert await drain(queue, None, delete=False) == []
        got = await queue.receive_message(wait_seconds=30)
        assert (broker.now(), got.message_body) == (EPOCH_MS + 30000, "later")


async def test_a_missing_queue_fails_and_a_queue_created_meanwhile_gets_the_retry():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=3) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "later", notify_content_format="SIMPLIFIED")
        await topic.publish_message("m")
        first = sub.stats()
        reason = "QueueNotExist: the queue later does not exist."
        assert first == stats(retrying=1, attempts=1, failures=1, last_error=reason,
                              last_error_time=EPOCH_MS, next_retry_time=first.next_retry_time)
        assert EPOCH_MS + 10000 <= first.next_retry_time <= EPOCH_MS + 20000
        assert (await topic.get_attributes()).message_count == 1
        await trio.sleep(5)
        queue = await broker.create_queue("later")
        got = await queue.receive_message(wait_seconds=30)
        assert (got.message_body, got.enqueue_time) == ("m", first.next_retry_time)
        assert broker.now() == first.next_retry_time
        assert sub.stats() == stats(delivered=1, attempts=2, failures=1, last_error=reason,
                                    last_error_time=EPOCH_MS)
        assert (await topic.get_attributes()).message_count == 0


async def _attempt_times_of_a_local_failure(broker, sub):
    """Follow a local subscription's failures by their times (last_error_time)."""
    st = sub.stats()
    times = [st.last_error_time]
    while st.next_retry_time is not None:
        due = st.next_retry_time
        await trio.sleep((due - broker.now()) / 1000 + 0.001)
        st = sub.stats()
        assert st.last_error_time == due
        times.append(due)
    return times, st


async def test_a_queue_that_never_appears_gets_four_attempts_then_the_copy_is_dropped():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=4) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "never")
        await topic.publish_message("m")
        times, final = await _attempt_times_of_a_local_failure(broker, sub)
        assert len(times) == 4 and times[0] == EPOCH_MS
        assert all(10000 <= g <= 20000 for g in gaps(times))
        assert final == stats(dropped=1, attempts=4, failures=4,
                              last_error="QueueNotExist: the queue never does not exist.",
                              last_error_time=times[-1])
        assert (await topic.get_attributes()).message_count == 0
        await broker.create_queue("never")
        await trio.sleep(DAY)
        assert await drain(broker.get_queue("never"), None, delete=False) == []


async def test_a_body_too_large_for_the_queue_fails_and_is_retried():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=5) as broker:
        queue = await broker.create_queue("small", maximum_message_size=1024)
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "small", notify_content_format="SIMPLIFIED")
        await topic.publish_message("x" * 1500)
        first = sub.stats()
        assert first == stats(
            retrying=1, attempts=1, failures=1,
            last_error="InvalidArgument: The length of MessageBody is 1500 bytes, more than "
                       "MaximumMessageSize 1024 bytes of this queue.",
            last_error_time=EPOCH_MS, next_retry_time=first.next_retry_time)
        assert await drain(queue, None, delete=False) == []
        await queue.set_attributes(maximum_message_size=2048)
        got = await queue.receive_message(wait_seconds=30)
        assert (len(got.message_body), got.enqueue_time) == (1500, first.next_retry_time)
        assert sub.stats().delivered == 1


async def test_an_xml_notification_is_measured_against_the_queue_limit():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=5) as broker:
        queue = await broker.create_queue("small", maximum_message_size=1024)
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "small")
        body = "y" * 1000  # fits the queue, its notification does not
        published = await topic.publish_message(body)
        size = len(xml_notification("t", "s", published.message_id, body, None, EPOCH_MS))
        assert size > 1024
        assert sub.stats().last_error == (
            f"InvalidArgument: The length of MessageBody is {size} bytes, more than "
            "MaximumMessageSize 1024 bytes of this queue.")
        await settle(broker)
        assert sub.stats().dropped == 1 and sub.stats().attempts == 4
        assert await drain(queue, None, delete=False) == []


async def test_a_deleted_queue_fails_the_next_copy():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=5) as broker:
        queue = await broker.create_queue("q")
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        await topic.publish_message("one")
        await queue.delete()
        await topic.publish_message("two")
        assert sub.stats().last_error == "QueueNotExist: the queue q does not exist."
        await broker.create_queue("q")
        got = await broker.get_queue("q").receive_message(wait_seconds=30)
        assert got.message_body == "two"


# -- filter tags -------------------------------------------------------------------------------


async def test_filter_tags_take_exactly_their_tag_and_untagged_take_everything():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        plan = {"all": None, "a": "a", "b": "b", "long": "x" * 16}
        for name, tag in plan.items():
            await broker.create_queue(name)
            await topic.subscribe(name, QUEUE_EP + name, notify_content_format="SIMPLIFIED",
                                  filter_tag=tag)
        published = [(None, "untagged"), ("a", "to-a"), ("b", "to-b"), ("A", "to-A"),
                     ("ab", "to-ab"), ("c", "to-c"), ("x" * 16, "to-long"), ("a", "to-a-2"),
                     ("", "empty-tag")]
        for tag, body in published:
            await topic.publish_message(body, message_tag=tag)
        got = {name: [m.message_body for m in await drain(broker.get_queue(name), None, delete=False)]
               for name in plan}
        assert got == {
            "all": [body for _, body in published],
            "a": ["to-a", "to-a-2"],
            "b": ["to-b"],
            "long": ["to-long"],
        }


async def test_filter_tags_apply_to_http_mail_and_sms():
    pusher = FakePusher()
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("h", "http://h/x", filter_tag="x")
        await topic.subscribe("m", "mail:directmail:a@b.com", filter_tag="x")
        await topic.subscribe("s", "sms:directsms:anonymous", filter_tag="y")
        await topic.publish_message("one", message_tag="x")
        await topic.publish_message("two", message_tag="y")
        await topic.publish_message("three")
        await settle(broker)
        [call] = pusher.calls
        assert b"<Message>one</Message>" in call.body
        assert [d.message_body for d in broker.outbox.mail] == ["one"]
        assert [d.message_body for d in broker.outbox.sms] == ["two"]


# -- HTTP endpoints: what is sent --------------------------------------------------------------

CONTENT_TYPES = {"XML": "text/xml;charset=utf-8", "JSON": "application/json;charset=utf-8",
                 "SIMPLIFIED": "text/plain;charset=utf-8"}


@pytest.mark.parametrize("fmt", ["XML", "JSON", "SIMPLIFIED"])
@pytest.mark.parametrize("tag", [None, "Vip"])
async def test_http_push_headers_and_body(fmt, tag):
    pusher = FakePusher()
    url = "http://127.0.0.1:8080/api/test?x=1&y=%20"
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", url, notify_content_format=fmt)
        await trio.sleep(1.5)
        published = await topic.publish_message(TRICKY, message_tag=tag)
        await settle(broker)
        assert sub.stats() == stats(delivered=1, attempts=1)
        [call] = pusher.calls
        assert (call.time, call.url) == (1.5, url)
        if fmt == "XML":
            expected_body = xml_notification("t", "s", published.message_id, TRICKY, tag,
                                             EPOCH_MS + 1500)
        elif fmt == "JSON":
            expected_body = None
            assert json.loads(call.body.decode("utf-8")) == json_notification(
                "t", "s", published.message_id, TRICKY, tag, EPOCH_MS + 1500)
        else:
            expected_body = TRICKY
        if expected_body is not None:
            assert call.body == expected_body.encode("utf-8")
        assert isinstance(call.body, bytes)
        request_id = dict(call.headers)["x-mns-request-id"]
        assert re.fullmatch(r"[0-9A-F]{24}", request_id)
        assert call.headers == [
            ("content-md5", md5_upper(call.body)),
            ("content-type", CONTENT_TYPES[fmt]),
            ("date", "Tue, 14 Nov 2023 22:13:21 GMT"),
            ("x-mns-request-id", request_id),
            ("x-mns-version", "2015-06-06"),
            ("x-mns-message-id", published.message_id),
            *([("x-mns-message-tag", tag)] if tag else []),
            ("x-mns-topic-owner", OWNER),
            ("x-mns-topic-name", "t"),
            ("x-mns-subscriber", OWNER),
            ("x-mns-subscription-name", "s"),
            ("x-mns-publish-time", str(EPOCH_MS + 1500)),
        ]
        assert all(name == name.lower() for name, _ in call.headers)
        assert all(isinstance(value, str) for _, value in call.headers)


async def test_http_url_without_a_path_is_passed_as_subscribed():
    pusher = FakePusher()
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("a", "http://example.com")
        await topic.subscribe("b", "HTTPS://Example.com:8443")
        await topic.publish_message("m")
        await settle(broker)
        assert sorted(c.url for c in pusher.calls) == ["HTTPS://Example.com:8443",
                                                       "http://example.com"]


async def test_retry_headers_carry_the_retry_date_and_a_new_request_id():
    pusher = FakePusher(fail_first(2))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=11, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", "http://h/p", notify_content_format="SIMPLIFIED")
        await trio.sleep(0.9)
        published = await topic.publish_message("m", message_tag="x")
        await settle(broker)
        assert len(pusher.calls) == 3
        ids = []
        for call in pusher.calls:
            headers = dict(call.headers)
            assert headers["date"] == formatdate(ms(call.time) // 1000, usegmt=True)
            assert headers["x-mns-publish-time"] == str(EPOCH_MS + 900)
            assert headers["x-mns-message-id"] == published.message_id
            assert call.body == b"m"
            ids.append(headers["x-mns-request-id"])
        assert len(set(ids)) == 3
        assert pusher.calls[0].time == 0.9


async def test_http_content_md5_is_of_the_utf8_bytes():
    pusher = FakePusher()
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", "http://h/p", notify_content_format="SIMPLIFIED")
        published = await topic.publish_message("世界")
        await settle(broker)
        [call] = pusher.calls
        assert call.body == "世界".encode("utf-8")
        assert dict(call.headers)["content-md5"] == md5_upper("世界".encode("utf-8")) == \
            published.message_body_md5


# -- retry schedules ---------------------------------------------------------------------------


async def test_backoff_retry_four_attempts_10_to_20_s_apart_then_dropped():
    pusher = FakePusher(always(Fail("HTTP 503")))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=21, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker)
        times = [ms(c.time) for c in pusher.calls]
        assert len(times) == 4 and times[0] == EPOCH_MS
        assert all(10000 <= g <= 20000 for g in gaps(times)), gaps(times)
        assert sub.stats() == stats(dropped=1, attempts=4, failures=4, last_error="HTTP 503",
                                    last_error_time=times[-1])
        assert (await topic.get_attributes()).message_count == 0
        await trio.sleep(DAY)
        assert len(pusher.calls) == 4


async def test_backoff_jitter_spreads_over_the_range_and_follows_the_seed():
    async def schedule(seed):
        pusher = FakePusher(always(Fail()))
        start = ms(trio.current_time())  # later runs start later on this test's clock
        async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=seed, pusher=pusher) as broker:
            topic = await broker.create_topic("t")
            for i in range(30):  # one message each: no push backoff between them
                await topic.subscribe(f"s{i}", f"http://h/{i}")
            await topic.publish_message("m")
            await settle(broker)
        by_url = {}
        for call in pusher.calls:
            by_url.setdefault(call.url, []).append(ms(call.time))
        assert all(times[0] == start and len(times) == 4 for times in by_url.values())
        return [gap for _, times in sorted(by_url.items()) for gap in gaps(times)]

    first = await schedule(5)
    assert len(first) == 90
    assert all(10000 <= g <= 20000 for g in first)
    assert min(first) < 12000 and max(first) > 18000  # spread, not one fixed delay
    assert await schedule(5) == first
    assert await schedule(6) != first


async def test_exponential_decay_retry_177_attempts_over_86015_s_then_dropped():
    pusher = FakePusher(always(Fail("connection refused")))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await settle(broker)
        times = [ms(c.time) for c in pusher.calls]
        assert len(times) == 177
        assert gaps(times) == [1000 * 2**i for i in range(9)] + [512000] * 167
        assert times[-1] - times[0] == 86015 * 1000
        assert sub.stats() == stats(dropped=1, attempts=177, failures=177,
                                    last_error="connection refused",
                                    last_error_time=EPOCH_MS + 86015 * 1000)
        await trio.sleep(DAY)
        assert len(pusher.calls) == 177


async def test_exponential_stats_while_retrying():
    pusher = FakePusher(always(Fail("HTTP 500")))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await trio.sleep(5)  # attempts at 0, 1, 3; the next is due at 7
        assert sub.stats() == stats(retrying=1, attempts=3, failures=3, last_error="HTTP 500",
                                    last_error_time=EPOCH_MS + 3000,
                                    next_retry_time=EPOCH_MS + 7000)
        assert (await topic.get_attributes()).message_count == 1


@pytest.mark.parametrize("failures", [1, 2, 3])
async def test_backoff_success_after_failures_stops_retrying(failures):
    pusher = FakePusher(fail_first(failures, "HTTP 502"))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker)
        times = [ms(c.time) for c in pusher.calls]
        assert len(times) == failures + 1
        assert all(10000 <= g <= 20000 for g in gaps(times))
        assert sub.stats() == stats(delivered=1, attempts=failures + 1, failures=failures,
                                    last_error="HTTP 502", last_error_time=times[-2])
        await trio.sleep(DAY)
        assert len(pusher.calls) == failures + 1


async def test_exponential_success_after_five_failures():
    pusher = FakePusher(fail_first(5))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await settle(broker)
        assert [ms(c.time) - EPOCH_MS for c in pusher.calls] == [0, 1000, 3000, 7000, 15000,
                                                                 31000]
        assert sub.stats() == stats(delivered=1, attempts=6, failures=5, last_error="HTTP 503",
                                    last_error_time=EPOCH_MS + 15000)


async def test_each_message_has_its_own_schedule():
    pusher = FakePusher(lambda url, n: Fail() if n < 4 else OK)  # the first message's 4 attempts
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY",
                                    notify_content_format="SIMPLIFIED")
        await topic.publish_message("first")
        await trio.sleep(2.5)  # first: attempts at 0 and 1 failed, next at 3
        await topic.publish_message("second")  # fails at 2.5, retried at 3.5 and succeeds
        await settle(broker)
        by_body = {}
        for call in pusher.calls:
            by_body.setdefault(call.body, []).append(ms(call.time) - EPOCH_MS)
        assert by_body == {b"first": [0, 1000, 3000, 7000], b"second": [2500, 3500]}
        assert sub.stats() == stats(delivered=2, attempts=6, failures=4, last_error="HTTP 503",
                                    last_error_time=EPOCH_MS + 3000)


async def test_a_slow_failure_is_retried_after_it_fails():
    pusher = FakePusher(lambda url, n: Slow(4, Fail("timed out after 4 s")) if n == 0 else OK)
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await settle(broker)
        assert [ms(c.time) - EPOCH_MS for c in pusher.calls] == [0, 5000]
        assert sub.stats().last_error_time == EPOCH_MS + 4000


async def test_an_exception_without_reason_is_described_by_its_type():
    class Weird:
        async def push(self, url, headers, body):
            raise RuntimeError("boom")

    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=Weird()) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker, include_retries=False)
        assert sub.stats().last_error == "RuntimeError: boom"


async def test_wait_pushes_settled_without_retries_returns_after_first_attempts():
    pusher = FakePusher(always(Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=8, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker, include_retries=False)
        assert broker.now() == EPOCH_MS
        st = sub.stats()
        assert (st.attempts, st.pending, st.retrying) == (1, 0, 1)
        await settle(broker, include_retries=True)
        assert sub.stats().dropped == 1


# -- mail and SMS ------------------------------------------------------------------------------


async def test_mail_and_sms_deliveries_are_recorded():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        mail = await topic.subscribe("m", "mail:directmail:someone@example.com")
        sms_any = await topic.subscribe("a", "sms:directsms:anonymous")
        sms_one = await topic.subscribe("p", "sms:directsms:13800000000")
        await trio.sleep(4)
        published = await topic.publish_message(minimns.TopicMessage(
            "hello", message_tag="t1", direct_mail={"Subject": "s"},
            direct_sms={"TemplateCode": "SMS_1"}))
        assert list(broker.outbox.mail) == [minimns.LocalDelivery(
            kind="mail", topic_name="t", subscription_name="m",
            endpoint="mail:directmail:someone@example.com", address="someone@example.com",
            message_id=published.message_id, message_body="hello", message_tag="t1",
            message_attributes={"DirectMail": '{"Subject": "s"}',
                                "DirectSMS": '{"TemplateCode": "SMS_1"}'},
            time=EPOCH_MS + 4000)]
        assert [(d.subscription_name, d.endpoint, d.address, d.message_tag, d.time)
                for d in broker.outbox.sms] == [
            ("a", "sms:directsms:anonymous", "anonymous", "t1", EPOCH_MS + 4000),
            ("p", "sms:directsms:13800000000", "13800000000", "t1", EPOCH_MS + 4000),
        ]
        for sub in (mail, sms_any, sms_one):
            assert sub.stats() == stats(delivered=1, attempts=1)
        await topic.publish_message("untagged")
        assert broker.outbox.mail[-1].message_tag is None
        assert broker.outbox.mail[-1].message_attributes == {}
        broker.outbox.clear()
        assert (list(broker.outbox.mail), list(broker.outbox.sms)) == ([], [])


async def test_an_outbox_handler_failure_is_retried():
    seen = []

    def handler(delivery):
        seen.append(delivery.time)
        return "MailFailed: mailbox full" if len(seen) < 3 else None

    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=9) as broker:
        broker.outbox.handlers["mail"] = handler
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("m", "mail:directmail:a@b.com")
        await topic.publish_message("m")
        assert (await topic.get_attributes()).message_count == 1
        await settle(broker)
        assert len(seen) == 3 and seen[0] == EPOCH_MS
        assert all(10000 <= g <= 20000 for g in gaps(seen))
        assert sub.stats() == stats(delivered=1, attempts=3, failures=2,
                                    last_error="MailFailed: mailbox full",
                                    last_error_time=seen[1])
        # every attempt is recorded, then handled
        assert [d.time for d in broker.outbox.mail] == seen
        assert (await topic.get_attributes()).message_count == 0


async def test_an_sms_handler_that_always_fails_exhausts_the_exponential_schedule():
    seen = []

    def handler(delivery):
        seen.append(delivery.time)
        return "SmsFailed"

    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=9) as broker:
        broker.outbox.handlers["sms"] = handler
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "sms:directsms:anonymous",
                                    notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await settle(broker)
        assert len(seen) == 177
        assert gaps(seen) == [1000 * 2**i for i in range(9)] + [512000] * 167
        assert sub.stats() == stats(dropped=1, attempts=177, failures=177,
                                    last_error="SmsFailed", last_error_time=seen[-1])


async def test_a_raising_outbox_handler_counts_as_a_failure():
    calls = []

    def handler(delivery):
        calls.append(delivery)
        if len(calls) == 1:
            raise ValueError("bug in handler")
        return None

    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=9) as broker:
        broker.outbox.handlers["mail"] = handler
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("m", "mail:directmail:a@b.com")
        await topic.publish_message("m")  # publishing itself does not fail
        assert sub.stats().last_error == "InternalError: the delivery raised an exception"
        await settle(broker)
        assert sub.stats().delivered == 1 and len(calls) == 2


# -- independence and concurrency --------------------------------------------------------------


async def test_a_hanging_endpoint_does_not_delay_another_subscription():
    pusher = FakePusher(per_url(dead=HANG))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        await broker.create_queue("q")
        topic = await broker.create_topic("t")
        dead = await topic.subscribe("dead", "http://h/dead")
        live = await topic.subscribe("live", "http://h/live")
        await topic.subscribe("queue", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        count = PUSH_CONCURRENCY + 8
        for i in range(count):
            await topic.publish_message(f"m{i}")
            await trio.sleep(1)
        await trio.sleep(100)
        assert [c.time for c in pusher.to("http://h/live")] == [float(i) for i in range(count)]
        assert len(pusher.to("http://h/dead")) == PUSH_CONCURRENCY
        assert live.stats() == stats(delivered=count, attempts=count)
        assert dead.stats() == stats(pending=count, attempts=PUSH_CONCURRENCY)
        queued = await drain(broker.get_queue("q"), None, delete=False)
        assert [m.enqueue_time for m in queued] == [EPOCH_MS + 1000 * i for i in range(count)]
        assert (await topic.get_attributes()).message_count == count


async def test_a_failing_endpoint_does_not_delay_another_subscription():
    pusher = FakePusher(per_url(bad=Fail("HTTP 500")))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        bad = await topic.subscribe("bad", "http://h/bad")
        good = await topic.subscribe("good", "http://h/good")
        for i in range(40):
            await topic.publish_message(f"m{i}")
            await trio.sleep(0.5)
        await settle(broker)
        assert [c.time for c in pusher.to("http://h/good")] == [0.5 * i for i in range(40)]
        assert good.stats() == stats(delivered=40, attempts=40)
        assert len(pusher.to("http://h/bad")) == 40 * 4
        st = bad.stats()
        assert st == stats(dropped=40, attempts=160, failures=160, last_error="HTTP 500",
                           last_error_time=st.last_error_time)


async def test_many_pushes_are_in_flight_at_once_per_subscription():
    pusher = FakePusher(always(Slow(1)))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        count = 2 * PUSH_CONCURRENCY + 8
        for i in range(count):
            await topic.publish_message(f"m{i}")
        await trio.sleep(0)
        await settle(broker)
        assert broker.now() == EPOCH_MS + 3000
        assert pusher.max_in_flight == PUSH_CONCURRENCY
        assert Counter(c.time for c in pusher.calls) == {
            0.0: PUSH_CONCURRENCY, 1.0: PUSH_CONCURRENCY, 2.0: 8}
        assert sub.stats() == stats(delivered=count, attempts=count)


async def test_slow_subscriptions_push_concurrently_with_each_other():
    pusher = FakePusher(always(Slow(2)))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        for i in range(10):
            await topic.subscribe(f"s{i}", f"http://h/{i}")
        await topic.publish_message("m")
        await settle(broker)
        assert broker.now() == EPOCH_MS + 2000
        assert pusher.max_in_flight == 10
        assert {c.time for c in pusher.calls} == {0.0}


# -- unsubscribe, topic deletion, strategy changes ---------------------------------------------


async def test_unsubscribe_cancels_pending_retries():
    pusher = FakePusher(per_url(p=Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker, include_retries=False)
        state = broker.account.topic("t").subscription("s")
        assert state.stats().retrying == 1
        assert len(broker._timer) == 1
        await trio.sleep(5)
        await sub.unsubscribe()
        assert state.stats() == stats(attempts=1, failures=1, last_error="HTTP 503",
                                      last_error_time=EPOCH_MS)
        assert len(broker._timer) == 0
        assert (await topic.get_attributes()).message_count == 0
        await settle(broker)
        assert broker.now() == EPOCH_MS + 5000
        await trio.sleep(DAY)
        assert len(pusher.calls) == 1
        # Re-subscribing under the same name starts afresh.
        again = await topic.subscribe("s", "http://h/ok")
        await topic.publish_message("n")
        await settle(broker)
        assert [c.url for c in pusher.calls] == ["http://h/p", "http://h/ok"]
        assert again.stats() == stats(delivered=1, attempts=1)


async def test_unsubscribe_cancels_a_hanging_push():
    pusher = FakePusher(per_url(dead=HANG))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/dead")
        for _ in range(20):
            await topic.publish_message("m")
        await trio.sleep(10)
        assert pusher.in_flight == PUSH_CONCURRENCY
        assert (await topic.get_attributes()).message_count == 20
        state = broker.account.topic("t").subscription("s")
        await sub.unsubscribe()
        await trio.sleep(1)
        assert pusher.in_flight == 0
        assert state.stats() == stats(attempts=PUSH_CONCURRENCY)
        assert (await topic.get_attributes()).message_count == 0
        await settle(broker)
        await trio.sleep(DAY)
        assert len(pusher.calls) == PUSH_CONCURRENCY


async def test_a_push_that_fails_after_unsubscribe_is_not_retried():
    class Stubborn:
        """Ignores cancellation for a second, then fails."""

        def __init__(self):
            self.calls = []

        async def push(self, url, headers, body):
            self.calls.append(trio.current_time())
            with trio.CancelScope(shield=True):
                await trio.sleep(1)
            raise PushError("HTTP 500")

    pusher = Stubborn()
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await trio.sleep(0.5)
        state = broker.account.topic("t").subscription("s")
        await sub.unsubscribe()
        await trio.sleep(DAY)
        assert pusher.calls == [0.0]
        assert state.stats() == stats(attempts=1)
        assert len(broker._timer) == 0
        assert (await topic.get_attributes()).message_count == 0


async def test_unsubscribe_cancels_local_retries():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", QUEUE_EP + "later", notify_content_format="SIMPLIFIED")
        await topic.publish_message("m")
        due = sub.stats().next_retry_time
        await sub.unsubscribe()
        queue = await broker.create_queue("later")
        await trio.sleep((due - broker.now()) / 1000 + 60)
        assert await drain(queue, None, delete=False) == []
        assert len(broker._timer) == 0
        await topic.subscribe("s", QUEUE_EP + "later", notify_content_format="SIMPLIFIED")
        await topic.publish_message("again")
        assert [m.message_body for m in await drain(queue, None, delete=False)] == ["again"]


async def test_topic_deletion_cancels_pending_retries():
    pusher = FakePusher(always(Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("h", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.subscribe("q", QUEUE_EP + "later")
        await topic.publish_message("m")
        await trio.sleep(2)
        assert len(pusher.calls) == 2
        states = list(broker.account.topic("t").subscriptions.values())
        await topic.delete()
        for state in states:
            assert (state.pending, state.retrying, state.next_due()) == (0, 0, None)
        assert len(broker._timer) == 0
        queue = await broker.create_queue("later")
        await settle(broker)
        await trio.sleep(DAY)
        assert len(pusher.calls) == 2
        assert await drain(queue, None, delete=False) == []
        # A new topic of the same name works from scratch.
        pusher.plan = always(OK)
        again = await broker.create_topic("t")
        await again.subscribe("q", QUEUE_EP + "later", notify_content_format="SIMPLIFIED")
        sub = await again.subscribe("h", "http://h/p")
        await again.publish_message("fresh")
        await settle(broker)
        assert [m.message_body for m in await drain(queue, None, delete=False)] == ["fresh"]
        assert sub.stats() == stats(delivered=1, attempts=1)


async def test_topic_deletion_cancels_hanging_pushes():
    pusher = FakePusher(always(HANG))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("h", "http://h/p")
        await topic.publish_message("m")
        await trio.sleep(1)
        assert pusher.in_flight == 1
        await topic.delete()
        await trio.sleep(1)
        assert pusher.in_flight == 0
        await settle(broker)


async def test_switching_to_exponential_applies_from_the_next_failure():
    pusher = FakePusher(always(Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=13, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        await topic.publish_message("m")
        await settle(broker, include_retries=False)
        due = sub.stats().next_retry_time
        await trio.sleep(1)
        await sub.set_attributes(notify_strategy="EXPONENTIAL_DECAY_RETRY")
        assert sub.stats().next_retry_time == due  # a scheduled retry keeps its time
        await settle(broker)
        times = [ms(c.time) for c in pusher.calls]
        assert times[1] == due
        assert 10000 <= times[1] - times[0] <= 20000
        # The second attempt failed under EXPONENTIAL_DECAY_RETRY: 2 s, 4 s, ... onwards.
        assert gaps(times)[1:] == [1000 * 2**i for i in range(1, 9)] + [512000] * 167
        assert len(times) == 177
        assert sub.stats().dropped == 1


async def test_switching_to_backoff_drops_a_message_past_its_retries():
    pusher = FakePusher(always(Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=13, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await trio.sleep(20)  # attempts at 0, 1, 3, 7, 15; the next at 31
        await sub.set_attributes(notify_strategy="BACKOFF_RETRY")
        await settle(broker)
        assert [ms(c.time) - EPOCH_MS for c in pusher.calls] == [0, 1000, 3000, 7000, 15000,
                                                                 31000]
        assert sub.stats() == stats(dropped=1, attempts=6, failures=6, last_error="HTTP 503",
                                    last_error_time=EPOCH_MS + 31000)


async def test_switching_to_backoff_early_keeps_the_backoff_retries():
    pusher = FakePusher(always(Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=13, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_strategy="EXPONENTIAL_DECAY_RETRY")
        await topic.publish_message("m")
        await trio.sleep(0.5)  # one attempt failed; the next is at 1 s
        await sub.set_attributes(notify_strategy="BACKOFF_RETRY")
        await settle(broker)
        times = [ms(c.time) - EPOCH_MS for c in pusher.calls]
        assert times[:2] == [0, 1000]
        assert len(times) == 4
        assert all(10000 <= g <= 20000 for g in gaps(times)[1:])


# -- MessageCount ------------------------------------------------------------------------------


async def test_message_count_counts_messages_with_deliveries_outstanding():
    pusher = FakePusher(per_url(bad=Fail(), good=Slow(1)))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        await broker.create_queue("q")
        topic = await broker.create_topic("t")
        await topic.subscribe("q", QUEUE_EP + "q")
        await topic.subscribe("good", "http://h/good")
        await topic.subscribe("bad", "http://h/bad", filter_tag="b")

        async def count():
            return (await topic.get_attributes()).message_count

        await topic.publish_message("untagged")  # the bad one does not take it
        await topic.publish_message("one", message_tag="b")
        await topic.publish_message("two", message_tag="b")
        assert await count() == 3  # HTTP pushes are under way
        await settle(broker, include_retries=False)
        assert broker.now() == EPOCH_MS + 1000
        assert await count() == 2  # the two tagged ones wait for retries
        await settle(broker)
        assert await count() == 0
        assert len(pusher.to("http://h/bad")) == 8


async def test_message_count_with_slow_pushes():
    pusher = FakePusher(always(Slow(10)))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", "http://h/p")
        for i in range(5):
            await topic.publish_message(f"m{i}")
            await trio.sleep(1)
        assert (await topic.get_attributes()).message_count == 5
        await trio.sleep(5.5)  # t = 10.5: the first has been answered
        assert (await topic.get_attributes()).message_count == 4
        await settle(broker)
        assert (await topic.get_attributes()).message_count == 0
        assert broker.now() == EPOCH_MS + 14000


# -- push backoff (README: after 3 failures in a row, one at a time, pausing 0.1 s doubling to 1 s)


async def test_push_backoff_pushes_one_at_a_time_after_three_failures_in_a_row():
    # Fail before t = 5 s, succeed after: the backoff ends with the first success.
    pusher = FakePusher(lambda url, n: Fail() if trio.current_time() < 5 else Slow(1))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=2, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p", notify_content_format="SIMPLIFIED")
        for i in range(3):
            await topic.publish_message(f"a{i}")
        await settle(broker, include_retries=False)
        assert Counter(c.time for c in pusher.calls) == {0.0: 3}  # side by side
        await trio.sleep(1 - trio.current_time())
        for i in range(6):
            await topic.publish_message(f"b{i}")  # 6 + 3 messages in all
        await settle(broker, include_retries=False)
        # One at a time, each after the previous one's pause: 0.2, 0.4, 0.8, then 1 s each.
        firsts = [ms(c.time) - EPOCH_MS for c in pusher.calls if c.body.startswith(b"b")]
        assert firsts == [1000, 1200, 1600, 2400, 3400, 4400]
        assert broker.now() == EPOCH_MS + 4400
        # The retries (10-20 s later) succeed; then pushes run side by side again.
        await settle(broker)
        assert sub.stats().delivered == 9 and sub.stats().dropped == 0
        assert sub.stats().failures >= 9
        await trio.sleep(100)
        start = trio.current_time()
        for i in range(10):
            await topic.publish_message(f"c{i}")
        await settle(broker)
        assert [c.time for c in pusher.calls if c.body.startswith(b"c")] == [start] * 10
        assert trio.current_time() == start + 1
        assert sub.stats().delivered == 19


async def test_push_backoff_of_one_subscription_leaves_the_others_alone():
    pusher = FakePusher(per_url(bad=Fail()))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=2, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("bad", "http://h/bad")
        await topic.subscribe("good", "http://h/good")
        for i in range(30):
            await topic.publish_message(f"m{i}")
        await settle(broker, include_retries=False)
        assert {c.time for c in pusher.to("http://h/good")} == {0.0}
        assert len(pusher.to("http://h/good")) == 30
        assert max(c.time for c in pusher.to("http://h/bad")) > 10  # it backed off


# -- pending bound -----------------------------------------------------------------------------


async def test_a_delivery_over_the_pending_bound_is_dropped_with_its_time():
    pusher = FakePusher(always(HANG))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=2, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "http://h/p")
        broker.account.topic("t").subscription("s").pending_max = 2
        await trio.sleep(3)
        for i in range(4):
            await topic.publish_message(f"m{i}")
        await trio.sleep(1)
        st = sub.stats()
        assert (st.pending, st.dropped, st.last_error) == (
            2, 2, "too many pushes pending for this subscription")
        assert (await topic.get_attributes()).message_count == 2
        assert st.last_error_time == EPOCH_MS + 3000


# -- robustness ---------------------------------------------------------------------------------


async def test_an_unencodable_tag_does_not_bring_the_broker_down():
    pusher = FakePusher()
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, pusher=pusher) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", "http://h/p")
        try:
            await topic.publish_message("m", message_tag="\ud800")
        except errors.InvalidArgument:
            pass  # rejecting it up front is fine too
        await trio.sleep(1)
        await topic.publish_message("after")
        await settle(broker)
        assert b"<Message>after</Message>" in pusher.calls[-1].body
