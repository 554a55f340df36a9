"""HTTP push delivery end to end: broker, push client, and real receivers on loopback.

The receivers run in the test's own trio loop under MockClock(autojump_threshold=0):
a day of EXPONENTIAL_DECAY_RETRY plays out in well under a second, and every
attempt's time is the virtual time at which the receiver saw it.
"""

from __future__ import annotations

import hashlib
import json
import socket

import trio
import trio.testing

import minimns
from minimns.core.notification import NAMESPACE

from ..conftest import EPOCH_MS
from ..push_receivers import CLOSE, Reply, Seen, receiving, sample_endpoint_accepts, status

EXPONENTIAL_GAPS = [1, 2, 4, 8, 16, 32, 64, 128, 256] + [512] * 167


def timed(answers):  # type: ignore[no-untyped-def]
    """An answer that records the virtual time of each request and replies with
    ``answers(n)`` for the n-th request (0-based)."""
    times: list[float] = []

    async def answer(seen: Seen):  # type: ignore[no-untyped-def]
        times.append(trio.current_time())
        reply = answers(len(times) - 1)
        if reply == "hang":
            await trio.sleep_forever()
        return reply

    return answer, times


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in zip(times, times[1:])]


async def topic_with(broker: minimns.Broker, url: str, **subscription: str) -> minimns.Topic:
    topic = await broker.create_topic("t")
    await topic.subscribe("s", url, **subscription)
    return topic


def certificates(broker: minimns.Broker) -> dict[str, bytes]:
    pusher = broker.pusher
    return {pusher.cert_url: pusher.signer.certificate_pem}  # type: ignore[union-attr]


# -- what is sent ------------------------------------------------------------------------------


async def test_xml_push_is_signed_and_the_sample_endpoint_accepts_it() -> None:
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        async with receiving(status(204)) as receiver:
            topic = await topic_with(broker, receiver.url)
            published = await topic.publish_message(
                minimns.TopicMessage("<b>&\r\n", message_tag="tag1")
            )
            await broker.wait_pushes_settled()
            [seen] = receiver.requests
            assert (seen.method, seen.target) == ("POST", "/notifications")
            assert sample_endpoint_accepts(seen, certificates(broker))
            assert minimns.push.verify_notification(
                "POST", seen.raw_headers, seen.target, broker.pusher.signer.certificate_pem
            )
            body = seen.body.decode()
            md5 = hashlib.md5("<b>&\r\n".encode()).hexdigest().upper()
            assert body == (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                f'<Notification xmlns="{NAMESPACE}">'
                "<TopicOwner>1234567890</TopicOwner><TopicName>t</TopicName>"
                "<Subscriber>1234567890</Subscriber><SubscriptionName>s</SubscriptionName>"
                f"<MessageId>{published.message_id}</MessageId>"
                "<Message>&lt;b&gt;&amp;&#13;\n</Message>"
                f"<MessageMD5>{md5}</MessageMD5><MessageTag>tag1</MessageTag>"
                f"<PublishTime>{EPOCH_MS}</PublishTime></Notification>"
            )
            headers = dict(seen.raw_headers)
            assert headers["content-md5"] == hashlib.md5(seen.body).hexdigest().upper()
            assert headers["content-type"] == "text/xml;charset=utf-8"
            assert headers["date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
            assert headers["x-mns-message-id"] == published.message_id
            assert headers["x-mns-message-tag"] == "tag1"
            assert headers["x-mns-topic-name"] == "t"
            assert headers["x-mns-subscription-name"] == "s"
            assert headers["x-mns-publish-time"] == str(EPOCH_MS)
            assert headers["User-Agent"] == "Aliyun Notification Service Agent"
            stats = topic.get_subscription("s").stats()
            assert (stats.delivered, stats.pending, stats.retrying, stats.dropped) == (1, 0, 0, 0)


async def test_json_and_simplified_go_to_the_endpoint_path() -> None:
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(status(200)) as receiver:
            topic = await broker.create_topic("t")
            await topic.subscribe("j", f"{receiver.url}/api/json?x=1", notify_content_format="JSON")
            await topic.subscribe("p", f"{receiver.url}/api/plain", notify_content_format="SIMPLIFIED")
            published = await topic.publish_message("hi")
            await broker.wait_pushes_settled()
            by_target = {seen.target: seen for seen in receiver.requests}
            assert set(by_target) == {"/api/json?x=1", "/api/plain"}
            assert json.loads(by_target["/api/json?x=1"].body) == {
                "TopicOwner": "1234567890",
                "TopicName": "t",
                "Subscriber": "1234567890",
                "SubscriptionName": "j",
                "MessageId": published.message_id,
                "Message": "hi",
                "MessageMD5": published.message_body_md5,
                "PublishTime": str(EPOCH_MS),
            }
            plain = by_target["/api/plain"]
            assert plain.body == b"hi"
            assert plain.headers["content-type"] == "text/plain;charset=utf-8"
            assert "x-mns-message-tag" not in plain.headers
            for seen in receiver.requests:
                assert sample_endpoint_accepts(seen, certificates(broker))


# -- retries -----------------------------------------------------------------------------------


async def test_exponential_decay_retry_plays_out_a_whole_day() -> None:
    answer, times = timed(lambda n: Reply(500))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=2) as broker:
        async with receiving(answer) as receiver:
            topic = await topic_with(broker, receiver.url, notify_strategy="EXPONENTIAL_DECAY_RETRY")
            await topic.publish_message("m")
            await broker.wait_pushes_settled(include_retries=True)
            assert len(times) == 177
            assert gaps(times) == EXPONENTIAL_GAPS
            assert times[-1] - times[0] == 86015
            stats = topic.get_subscription("s").stats()
            assert (stats.attempts, stats.failures, stats.dropped, stats.delivered) == (177, 177, 1, 0)
            assert stats.last_error == "HTTP 500"
            assert (await topic.get_attributes()).message_count == 0


async def test_backoff_retry_tries_four_times_10_to_20_s_apart() -> None:
    answer, times = timed(lambda n: Reply(503))
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=3) as broker:
        async with receiving(answer) as receiver:
            topic = await topic_with(broker, receiver.url)
            await topic.publish_message("m")
            await broker.wait_pushes_settled(include_retries=True)
            assert len(times) == 4
            assert all(10 <= gap <= 20 for gap in gaps(times)), gaps(times)
            assert topic.get_subscription("s").stats().dropped == 1


async def test_success_after_failures_stops_retrying() -> None:
    answer, times = timed(lambda n: Reply(500) if n < 3 else Reply(201))
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(answer) as receiver:
            topic = await topic_with(broker, receiver.url, notify_strategy="EXPONENTIAL_DECAY_RETRY")
            await topic.publish_message("m")
            await broker.wait_pushes_settled(include_retries=True)
            assert gaps(times) == [1, 2, 4]
            stats = topic.get_subscription("s").stats()
            assert (stats.delivered, stats.failures, stats.dropped) == (1, 3, 0)


async def test_a_hanging_endpoint_fails_after_5_s_and_is_retried() -> None:
    answer, times = timed(lambda n: "hang" if n < 2 else Reply(204))
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(answer) as receiver:
            topic = await topic_with(broker, receiver.url, notify_strategy="EXPONENTIAL_DECAY_RETRY")
            await topic.publish_message("m")
            await broker.wait_pushes_settled(include_retries=True)
            assert gaps(times) == [5 + 1, 5 + 2]  # each timeout, then the retry delay
            stats = topic.get_subscription("s").stats()
            assert (stats.delivered, stats.failures) == (1, 2)
            assert stats.last_error == "timed out after 5 s"


async def test_closing_without_an_answer_and_refusing_are_failures() -> None:
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(lambda seen: _none()) as closer:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            refused = f"http://127.0.0.1:{sock.getsockname()[1]}"
            sock.close()
            topic = await broker.create_topic("t")
            await topic.subscribe("closes", closer.url)
            await topic.subscribe("refuses", refused)
            await topic.publish_message("m")
            await broker.wait_pushes_settled()
            closes = topic.get_subscription("closes").stats()
            refuses = topic.get_subscription("refuses").stats()
            assert (closes.failures, closes.retrying) == (1, 1)
            assert closes.last_error == "connection closed before a response"
            assert (refuses.failures, refuses.retrying) == (1, 1)
            assert refuses.last_error == "connection refused"


async def _none() -> None:
    return CLOSE


# -- independence and cancellation -------------------------------------------------------------


async def test_a_hanging_endpoint_does_not_delay_another() -> None:
    fast_answer, fast_times = timed(lambda n: Reply(204))
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(lambda seen: trio.sleep_forever()) as slow, receiving(fast_answer) as fast:
            topic = await broker.create_topic("t")
            await topic.subscribe("slow", slow.url)
            await topic.subscribe("fast", fast.url)
            start = trio.current_time()
            for i in range(20):
                await topic.publish_message(f"m{i}")
            await trio.testing.wait_all_tasks_blocked()  # wakes before the clock may jump
            assert trio.current_time() == start
            assert len(fast_times) == 20  # all at publish time: nothing waited for "slow"
            assert topic.get_subscription("fast").stats().delivered == 20
            slow_stats = topic.get_subscription("slow").stats()
            assert (slow_stats.pending, slow_stats.delivered) == (20, 0)  # 16 in flight, 4 ready


async def test_pushes_to_one_endpoint_run_concurrently() -> None:
    in_flight = peak = 0

    async def answer(seen: Seen) -> Reply:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await trio.sleep(1)
        in_flight -= 1
        return Reply(204)

    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(answer) as receiver:
            topic = await topic_with(broker, receiver.url)
            start = trio.current_time()
            for i in range(32):
                await topic.publish_message(f"m{i}")
            await broker.wait_pushes_settled()
            assert peak == 16  # the per-subscription concurrency
            assert trio.current_time() - start == 2  # two rounds of 16, 1 s each


async def test_unsubscribe_and_topic_deletion_cancel_retries() -> None:
    answer, times = timed(lambda n: Reply(500))
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        async with receiving(answer) as receiver:
            topic = await broker.create_topic("t")
            await topic.subscribe("a", receiver.url, notify_strategy="EXPONENTIAL_DECAY_RETRY")
            other = await broker.create_topic("u")
            await other.subscribe("b", receiver.url, notify_strategy="EXPONENTIAL_DECAY_RETRY")
            await topic.publish_message("m")
            await other.publish_message("m")
            await broker.wait_pushes_settled()
            assert len(times) == 2
            await topic.get_subscription("a").unsubscribe()
            await other.delete()
            await trio.sleep(86400 * 2)
            assert len(times) == 2
            assert not broker._timer._due  # nothing left scheduled
            await topic.subscribe("a", receiver.url)
            await topic.publish_message("again")
            await broker.wait_pushes_settled()
            assert len(times) == 3
