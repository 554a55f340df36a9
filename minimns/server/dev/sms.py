"""Developer endpoints for SMS under ``/_minimns/sms`` (reading with the console or
``--dev-endpoints``; replying and lifting only with ``--dev-endpoints``, see routes.py).

JSON in, JSON out, so a test suite in any language can read what a phone
received, reply from a number and lift a threshold over HTTP:

- ``GET  /_minimns/sms``: the overview (account, signatures, templates, the SMS
  topic and subscription, thresholds with counts and alerts, event rules,
  subscribed queues, daily statistics);
- ``GET  /_minimns/sms/inboxes``: every handset inbox; ``GET /_minimns/sms/inbox?number=N``: one;
- ``GET  /_minimns/sms/records?number=N``: a number's send records (30 days);
- ``POST /_minimns/sms/reply`` with ``{"number": ..., "content": ..., "extend_code": ...}``;
- ``POST /_minimns/sms/thresholds/lift?kind=day|month``.

Errors answer ``{"Code": ..., "Message": ...}`` with status 400 (404 for an unknown path).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ...core.sms.account import SmsError
from ..json_response import json_response
from ...core.sms.calendar import beijing_day, beijing_month

if TYPE_CHECKING:
    from ..app import Call

__all__ = ["PREFIX", "handle"]

PREFIX = "/_minimns/sms"


def _reviewed(record: Any) -> dict[str, Any]:
    data = asdict(record)
    for key in ("state", "kind"):
        if key in data:
            data[key] = data[key].value
    return data


def overview(broker: Any) -> dict[str, Any]:
    service = broker.sms.service
    now = broker.now()
    thresholds = service.thresholds
    periods = {"day": beijing_day(now), "month": beijing_month(now)}
    alerts: dict[str, int] = {"day": 0, "month": 0}
    for time, kind, _ in thresholds.alerts:
        if (beijing_day(time) if kind == "day" else beijing_month(time)) == periods[kind]:
            alerts[kind] += 1
    return {
        "topic": service.topic_name,
        "subscription": service.subscription_name,
        "active": service.topic_name in broker.account.topics,
        "account": {"type": service.account.account_type.value,
                    "status": service.account.status.value},
        "signatures": [_reviewed(s) for s in service.account.signatures()],
        "templates": [_reviewed(t) for t in service.account.templates()],
        "thresholds": {
            kind: {"threshold": thresholds.threshold(kind), "count": thresholds.count(now, kind),
                   "stopped": thresholds.stopped(kind), "alerts": alerts[kind]}
            for kind in ("day", "month")
        },
        "alerts": [list(alert) for alert in thresholds.alerts],
        "event_rules": [asdict(rule) for rule in service.rules.rules.values()],
        "subscribed": sorted(service.subscribed),
        "statistics": service.records.statistics(),
        "carrier": {"latency_ms": service.carrier.latency_ms,
                    "failures": [asdict(f) for f in service.carrier.failures],
                    "pending": service.carrier.pending},
    }


async def handle(call: "Call", broker: Any) -> Any:
    request = call.request
    path, method = request.path, request.method
    query = {k: unquote(v) for k, v in request.query.items()}
    try:
        if path == PREFIX and method == "GET":
            return json_response(call, 200, overview(broker))
        if path == f"{PREFIX}/inboxes" and method == "GET":
            return json_response(call, 200, {n: [asdict(m) for m in ms] for n, ms in broker.sms.inboxes().items()})
        if path == f"{PREFIX}/inbox" and method == "GET":
            return json_response(call, 200, [asdict(m) for m in broker.sms.inbox(query.get("number", ""))])
        if path == f"{PREFIX}/records" and method == "GET":
            return json_response(call, 200, [asdict(r) for r in broker.sms.records(query.get("number", ""))])
        if path == f"{PREFIX}/reply" and method == "POST":
            args = _body(request.body)
            await broker.sms.reply(str(args.get("number", "")), str(args.get("content", "")),
                                   args.get("extend_code"))
            return json_response(call, 200, {"ok": True})
        if path == f"{PREFIX}/thresholds/lift" and method == "POST":
            await broker.sms.lift_threshold(query.get("kind", ""))
            return json_response(call, 200, overview(broker)["thresholds"])
    except SmsError as error:
        return json_response(call, 400, {"Code": error.code, "Message": error.message})
    return json_response(call, 404, {"Code": "NotFound", "Message": f"no developer endpoint {method} {path}"})


def _body(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        raise SmsError("InvalidArgument", "the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise SmsError("InvalidArgument", "the body must be a JSON object")
    return value
