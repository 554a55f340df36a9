"""Account operations: ``/?accountmeta=true`` and ``/commonbuy/openservice``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from ...broker.changes import SetLoggingBucket
from ...errors import InvalidArgument, InvalidRequestURL
from .xmlcodec import child_texts, document, element, parse

if TYPE_CHECKING:
    from ..app import Call
    from ..http import Response

__all__ = ["open_service", "route"]


def route(method: str) -> Callable[["Call"], Awaitable["Response"]]:
    handler = {"GET": get_account_attributes, "PUT": set_account_attributes}.get(method)
    if handler is None:
        raise InvalidRequestURL(f"{method} / is not an MNS operation.")
    return handler


def _require_accountmeta(call: "Call") -> None:
    call.allow_query("accountmeta")
    if call.request.query.get("accountmeta", "").lower() != "true":
        raise InvalidRequestURL("Account operations need ?accountmeta=true.")


async def get_account_attributes(call: "Call") -> "Response":
    _require_accountmeta(call)
    # The SDK requires the element; real MNS leaves it empty when no bucket is set.
    return call.respond(200, document("Account", element("LoggingBucket", call.broker.logging_bucket)))


async def set_account_attributes(call: "Call") -> "Response":
    _require_accountmeta(call)
    fields = child_texts(parse(call.request.body, "Account")) if call.request.body.strip() else {}
    bucket = fields.get("LoggingBucket")
    if bucket is not None:
        if len(bucket) > 64:
            raise InvalidArgument("The LoggingBucket name is too long.")
        call.broker.commit(SetLoggingBucket(call.broker.now(), bucket))
        await call.broker.acknowledge()
    return call.respond(204)


async def open_service(call: "Call") -> "Response":
    call.allow_query()
    return call.respond(200, document("OpenService", element("OrderId", f"minimns-{call.request_id}")))
