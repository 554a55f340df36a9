"""MNS request authentication: the HMAC-SHA1 signature, Content-MD5 and Date skew.

The string to sign is built over the raw request-target (no decoding: the
SDK sends receipt handles with ``+``, ``/`` and ``=`` as they are) and the
``x-mns-*`` headers sorted by name; see docs/protocol.md 1.3.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ...errors import (
    InvalidAccessKeyId,
    InvalidAuthorizationHeader,
    InvalidDateHeader,
    InvalidDigest,
    MissingAuthorizationHeader,
    MissingDateHeader,
    SignatureDoesNotMatch,
    TimeExpired,
)
from ..http import Request

__all__ = ["Credentials", "content_md5", "key_id_of", "sign", "string_to_sign", "verify"]

MAX_SKEW_MS = 15 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    access_key_secret: str


def content_md5(body: bytes) -> str:
    """Content-MD5 as the MNS SDKs send it: base64 of the lower-case hex digest."""
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


def digest_matches(digest: str, body: bytes) -> bool:
    """A Content-MD5 in either form clients send: the official SDKs' base64 of the hex
    digest, or RFC 1864's base64 of the 16 raw bytes (ali-mns and other HTTP tools)."""
    raw = hashlib.md5(body)
    return digest in (base64.b64encode(raw.hexdigest().encode()).decode(),
                      base64.b64encode(raw.digest()).decode())


def string_to_sign(method: str, target: str, headers: dict[str, str]) -> str:
    mns = [(name, value) for name, value in headers.items() if name.startswith("x-mns-")]
    if len(mns) > 1:
        mns.sort()  # by name (names are unique)
    date = headers.get("x-mns-date") or headers.get("date", "")
    canonical = "".join([f"{name}:{value}\n" for name, value in mns])
    return (
        f"{method}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n"
        f"{date}\n{canonical}{target}"
    )


_MACS: dict[str, "hmac.HMAC"] = {}  # secret -> HMAC-SHA1 keyed with it, copied per request


def sign(secret: str, text: str) -> str:
    mac = _MACS.get(secret)
    if mac is None:
        if len(_MACS) > 64:
            _MACS.clear()
        mac = _MACS[secret] = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha1)
    mac = mac.copy()
    mac.update(text.encode("utf-8"))
    return base64.b64encode(mac.digest()).decode()


_DATES: dict[str, int] = {}  # Date header -> epoch ms: a client sends one value per second


def _date_ms(date: str) -> int:
    """Epoch ms of an HTTP date; InvalidDateHeader if it is not one."""
    sent_ms = _DATES.get(date)
    if sent_ms is None:
        try:
            sent_ms = int(parsedate_to_datetime(date).timestamp() * 1000)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise InvalidDateHeader() from None
        if len(_DATES) > 256:
            _DATES.clear()
        _DATES[date] = sent_ms
    return sent_ms


def key_id_of(request: Request) -> str | None:
    """The AccessKeyId of an ``MNS id:signature`` Authorization header, or None."""
    scheme, _, rest = request.headers.get("authorization", "").partition(" ")
    key_id, colon, _ = rest.strip().rpartition(":")
    return key_id if scheme == "MNS" and colon and key_id else None


def verify(request: Request, credentials: Credentials, now_ms: int) -> None:
    """Raise the MNS error a request with this signature, digest and date gets."""
    headers = request.headers
    authorization = headers.get("authorization")
    if authorization is None:
        raise MissingAuthorizationHeader()
    scheme, _, rest = authorization.partition(" ")
    key_id, colon, signature = rest.strip().rpartition(":")
    if scheme != "MNS" or not colon or not key_id or not signature:
        raise InvalidAuthorizationHeader()
    if key_id != credentials.access_key_id:
        raise InvalidAccessKeyId()
    date = headers.get("x-mns-date") or headers.get("date")
    if date is None:
        raise MissingDateHeader()
    sent_ms = _date_ms(date)
    expected = sign(
        credentials.access_key_secret, string_to_sign(request.method, request.target, headers)
    )
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise SignatureDoesNotMatch()
    if abs(now_ms - sent_ms) > MAX_SKEW_MS:
        raise TimeExpired()
    digest = headers.get("content-md5")
    if digest is not None and not digest_matches(digest, request.body):
        raise InvalidDigest()
