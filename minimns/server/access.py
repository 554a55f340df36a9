"""Who may use the developer endpoints and the console: requests whose Host names
this machine (DNS rebinding), with the configured keys (HTTP Basic or an MNS
signature), and, for requests that change state, from the same origin (CSRF)."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from typing import TYPE_CHECKING

from ..errors import MNSError
from .mns.signature import verify

if TYPE_CHECKING:
    from .app import MNSApp
    from .http import Request

__all__ = ["CONSOLE_HEADERS", "developer_auth_ok", "host_allowed", "same_origin"]

# Console pages may not be framed by another site (clickjacking), and load nothing
# but their own script and style.
CONSOLE_HEADERS = [
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    ("X-Content-Type-Options", "nosniff"),
]


def host_allowed(host: str, own_hosts: tuple[str, ...] | str) -> bool:
    """Whether a request's Host names this server: an IP address (a page cannot make
    a browser send an address it does not own: rebinding needs a name), ``localhost``
    (and its subdomains, which resolve to loopback), or one of ``own_hosts`` (the
    host the server was started with, names allowed on the command line). A page on
    another site that rebinds its own name to 127.0.0.1 sends that name, and is
    refused. No Host at all is not a browser's request."""
    if not host:
        return True
    name = _name_of(host)
    if isinstance(own_hosts, str):
        own_hosts = (own_hosts,)
    if name == "localhost" or name.endswith(".localhost") or name in map(_name_of, own_hosts):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _name_of(host: str) -> str:
    """``host`` without its port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("[") and "]" in host:  # [IPv6]:port
        return host[1:host.find("]")]
    return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host).rstrip(".")


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
