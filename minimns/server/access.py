"""Who may use the developer endpoints and the console: the configured keys (HTTP
Basic or an MNS signature) and, for requests that change state, the same origin."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING

from ..errors import MNSError
from .mns.signature import verify

if TYPE_CHECKING:
    from .app import MNSApp
    from .http import Request

__all__ = ["developer_auth_ok", "same_origin"]


def developer_auth_ok(app: "MNSApp", request: "Request") -> bool:
    """True without configured keys; with keys, for HTTP Basic id:secret (browsers,
    curl) or a request signed the MNS way (every SDK-based tool signs so)."""
    credentials = app.credentials
    if credentials is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme == "MNS":
        try:
            verify(request, credentials, int(app.wall_time() * 1000))
        except MNSError:
            return False
        return True
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
        return False
    return hmac.compare_digest(user.encode(), credentials.access_key_id.encode()) and \
        hmac.compare_digest(password.encode(), credentials.access_key_secret.encode())


def same_origin(headers: dict[str, str]) -> bool:
    """A browser's cross-site POST carries a foreign Origin: refused (CSRF). Requests
    without one (curl, test suites) are not from a web page."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")
