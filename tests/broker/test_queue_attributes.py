"""Queue attributes, names, create / set / get / list / delete, as MNS has them."""

import pytest
import trio

import minimns
from minimns import errors
from tests.conftest import EPOCH_MS

RANGES = {
    "delay_seconds": (0, 604800),
    "maximum_message_size": (1024, 65536),
    "message_retention_period": (60, 604800),
    "visibility_timeout": (1, 43200),
    "polling_wait_seconds": (0, 30),
}


async def test_defaults_and_times():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        await trio.sleep(2.5)
        queue = await broker.create_queue("orders")
        meta = await queue.get_attributes()
        assert meta == minimns.QueueMeta(
            queue_name="orders",
            create_time=EPOCH_MS // 1000 + 2,
            last_modify_time=EPOCH_MS // 1000 + 2,
            delay_seconds=0,
            maximum_message_size=65536,
            message_retention_period=345600,
            visibility_timeout=30,
            polling_wait_seconds=0,
            logging_enabled=False,
            active_messages=0,
            inactive_messages=0,
            delay_messages=0,
        )


@pytest.mark.parametrize("name", sorted(RANGES))
async def test_each_range_bound_is_accepted_and_one_beyond_is_invalid(name):
    low, high = RANGES[name]
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        for value in (low, high):
            queue = await broker.create_queue(f"q{value}", **{name: value})
            assert getattr(await queue.get_attributes(), name) == value
        for value in (low - 1, high + 1, "10", 1.5, True):
            with pytest.raises(errors.InvalidArgument) as caught:
                await broker.create_queue("bad", **{name: value})
            assert caught.value.status == 400
        assert (await broker.list_queue()) == (sorted([f"q{low}", f"q{high}"]), "")


async def test_out_of_range_message_names_the_attribute_and_range():
    async with minimns.open_broker() as broker:
        with pytest.raises(errors.InvalidArgument) as caught:
            await broker.create_queue("q", visibility_timeout=0)
        assert caught.value.code == "InvalidArgument"
        assert caught.value.message == "The value of VisibilityTimeout should between 1 and 43200 seconds."


async def test_logging_enabled_accepts_mns_booleans():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", logging_enabled="TRUE")
        assert (await queue.get_attributes()).logging_enabled is True
        await queue.set_attributes(logging_enabled="false")
        assert (await queue.get_attributes()).logging_enabled is False
        with pytest.raises(errors.InvalidArgument):
            await queue.set_attributes(logging_enabled="yes")


async def test_create_is_idempotent_with_identical_attributes_only():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q", visibility_timeout=60)
        await queue.send_message("kept")
        again = await broker.create_queue("q", visibility_timeout=60)
        assert (await again.get_attributes()).active_messages == 1
        with pytest.raises(errors.QueueAlreadyExist) as caught:
            await broker.create_queue("q", visibility_timeout=61)
        assert caught.value.status == 409
        with pytest.raises(errors.QueueAlreadyExist):
            await broker.create_queue("q")  # defaults differ from the existing queue's
        assert (await queue.get_attributes()).visibility_timeout == 60


async def test_set_changes_only_what_is_given_and_touches_last_modify_time():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q", delay_seconds=5, polling_wait_seconds=3)
        await trio.sleep(10)
        await queue.set_attributes(visibility_timeout=90)
        meta = await queue.get_attributes()
        assert (meta.delay_seconds, meta.polling_wait_seconds, meta.visibility_timeout) == (5, 3, 90)
        assert meta.create_time == EPOCH_MS // 1000
        assert meta.last_modify_time == EPOCH_MS // 1000 + 10


async def test_set_is_all_or_nothing():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        with pytest.raises(errors.InvalidArgument):
            await queue.set_attributes(visibility_timeout=60, delay_seconds=-1)
        assert (await queue.get_attributes()).visibility_timeout == 30


async def test_missing_queue():
    async with minimns.open_broker() as broker:
        queue = broker.get_queue("ghost")
        for call in (
            queue.get_attributes(),
            queue.set_attributes(visibility_timeout=5),
            queue.send_message("x"),
            queue.receive_message(),
            queue.peek_message(),
            queue.delete_message("1-1-1-1"),
        ):
            with pytest.raises(errors.QueueNotExist) as caught:
                await call
            assert caught.value.status == 404
            assert caught.value.message == "The queue name you provided is not exist."


@pytest.mark.parametrize(
    "name, error",
    [
        ("", errors.QueueNameLengthError),
        ("a" * 121, errors.QueueNameLengthError),
        ("-leading-dash", errors.InvalidQueueName),
        ("under_score", errors.InvalidQueueName),
        ("dot.ted", errors.InvalidQueueName),
        ("spa ce", errors.InvalidQueueName),
        ("队列", errors.InvalidQueueName),
    ],
)
async def test_name_rules(name, error):
    async with minimns.open_broker() as broker:
        with pytest.raises(error):
            await broker.create_queue(name)
        assert (await broker.list_queue()) == ([], "")


@pytest.mark.parametrize("name", ["a", "0start", "A-b-9", "x" * 120])
async def test_valid_names(name):
    async with minimns.open_broker() as broker:
        await broker.create_queue(name)
        assert (await broker.list_queue()) == ([name], "")


async def test_list_with_prefix_and_marker_paging():
    async with minimns.open_broker() as broker:
        names = [f"job-{i:02d}" for i in range(25)] + ["other", "jobless"]
        for name in names:
            await broker.create_queue(name)
        seen, marker, pages = [], "", 0
        while True:
            page, marker = await broker.list_queue(prefix="job-", ret_number=10, marker=marker)
            seen += page
            pages += 1
            if not marker:
                break
        assert seen == [f"job-{i:02d}" for i in range(25)]
        assert pages == 3
        assert (await broker.list_queue(prefix="jobl")) == (["jobless"], "")
        assert (await broker.list_queue(prefix="zzz")) == ([], "")
        for bad in (0, 1001):
            with pytest.raises(errors.InvalidArgument):
                await broker.list_queue(ret_number=bad)


async def test_list_marker_survives_deletes_between_pages():
    async with minimns.open_broker() as broker:
        for name in "abcdef":
            await broker.create_queue(name)
        page, marker = await broker.list_queue(ret_number=2)
        assert (page, marker) == (["a", "b"], "c")
        await broker.get_queue("c").delete()
        assert (await broker.list_queue(ret_number=2, marker=marker)) == (["d", "e"], "f")


async def test_delete_drops_messages_and_is_idempotent():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("gone")
        received = await (await broker.create_queue("r")).send_message("stays")
        await queue.delete()
        await queue.delete()
        with pytest.raises(errors.QueueNotExist):
            await queue.get_attributes()
        queue = await broker.create_queue("q")
        assert (await queue.get_attributes()).active_messages == 0
        with pytest.raises(errors.MessageNotExist):
            await queue.receive_message()
        assert received.message_id


async def test_handles_from_a_deleted_queue_are_not_valid_in_its_successor():
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("q")
        await queue.send_message("m")
        handle = (await queue.receive_message()).receipt_handle
        await queue.delete()
        queue = await broker.create_queue("q")
        with pytest.raises(errors.ReceiptHandleError):
            await queue.delete_message(handle)


async def test_queue_quota():
    async with minimns.open_broker(max_queues=3) as broker:
        for name in "abc":
            await broker.create_queue(name)
        with pytest.raises(errors.QueueNumExceeded):
            await broker.create_queue("d")
        await broker.create_queue("a")  # an identical create is not a new queue
