"""One HTTP connection on a socket pair, on trio's virtual clock: deadlines kept
by the watchdog (a trickling client, an idle one, one that stops reading), the
head limit however the bytes arrive, and the answer after a quiet pause."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from minimns.server.http import HttpLimits, Request, Response, Watchdog, serve_connection

LIMITS = HttpLimits()  # idle 300 s, read 60 s


def run(test):  # type: ignore[no-untyped-def]
    trio.run(test, clock=trio.testing.MockClock(autojump_threshold=0))


async def ok(request: Request) -> Response:
    return Response(200, [("X-Path", request.path)], b"ok")


def reject(status: int, code: str, message: str) -> Response:
    return Response(status, [("X-Code", code)], message.encode())


class Client:
    """The far end of a socket pair, on trio."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = trio.socket.from_stdlib_socket(sock)

    async def send(self, data: bytes) -> None:
        await self.sock.send(data)

    async def read_all(self) -> bytes:
        """Everything until the server closes."""
        out = b""
        try:
            while chunk := await self.sock.recv(65536):
                out += chunk
        except ConnectionResetError:  # closed with bytes of ours unread
            pass
        return out

    async def response(self) -> bytes:
        """One response whose body is ``ok`` (the handler above)."""
        out = b""
        while not out.endswith(b"\r\n\r\nok"):
            chunk = await self.sock.recv(65536)
            assert chunk, f"closed after {out!r}"
            out += chunk
        return out


async def start(nursery: trio.Nursery, watchdog: Watchdog | None,
                limits: HttpLimits = LIMITS, handle=ok) -> Client:  # type: ignore[no-untyped-def]
    server_side, client_side = socket.socketpair()
    server_side.setblocking(False)
    nursery.start_soon(serve_connection, server_side, handle, reject, limits, watchdog)
    return Client(client_side)


def request(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode()


def test_a_trickling_client_is_closed_when_its_request_is_not_whole_in_time():
    async def test() -> None:
        watchdog = Watchdog()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            client = await start(nursery, watchdog)
            first = trio.current_time()

            async def trickle() -> None:
                for byte in request():
                    try:
                        await client.send(bytes([byte]))
                    except OSError:  # closed by the server
                        return
                    await trio.sleep(5)  # 30 bytes: 150 s if it were let be

            nursery.start_soon(trickle)
            assert await client.read_all() == b""  # closed, with no answer
            closed = trio.current_time() - first
            assert LIMITS.read_timeout <= closed <= LIMITS.read_timeout + watchdog.period
            nursery.cancel_scope.cancel()
    run(test)


def test_an_idle_connection_is_closed_after_the_idle_timeout():
    async def test() -> None:
        watchdog = Watchdog()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            client = await start(nursery, watchdog)
            await client.send(request("/a"))
            assert b"X-Path: /a" in await client.response()
            answered = trio.current_time()
            assert await client.read_all() == b""
            idle = trio.current_time() - answered
            assert LIMITS.idle_timeout <= idle <= LIMITS.idle_timeout + watchdog.period
            await trio.sleep(watchdog.period)
            assert len(watchdog) == 0
            nursery.cancel_scope.cancel()
    run(test)


def test_requests_within_the_idle_timeout_keep_the_connection_open():
    async def test() -> None:
        watchdog = Watchdog()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            client = await start(nursery, watchdog)
            for n in range(6):  # 1,200 s in all, never 300 s idle
                await client.send(request(f"/{n}"))
                assert f"X-Path: /{n}".encode() in await client.response()
                await trio.sleep(LIMITS.idle_timeout - 100)
            nursery.cancel_scope.cancel()
    run(test)


def test_a_long_handler_is_not_cut_by_the_read_deadline():
    async def slow(request: Request) -> Response:
        await trio.sleep(LIMITS.idle_timeout * 2)  # a handler may take as long as it must
        return await ok(request)

    async def test() -> None:
        watchdog = Watchdog()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            client = await start(nursery, watchdog, handle=slow)
            await client.send(request("/slow"))
            assert b"X-Path: /slow" in await client.response()
            nursery.cancel_scope.cancel()
    run(test)


def test_a_client_that_stops_reading_is_dropped_after_the_read_timeout():
    async def big(request: Request) -> Response:
        return Response(200, [], b"x" * (32 * 1024 * 1024))  # far more than socket buffers hold

    async def test() -> None:
        watchdog = Watchdog()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            client = await start(nursery, watchdog, handle=big)
            await client.send(request())
            sent = trio.current_time()
            while not len(watchdog):  # the connection's task has yet to run
                await trio.sleep(0)
            while len(watchdog):
                await trio.sleep(1)
            assert LIMITS.read_timeout <= trio.current_time() - sent <= LIMITS.read_timeout + 2
            received = await client.read_all()
            assert len(received) < 32 * 1024 * 1024
            nursery.cancel_scope.cancel()
    run(test)


def test_without_a_watchdog_a_connection_waits_as_long_as_it_takes():
    async def test() -> None:
        async with trio.open_nursery() as nursery:
            client = await start(nursery, None)
            await client.send(request()[:10])
            await trio.sleep(10_000)
            await client.send(request()[10:])
            assert b"200 OK" in await client.response()
            nursery.cancel_scope.cancel()
    run(test)


@pytest.mark.parametrize("pieces", [1, 20, 2000], ids=["one write", "20 writes", "2000 writes"])
def test_a_20_kb_head_is_refused_however_it_arrives(pieces):
    async def test() -> None:
        async with trio.open_nursery() as nursery:
            client = await start(nursery, None)
            data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\n"
            step = -(-len(data) // pieces)
            for at in range(0, len(data), step):
                try:
                    await client.send(data[at:at + step])
                except OSError:  # the server has refused and closed already
                    break
            answer = await client.read_all()
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert b"X-Code: InvalidRequest" in answer and b"Connection: close" in answer
            nursery.cancel_scope.cancel()
    run(test)


def test_requests_after_quiet_pauses_are_answered():
    """After a response the connection looks for the next request after one
    checkpoint; when it is not there yet, it waits for it."""
    async def test() -> None:
        async with trio.open_nursery() as nursery:
            client = await start(nursery, None)
            for n in range(5):
                await client.send(request(f"/{n}"))
                assert f"X-Path: /{n}".encode() in await client.response()
                await trio.sleep(n)  # 0 s: likely eager; longer: it waits
            nursery.cancel_scope.cancel()
    run(test)


def test_pipelined_requests_are_answered_in_order_in_one_burst():
    async def test() -> None:
        async with trio.open_nursery() as nursery:
            client = await start(nursery, None)
            await client.send(b"".join(request(f"/{n}") for n in range(20)))
            out = b""
            while out.count(b"\r\n\r\nok") < 20:
                out += await client.sock.recv(65536)
            paths = [line for line in out.split(b"\r\n") if line.startswith(b"X-Path")]
            assert paths == [f"X-Path: /{n}".encode() for n in range(20)]
            nursery.cancel_scope.cancel()
    run(test)
