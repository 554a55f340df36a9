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

from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ...errors import InvalidArgument, InvalidRequestURL, QueueNotExist
from ...push.signing import PushSigner
from .. import metrics
from . import sms as sms_routes
from ..access import developer_auth_ok, same_origin
from ..json_response import json_response
from ..params import small_int

if TYPE_CHECKING:
    from ..app import Call, MNSApp
    from ..http import Response

__all__ = ["CERT_PATH", "handle"]

CERT_PATH = "/_minimns/x509_public_certificate.pem"
DUMP_MAX = 10_000


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
