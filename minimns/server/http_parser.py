"""HTTP/1.1 requests from bytes, with no I/O: llhttp (through httptools) and our limits.

The parser was chosen by measurement: h11 took 27 µs to parse an MNS
request, llhttp 2 µs (benchmarks/README.md, "The HTTP edge"). llhttp does
the framing (request line, headers, Content-Length, chunked bodies and
trailers, pipelining) and refuses what HTTP forbids: a Content-Length
next to a Transfer-Encoding (request smuggling), duplicate lengths, bare LF
line ends, obsolete line folding, control bytes. This module adds what MNS
needs around it:

* the 16 KiB limit on a request head, counted from the parsed pieces, so it
  holds however the bytes arrive (one read or a thousand);
* the 512 KiB limit on a body, refused on a Content-Length before a byte of
  the body is read, and counted for chunked bodies;
* HTTP/1.0 and ``Connection: close`` mark a request as the connection's last;
  ``Expect: 100-continue`` is reported so the caller can answer 100 only if
  the body has not already arrived;
* a refusal is a value (``Refusal``), never an exception through the caller:
  after it the parser takes no more bytes, and the connection is closed once
  the refusal is answered.
"""

from __future__ import annotations


import httptools

__all__ = ["Refusal", "Request", "RequestParser"]

MAX_HEAD = 16 * 1024
MAX_BODY = 512 * 1024


class Request:
    """One request as read off the wire.

    ``target`` is the request-target exactly as sent (signatures are computed
    over it); ``headers`` has lower-case names, values as latin-1 text with
    surrounding blanks removed, the last value of a repeated header. ``query``
    keys are lower-cased, values raw: the SDK sends receipt handles undecoded.
    """

    __slots__ = ("method", "target", "headers", "body", "path", "query", "last", "idle")

    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes = b"",
        idle: object = None,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.last = False  # the connection closes after this request (HTTP/1.0, Connection: close)
        # What a long poll awaits while parked (set by the socket server: it waits
        # on the socket and raises HangUp when the client leaves); None in process.
        self.idle = idle
        path, mark, raw_query = target.partition("?")
        self.path = path
        query: dict[str, str] = {}
        if mark:
            for item in raw_query.split("&"):
                if item:
                    key, _, value = item.partition("=")
                    query[key.lower()] = value
        self.query = query

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"


class Refusal:
    """A request the server will not read: answered with an MNS error document,
    then the connection closes. ``head`` says the answer carries no body (HEAD)."""

    __slots__ = ("status", "code", "message", "head")

    def __init__(self, status: int, code: str, message: str, head: bool = False) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.head = head

    def __repr__(self) -> str:
        return f"<Refusal {self.status} {self.code}: {self.message}>"


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; carries the refusal."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


class RequestParser:
    """Feed bytes with ``feed``; take complete requests from ``requests``.

    After a feed, ``refusal`` may be set (nothing more is parsed; answer the
    requests before it, then the refusal, then close), ``wants_continue``
    says the request being read waits for ``100 Continue``, and ``partial``
    says bytes of an unfinished request are held.
    """

    __slots__ = (
        "max_head", "max_body", "requests", "refusal", "wants_continue", "partial", "eof",
        "_parser", "_url", "_headers", "_head_size", "_pending", "_in_head", "_body",
        "_body_size", "_progress",
    )

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        # A list, not a deque: it holds one request or a few, and an empty deque costs
        # 624 bytes against 56, on every connection (10,000 parked long polls: 5.6 MB).
        self.requests: list[Request] = []
        self.refusal: Refusal | None = None
        self.wants_continue = False
        self.partial = False  # inside a request (its head or its body)
        self.eof = False
        # llhttp's parser (912 bytes) exists only while a request is being read: an
        # idle or parked connection holds none, and the next request makes a new one.
        self._parser: httptools.HttpRequestParser | None = None
        self._url: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._head_size = 0  # bytes of the head seen through callbacks
        self._pending = 0  # bytes fed inside a head that no callback has accounted for yet
        self._in_head = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._progress = False  # a head callback ran during this feed

    def feed(self, data: bytes) -> None:
        """Parse ``data``; ``b""`` is the end of the stream."""
        if self.refusal is not None or self.eof:
            return
        if not data:
            self.eof = True
            if self.partial:  # the peer stopped sending in the middle of a request
                self._refuse(Refusal(400, "InvalidRequest",
                                     "The request is not valid HTTP/1.1: it ends before it is whole."))
            return
        started_in_head = self._in_head
        self._progress = False
        if self._parser is None:
            self._parser = httptools.HttpRequestParser(self)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # llhttp stops after an upgrade request or a CONNECT. minimns never
            # switches protocols: it answers the request and reads on as HTTP/1.1,
            # except after a CONNECT, whose body llhttp cannot frame: that
            # request is the connection's last.
            if self.requests and self.requests[-1].method == "CONNECT":
                self.requests[-1].last = True
                self.eof = True  # nothing after it is read
                return
            self._parser = httptools.HttpRequestParser(self)
            rest = data[int(upgrade.args[0]):]
            if rest:  # (b"" would read as the end of the stream)
                self.feed(rest)
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _Refused):
                self._refuse(cause.refusal)
                return
            raise
        except httptools.HttpParserError as error:
            reason = str(error) or "malformed request"
            self._refuse(Refusal(400, "InvalidRequest", f"The request is not valid HTTP/1.1: {reason}."))
            return
        if self._in_head:  # a head still incomplete: bound what llhttp is holding for it
            if started_in_head and not self._progress:
                self._pending += len(data)
            else:
                self._pending = 0
            if self._head_size + self._pending > self.max_head:
                self._refuse(self._head_too_large())
        elif not self.partial and self.refusal is None and not (
                self.requests and self.requests[-1].last):
            self._parser = None  # between requests (after a last one, llhttp refuses more)

    def _refuse(self, refusal: Refusal) -> None:
        self.refusal = refusal
        self.partial = False
        self.wants_continue = False

    def _head_too_large(self) -> Refusal:
        return Refusal(400, "InvalidRequest",
                       f"The request head is larger than {self.max_head} bytes.")

    def _count(self, size: int) -> None:
        self._progress = True
        self._pending = 0
        self._head_size += size
        if self._head_size > self.max_head:
            raise _Refused(self._head_too_large())

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.partial = True
        self._in_head = True
        self._progress = True
        self._url = []
        self._headers = {}
        self._head_size = 16  # the request line's method, version and line ends
        self._pending = 0
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer of a chunked body: framing only, MNS reads none
        # _count, inlined: this runs for every header of every request
        self._progress = True
        self._pending = 0
        size = self._head_size = self._head_size + len(name) + len(value) + 4
        if size > self.max_head:
            raise _Refused(self._head_too_large())
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip(" \t")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._progress = True
        parser = self._parser
        method = parser.get_method().decode("ascii")
        version = parser.get_http_version()
        head_only = method == "HEAD"
        if version not in ("1.1", "1.0"):
            raise _Refused(Refusal(400, "InvalidRequest",
                                   f"HTTP/{version} is not served here: use HTTP/1.1.", head_only))
        headers = self._headers
        if version == "1.1" and "host" not in headers:
            raise _Refused(Refusal(400, "InvalidRequest",
                                   "The request is not valid HTTP/1.1: it has no Host header.",
                                   head_only))
        length = headers.get("content-length")
        if length is not None and int(length) > self.max_body:  # llhttp has checked the digits
            raise _Refused(Refusal(
                400, "InvalidArgument", f"The request body is larger than {self.max_body} bytes.",
                head_only,
            ))
        if (
            version == "1.1"
            and headers.get("expect", "").lower() == "100-continue"
            and (length is None or length != "0")
        ):
            self.wants_continue = True

    def on_body(self, body: bytes) -> None:
        self.wants_continue = False  # it is coming: no 100 needed
        self._body_size += len(body)
        if self._body_size > self.max_body:
            raise _Refused(Refusal(
                400, "InvalidArgument", f"The request body is larger than {self.max_body} bytes.",
                self._parser.get_method() == b"HEAD",
            ))
        self._body.append(body)

    def _origin_form(self, target: str) -> str:
        """An absolute-form target (``http://host/path?q``, what a client sends to a
        proxy) as the origin-form ``/path?q`` MNS signs; its authority becomes the Host,
        as RFC 9112 section 3.2.2 requires. Clients that hard-code the cloud's host
        name (ali-mns) reach minimns this way, with minimns as their HTTP proxy."""
        rest = target.partition("://")[2]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        authority, path = rest[:cut], rest[cut:]
        if authority:
            self._headers["host"] = authority
        return path if path.startswith("/") else "/" + path

    def on_message_complete(self) -> None:
        parser = self._parser
        url = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        try:
            target = url.decode("ascii")
        except UnicodeDecodeError:  # llhttp passes some bytes over 0x7F in a query
            raise _Refused(Refusal(400, "InvalidRequestURL", "The request URL should be ASCII.",
                                   parser.get_method() == b"HEAD")) from None
        if target[:1] != "/" and target[:8].lower().startswith(("http://", "https://")):
            target = self._origin_form(target)
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(parser.get_method().decode("ascii"), target, self._headers, body)
        request.last = parser.get_http_version() == "1.0" or not parser.should_keep_alive()
        self.requests.append(request)
        self.partial = False
        self.wants_continue = False
        self._in_head = False
