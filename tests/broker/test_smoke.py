import trio

import minimns
from tests.conftest import EPOCH_MS


async def test_send_and_long_poll_receive():
    async with minimns.open_broker(epoch_ms=EPOCH_MS) as broker:
        queue = await broker.create_queue("q1")
        got = []

        async def consumer():
            got.append(await queue.receive_message(wait_seconds=30))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            await trio.sleep(5)
            await queue.send_message("hi")
        assert got[0].message_body == "hi"
        assert got[0].enqueue_time == EPOCH_MS + 5000
