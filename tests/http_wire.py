"""One raw HTTP/1.1 client for the tests that speak to the server byte by byte:
requests go out exactly as written, and responses are read one at a time, so
pipelining, 1xx responses and a server that closes early are all visible."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from xml.etree import ElementTree

__all__ = ["Reply", "Wire", "assert_error_document", "assert_request_id", "exchange", "local",
           "parse_reply", "request_bytes"]

TIMEOUT = 5.0  # seconds a response may take before it counts as a hang
REQUEST_ID = re.compile(r"[0-9A-F]{24}")
NS = "{http://mns.aliyuncs.com/doc/v1/}"


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]  # (name exactly as sent, value)
    body: bytes

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return self.headers

    def header(self, name: str) -> str | None:
        """The first value of a header (any case), as text."""
        for raw_name, value in self.headers:
            if raw_name.lower() == name.lower().encode():
                return value.decode("latin-1")
        return None

    def headers_named(self, name: str) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name.lower().encode()]

    def xml(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.body)

    def fields(self) -> dict[str, str]:
        """Direct children of the root element, by local name."""
        return {local(child.tag): (child.text or "") for child in self.xml()}

    def error_code(self) -> str:
        root = self.xml()
        assert root.tag == NS + "Error", self.body
        return self.fields()["Code"]

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers!r}, {self.body[:600]!r})"


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: .*)?")


def parse_reply(buffer: bytes) -> tuple[Reply, bytes] | None:
    """The first complete response in ``buffer`` and what follows it; None if incomplete.

    The body is Content-Length long; a response without one has no body. That
    is how this server frames everything: its answers to HEAD (which may say
    ``Transfer-Encoding: chunked``, as the GET would), 204 and 304 carry none,
    and an answer to a HEAD request it could not read carries its length.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *lines = buffer[:end].split(b"\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    assert match, f"not an HTTP/1.1 status line: {buffer[:300]!r}"
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        assert colon and name and name == name.strip(), f"bad header line {line!r}"
        headers.append((name, value.strip()))
    status = int(match.group(1))
    lengths = [v for n, v in headers if n.lower() == b"content-length"]
    if 100 <= status < 200 or status in (204, 304) or not lengths:
        length = 0
    else:
        assert len(lengths) == 1 and lengths[0].isdigit(), headers
        length = int(lengths[0])
    rest = buffer[end + 4 :]
    if len(rest) < length:
        return None
    return Reply(status, headers, rest[:length]), rest[length:]


def _address(target: object) -> tuple[str, int]:
    """A server (anything with ``.endpoint``), ``"http://host:port"``, or (host, port)."""
    if isinstance(target, tuple):
        return target
    endpoint = getattr(target, "endpoint", target)
    assert isinstance(endpoint, str)
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


class Wire:
    """One TCP connection to a server; reads replies one at a time."""

    def __init__(self, target: object, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection(_address(target), timeout=timeout)
        self.buffer = b""
        self.eof = False

    def __enter__(self) -> "Wire":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """False when the server closed (or reset) the connection before taking it all."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise AssertionError(f"no answer within {self.timeout} s: the server hangs") from None
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def reply(self) -> Reply | None:
        """The next final response (1xx skipped); None if the server closed without one."""
        while True:
            parsed = parse_reply(self.buffer)
            if parsed is not None:
                reply, self.buffer = parsed
                if 100 <= reply.status < 200:
                    continue
                return reply
            if self.eof or not self._fill():
                assert not self.buffer, f"truncated response: {self.buffer[:300]!r}"
                return None

    def response(self) -> Reply:
        """The next final response, which must come."""
        reply = self.reply()
        if reply is None:
            raise EOFError("the server closed the connection")
        return reply

    def exchange(self, data: bytes) -> Reply:
        """Send ``data`` (one request) and read its response."""
        self.send(data)
        return self.response()

    def replies_until_eof(self) -> list[Reply]:
        out = []
        while (reply := self.reply()) is not None:
            out.append(reply)
        return out

    def closed_by_server(self) -> bool:
        """True if the server closes (or resets) this connection without sending more."""
        if self.buffer:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def request_bytes(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """An HTTP/1.1 request with exactly these headers (Content-Length added)."""
    head = {**headers, "Content-Length": str(len(body))}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    return f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1") + body


def exchange(target: object, data: bytes, timeout: float = TIMEOUT) -> Reply:
    """One request on a fresh connection."""
    with Wire(target, timeout) as wire:
        return wire.exchange(data)


def assert_request_id(reply: Reply) -> str:
    """Exactly one request-id header, spelled ``x-mns-request-id`` byte for byte: its value."""
    matching = [(n, v) for n, v in reply.headers if n.lower() == b"x-mns-request-id"]
    assert len(matching) == 1, reply.headers
    name, value = matching[0]
    assert name == b"x-mns-request-id"
    text = value.decode("latin-1")
    assert REQUEST_ID.fullmatch(text), text
    return text


def assert_error_document(reply: Reply, status: int, code: str) -> dict[str, str]:
    """An MNS error document with this status and code, as the SDK reads one: its fields."""
    assert reply.status == status, (reply.status, reply.body)
    request_id = assert_request_id(reply)
    assert (reply.header("Content-Type") or "").lower().startswith("text/xml")
    assert reply.xml().tag == NS + "Error"
    fields = reply.fields()
    assert list(fields) == ["Code", "Message", "RequestId", "HostId"]
    assert fields["Code"] == code
    assert fields["Message"]
    assert fields["RequestId"] == request_id
    assert fields["HostId"].startswith("http://")
    return fields
