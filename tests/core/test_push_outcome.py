"""The delivery lifecycle in the core: an attempt's outcome decides delivered, retried
(with the strategy's schedule and a jitter drawn from seed, subscription, message and
attempt) or dropped; the broker only schedules what the subscription returns."""

from __future__ import annotations

from minimns.core.retry import retry_jitter
from minimns.core.subscription import SubscriptionAttributes
from minimns.core.topic import TopicAttributes, TopicState

NOW = 1_700_000_000_000


def one_delivery(strategy: str):
    topic = TopicState("t", TopicAttributes(), NOW, 1)
    subscription, _ = topic.subscribe(NOW, "s", SubscriptionAttributes.make(
        "http://127.0.0.1:9/", strategy, None, None))
    _, deliveries = topic.publish(NOW, "body")
    ((sub, delivery),) = deliveries
    assert sub is subscription and subscription.offer(delivery, NOW)
    assert subscription.take() is delivery
    return subscription, delivery


def test_a_success_is_counted_and_schedules_nothing():
    subscription, delivery = one_delivery("BACKOFF_RETRY")
    assert subscription.outcome(delivery, None, NOW, seed=7) is None
    assert (subscription.delivered, subscription.in_flight) == (1, 0)


def test_backoff_retries_three_times_10_to_20_s_apart_then_drops():
    subscription, delivery = one_delivery("BACKOFF_RETRY")
    now = NOW
    for _ in range(3):
        due = subscription.outcome(delivery, "HTTP 500", now, seed=7)
        assert due is not None and 10_000 <= due - now <= 20_000
        now = due
        subscription.advance(now)
        assert subscription.take() is delivery
    assert subscription.outcome(delivery, "HTTP 500", now, seed=7) is None
    assert (subscription.dropped, subscription.failures) == (1, 4)


def test_the_jitter_is_the_same_for_the_same_key_and_spread_across_keys():
    assert retry_jitter(7, "t", "s", "ID", 1) == retry_jitter(7, "t", "s", "ID", 1)
    draws = {retry_jitter(7, "t", "s", f"ID{i}", 1) for i in range(200)}
    assert len(draws) == 200 and all(0 <= d < 1 for d in draws)
    assert min(draws) < 0.1 and max(draws) > 0.9
