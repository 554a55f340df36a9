"""Push endpoints for tests: small h11 receivers on loopback, and the official
sample endpoint's signature check re-done independently.

A ``Receiver`` answers each request with what its ``answer`` coroutine says:
a ``Reply``, ``Raw`` bytes, an ``Abort`` (RST), or None (hang up).
"""

from __future__ import annotations

import base64
import socket
import ssl
import struct
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

import h11
import trio
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# ---------------------------------------------------------------- receivers


@dataclass
class Seen:
    """One request as a receiver got it."""

    connection: int  # 0 for the receiver's first connection, 1 for the next...
    method: str
    target: str
    http_version: str
    raw_headers: list[tuple[str, str]]  # names as sent
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.raw_headers}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close_after: bool = False  # hang up after answering, without saying so
    then: bytes = b""  # written after the answer (then the receiver hangs up)


CLOSE = None  # an answer of None: hang up without answering


class Abort:
    """Hang up with a reset (RST) instead of a FIN, without answering."""


@dataclass
class Raw:
    data: bytes  # written as is, then the receiver hangs up


Answer = Callable[["Seen"], Awaitable["Reply | Raw | Abort | None"]]


class Receiver:
    """A push endpoint on 127.0.0.1: h11, keep-alive, answering with ``answer``."""

    def __init__(self, answer: Answer, server_ssl: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.server_ssl = server_ssl
        self.requests: list[Seen] = []
        self.connections = 0
        self.closed = 0
        self.url = ""

    async def start(self, nursery: trio.Nursery) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        self.url = f"{'https' if self.server_ssl else 'http'}://127.0.0.1:{port}"
        nursery.start_soon(trio.serve_listeners, self._serve, listeners)

    async def _serve(self, stream: trio.SocketStream) -> None:
        index = self.connections
        self.connections += 1
        raw_socket = stream.socket
        conn = h11.Connection(h11.SERVER)
        transport: trio.abc.Stream = stream
        if self.server_ssl is not None:
            transport = trio.SSLStream(stream, self.server_ssl, server_side=True)
        try:
            while True:
                seen = await _read_request(conn, transport, index)
                if seen is None:
                    return
                self.requests.append(seen)
                reply = await self.answer(seen)
                if reply is None:
                    return
                if isinstance(reply, Raw):
                    await transport.send_all(reply.data)
                    return
                if isinstance(reply, Abort):
                    raw_socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    return
                headers = [*reply.headers]
                if reply.status != 204:
                    headers.append(("Content-Length", str(len(reply.body))))
                data = conn.send(h11.Response(status_code=reply.status, headers=headers))
                if reply.body:
                    data += conn.send(h11.Data(data=reply.body))
                data += conn.send(h11.EndOfMessage())
                await transport.send_all(data)
                if reply.then:
                    await transport.send_all(reply.then)
                    return
                if reply.close_after or conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            self.closed += 1
            await trio.aclose_forcefully(transport)


async def _read_request(conn: h11.Connection, stream: trio.abc.Stream, index: int) -> Seen | None:
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return Seen(
                connection=index,
                method=request.method.decode(),
                target=request.target.decode(),
                http_version=request.http_version.decode(),
                raw_headers=[(n.decode(), v.decode()) for n, v in request.headers.raw_items()],
                body=body,
            )
        else:  # ConnectionClosed: the pusher left
            return None


def status(code: int, body: bytes = b"") -> Answer:
    async def answer(seen: Seen) -> Reply:
        return Reply(code, body)

    return answer


@asynccontextmanager
async def receiving(
    answer: Answer, server_ssl: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    async with trio.open_nursery() as nursery:
        receiver = Receiver(answer, server_ssl)
        await receiver.start(nursery)
        try:
            yield receiver
        finally:
            nursery.cancel_scope.cancel()


# ------------------------------------------------ the official sample's check


def sample_endpoint_accepts(seen: Seen, certificates: dict[str, bytes]) -> bool:
    """The official Python SDK sample endpoint's check, re-done independently.

    Like the sample: header names as they arrived, a case-sensitive look-up
    of lower-case content-md5 / content-type / date, the x-mns-* lines sorted
    as "name:value" strings, the certificate fetched from the base64 URL
    (here: looked up in ``certificates``) and SHA1withRSA.
    """
    headers = dict(seen.raw_headers)
    mns_block = "\n".join(
        sorted(f"{name}:{value}" for name, value in headers.items() if name.startswith("x-mns-"))
    )
    signed_fields = [headers.get(key, "") for key in ("content-md5", "content-type", "date")]
    text = f"{seen.method}\n{chr(10).join(signed_fields)}\n{mns_block}\n{seen.target}"
    signature = base64.b64decode(headers["Authorization"])
    url = base64.b64decode(headers["x-mns-signing-cert-url"]).decode()
    public_key = x509.load_pem_x509_certificate(certificates[url]).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature:
        return False
    return True
