"""The MNS REST application: authenticate, route, render, on top of the broker.

``MNSApp`` is an ``async (Request) -> Response`` callable, so it serves the
socket server and the in-process SDK transport alike. Errors are MNS values
raised anywhere below and rendered here, once, as the ``<Error>`` document;
anything else is a bug, logged and answered with InternalError.
"""

from __future__ import annotations

import logging
import random
import re
import time
from email.utils import formatdate
from typing import Awaitable, Callable

import trio

from ..broker.broker import ACCOUNT_SETTINGS, Broker
from ..broker.changes import SetAccountSettings, SetLoggingBucket
from ..errors import (
    AccessDenied,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidQueryString,
    InvalidRequestURL,
    InvalidVersionHeader,
    MissingVersionHeader,
    MNSError,
    SecurityTokenExpired,
)
from .access import CONSOLE_HEADERS, host_allowed
from .console.routes import Console
from .dev import routes as developer_endpoints
from .http import Request, Response
from .json_response import json_response
from .metrics import RequestMetrics
from .mns import account, queues, topics
from .mns.signature import Credentials, key_id_of, verify
from .mns.xmlcodec import document, element
from .params import count
from .rpc import sms
from .rpc.open_api import OpenApi
from .rpc.tokens import TemporaryKey

__all__ = ["MNSApp"]

log = logging.getLogger("minimns.server")

API_VERSION = "2015-06-06"
_HOST = re.compile(r"[A-Za-z0-9._~-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
Route = Callable[["Call"], Awaitable[Response]]


class Call:
    """One request being answered: the request, its id, and the response helpers."""

    __slots__ = ("app", "request", "request_id", "operation")

    def __init__(self, app: "MNSApp", request: Request, request_id: str) -> None:
        self.app = app
        self.request = request
        self.request_id = request_id
        self.operation = ""  # the handler's name, for metrics

    @property
    def broker(self) -> Broker:
        return self.app.broker

    @property
    def base_url(self) -> str:
        """This server as the client addressed it: Location and HostId use it
        (a Host that is not a plain host[:port] is not echoed into documents)."""
        host = self.request.headers.get("host", "")
        if not _HOST.fullmatch(host):
            host = self.app.default_host
        return f"http://{host}"

    def paging(self) -> tuple[str, int, str]:
        """(prefix, ret_number, marker) of a List request, from its x-mns-* headers."""
        headers = self.request.headers
        ret_number = count(headers.get("x-mns-ret-number", "1000").strip(), "x-mns-ret-number")
        return headers.get("x-mns-prefix", ""), ret_number, headers.get("x-mns-marker", "")

    def allow_query(self, *keys: str) -> None:
        unknown = set(self.request.query) - set(keys)
        if unknown:
            raise InvalidQueryString(f"The query item {sorted(unknown)[0]!r} is not valid here.")

    def respond(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "text/xml;charset=utf-8",
    ) -> Response:
        out = [
            ("x-mns-request-id", self.request_id),
            ("x-mns-version", API_VERSION),
            ("Date", self.app.http_date()),
            ("Server", "minimns"),
        ]
        if body:
            out.append(("Content-Type", content_type))
        if headers:
            out.extend(headers)
        return Response(status, out, body)

    def error(self, error: MNSError) -> Response:
        return self.error_document(error.status, error.code, error.message)

    def error_document(self, status: int, code: str, message: str) -> Response:
        body = document(
            "Error",
            [
                element("Code", code),
                element("Message", message),
                element("RequestId", self.request_id),
                element("HostId", self.base_url),
            ],
        )
        return self.respond(status, body)


class MNSApp:
    def __init__(
        self,
        broker: Broker,
        *,
        credentials: Credentials | None = None,
        account_id: str = "1234567890",
        region: str = "cn-hangzhou",
        clock: "trio.testing.MockClock | None" = None,
        default_host: str = "127.0.0.1",
        allowed_hosts: tuple[str, ...] = (),
        wall_clock: Callable[[], float] = time.time,
        dev_endpoints: bool = False,
        console: bool = False,
    ) -> None:
        self.broker = broker
        self.credentials = credentials
        self.account_id = account_id
        self.region = region
        self.clock = clock  # set only with --virtual-clock: then time can be advanced
        self.default_host = default_host
        self.allowed_hosts = (default_host, *allowed_hosts)  # see access.host_allowed
        self.dev_endpoints = dev_endpoints  # /_minimns/sms/...: only when asked for
        self.sms_api = sms.SmsApi(self)  # the SMS API's RPC requests, on the same port
        self.open_api = OpenApi(self)  # the management OpenAPI, through the same RPC edge
        self.console_enabled = console
        self.console = Console(self)
        self.request_metrics = RequestMetrics()
        self._wall_clock = wall_clock
        self._request_prefix = f"{random.getrandbits(48):012X}"
        self._request_count = 0
        self._date_second = -1
        self._date_text = ""

    # -- the callable --------------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        self._request_count += 1
        call = Call(self, request, f"{self._request_prefix}{self._request_count:012X}")
        started = time.perf_counter()
        response = await self._answer(call)
        if call.operation:  # an operation the server has (not a path a client made up)
            self.request_metrics.observe(call.operation, *self._resource(request), response.status,
                                         time.perf_counter() - started)
        return response

    def _resource(self, request: Request) -> tuple[str, str]:
        """(kind, name) for the metrics: "queues" / "topics" and the name if it exists."""
        parts = request.path.split("/")
        kind = parts[1] if len(parts) > 1 and parts[1] in ("queues", "topics") else ""
        if kind and len(parts) > 2:
            catalog = self.broker.account
            if parts[2] in (catalog.queues if kind == "queues" else catalog.topics):
                return kind, parts[2]
        return kind, ""

    async def _answer(self, call: Call) -> Response:
        request = call.request
        try:
            path = request.path
            console = path == "/console" or path.startswith("/console/")
            headers = request.headers
            # The console and /_minimns answer only a Host that names this machine; so
            # does everything else a browser sends when no keys are set (an SDK sends
            # neither Origin nor Sec-Fetch-*, and with keys every request is signed).
            if (console or path.startswith("/_minimns/") or self.credentials is None and (
                    "origin" in headers or "sec-fetch-site" in headers)) and not host_allowed(
                    headers.get("host", ""), self.allowed_hosts):
                return json_response(call, 403, {"Code": "InvalidHost", "Message": (
                    "The Host header names neither an address of this machine nor a host "
                    "minimns was started with (--host, --allowed-host), so a web page on "
                    "another site (DNS rebinding) cannot use this server.")})
            if path.startswith("/_minimns/"):
                return await developer_endpoints.handle(call, self)
            if console:
                if not self.console_enabled:
                    raise InvalidRequestURL("The console is off (--no-console).")
                response = await self.console.handle(call)
                response.headers.extend(CONSOLE_HEADERS)
                return response
            if sms.is_rpc(request):
                return await self.sms_api.handle(call)
            if not self.broker.settings["PublicEndpointEnabled"]:
                raise AccessDenied("The public endpoint is disabled (the OpenAPI's "
                                   "DisableEndpoint); EnableEndpoint turns it on again.")
            temporary = self._temporary_key(request)
            if temporary is not None:
                self._check_temporary(request, temporary)
            elif self.credentials is not None:
                # Without keys the server is lenient on purpose (curl works); with
                # keys it checks every request header as MNS does.
                version = request.headers.get("x-mns-version")
                if version is None:
                    raise MissingVersionHeader()
                if version != API_VERSION:
                    raise InvalidVersionHeader(f"The x-mns-version should be {API_VERSION}.")
                verify(request, self.credentials, int(self._wall_clock() * 1000))
            handler = self._route(call)
            call.operation = handler.__name__
            return await handler(call)
        except MNSError as error:
            return call.error(error)
        except trio.Cancelled:
            raise
        except Exception:
            log.exception("internal error on %s %s", request.method, request.target)
            return call.error(InternalError())

    def wall_time(self) -> float:
        """Seconds since the epoch on the wall clock (request dates are checked against it)."""
        return self._wall_clock()

    def _temporary_key(self, request: Request) -> TemporaryKey | None:
        """The temporary key (QueryTokenForMnsQueue) a request is signed with, if any."""
        key_id = key_id_of(request)
        return None if key_id is None else self.sms_api.keys.get(key_id)

    def _check_temporary(self, request: Request, key: TemporaryKey) -> None:
        """A temporary key is always checked (with or without configured keys):
        its signature and token, its expiry on the broker clock, its one queue."""
        verify(request, Credentials(key.access_key_id, key.access_key_secret),
               int(self._wall_clock() * 1000))
        if request.headers.get("security-token") != key.security_token:
            raise InvalidAccessKeyId("The security token does not belong to this AccessKey Id.")
        if self.broker.now() >= key.expires_at:
            raise SecurityTokenExpired()
        if not key.allows(request.method, request.path):
            raise AccessDenied(f"The temporary key may only read the queue {key.queue}.")

    async def reset(self) -> None:
        """Drop every queue (parked long polls wake to QueueNotExist), every topic
        with its subscriptions and pending pushes, the recorded mail and SMS,
        and account settings."""
        for name in list(self.broker.account.topics):
            await self.broker.get_topic(name).delete()
        for name in list(self.broker.account.queues):
            await self.broker.get_queue(name).delete()
        self.broker.outbox.clear()
        await self.broker.sms.reset()
        self.sms_api.keys.clear()
        if self.broker.settings != ACCOUNT_SETTINGS:
            self.broker.commit(SetAccountSettings(self.broker.now(), dict(ACCOUNT_SETTINGS)))
        if self.broker.logging_bucket:
            self.broker.commit(SetLoggingBucket(self.broker.now(), ""))

    def reject(self, status: int, code: str, message: str) -> Response:
        """An error for a request that could not even be read."""
        self._request_count += 1
        call = Call(
            self, Request("GET", "/", {}), f"{self._request_prefix}{self._request_count:012X}"
        )
        return call.error_document(status, code, message)

    def http_date(self) -> str:
        second = int(self._wall_clock())
        if second != self._date_second:
            self._date_second = second
            self._date_text = formatdate(second, usegmt=True)
        return self._date_text

    # -- routing -------------------------------------------------------------------------------

    def _route(self, call: Call) -> Route:
        request = call.request
        parts = request.path.split("/")
        # "", "queues", name, "messages"
        if parts[1:2] == ["queues"]:
            return queues.route(request.method, parts[2:])
        if parts[1:2] == ["topics"]:
            return topics.route(request.method, parts[2:])
        if request.path == "/":
            return account.route(request.method)
        if request.path == "/commonbuy/openservice" and request.method == "POST":
            return account.open_service
        raise InvalidRequestURL(f"The request URL {request.path} is not valid.")

    def advance_clock(self, seconds_text: str) -> None:
        """Jump the virtual clock (``--virtual-clock``) by ``seconds_text`` seconds."""
        if self.clock is None:
            raise InvalidRequestURL("The clock is not virtual (start with --virtual-clock).")
        try:
            seconds = float(seconds_text)
        except ValueError:
            raise InvalidArgument("seconds should be a number of seconds.") from None
        if not 0 <= seconds <= 365 * 86400:
            raise InvalidArgument("seconds should be between 0 and 31536000.")
        self.clock.jump(seconds)
