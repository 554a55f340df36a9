"""Topics and subscriptions through the in-process broker: attributes, names, paging,
quotas, endpoint and format validation, and what a publish accepts and returns.

Delivery itself (bodies, retries, HTTP) is in test_push_delivery.py.
"""

import hashlib
import json
import re

import pytest
import trio

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS

T0 = EPOCH_MS // 1000  # epoch seconds at the start of every test
QUEUE_EP = "acs:mns:cn-hangzhou:1234567890:queues/"
HTTP_EP = "http://127.0.0.1:8080/api/test"


def md5_upper(body: str) -> str:
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


def topic_meta(name, create, modify, size=65536, count=0, logging=False):
    return minimns.TopicMeta(
        topic_name=name,
        create_time=create,
        last_modify_time=modify,
        maximum_message_size=size,
        message_retention_period=86400,
        message_count=count,
        logging_enabled=logging,
    )


# -- topics: create ----------------------------------------------------------------------------


async def test_create_topic_defaults_and_exact_meta():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t1")
        assert isinstance(topic, minimns.Topic)
        assert topic.topic_name == "t1"
        assert await topic.get_attributes() == topic_meta("t1", T0, T0)


async def test_create_topic_via_handle_and_get_topic_needs_no_topic():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        handle = broker.get_topic("later")
        with pytest.raises(errors.TopicNotExist) as info:
            await handle.get_attributes()
        assert (info.value.status, info.value.message) == (
            404, "The topic you provided does not exist.")
        created = await handle.create(maximum_message_size=2048)
        assert created.topic_name == "later"
        assert (await handle.get_attributes()).maximum_message_size == 2048


async def test_identical_create_finds_the_topic_unchanged():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.create_topic("t", maximum_message_size=4096, logging_enabled=True)
        await trio.sleep(10)
        again = await broker.create_topic("t", maximum_message_size=4096, logging_enabled=True)
        assert await again.get_attributes() == topic_meta("t", T0, T0, size=4096, logging=True)
        assert await broker.list_topic() == (["t"], "")


@pytest.mark.parametrize(
    "attributes",
    [
        {},  # defaults differ from the existing 4096
        {"maximum_message_size": 65536},
        {"maximum_message_size": 4096, "logging_enabled": True},
        {"maximum_message_size": 2048},
    ],
)
async def test_create_with_different_attributes_is_topic_already_exist(attributes):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.create_topic("t", maximum_message_size=4096)
        with pytest.raises(errors.TopicAlreadyExist) as info:
            await broker.create_topic("t", **attributes)
        assert (info.value.code, info.value.status, info.value.message) == (
            "TopicAlreadyExist", 409, "The topic you want to create is already exist.")
        assert await broker.get_topic("t").get_attributes() == topic_meta("t", T0, T0, size=4096)


async def test_the_core_reports_created_then_found():
    # The HTTP edge answers 201 or 204 from this flag.
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        state, created = broker.account.create_topic(broker.now(), "t", 1)
        assert created is True
        again, created = broker.account.create_topic(broker.now(), "t", 2)
        assert (again is state, created) == (True, False)


# -- topics: names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "A", "0", "9-", "a-b-c", "Topic-01", "a" * 120, "1" * 120])
async def test_valid_topic_names(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.create_topic(name)
        assert await broker.list_topic() == ([name], "")


@pytest.mark.parametrize("name", ["-a", "a_b", "a.b", "a b", "a/b", "主题", "a\n", "é"])
async def test_invalid_topic_names(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        with pytest.raises(errors.TopicNameInvalid) as info:
            await broker.create_topic(name)
        assert (info.value.status, info.value.message) == (
            400,
            "TopicName should start with alpha or digit and contain only alpha, digit or -.",
        )
        assert await broker.list_topic() == ([], "")


@pytest.mark.parametrize("name", ["", "a" * 121, "b" * 300])
async def test_topic_name_length(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        with pytest.raises(errors.TopicNameLengthError) as info:
            await broker.create_topic(name)
        assert (info.value.status, info.value.message) == (
            400, "Topic name length should between 1 and 120.")
        assert await broker.list_topic() == ([], "")


# -- topics: attributes ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1024, 1025, 65535, 65536])
async def test_maximum_message_size_bounds_accepted(size):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t", maximum_message_size=size)
        assert (await topic.get_attributes()).maximum_message_size == size
        other = await broker.create_topic("u")
        await other.set_attributes(maximum_message_size=size)
        assert (await other.get_attributes()).maximum_message_size == size


SIZE_MESSAGE = "The value of MaximumMessageSize should between 1024 and 65536 bytes."


@pytest.mark.parametrize("size", [0, 1023, 65537, -1, "2048", 2048.0, True])
async def test_maximum_message_size_out_of_range_on_create(size):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        with pytest.raises(errors.InvalidArgument) as info:
            await broker.create_topic("t", maximum_message_size=size)
        assert (info.value.status, info.value.message) == (400, SIZE_MESSAGE)
        assert await broker.list_topic() == ([], "")


@pytest.mark.parametrize("size", [1023, 65537])
async def test_maximum_message_size_out_of_range_on_set_changes_nothing(size):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t", maximum_message_size=2048)
        await trio.sleep(3)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.set_attributes(maximum_message_size=size, logging_enabled=True)
        assert info.value.message == SIZE_MESSAGE
        assert await topic.get_attributes() == topic_meta("t", T0, T0, size=2048)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("true", True),
                                             ("FALSE", False), ("True", True)])
async def test_logging_enabled_values(value, expected):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t", logging_enabled=value)
        assert (await topic.get_attributes()).logging_enabled is expected


@pytest.mark.parametrize("value", ["yes", 1, 0, "1", ""])
async def test_logging_enabled_garbage(value):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        with pytest.raises(errors.InvalidArgument) as info:
            await broker.create_topic("t", logging_enabled=value)
        assert info.value.message == "The value of LoggingEnabled should be True or False."
        topic = await broker.create_topic("u")
        with pytest.raises(errors.InvalidArgument):
            await topic.set_attributes(logging_enabled=value)
        assert (await topic.get_attributes()).logging_enabled is False


async def test_set_attributes_changes_what_is_given_and_last_modify_time():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await trio.sleep(5.5)
        await topic.set_attributes(maximum_message_size=1024)
        assert await topic.get_attributes() == topic_meta("t", T0, T0 + 5, size=1024)
        await trio.sleep(2)
        await topic.set_attributes(logging_enabled=True)
        assert await topic.get_attributes() == topic_meta("t", T0, T0 + 7, size=1024, logging=True)
        await trio.sleep(1)
        await topic.set_attributes()  # nothing given: nothing changes but the time
        assert await topic.get_attributes() == topic_meta("t", T0, T0 + 8, size=1024, logging=True)


async def test_set_and_get_attributes_of_a_missing_topic():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = broker.get_topic("nope")
        with pytest.raises(errors.TopicNotExist):
            await topic.set_attributes(maximum_message_size=2048)
        with pytest.raises(errors.TopicNotExist):
            await topic.get_attributes()
        with pytest.raises(errors.TopicNotExist):
            await topic.publish_message("m")
        with pytest.raises(errors.TopicNotExist):
            await topic.list_subscription()
        with pytest.raises(errors.TopicNotExist):
            await topic.subscribe("s", QUEUE_EP + "q")


async def test_message_count_is_zero_once_queue_copies_are_delivered():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.create_queue("q")
        topic = await broker.create_topic("t")
        await topic.publish_message("no subscribers")
        assert (await topic.get_attributes()).message_count == 0
        await topic.subscribe("s", QUEUE_EP + "q")
        await topic.publish_message("delivered at once")
        assert (await topic.get_attributes()).message_count == 0


async def test_queues_and_topics_are_separate_namespaces():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.create_queue("same")
        await broker.create_topic("same")
        assert await broker.list_queue() == (["same"], "")
        assert await broker.list_topic() == (["same"], "")
        await broker.get_topic("same").delete()
        assert await broker.list_queue() == (["same"], "")


# -- topics: list ------------------------------------------------------------------------------


async def test_list_topic_paging_prefix_and_marker():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        names = ["a1", "a2", "a3", "ab", "b1", "b2", "c"]
        for name in reversed(names):
            await broker.create_topic(name)
        assert await broker.list_topic() == (names, "")
        assert await broker.list_topic(ret_number=3) == (["a1", "a2", "a3"], "ab")
        assert await broker.list_topic(ret_number=3, marker="ab") == (["ab", "b1", "b2"], "c")
        assert await broker.list_topic(ret_number=3, marker="c") == (["c"], "")
        assert await broker.list_topic(prefix="a") == (["a1", "a2", "a3", "ab"], "")
        assert await broker.list_topic(prefix="a", ret_number=2) == (["a1", "a2"], "a3")
        assert await broker.list_topic(prefix="a", ret_number=2, marker="a3") == (["a3", "ab"], "")
        assert await broker.list_topic(prefix="b", ret_number=2) == (["b1", "b2"], "")
        assert await broker.list_topic(prefix="z") == ([], "")
        assert await broker.list_topic(ret_number=7) == (names, "")
        assert await broker.list_topic(ret_number=6) == (names[:6], "c")


async def test_list_topic_walks_every_page_once():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        names = sorted(f"t{i:03d}" for i in range(25))
        for name in names:
            await broker.create_topic(name)
        seen, marker = [], ""
        while True:
            page, marker = await broker.list_topic(ret_number=4, marker=marker)
            seen += page
            if not marker:
                break
        assert seen == names


async def test_list_topic_marker_survives_deletion_of_the_marked_name():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        for name in ["a", "b", "c", "d"]:
            await broker.create_topic(name)
        first, marker = await broker.list_topic(ret_number=2)
        assert (first, marker) == (["a", "b"], "c")
        await broker.get_topic("c").delete()
        assert await broker.list_topic(ret_number=2, marker=marker) == (["d"], "")


@pytest.mark.parametrize("ret_number", [0, 1001, -1, "5", True])
async def test_list_topic_ret_number_range(ret_number):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        with pytest.raises(errors.InvalidArgument) as info:
            await broker.list_topic(ret_number=ret_number)
        assert info.value.message == "The value of RetNumber should between 1 and 1000."


# -- topics: delete and quota ------------------------------------------------------------------


async def test_delete_topic_removes_it_and_its_subscriptions():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s1", QUEUE_EP + "q")
        await topic.subscribe("s2", HTTP_EP)
        await broker.create_topic("other")
        await topic.delete()
        assert await broker.list_topic() == (["other"], "")
        with pytest.raises(errors.TopicNotExist):
            await topic.get_attributes()
        with pytest.raises(errors.TopicNotExist):
            await topic.get_subscription("s1").get_attributes()
        with pytest.raises(errors.TopicNotExist):
            await topic.publish_message("m")
        with pytest.raises(errors.TopicNotExist):
            topic.get_subscription("s1").stats()
        # The same name is a new topic with no subscriptions.
        await trio.sleep(2)
        again = await broker.create_topic("t")
        assert await again.list_subscription() == ([], "")
        assert await again.get_attributes() == topic_meta("t", T0 + 2, T0 + 2)


async def test_deleting_a_missing_topic_is_fine():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        await broker.get_topic("never").delete()
        topic = await broker.create_topic("t")
        await topic.delete()
        await topic.delete()
        assert await broker.list_topic() == ([], "")


async def test_max_topics_quota():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, max_topics=3) as broker:
        for name in ["a", "b", "c"]:
            await broker.create_topic(name)
        with pytest.raises(errors.TopicNumExceeded) as info:
            await broker.create_topic("d")
        assert (info.value.code, info.value.status, info.value.message) == (
            "TopicNumExceeded", 400, "The number of topics has reached the limit of 3.")
        assert await broker.list_topic() == (["a", "b", "c"], "")
        await broker.create_topic("b")  # finding an existing one is not creating
        await broker.get_topic("a").delete()
        await broker.create_topic("d")
        assert await broker.list_topic() == (["b", "c", "d"], "")


async def test_the_default_quota_is_1000_topics():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        for i in range(1000):
            await broker.create_topic(f"t{i}")
        with pytest.raises(errors.TopicNumExceeded):
            await broker.create_topic("one-more")


async def test_topics_do_not_count_against_queues_quota():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, max_queues=1, max_topics=1) as broker:
        await broker.create_queue("q")
        await broker.create_topic("t")
        with pytest.raises(errors.QueueNumExceeded):
            await broker.create_queue("q2")
        with pytest.raises(errors.TopicNumExceeded):
            await broker.create_topic("t2")


# -- subscriptions -----------------------------------------------------------------------------


def sub_meta(topic, name, endpoint, strategy="BACKOFF_RETRY", fmt="XML", tag="",
             create=T0, modify=T0, owner="1234567890"):
    return minimns.SubscriptionMeta(
        topic_owner=owner,
        topic_name=topic,
        subscription_name=name,
        endpoint=endpoint,
        notify_strategy=strategy,
        notify_content_format=fmt,
        filter_tag=tag,
        create_time=create,
        last_modify_time=modify,
    )


async def test_subscribe_defaults_and_exact_meta():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await trio.sleep(3)
        sub = await topic.subscribe("s", HTTP_EP)
        assert isinstance(sub, minimns.Subscription)
        assert (sub.topic_name, sub.subscription_name) == ("t", "s")
        assert await sub.get_attributes() == sub_meta("t", "s", HTTP_EP, create=T0 + 3,
                                                      modify=T0 + 3)


async def test_subscribe_with_every_attribute():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1, account_id="42") as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe(
            "s", QUEUE_EP + "q", notify_strategy="EXPONENTIAL_DECAY_RETRY",
            notify_content_format="JSON", filter_tag="important",
        )
        assert await sub.get_attributes() == sub_meta(
            "t", "s", QUEUE_EP + "q", "EXPONENTIAL_DECAY_RETRY", "JSON", "important", owner="42")


async def test_subscribe_through_the_subscription_handle():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = topic.get_subscription("s")
        with pytest.raises(errors.SubscriptionNotExist) as info:
            await sub.get_attributes()
        assert (info.value.status, info.value.message) == (
            404, "The subscription you provided does not exist.")
        assert await sub.subscribe(HTTP_EP) is sub
        assert (await sub.get_attributes()).endpoint == HTTP_EP


async def test_identical_subscribe_is_idempotent():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", HTTP_EP, filter_tag="x")
        await trio.sleep(4)
        # Explicit defaults are identical to omitted ones.
        await topic.subscribe("s", HTTP_EP, notify_strategy="BACKOFF_RETRY",
                              notify_content_format="XML", filter_tag="x")
        await topic.subscribe("s", HTTP_EP, filter_tag="x")
        assert await topic.get_subscription("s").get_attributes() == sub_meta(
            "t", "s", HTTP_EP, tag="x")
        assert await topic.list_subscription() == (["s"], "")


@pytest.mark.parametrize(
    "changes",
    [
        {"endpoint": HTTP_EP + "2"},
        {"endpoint": QUEUE_EP + "q"},
        {"notify_strategy": "EXPONENTIAL_DECAY_RETRY"},
        {"notify_content_format": "JSON"},
        {"notify_content_format": "SIMPLIFIED"},
        {"filter_tag": "y"},
        {"filter_tag": None},
    ],
)
async def test_subscribe_with_differing_attributes_is_subscription_already_exist(changes):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("s", HTTP_EP, filter_tag="x")
        attributes = {"endpoint": HTTP_EP, "filter_tag": "x", **changes}
        endpoint = attributes.pop("endpoint")
        with pytest.raises(errors.SubscriptionAlreadyExist) as info:
            await topic.subscribe("s", endpoint, **attributes)
        assert (info.value.code, info.value.status, info.value.message) == (
            "SubscriptionAlreadyExist", 409,
            "The subscription you want to create is already exist.")
        assert await topic.get_subscription("s").get_attributes() == sub_meta(
            "t", "s", HTTP_EP, tag="x")


async def test_subscription_names_are_per_topic():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        t1 = await broker.create_topic("t1")
        t2 = await broker.create_topic("t2")
        await t1.subscribe("s", HTTP_EP)
        await t2.subscribe("s", QUEUE_EP + "q")
        assert (await t1.get_subscription("s").get_attributes()).endpoint == HTTP_EP
        assert (await t2.get_subscription("s").get_attributes()).endpoint == QUEUE_EP + "q"


async def test_set_subscription_attributes_changes_the_strategy_only():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", HTTP_EP, notify_content_format="JSON", filter_tag="x")
        await trio.sleep(9)
        await sub.set_attributes(notify_strategy="EXPONENTIAL_DECAY_RETRY")
        assert await sub.get_attributes() == sub_meta(
            "t", "s", HTTP_EP, "EXPONENTIAL_DECAY_RETRY", "JSON", "x", modify=T0 + 9)
        await trio.sleep(1)
        await sub.set_attributes()  # the SDK's empty body: a no-op
        assert (await sub.get_attributes()).last_modify_time == T0 + 9
        await sub.set_attributes(notify_strategy="BACKOFF_RETRY")
        assert await sub.get_attributes() == sub_meta(
            "t", "s", HTTP_EP, "BACKOFF_RETRY", "JSON", "x", modify=T0 + 10)


@pytest.mark.parametrize("strategy", ["", "backoff_retry", "LINEAR", 1])
async def test_set_subscription_attributes_rejects_garbage_strategy(strategy):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", HTTP_EP)
        with pytest.raises(errors.InvalidArgument) as info:
            await sub.set_attributes(notify_strategy=strategy)
        assert info.value.message == (
            "The NotifyStrategy should be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY, "
            f"not {strategy!r}.")
        assert (await sub.get_attributes()).notify_strategy == "BACKOFF_RETRY"


async def test_operations_on_a_missing_subscription():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = topic.get_subscription("nope")
        with pytest.raises(errors.SubscriptionNotExist):
            await sub.get_attributes()
        with pytest.raises(errors.SubscriptionNotExist):
            await sub.set_attributes(notify_strategy="BACKOFF_RETRY")
        with pytest.raises(errors.SubscriptionNotExist):
            sub.stats()
        await sub.unsubscribe()  # missing is no error


async def test_unsubscribe_removes_it_and_the_name_can_be_reused():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", HTTP_EP)
        await topic.subscribe("keep", HTTP_EP)
        await sub.unsubscribe()
        assert await topic.list_subscription() == (["keep"], "")
        with pytest.raises(errors.SubscriptionNotExist):
            await sub.get_attributes()
        await sub.unsubscribe()
        await trio.sleep(2)
        await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="SIMPLIFIED")
        assert await sub.get_attributes() == sub_meta(
            "t", "s", QUEUE_EP + "q", fmt="SIMPLIFIED", create=T0 + 2, modify=T0 + 2)


async def test_list_subscription_paging():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        names = ["a1", "a2", "a3", "ab", "b1", "b2", "c"]
        for name in reversed(names):
            await topic.subscribe(name, HTTP_EP)
        assert await topic.list_subscription() == (names, "")
        assert await topic.list_subscription(ret_number=3) == (["a1", "a2", "a3"], "ab")
        assert await topic.list_subscription(ret_number=3, marker="ab") == (["ab", "b1", "b2"], "c")
        assert await topic.list_subscription(ret_number=3, marker="c") == (["c"], "")
        assert await topic.list_subscription(prefix="a") == (["a1", "a2", "a3", "ab"], "")
        assert await topic.list_subscription(prefix="a", ret_number=3) == (["a1", "a2", "a3"], "ab")
        assert await topic.list_subscription(prefix="a", ret_number=3, marker="ab") == (["ab"], "")
        assert await topic.list_subscription(prefix="x") == ([], "")
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.list_subscription(ret_number=0)
        assert info.value.message == "The value of RetNumber should between 1 and 1000."
        with pytest.raises(errors.InvalidArgument):
            await topic.list_subscription(ret_number=1001)


async def test_100_subscriptions_per_topic_then_subscription_num_exceeded():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        for i in range(100):
            await topic.subscribe(f"s{i:03d}", HTTP_EP)
        with pytest.raises(errors.SubscriptionNumExceeded) as info:
            await topic.subscribe("one-more", HTTP_EP)
        assert (info.value.code, info.value.status, info.value.message) == (
            "SubscriptionNumExceeded", 400, "A topic has at most 100 subscriptions.")
        await topic.subscribe("s050", HTTP_EP)  # identical: found, not created
        with pytest.raises(errors.SubscriptionAlreadyExist):
            await topic.subscribe("s050", QUEUE_EP + "q")
        # The quota is per topic.
        other = await broker.create_topic("u")
        await other.subscribe("s", HTTP_EP)
        # Unsubscribing makes room.
        await topic.get_subscription("s000").unsubscribe()
        await topic.subscribe("one-more", HTTP_EP)
        names, marker = await topic.list_subscription()
        assert (len(names), marker, names[0], names[-1]) == (100, "", "one-more", "s099")
        page, marker = await topic.list_subscription(ret_number=60)
        assert (len(page), marker) == (60, names[60])


@pytest.mark.parametrize("name", ["a", "0", "a-", "Sub-1", "x" * 255, "9" * 255])
async def test_valid_subscription_names(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe(name, HTTP_EP)
        assert await topic.list_subscription() == ([name], "")
        assert (await topic.get_subscription(name).get_attributes()).subscription_name == name


@pytest.mark.parametrize("name", ["-a", "a_b", "a.b", "a b", "订阅", "a/b"])
async def test_invalid_subscription_names(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.SubscriptionNameInvalid) as info:
            await topic.subscribe(name, HTTP_EP)
        assert (info.value.status, info.value.message) == (
            400,
            "SubscriptionName should start with alpha or digit and contain only alpha, digit or -.",
        )
        assert await topic.list_subscription() == ([], "")


@pytest.mark.parametrize("name", ["", "x" * 256, "y" * 1000])
async def test_subscription_name_length(name):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.SubscriptionNameLengthError) as info:
            await topic.subscribe(name, HTTP_EP)
        assert (info.value.status, info.value.message) == (
            400, "Subscription name length should between 1 and 255.")
        assert await topic.list_subscription() == ([], "")


# -- endpoints ---------------------------------------------------------------------------------

VALID_ENDPOINTS = [
    ("http://example.com", "XML"),
    ("http://127.0.0.1:8080/api/test", "XML"),
    ("https://example.com/notify?x=1&y=2", "XML"),
    ("HTTP://Example.COM:65535/a/mns-reserved-is-fine-here", "XML"),
    ("http://[::1]:9000/", "XML"),
    ("acs:mns:cn-hangzhou:1234567890:queues/q", "XML"),
    ("acs:mns:cn-shanghai:127:queues/" + "q" * 120, "XML"),
    ("acs:mns:any-region:9:queues/Q-1", "XML"),
    ("mail:directmail:someone@example.com", "SIMPLIFIED"),
    ("mail:directmail:a.b+c@mail.example.org", "SIMPLIFIED"),
    ("sms:directsms:anonymous", "SIMPLIFIED"),
    ("sms:directsms:13800000000", "SIMPLIFIED"),
    ("sms:directsms:12345", "SIMPLIFIED"),
]


@pytest.mark.parametrize("endpoint, default_format", VALID_ENDPOINTS)
async def test_valid_endpoints_and_their_default_format(endpoint, default_format):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", endpoint)
        meta = await sub.get_attributes()
        assert (meta.endpoint, meta.notify_content_format, meta.notify_strategy) == (
            endpoint, default_format, "BACKOFF_RETRY")


INVALID_ENDPOINTS = [
    "",
    "ftp://example.com/x",
    "http://",
    "https://",
    "http:///path",
    "http://:8080/x",
    "http://example.com/mns-reserved-x",
    "http://example.com/mns-reserved-",
    "http://user:pw@example.com/x",
    "http://example.com:99999/",
    "http://example.com:port/",
    "http://example.com:0/",
    "http://example.com/#frag",
    "http://exa mple.com/",
    "http://example.com/a b",
    " http://example.com",
    "http://example.com/\t",
    "example.com",
    "acs:mns:cn-hangzhou:1234567890:queues/",
    "acs:mns:cn-hangzhou:1234567890:queues/-q",
    "acs:mns:cn-hangzhou:1234567890:queues/q_1",
    "acs:mns:cn-hangzhou:1234567890:queues/q/x",
    "acs:mns:cn-hangzhou:1234567890:queues/" + "q" * 121,
    "acs:mns:cn-hangzhou:1234567890:topics/t",
    "acs:mns:cn-hangzhou:queues/q",
    "acs:mns::1234567890:queues/q",
    "mail:directmail:nobody.example.com",
    "mail:directmail:",
    "mail:directmail:a@b",
    "mail:directmail:a@@b.com",
    "mail:somethingelse:a@b.com",
    "sms:directsms:abc",
    "sms:directsms:138abc00000",
    "sms:directsms:",
    "sms:directsms:1234",
    "sms:directsms:Anonymous",
    "sms:other:13800000000",
    "http://example.com/" + "a" * 1100,
]


@pytest.mark.parametrize("endpoint", INVALID_ENDPOINTS)
async def test_invalid_endpoints(endpoint):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.EndpointInvalid) as info:
            await topic.subscribe("s", endpoint)
        assert (info.value.code, info.value.status) == ("EndpointInvalid", 400)
        assert info.value.message
        assert await topic.list_subscription() == ([], "")


@pytest.mark.parametrize("endpoint", [None, 5, b"http://example.com"])
async def test_non_text_endpoints(endpoint):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.EndpointInvalid) as info:
            await topic.subscribe("s", endpoint)
        assert info.value.message == "The Endpoint should not be empty."


async def test_endpoint_invalid_messages_say_what_is_wrong():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")

        async def message_of(endpoint):
            with pytest.raises(errors.EndpointInvalid) as info:
                await topic.subscribe("s", endpoint)
            return info.value.message

        assert await message_of("") == "The Endpoint should not be empty."
        assert await message_of("http://h/mns-reserved-x") == (
            "An HttpEndpoint path may not start with /mns-reserved-.")
        assert await message_of("http://") == (
            "The endpoint 'http://' should be http(s)://host[:port][/path].")
        assert await message_of("acs:mns:r:1:queues/q_1") == (
            "The queue endpoint 'acs:mns:r:1:queues/q_1' is not valid: QueueName should start "
            "with alpha or digit and contain only alpha, digit or -.")
        assert (await message_of("ftp://h")).startswith("The endpoint 'ftp://h' is not valid: use ")


# -- FilterTag, NotifyContentFormat, NotifyStrategy --------------------------------------------


@pytest.mark.parametrize("tag", ["a", "x" * 16, "标签", "with space", ""])
async def test_filter_tags_up_to_16_chars(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", HTTP_EP, filter_tag=tag)
        assert (await sub.get_attributes()).filter_tag == tag


@pytest.mark.parametrize("tag", ["x" * 17, "标" * 17, 5])
async def test_filter_tag_too_long(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.subscribe("s", HTTP_EP, filter_tag=tag)
        assert (info.value.status, info.value.message) == (
            400, "The length of FilterTag should between 0 and 16.")
        assert await topic.list_subscription() == ([], "")


FORMAT_CASES = [
    # endpoint, format asked, format kept (None: rejected)
    (HTTP_EP, None, "XML"),
    (HTTP_EP, "", "XML"),
    (HTTP_EP, "XML", "XML"),
    (HTTP_EP, "JSON", "JSON"),
    (HTTP_EP, "SIMPLIFIED", "SIMPLIFIED"),
    (QUEUE_EP + "q", None, "XML"),
    (QUEUE_EP + "q", "JSON", "JSON"),
    (QUEUE_EP + "q", "SIMPLIFIED", "SIMPLIFIED"),
    ("mail:directmail:a@b.com", None, "SIMPLIFIED"),
    ("mail:directmail:a@b.com", "SIMPLIFIED", "SIMPLIFIED"),
    ("mail:directmail:a@b.com", "XML", None),
    ("mail:directmail:a@b.com", "JSON", None),
    ("sms:directsms:anonymous", None, "SIMPLIFIED"),
    ("sms:directsms:anonymous", "SIMPLIFIED", "SIMPLIFIED"),
    ("sms:directsms:13800000000", "XML", None),
    ("sms:directsms:13800000000", "JSON", None),
]


@pytest.mark.parametrize("endpoint, asked, kept", FORMAT_CASES)
async def test_notify_content_format_rules(endpoint, asked, kept):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        if kept is None:
            with pytest.raises(errors.InvalidArgument) as info:
                await topic.subscribe("s", endpoint, notify_content_format=asked)
            assert info.value.message == (
                "Mail and SMS endpoints take only the SIMPLIFIED NotifyContentFormat.")
            assert await topic.list_subscription() == ([], "")
        else:
            sub = await topic.subscribe("s", endpoint, notify_content_format=asked)
            assert (await sub.get_attributes()).notify_content_format == kept


@pytest.mark.parametrize("fmt", ["xml", "Json", "TEXT", "SIMPLE", 1])
@pytest.mark.parametrize("endpoint", [HTTP_EP, QUEUE_EP + "q", "mail:directmail:a@b.com"])
async def test_garbage_notify_content_format(endpoint, fmt):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.subscribe("s", endpoint, notify_content_format=fmt)
        assert info.value.message == (
            f"The NotifyContentFormat should be XML, JSON or SIMPLIFIED, not {fmt!r}.")
        assert await topic.list_subscription() == ([], "")


@pytest.mark.parametrize("strategy, kept", [(None, "BACKOFF_RETRY"), ("", "BACKOFF_RETRY"),
                                            ("BACKOFF_RETRY", "BACKOFF_RETRY"),
                                            ("EXPONENTIAL_DECAY_RETRY", "EXPONENTIAL_DECAY_RETRY")])
async def test_notify_strategy_values(strategy, kept):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        sub = await topic.subscribe("s", "sms:directsms:anonymous", notify_strategy=strategy)
        assert (await sub.get_attributes()).notify_strategy == kept


@pytest.mark.parametrize("strategy", ["backoff_retry", "EXPONENTIAL", "RETRY", 2])
async def test_garbage_notify_strategy(strategy):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.subscribe("s", HTTP_EP, notify_strategy=strategy)
        assert info.value.message == (
            "The NotifyStrategy should be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY, "
            f"not {strategy!r}.")
        assert await topic.list_subscription() == ([], "")


# -- publish -----------------------------------------------------------------------------------


async def _topic_with_queue(broker, fmt="SIMPLIFIED", **topic_attributes):
    queue = await broker.create_queue("q")
    topic = await broker.create_topic("t", **topic_attributes)
    await topic.subscribe("s", QUEUE_EP + "q", notify_content_format=fmt)
    return topic, queue


async def _bodies(queue):
    out = []
    while True:
        try:
            got = await queue.receive_message(wait_seconds=0)
        except errors.MessageNotExist:
            return out
        out.append(got.message_body)


async def test_publish_returns_an_id_and_the_md5():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        body = "hi <there> & 世界 — ✓ \U0001f600"
        published = await topic.publish_message(body)
        assert isinstance(published, minimns.PublishedMessage)
        assert re.fullmatch(r"[0-9A-F]{32}", published.message_id)
        assert published.message_body_md5 == md5_upper(body)
        assert published.message_body_md5 != hashlib.md5(body.encode("utf-16")).hexdigest().upper()
        assert published.message_group_id is None
        assert await _bodies(queue) == [body]


async def test_message_ids_are_distinct_and_ordered():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        ids = [(await topic.publish_message(f"m{i}")).message_id for i in range(20)]
        assert len(set(ids)) == 20
        assert ids == sorted(ids)
        assert all(re.fullmatch(r"[0-9A-F]{32}", i) for i in ids)
        other = await broker.create_topic("u")
        assert (await other.publish_message("m")).message_id not in ids


async def test_publish_with_the_same_seed_gives_the_same_ids():
    async def ids():
        async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=7) as broker:
            topic = await broker.create_topic("t")
            return [(await topic.publish_message("m")).message_id for _ in range(3)]

    assert await ids() == await ids()


@pytest.mark.parametrize("body", ["", None, 5, b"bytes"])
async def test_publish_empty_or_non_text_body(body):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message(minimns.TopicMessage(body))
        expected = ("The MessageBody should not be empty." if body == ""
                    else "The MessageBody should be a string.")
        assert (info.value.status, info.value.message) == (400, expected)
        assert await _bodies(queue) == []


async def test_publish_empty_str_body():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message("")
        assert info.value.message == "The MessageBody should not be empty."
        assert await _bodies(queue) == []


@pytest.mark.parametrize("message", [None, 5, b"bytes", ["m"]])
async def test_publish_something_that_is_not_a_message(message):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message(message)
        assert info.value.message == "A message should be a str or a minimns.TopicMessage."
        assert await _bodies(queue) == []


async def test_publish_body_size_limits_of_the_topic():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker, maximum_message_size=1024)
        await topic.publish_message("a" * 1024)
        await topic.publish_message("é" * 512)  # 1024 UTF-8 bytes
        for body, size in [("a" * 1025, 1025), ("é" * 513, 1026), ("世" * 342, 1026)]:
            with pytest.raises(errors.InvalidArgument) as info:
                await topic.publish_message(body)
            assert (info.value.status, info.value.message) == (
                400,
                f"The length of MessageBody is {size} bytes, more than MaximumMessageSize "
                "1024 bytes of this topic.",
            )
        assert await _bodies(queue) == ["a" * 1024, "é" * 512]
        assert (await topic.get_attributes()).message_count == 0
        # A rejected publish mints no id: the next one follows on.
        first = await topic.publish_message("x")
        second = await topic.publish_message("y")
        assert int(second.message_id, 16) - int(first.message_id, 16) == 1
        assert int(first.message_id[16:], 16) == 3


async def test_publish_default_limit_is_65536_bytes():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        await topic.publish_message("b" * 65536)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message("b" * 65537)
        assert info.value.message == (
            "The length of MessageBody is 65537 bytes, more than MaximumMessageSize "
            "65536 bytes of this topic.")
        assert [len(b) for b in await _bodies(queue)] == [65536]


async def test_publish_follows_a_changed_limit():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        await topic.set_attributes(maximum_message_size=2000)
        with pytest.raises(errors.InvalidArgument):
            await topic.publish_message("c" * 2001)
        await topic.publish_message("c" * 2000)
        assert [len(b) for b in await _bodies(queue)] == [2000]


@pytest.mark.parametrize("tag", ["t" * 17, "标" * 17, 3])
async def test_publish_message_tag_too_long(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message("m", message_tag=tag)
        assert (info.value.status, info.value.message) == (
            400, "The length of MessageTag should between 0 and 16.")
        with pytest.raises(errors.InvalidArgument):
            await topic.publish_message(minimns.TopicMessage("m", message_tag=tag))
        assert await _bodies(queue) == []


@pytest.mark.parametrize("tag", ["t" * 16, "a", "标签"])
async def test_publish_message_tag_up_to_16(tag):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        await topic.get_subscription("s").unsubscribe()
        await topic.subscribe("s", QUEUE_EP + "q", notify_content_format="JSON", filter_tag=tag)
        await topic.publish_message("m", message_tag=tag)
        [body] = await _bodies(queue)
        assert json.loads(body)["MessageTag"] == tag


async def test_a_tag_given_twice_is_rejected():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message(minimns.TopicMessage("m"), message_tag="x")
        assert info.value.message == "Give the tag in the TopicMessage."
        assert await _bodies(queue) == []


@pytest.mark.parametrize("name", ["DirectMail", "DirectSMS"])
@pytest.mark.parametrize("text", ["[1, 2]", '"text"', "5", "null", "not json", "{", ""])
async def test_direct_mail_and_sms_must_be_json_objects(name, text):
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message(
                minimns.TopicMessage("m", message_attributes={name: text}))
        assert (info.value.status, info.value.message) == (
            400, f"The {name} attribute should be a JSON object.")
        assert await _bodies(queue) == []
        assert (await topic.get_attributes()).message_count == 0


async def test_message_attributes_must_be_strings():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        with pytest.raises(errors.InvalidArgument) as info:
            await topic.publish_message(minimns.TopicMessage("m", message_attributes={"X": 1}))
        assert info.value.message == "MessageAttributes should map names to strings."
        assert await _bodies(queue) == []


async def test_message_attributes_are_kept_for_mail_and_sms():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("mail", "mail:directmail:a@b.com")
        await topic.subscribe("sms", "sms:directsms:anonymous")
        mail = {"AccountName": "a@b.com", "Subject": "subj", "AddressType": 0, "IsHtml": 1,
                "ReplyToAddress": 0}
        sms = {"FreeSignName": "Sign", "TemplateCode": "SMS_1", "Type": "multiContent",
               "Receiver": "", "SmsParams": json.dumps({"13800000000": {"code": "1234"}})}
        published = await topic.publish_message(minimns.TopicMessage(
            "content", message_tag="tag", direct_mail=mail, direct_sms=sms,
            message_attributes={"DYSMS": "<opaque & kept>", "DM": "{not json"},
        ))
        [got_mail] = broker.outbox.mail
        [got_sms] = broker.outbox.sms
        for got in (got_mail, got_sms):
            assert got.message_id == published.message_id
            assert (got.message_body, got.message_tag) == ("content", "tag")
            assert got.message_attributes == {
                "DYSMS": "<opaque & kept>", "DM": "{not json",
                "DirectMail": json.dumps(mail), "DirectSMS": json.dumps(sms),
            }
            assert json.loads(got.message_attributes["DirectMail"]) == mail
            assert json.loads(got.message_attributes["DirectSMS"]) == sms


async def test_direct_mail_given_as_raw_json_text_is_kept_verbatim():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic = await broker.create_topic("t")
        await topic.subscribe("mail", "mail:directmail:a@b.com")
        text = '{"AccountName":"a@b.com",  "Subject":"s"}'
        await topic.publish_message(minimns.TopicMessage(
            "m", message_attributes={"DirectMail": text}))
        assert broker.outbox.mail[0].message_attributes == {"DirectMail": text}


async def test_publish_keeps_message_group_id_and_properties():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker)
        published = await topic.publish_message(minimns.TopicMessage(
            "m", message_group_id="g1", user_properties={"k": "v"}))
        assert published.message_group_id == "g1"
        got = await queue.receive_message(wait_seconds=0)
        assert (got.message_body, got.message_group_id) == ("m", "g1")
        assert got.user_properties == (("k", "v", "STRING"),)


async def test_an_empty_tag_is_no_tag():
    async with minimns.open_broker(epoch_ms=EPOCH_MS, seed=1) as broker:
        topic, queue = await _topic_with_queue(broker, fmt="JSON")
        await topic.publish_message("m", message_tag="")
        [body] = await _bodies(queue)
        assert "MessageTag" not in json.loads(body)
