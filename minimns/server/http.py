"""HTTP/1.1 on trio with h11: one task per connection, keep-alive, bounded input.

This module knows nothing of MNS. It turns bytes into ``Request`` values,
hands them to an application (``async (Request) -> Response``) and writes
the ``Response`` back. A handler about to wait (a long poll) enters
``request.watch_hangup()``: the socket is read meanwhile, so a client that
hangs up cancels its own request instead of leaving a waiter behind.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import AsyncIterator, Awaitable, Callable

import h11
import trio

__all__ = ["HangUp", "HttpLimits", "Request", "Response", "serve_connection"]

log = logging.getLogger("minimns.http")


@dataclass(slots=True)
class Request:
    method: str
    target: str  # the request-target exactly as sent: signatures are computed over it
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    # ``async with request.watch_hangup():`` cancels its body if the client hangs
    # up meanwhile (then raises HangUp); None where there is no socket to watch.
    watch_hangup: "Callable[[], AbstractAsyncContextManager[None]] | None" = None
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)  # lower-case keys, raw values

    def __post_init__(self) -> None:
        self.path, _, raw_query = self.target.partition("?")
        self.query = {}
        for item in raw_query.split("&"):
            if item:
                key, _, value = item.partition("=")  # no decoding: the SDK sends handles raw
                self.query[key.lower()] = value


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body: int = 512 * 1024  # bytes; MNS bodies are at most 64 KB of message text
    max_header: int = 16 * 1024
    idle_timeout: float = 300.0  # seconds a keep-alive connection may sit idle
    read_timeout: float = 60.0  # seconds to receive a whole request once it has started


class HangUp(BaseException):
    """The client closed its connection while its request waited.

    A BaseException, like trio.Cancelled, so that no ``except Exception``
    between the waiting code and the connection loop mistakes it for a bug.
    """


Handler = Callable[[Request], Awaitable[Response]]
Rejecter = Callable[[int, str, str], Response]  # (status, code, message) -> error response


class _Closed(Exception):
    """The peer went away, or broke the protocol badly enough that we hang up."""


async def serve_connection(
    stream: trio.abc.Stream,
    handle: Handler,
    reject: Rejecter,
    limits: HttpLimits = HttpLimits(),
) -> None:
    """Serve requests on one connection until either side closes it."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header)
    try:
        while True:
            method: list[str] = []  # the method, once the request line is read
            try:
                request = await _read_request(conn, stream, limits, reject, method)
            except _TooLarge as too_large:
                await _send(conn, stream, too_large.response, close=True, head=method == ["HEAD"])
                return
            if request is None:
                return
            if isinstance(request, Response):  # a request we refuse to read
                await _send(conn, stream, request, close=True, head=method == ["HEAD"])
                return
            request.watch_hangup = partial(_watch_hangup, conn, stream)
            response = await handle(request)
            await _send(conn, stream, response, head=request.method == "HEAD")
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return
    except (_Closed, HangUp, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        with trio.move_on_after(1) as cleanup:
            cleanup.shield = True
            try:
                await stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


class _TooLarge(Exception):
    """A body over the limit: answered with an error, then the connection closes
    (the rest of the body is never read)."""

    def __init__(self, limits: HttpLimits, reject: Rejecter) -> None:
        self.response = reject(
            400, "InvalidArgument", f"The request body is larger than {limits.max_body} bytes."
        )


async def _next_event(conn: h11.Connection, stream: trio.abc.Stream, timeout: float) -> object:
    while True:
        event = conn.next_event()  # RemoteProtocolError for bytes that are not HTTP
        if event is not h11.NEED_DATA:
            return event
        with trio.move_on_after(timeout) as scope:
            data = await stream.receive_some(65536)
        if scope.cancelled_caught:
            raise _Closed()
        conn.receive_data(data)  # b"" marks the end of the stream


async def _read_request(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    limits: HttpLimits,
    reject: Rejecter,
    method: list[str],
) -> Request | Response | None:
    """The next request; a Response to send before hanging up; None when the peer left.
    ``method`` gets the request's method as soon as it is known (a refusal of a
    HEAD request is framed without a body)."""
    try:
        return await _read_request_events(conn, stream, limits, reject, method)
    except h11.RemoteProtocolError as error:
        if conn.our_state is not h11.SEND_RESPONSE and conn.our_state is not h11.IDLE:
            return None
        return reject(400, "InvalidRequest", f"The request is not valid HTTP/1.1: {error}.")


async def _read_request_events(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    limits: HttpLimits,
    reject: Rejecter,
    method_seen: list[str],
) -> Request | Response | None:
    event = await _next_event(conn, stream, limits.idle_timeout)
    if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Request):
        return None
    method_seen.append(event.method.decode("ascii", "replace"))
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers}
    try:
        target = event.target.decode("ascii")
    except UnicodeDecodeError:
        return reject(400, "InvalidRequestURL", "The request URL should be ASCII.")
    method = event.method.decode("ascii")
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_body:
        raise _TooLarge(limits, reject)
    if conn.they_are_waiting_for_100_continue:
        await stream.send_all(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next_event(conn, stream, limits.read_timeout)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limits.max_body:
                raise _TooLarge(limits, reject)
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise _Closed()
    return Request(method, target, headers, b"".join(chunks))


@asynccontextmanager
async def _watch_hangup(conn: h11.Connection, stream: trio.abc.Stream) -> AsyncIterator[None]:
    """Read the socket while the body waits; a hang-up cancels the body and raises HangUp.

    Only requests that are about to park (long polls) pay for this: the
    common request never starts a watcher.
    """
    hung_up = False

    async def watch(cancel_scope: trio.CancelScope) -> None:
        nonlocal hung_up
        buffered = 0
        while buffered < 65536:
            data = await stream.receive_some(65536)
            if not data:
                hung_up = True
                cancel_scope.cancel()  # drop the waiter: it takes no message
                return
            buffered += len(data)
            conn.receive_data(data)  # a pipelined request: h11 keeps it for the next cycle
        await trio.sleep_forever()

    failure: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, nursery.cancel_scope)
        try:
            yield
        except trio.Cancelled:
            raise  # ours (hang-up) is absorbed by the nursery; any other goes on
        except BaseException as error:  # noqa: BLE001 - re-raised below, unwrapped
            failure = error  # (strict nurseries would wrap it in an ExceptionGroup)
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if hung_up:
        raise HangUp()


async def _send(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    response: Response,
    close: bool = False,
    head: bool = False,
) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    body = b"" if head or response.status in (204, 304) else response.body
    if response.status not in (204, 304) and not head:
        headers.append((b"Content-Length", str(len(body)).encode()))
    if close:
        headers.append((b"Connection", b"close"))
    try:
        data = conn.send(h11.Response(status_code=response.status, headers=headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
    except h11.LocalProtocolError:
        log.exception("could not frame a response")
        raise _Closed() from None
    await stream.send_all(data)
