"""Subscription endpoints: the four kinds MNS pushes to, parsed once at subscribe time.

``http(s)://host[:port][/path]`` is pushed over HTTP;
``acs:mns:{region}:{account}:queues/{name}`` is enqueued into a queue (found by
name: a local broker has one account and one region, so those parts are
checked for shape only); ``mail:directmail:{address}`` and
``sms:directsms:anonymous`` / ``sms:directsms:{phone}`` are recorded as deliveries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import EndpointInvalid, MNSError
from .attributes import check_queue_name

__all__ = ["HTTP", "MAIL", "QUEUE", "SMS", "Endpoint", "parse_endpoint"]

HTTP, QUEUE, MAIL, SMS = "http", "queue", "mail", "sms"
ENDPOINT_MAX = 1024
_QUEUE_RE = re.compile(r"acs:mns:([A-Za-z0-9-]+):([A-Za-z0-9-]+):queues/(.*)\Z", re.S)
_MAIL_RE = re.compile(r"mail:directmail:([^@\s]+@[^@\s]+\.[^@\s]+)\Z")
_SMS_RE = re.compile(r"sms:directsms:(anonymous|[0-9]{5,24})\Z")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``text`` as subscribed; ``target`` is the URL, queue name, address or phone."""

    text: str
    kind: str
    target: str

    @property
    def is_local(self) -> bool:
        """Delivered inside the broker (queue, mail, SMS) rather than over the network."""
        return self.kind != HTTP


def parse_endpoint(text: object) -> Endpoint:
    """The endpoint, or EndpointInvalid saying what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise EndpointInvalid("The Endpoint should not be empty.")
    if len(text) > ENDPOINT_MAX or not text.isprintable() or " " in text:
        raise EndpointInvalid(f"The endpoint {text[:64]!r} is not valid.")
    lowered = text[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return Endpoint(text, HTTP, _check_url(text))
    if match := _QUEUE_RE.match(text):
        try:
            name = check_queue_name(match.group(3))
        except MNSError as error:
            raise EndpointInvalid(f"The queue endpoint {text!r} is not valid: {error.message}") from None
        return Endpoint(text, QUEUE, name)
    if match := _MAIL_RE.match(text):
        return Endpoint(text, MAIL, match.group(1))
    if match := _SMS_RE.match(text):
        return Endpoint(text, SMS, match.group(1))
    raise EndpointInvalid(
        f"The endpoint {text[:64]!r} is not valid: use http(s)://host[:port][/path], "
        "acs:mns:{region}:{account}:queues/{name}, mail:directmail:{address}, "
        "sms:directsms:anonymous or sms:directsms:{phone}."
    )


def _check_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        raise EndpointInvalid(f"The endpoint {text!r} is not a valid URL.") from None
    if not parts.hostname or parts.username is not None or parts.fragment:
        raise EndpointInvalid(f"The endpoint {text!r} should be http(s)://host[:port][/path].")
    if port == 0:
        raise EndpointInvalid(f"The endpoint {text!r} has no valid port.")
    if parts.path.startswith("/mns-reserved-"):
        raise EndpointInvalid("An HttpEndpoint path may not start with /mns-reserved-.")
    return text
