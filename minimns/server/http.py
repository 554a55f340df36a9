"""HTTP/1.1 on trio, lean: one task per connection on a plain non-blocking socket.

This module knows nothing of MNS. It reads requests with ``RequestParser``
(llhttp), hands each to an application (``async (Request) -> Response``)
and writes the answer back in one ``send``. Measured per request, the
socket wrappers, the pure-Python parser and the framing of the old h11 edge
cost more than the MNS work behind them (benchmarks/README.md); so here:

* the socket is read and written directly: a ``recv`` that has data and a
  ``send`` the kernel takes do not go through the scheduler. The task waits
  (``wait_readable``) only when there is nothing to read, and it yields at
  least every ``_YIELD_EVERY`` requests so that a pipelining client cannot
  starve the others;
* a response is its head, written from cached pieces, and its body, joined
  into one write;
* a long poll waits in its own connection's task: ``request.idle`` is what
  the queue awaits while parked, and it waits for the socket to turn
  readable. A hang-up raises HangUp there (no waiter is left behind, and no
  message is taken); bytes of pipelined requests are parsed and kept for
  after the poll.

Timeouts are deadlines, kept by one ``Watchdog`` task for all connections:
an idle keep-alive connection is closed after ``idle_timeout``, a request
must arrive whole within ``read_timeout`` of its first byte however slowly
it trickles in, and a client must take a response within ``read_timeout``.
"""

from __future__ import annotations

import logging
import math
import socket
from dataclasses import dataclass
from http import HTTPStatus
from typing import Awaitable, Callable

import trio
from trio.lowlevel import checkpoint, notify_closing, wait_readable, wait_writable

from .http_parser import Refusal, Request, RequestParser

__all__ = ["HangUp", "HttpLimits", "Request", "Response", "Watchdog", "serve_connection"]

log = logging.getLogger("minimns.http")

_READ_SIZE = 65536
_YIELD_EVERY = 8  # requests answered without a scheduling point before one is taken
_PIPELINE_MAX = 64  # parsed requests held behind the one being answered
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Response:
    """A status, header pairs and a body; ``Content-Length`` is added when written."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_body: int = 512 * 1024  # bytes; MNS bodies are at most 64 KB of message text
    max_header: int = 16 * 1024
    idle_timeout: float = 300.0  # seconds a keep-alive connection may sit idle
    read_timeout: float = 60.0  # seconds for a whole request, from its first byte


class HangUp(BaseException):
    """The client closed its connection while its request waited.

    A BaseException, like trio.Cancelled, so that no ``except Exception``
    between the waiting code and the connection loop mistakes it for a bug.
    """


Handler = Callable[[Request], Awaitable[Response]]
Rejecter = Callable[[int, str, str], Response]  # (status, code, message) -> error response


class _Closed(Exception):
    """The peer went away, or a deadline passed: the connection is dropped."""


def _status_lines() -> dict[int, bytes]:
    return {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


_STATUS = _status_lines()
_NO_BODY = frozenset((204, 304))


def frame(response: Response, head_only: bool = False, close: bool = False) -> bytes:
    """The bytes of a response: status line, headers, Content-Length, body.

    Header values come from the application; one with a line break would
    split the response, so it is refused here whatever produced it.
    """
    status = response.status
    lines = [_STATUS.get(status) or f"HTTP/1.1 {status} \r\n".encode()]
    parts = []
    for name, value in response.headers:
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"a line break in the response header {name!r}")
        parts.append(f"{name}: {value}\r\n")
    body = response.body
    if status in _NO_BODY:
        body = b""
    elif not head_only:
        parts.append(f"Content-Length: {len(body)}\r\n")
    if close:
        parts.append("Connection: close\r\n")
    parts.append("\r\n")
    lines.append("".join(parts).encode("latin-1"))
    if body and not head_only:
        lines.append(body)
    return b"".join(lines)


class Watchdog:
    """Closes connections whose deadline has passed, for every connection of a
    server at once: one task that looks once a ``period``, so that waiting on a
    socket needs no cancel scope of its own (entering and leaving one per wait
    cost more than the wait). A deadline is enforced up to a period late.
    """

    __slots__ = ("period", "_connections")

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self._connections: set[_Connection] = set()

    def __len__(self) -> int:
        return len(self._connections)

    def watch(self, connection: "_Connection") -> None:
        self._connections.add(connection)

    def forget(self, connection: "_Connection") -> None:
        self._connections.discard(connection)

    async def run(self) -> None:
        while True:
            await trio.sleep(self.period)
            now = trio.current_time()
            for connection in [c for c in self._connections if c.deadline <= now]:
                connection.scope.cancel()


class _Connection:
    """One client connection: its socket, its parser and its deadline."""

    __slots__ = ("sock", "parser", "handle", "reject", "limits", "started", "deadline",
                 "scope", "eager")

    def __init__(self, sock: socket.socket, handle: Handler, reject: Rejecter,
                 limits: HttpLimits) -> None:
        self.sock = sock
        self.parser = RequestParser(limits.max_header, limits.max_body)
        self.handle = handle
        self.reject = reject
        self.limits = limits
        self.started = math.inf  # trio time the current request's first bytes arrived
        # When the watchdog closes this connection: set only while it waits on
        # the client (to send, or to read), never while a request is answered.
        self.deadline = math.inf
        self.scope = trio.CancelScope()
        # After a response, look for the next request after a checkpoint rather
        # than wait for it (see _serve); off for one request after that failed.
        self.eager = True

    async def _serve(self, timed: bool) -> None:
        parser = self.parser
        requests = parser.requests
        unyielded = 0
        while True:
            continued = False
            while not requests:
                if parser.refusal is not None:
                    await self._refuse(parser.refusal)
                    return
                if parser.eof:
                    return
                if parser.wants_continue and not continued:
                    continued = True
                    await self._send(_CONTINUE)
                data = await self._receive(timed)
                unyielded = 0  # it waited: that was a scheduling point
                if timed:
                    self._feed_timed(data)
                else:
                    parser.feed(data)
            request = requests.pop(0)
            request.idle = self.idle
            response = await self.handle(request)
            try:
                data = frame(response, request.method == "HEAD", close=request.last)
            except ValueError:
                log.exception("could not frame a response to %s %s", request.method,
                              request.target)
                return
            await self._send(data)
            if request.last:
                return
            if requests:  # pipelined: answer on, but let the other connections in now and then
                unyielded += 1
                if unyielded >= _YIELD_EVERY:
                    unyielded = 0
                    await checkpoint()
                continue
            # The client has its answer and is writing the next request. While
            # this task gives way to the others, that request usually arrives:
            # then one checkpoint replaces a wait for readiness (an epoll_ctl,
            # a trip through the IO manager). When it does not arrive (a quiet
            # server), the connection waits, and tries again later.
            if self.eager:
                await checkpoint()
                try:
                    data = self.sock.recv(_READ_SIZE)
                except BlockingIOError:
                    self.eager = False
                    continue
                except OSError:  # reset by the peer
                    data = b""
                if timed:
                    self._feed_timed(data)
                else:
                    parser.feed(data)
                continue
            self.eager = True  # waited this time; try it again next time

    def _feed_timed(self, data: bytes) -> None:
        parser = self.parser
        parser.feed(data)
        if not parser.partial:
            self.started = math.inf
        elif self.started == math.inf:
            self.started = trio.current_time()

    async def _receive(self, timed: bool) -> bytes:
        """The next bytes, waiting for them if needed (b"" at the end of the stream)."""
        sock = self.sock
        while True:
            try:
                return sock.recv(_READ_SIZE)
            except BlockingIOError:
                pass
            except OSError:  # reset by the peer
                return b""
            if timed:
                limits = self.limits
                if self.parser.partial:
                    self.deadline = self.started + limits.read_timeout
                else:
                    self.deadline = trio.current_time() + limits.idle_timeout
                await wait_readable(sock)
                self.deadline = math.inf
            else:
                await wait_readable(sock)

    async def _send(self, data: bytes) -> None:
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            raise _Closed() from None
        if sent == len(data):
            return
        view = memoryview(data)
        # A client that stops reading is dropped (by the watchdog, when there is one).
        self.deadline = trio.current_time() + self.limits.read_timeout
        while sent < len(data):
            await wait_writable(sock)
            try:
                sent += sock.send(view[sent:])
            except BlockingIOError:
                pass
            except OSError:
                raise _Closed() from None
        self.deadline = math.inf

    async def _refuse(self, refusal: Refusal) -> None:
        response = self.reject(refusal.status, refusal.code, refusal.message)
        await self._send(frame(response, refusal.head, close=True))

    async def idle(self) -> None:
        """What a parked long poll awaits: the socket, until the client hangs up.

        Bytes that arrive meanwhile are the next requests (pipelining): they
        are parsed and kept. Once enough are held, or the stream is refused,
        the socket is left alone until the poll ends.
        """
        parser = self.parser
        sock = self.sock
        while parser.refusal is None and len(parser.requests) < _PIPELINE_MAX:
            await wait_readable(sock)
            try:
                data = sock.recv(_READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                raise HangUp()
            parser.feed(data)
        await trio.sleep_forever()


async def serve_connection(
    sock: socket.socket,
    handle: Handler,
    reject: Rejecter,
    limits: HttpLimits = HttpLimits(),
    watchdog: Watchdog | None = None,
) -> None:
    """Serve requests on one connected, non-blocking socket until either side closes it.

    The limits' timeouts hold only with a ``watchdog`` running (``Watchdog.run``);
    without one (a virtual clock, where jumps are not idle time) a connection
    waits for its client as long as it takes.
    """
    connection = _Connection(sock, handle, reject, limits)
    try:
        # (the connection's loop is awaited from here, one frame fewer for each of
        # 10,000 parked long polls than a method of its own would cost)
        if watchdog is None:
            await connection._serve(False)
        else:
            watchdog.watch(connection)
            try:
                with connection.scope:
                    await connection._serve(True)
            finally:
                watchdog.forget(connection)
    except (_Closed, HangUp):
        pass
    finally:
        notify_closing(sock)
        sock.close()
