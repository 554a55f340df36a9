"""Developer endpoints under ``/_minimns/``: JSON for test suites and the console.

Always served:

- ``GET /_minimns/x509_public_certificate.pem``: the push signing certificate
  (receivers verify pushes with it);
- with ``--virtual-clock``: ``GET /_minimns/clock`` and
  ``POST /_minimns/clock/advance?seconds=N``.

Served with the console (the default) or ``--dev-endpoints``, read-only:

- ``GET /_minimns/health``: ``{"status": "ok", "now_ms", "queues", "topics", "virtual_clock"}``;
- ``GET /_minimns/queues/{name}/messages[?limit=N]``: every message (at most N,
  default 1000) with its state, counts, times and current receipt handle, received by no one;
- ``GET /_minimns/outbox``: the recorded mail and SMS deliveries (newest last);
- ``GET /_minimns/pushes``: every subscription's push counters and its scheduled
  retries with their next attempt times;
- ``GET /_minimns/metrics``: the Prometheus text format (see metrics.py);
- ``GET /_minimns/sms``, ``/_minimns/sms/inbox(es)``, ``/_minimns/sms/records`` (sms_routes.py).

Only with ``--dev-endpoints``, because they change state:

- ``POST /_minimns/reset``: drop every queue, topic, SMS setting and record;
- ``POST /_minimns/sms/reply``, ``POST /_minimns/sms/thresholds/lift``.

With access keys configured, everything here but the certificate needs the
keys: HTTP Basic authentication with the access key id and secret, or an MNS
signature made with them, as the SDKs sign (the console's pages too).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import InvalidArgument, InvalidRequestURL, MNSError, QueueNotExist
from ..push.signing import PushSigner
from . import metrics, sms_routes
from .auth import verify
from .json_out import json_response

if TYPE_CHECKING:
    from .app import Call, MNSApp
    from .http import Request, Response

__all__ = ["CERT_PATH", "developer_auth_ok", "handle", "same_origin", "small_int"]

CERT_PATH = "/_minimns/x509_public_certificate.pem"
DUMP_MAX = 10_000


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


def small_int(text: str, low: int, high: int) -> int | None:
    """``text`` as an int in [low, high] if it is one (ASCII digits, not too long), else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        return None
    value = int(text)
    return value if low <= value <= high else None


async def handle(call: "Call", app: "MNSApp") -> "Response":
    request = call.request
    path, method = request.path, request.method
    if path == CERT_PATH and method == "GET":
        signer = getattr(app.broker.pusher, "signer", None) or PushSigner.default()
        return call.respond(200, signer.certificate_pem, content_type="application/x-pem-file")
    if method != "GET" and not same_origin(request.headers):
        return json_response(call, 403, {"Code": "Forbidden", "Message": "Cross-site requests are refused."})
    if not developer_auth_ok(app, request):
        response = json_response(call, 401, {"Code": "Unauthorized",
                                             "Message": "Use the access key id and secret."})
        response.headers.append(("WWW-Authenticate", 'Basic realm="minimns"'))
        return response
    if path in ("/_minimns/clock", "/_minimns/clock/advance") and app.clock is not None:
        return _clock(call, app)
    readable = app.dev_endpoints or app.console_enabled
    if readable and method == "GET":
        if path == "/_minimns/health":
            return json_response(call, 200, {
                "status": "ok", "now_ms": app.broker.now(), "virtual_clock": app.clock is not None,
                "queues": len(app.broker.account.queues), "topics": len(app.broker.account.topics),
            })
        if path == "/_minimns/metrics":
            return call.respond(200, metrics.render(app.broker, app.request_metrics).encode(),
                                content_type="text/plain; version=0.0.4; charset=utf-8")
        if path == "/_minimns/outbox":
            return json_response(call, 200, outbox(app.broker))
        if path == "/_minimns/pushes":
            return json_response(call, 200, pushes(app.broker))
        parts = path.split("/")
        if len(parts) == 5 and parts[2] == "queues" and parts[4] == "messages":
            return _dump(call, app, unquote(parts[3]))
    if path == "/_minimns/reset" and method == "POST" and app.dev_endpoints:
        await app.reset()
        return json_response(call, 200, {"ok": True})
    if path == sms_routes.PREFIX or path.startswith(sms_routes.PREFIX + "/"):
        if app.dev_endpoints or (readable and method == "GET"):
            return await sms_routes.handle(call, app.broker)
    raise InvalidRequestURL(f"The request URL {path} is not valid"
                            + ("" if app.dev_endpoints else " (developer endpoints: --dev-endpoints)."))


def _clock(call: "Call", app: "MNSApp") -> "Response":
    request = call.request
    if request.path == "/_minimns/clock" and request.method != "GET":
        raise InvalidRequestURL("Read the clock with GET.")
    if request.path == "/_minimns/clock/advance":
        if request.method != "POST":
            raise InvalidRequestURL("Advance the clock with POST.")
        call.allow_query("seconds")
        app.advance_clock(request.query.get("seconds", ""))
    return json_response(call, 200, {"now_ms": app.broker.now(), "virtual": True})


def _dump(call: "Call", app: "MNSApp", name: str) -> "Response":
    state = app.broker.account.queues.get(name)
    if state is None:
        raise QueueNotExist()
    limit = small_int(call.request.query.get("limit", "1000"), 1, DUMP_MAX)
    if limit is None:
        raise InvalidArgument(f"limit should be 1 to {DUMP_MAX}.")
    meta = state.meta(app.broker.now())
    return json_response(call, 200, {
        "queue": name, "active": meta.active_messages, "inactive": meta.inactive_messages,
        "delayed": meta.delay_messages, "messages": state.dump(app.broker.now(), limit),
    })


def outbox(broker: Any) -> dict[str, list[dict[str, Any]]]:
    box = broker.outbox
    return {"mail": [asdict(d) for d in box.mail], "sms": [asdict(d) for d in box.sms]}


def pushes(broker: Any) -> list[dict[str, Any]]:
    out = []
    for topic in list(broker.account.topics.values()):
        for sub in list(topic.subscriptions.values()):
            out.append({
                "topic": topic.name, "subscription": sub.name, "endpoint": sub.endpoint.text,
                **asdict(sub.stats()),
                "retries": [{"due": due, "message_id": mid, "attempts": attempts}
                            for due, mid, attempts in sub.scheduled_retries()],
            })
    return out
