"""The official SDK's one way out, patched: ``MNSHttp.send_request`` hands each
request to the innermost active mock (``mock.py``) instead of a socket.

The request is built as ``http.client`` would put it on the wire (the raw
request-target as the SDK wrote it, ``Host``, ``Accept-Encoding`` and
``Content-Length`` added, header values latin-1, the same refusals of
control characters and non-ASCII targets); ``MNSMock`` reads the answer back
as the SDK's own ``send_request`` reads an ``http.client`` response.
The ``mns`` package is imported only when a mock starts, so importing
minimns does not need the SDK.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import TYPE_CHECKING, Any

from ..server.http import Request

if TYPE_CHECKING:
    from .mock import MNSMock

__all__ = ["TransportError", "active_mock", "install", "lock", "mocks", "uninstall", "wire_request"]


# http.client refuses these in a request-target (http.client._contains_disallowed_url_pchar_re).
_DISALLOWED_URL_CHAR = re.compile("[\x00-\x20\x7f]")
# and these in a header value (http.client._is_illegal_header_value).
_ILLEGAL_HEADER_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])")
_LEGAL_HEADER_NAME = re.compile(rb"[^:\s][^:\r\n]*")
_METHODS_EXPECTING_BODY = {"PATCH", "POST", "PUT"}



class TransportError(Exception):
    """Raised where a socket-level failure would be; the SDK makes it a network exception."""


lock = threading.RLock()
mocks: list["MNSMock"] = []  # the active ones, innermost last
_saved: dict[str, Any] = {}  # "cls", "original", "patched" while installed


def active_mock() -> "MNSMock | None":
    """The mock now answering SDK requests (the innermost active one), or None."""
    with lock:
        return mocks[-1] if mocks else None


def install() -> None:
    from mns.mns_http import MNSHttp  # the SDK: imported only when mocking

    original = MNSHttp.__dict__["send_request"]

    @functools.wraps(original)
    def send_request(self: Any, req_inter: Any) -> Any:
        mock = active_mock()
        if mock is None:  # a request racing the last mock's exit goes out as usual
            return original(self, req_inter)
        return mock._send_request(self, req_inter)

    MNSHttp.send_request = send_request
    _saved.update(cls=MNSHttp, original=original, patched=send_request)


def uninstall() -> None:
    cls, original, patched = _saved.pop("cls"), _saved.pop("original"), _saved.pop("patched")
    if cls.__dict__.get("send_request") is patched:  # leave a later patch by someone else alone
        cls.send_request = original


def wire_request(req_inter: Any) -> tuple[Request, int]:
    """The request ``http.client`` would send for the SDK's ``RequestInternal``, as the
    server's HTTP layer would read it; and the byte count the SDK reports as request_size."""
    method = req_inter.method
    target = req_inter.uri or "/"
    found = _DISALLOWED_URL_CHAR.search(target)
    if found:
        raise TransportError(
            f"URL can't contain control characters. {target!r} (found at least {found.group()!r})"
        )
    try:
        request_line = f"{method} {target} HTTP/1.1".encode("ascii")
    except UnicodeEncodeError as error:
        raise TransportError(str(error)) from error

    body = req_inter.data
    if body is None:
        body = b""
        length = "0" if method.upper() in _METHODS_EXPECTING_BODY else None
    else:
        if isinstance(body, str):
            body = body.encode("iso-8859-1")  # http.client's encoding of a str body
        body = bytes(body)
        length = str(len(body))

    sent = dict(req_inter.header)
    names = {name.lower() for name in sent}
    wire: list[tuple[bytes, bytes]] = []
    if "host" not in names:
        wire.append((b"Host", b"minimns.invalid"))
    if "accept-encoding" not in names:
        wire.append((b"Accept-Encoding", b"identity"))
    for name, value in sent.items():
        raw_name = name.encode("ascii")
        if not _LEGAL_HEADER_NAME.fullmatch(raw_name):
            raise TransportError(f"Invalid header name {raw_name!r}")
        raw_value = (value if isinstance(value, str) else str(value)).encode("latin-1")
        if _ILLEGAL_HEADER_VALUE.search(raw_value):
            raise TransportError(f"Invalid header value {raw_value!r}")
        wire.append((raw_name, raw_value))
    if "content-length" not in names and "transfer-encoding" not in names and length is not None:
        wire.append((b"Content-Length", length.encode("ascii")))

    headers = {n.decode("latin-1").lower(): v.decode("latin-1").strip() for n, v in wire}
    size = len(request_line) + 2 + sum(len(n) + len(v) + 4 for n, v in wire) + 2 + len(body)
    return Request(method, target, headers, body), size
