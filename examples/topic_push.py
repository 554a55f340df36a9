"""A topic fanning out to a queue and to a signed HTTP webhook, in one process.

The webhook verifies each push's signature with the certificate the broker
serves, as any MNS push receiver does. Run: python examples/topic_push.py
"""

from __future__ import annotations

import h11
import trio

import minimns
from minimns.push import verify_notification


async def webhook(stream: trio.SocketStream, broker: minimns.Broker) -> None:
    """A minimal push endpoint: read one POST, check its signature, answer 204."""
    conn = h11.Connection(h11.SERVER)
    request, body = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    assert request is not None
    headers = [(name.decode(), value.decode()) for name, value in request.headers.raw_items()]
    certificate = broker.pusher.signer.certificate_pem  # what /_minimns/x509_public_certificate.pem serves
    verified = verify_notification("POST", headers, request.target.decode(), certificate)
    print(f"webhook: {request.target.decode()} signature ok={verified}\n  {body.decode()}")
    await stream.send_all(conn.send(h11.Response(status_code=204, headers=[])))
    await stream.aclose()


async def main() -> None:
    async with minimns.open_broker() as broker, trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, lambda s: webhook(s, broker), listeners)

        audit = await broker.create_queue("audit")
        topic = await broker.create_topic("orders")
        await topic.subscribe("audit", "acs:mns:cn-hangzhou:1234567890:queues/audit",
                              notify_content_format="SIMPLIFIED")
        await topic.subscribe("paid-hook", f"http://127.0.0.1:{port}/hooks/paid",
                              notify_content_format="JSON", filter_tag="paid")

        await topic.publish_message(minimns.TopicMessage("order 41 created", message_tag="created"))
        await topic.publish_message(minimns.TopicMessage("order 41 paid", message_tag="paid"))
        await broker.wait_pushes_settled()

        for _ in range(2):
            message = await audit.receive_message()
            print(f"audit queue: {message.message_body}")
            await audit.delete_message(message.receipt_handle)
        print("webhook stats:", topic.get_subscription("paid-hook").stats())
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
