"""A producer and two long-polling consumers on one in-process MNS queue.

Run: python examples/producer_consumer.py

The consumers park in receive_message(wait_seconds=...) and wake the moment
a message is sent, or when a delayed one comes due; nothing polls.
"""

import trio

import minimns


async def producer(queue: minimns.Queue) -> None:
    for i in range(6):
        print(f"producing order {i}")
        await queue.send_message(f"order {i}", priority=1 if i == 4 else 8)
        await trio.sleep(0.05)
    print("producing late order (delayed 1 s)")
    await queue.send_message("late order", delay_seconds=1)


async def consumer(name: str, queue: minimns.Queue) -> None:
    while True:
        try:
            message = await queue.receive_message(wait_seconds=2)
        except minimns.MessageNotExist:
            print(f"{name}: nothing for 2 s, done")
            return
        print(f"{name}: got {message.message_body!r} (dequeue count {message.dequeue_count})")
        await queue.delete_message(message.receipt_handle)


async def main() -> None:
    async with minimns.open_broker() as broker:
        queue = await broker.create_queue("orders", visibility_timeout=30)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer, "consumer-1", queue)
            nursery.start_soon(consumer, "consumer-2", queue)
            nursery.start_soon(producer, queue)
        meta = await queue.get_attributes()
        print(f"left in queue: {meta.active_messages} active, {meta.inactive_messages} inactive")


if __name__ == "__main__":
    trio.run(main)
