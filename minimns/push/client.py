"""The HTTP push client: POST a notification to an endpoint as MNS does.

An edge, like the server: it knows HTTP, TLS and the push signature, not
topics or retries. One attempt is bounded by ``timeout`` on trio's clock (a
receiver has 5 s to answer 2xx, docs/protocol.md 6.3), so under a MockClock
a hanging receiver fails after 5 virtual seconds at once. Connections are
kept alive per origin; a kept connection the receiver has closed meanwhile
is replaced transparently, so keep-alive never turns into a failed push.
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import h11
import trio

if TYPE_CHECKING:
    from .signing import PushSigner

__all__ = ["HttpPusher", "PushFailed"]

DEFAULT_TARGET = "/notifications"  # an endpoint URL with no path gets this (docs/protocol.md 6.3)
USER_AGENT = "Aliyun Notification Service Agent"
MAX_RESPONSE_BODY = 64 * 1024  # bytes read from an answer; past that the connection is dropped
MAX_RESPONSE_HEAD = 16 * 1024

# Headers the client owns: a caller's copy would contradict the framing or the signature.
_OWN_HEADERS = frozenset(
    [
        "authorization",
        "host",
        "content-length",
        "transfer-encoding",
        "user-agent",
        "accept",
        "connection",
        "x-mns-signing-cert-url",
    ]
)


class PushFailed(Exception):
    """One push attempt failed; ``reason`` says why in a few words ("HTTP 503")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int


class _Connection:
    __slots__ = ("stream", "http")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)


class _Stale(Exception):
    """A reused connection ended before any byte of an answer: the receiver had closed it."""


class HttpPusher:
    """Pushes notifications over HTTP/1.1 (h11) with keep-alive, signed with ``signer``.

    ``cert_url`` is what ``x-mns-signing-cert-url`` names (base64-encoded);
    the server sets it once it knows its port. ``ssl_context`` is for https
    endpoints (default: the system's trusted CAs).
    """

    def __init__(
        self,
        *,
        signer: PushSigner | None = None,
        timeout: float = 5.0,
        max_idle_per_origin: int = 16,
        cert_url: str = "http://127.0.0.1/_minimns/x509_public_certificate.pem",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._signer = signer
        self.timeout = timeout
        self.max_idle_per_origin = max_idle_per_origin
        self.cert_url = cert_url
        self._ssl_context = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    @property
    def signer(self) -> "PushSigner":
        """The signer (the process-wide one unless given), loaded on first use: a
        broker that never pushes over HTTP never loads ``cryptography``."""
        if self._signer is None:
            from .signing import PushSigner

            self._signer = PushSigner()
        return self._signer

    async def __aenter__(self) -> HttpPusher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def push(self, url: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """POST ``body`` to ``url``; the 2xx status, or PushFailed.

        ``headers`` have lower-case names (content-md5, content-type, date,
        x-mns-*) and are sent as given; the client adds the certificate URL,
        the signature and the framing headers.
        """
        origin, target, host = _parse_url(url)
        signed = [(name, value) for name, value in headers]
        for name, _ in signed:
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"the push client sets the {name} header itself")
        cert_url = base64.b64encode(self.cert_url.encode("utf-8")).decode("ascii")
        signed.append(("x-mns-signing-cert-url", cert_url))
        from .signing import string_to_sign

        authorization = self.signer.sign(string_to_sign("POST", signed, target))
        all_headers = [
            ("Host", host),
            *signed,
            ("Authorization", authorization),
            ("Content-Length", str(len(body))),
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
        ]
        try:
            request = h11.Request(
                method="POST",
                target=target.encode("ascii"),
                # UTF-8 on the wire: the signature covers the UTF-8 text of each value
                headers=[
                    (name.encode("ascii"), value.encode("utf-8")) for name, value in all_headers
                ],
            )
        except (h11.LocalProtocolError, UnicodeEncodeError) as error:
            raise PushFailed(f"cannot send this request: {error}") from None
        with trio.move_on_after(self.timeout):
            return await self._deliver(origin, request, body)
        raise PushFailed(f"timed out after {self.timeout:g} s")

    async def aclose(self) -> None:
        """Close the idle connections; connections in use close when their push ends.

        A closed pusher still pushes, on connections it does not keep.
        """
        self._closed = True
        idle = [conn for conns in self._idle.values() for conn in conns]
        self._idle.clear()
        for conn in idle:
            await trio.aclose_forcefully(conn.stream)

    async def _deliver(self, origin: _Origin, request: h11.Request, body: bytes) -> int:
        conn = await self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, request, body, reused=True)
            except _Stale:
                pass  # closed by the receiver while idle: once more, on a fresh connection
        conn = await self._connect(origin)
        return await self._exchange(origin, conn, request, body, reused=False)

    async def _exchange(
        self, origin: _Origin, conn: _Connection, request: h11.Request, body: bytes, *, reused: bool
    ) -> int:
        keep = False
        try:
            status, keep = await _round_trip(conn, request, body, reused=reused)
        finally:  # also on timeout: a half-used connection is never pooled
            if keep and not self._closed:
                conns = self._idle.setdefault(origin, [])
                if len(conns) < self.max_idle_per_origin:
                    conns.append(conn)
                else:
                    keep = False
            if not keep:
                await trio.aclose_forcefully(conn.stream)
        if 200 <= status < 300:
            return status
        raise PushFailed(f"HTTP {status}")

    async def _take_idle(self, origin: _Origin) -> _Connection | None:
        conns = self._idle.get(origin)
        while conns:
            conn = conns.pop()  # the most recently used: the least likely to be timed out
            if _looks_alive(conn.stream):
                return conn
            await trio.aclose_forcefully(conn.stream)
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        stream: trio.abc.Stream = await _open_tcp(origin.host, origin.port)
        if origin.scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            tls = trio.SSLStream(
                stream, self._ssl_context, server_hostname=origin.host, https_compatible=True
            )
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as error:
                await trio.aclose_forcefully(tls)
                cause = error.__cause__
                detail = getattr(cause, "reason", None) or str(cause or "connection closed")
                raise PushFailed(f"TLS handshake failed: {detail}") from None
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
            stream = tls
        return _Connection(stream)


async def _round_trip(
    conn: _Connection, request: h11.Request, body: bytes, *, reused: bool
) -> tuple[int, bool]:
    """Send the request, read the whole answer: (status, whether the connection can be reused)."""
    http = conn.http
    data = http.send(request)
    if body:
        data += http.send(h11.Data(data=body))
    data += http.send(h11.EndOfMessage())
    try:
        await conn.stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        if reused:
            raise _Stale() from None
        raise PushFailed("connection reset while sending") from None

    status: int | None = None
    received = False  # any byte of an answer
    eof = False
    size = 0
    while True:
        try:
            event = http.next_event()
        except h11.RemoteProtocolError as error:
            if eof:
                raise PushFailed(_closed_reason(status)) from None
            raise PushFailed(f"malformed response: {error}") from None
        if event is h11.NEED_DATA:
            try:
                chunk = await conn.stream.receive_some(65536)
            except trio.BrokenResourceError:
                if reused and not received:
                    raise _Stale() from None
                raise PushFailed(_closed_reason(status, "reset")) from None
            if not chunk:
                if reused and not received:
                    raise _Stale()
                eof = True
            received = received or bool(chunk)
            http.receive_data(chunk)  # b"" tells h11 the stream ended
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_RESPONSE_BODY:
                assert status is not None
                return status, False  # the status is known; the rest is not worth reading
        elif isinstance(event, h11.EndOfMessage):
            break
        elif isinstance(event, h11.ConnectionClosed):
            raise PushFailed(_closed_reason(status))
        # h11.InformationalResponse (100 Continue...): the real answer follows
    assert status is not None
    # After an answer framed by EOF h11 still says DONE/DONE (MUST_CLOSE comes
    # only with the ConnectionClosed event), so the EOF itself must veto reuse.
    if eof or http.our_state is not h11.DONE or http.their_state is not h11.DONE:
        return status, False  # "Connection: close", or an answer framed by EOF
    http.start_next_cycle()
    return status, True


def _closed_reason(status: int | None, how: str = "closed") -> str:
    if status is None:
        return f"connection {how} before a response"
    return f"connection {how} in the middle of the response"


def _parse_url(url: str) -> tuple[_Origin, str, str]:
    """(origin, request-target, Host header value) of an endpoint URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PushFailed(f"invalid endpoint URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PushFailed(f"not an http or https URL: {url}")
    host = parts.hostname
    if not host:
        raise PushFailed(f"no host in URL: {url}")
    default_port = 443 if scheme == "https" else 80
    if port is None:
        port = default_port
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    target = parts.path or DEFAULT_TARGET
    if parts.query:
        target += "?" + parts.query
    return _Origin(scheme, host, port), target, host_header


async def _open_tcp(host: str, port: int) -> trio.SocketStream:
    """trio.open_tcp_stream, except that ``localhost`` skips the resolver (RFC 6761).

    trio resolves names in a worker thread; while it runs every task is
    blocked, so a MockClock with autojump_threshold=0 jumps to the push's
    deadline and a push to http://localhost:PORT would time out in tests.
    Addresses are literal and ``localhost`` is always loopback: neither
    needs the thread. (Other names still do; under autojump, use an IP.)
    """
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        candidates = ["127.0.0.1", "::1"]
    else:
        candidates = [host]
    errors: list[OSError] = []
    for candidate in candidates:
        try:
            return await trio.open_tcp_stream(candidate, port)
        except socket.gaierror:
            raise PushFailed(f"cannot resolve {host}") from None
        except OSError as error:
            errors.append(error)
    raise PushFailed(_connect_reason(errors))


def _connect_reason(errors: list[OSError]) -> str:
    """A short reason from trio's "all attempts to connect failed" errors and their causes."""
    causes: list[BaseException] = []
    for error in errors:
        causes.append(error)
        cause = error.__cause__
        if cause is not None:
            causes.extend(getattr(cause, "exceptions", [cause]))  # an ExceptionGroup, or one error
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return "connect timed out"
    last = causes[-1]
    detail = getattr(last, "strerror", None) or str(last)
    return f"cannot connect: {detail}"


def _looks_alive(stream: trio.abc.Stream) -> bool:
    """False when an idle plain-TCP connection has something to read: EOF or stray bytes.

    Idle connections must have nothing pending; a receiver that closed one
    (or sent a 408 before closing) would otherwise answer our next request
    with it. TLS connections are not checked this way (a TLS 1.3 session
    ticket can arrive late and is harmless); the retry covers them.
    """
    if not isinstance(stream, trio.SocketStream):
        return True
    try:
        fd = stream.socket.fileno()
        if fd < 0:
            return False
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([fd], [], [], 0)
        return not readable
    except (OSError, ValueError):
        return False
