"""Serve the MNS app on TCP: listeners, one task per connection, clean shutdown."""

from __future__ import annotations

import logging
import math
import socket
from dataclasses import dataclass, field, replace

import trio
import trio.testing

from ..broker.broker import Broker
from ..push.client import HttpPusher
from .app import MNSApp
from .dev.routes import CERT_PATH as SIGNING_CERT_PATH
from .mns.signature import Credentials
from .http import HttpLimits, Watchdog, serve_connection

__all__ = ["DEFAULT_PORT", "ServerOptions", "serve"]

DEFAULT_PORT = 9876
log = logging.getLogger("minimns.server")


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    access_key_id: str | None = None
    access_key_secret: str | None = None
    account_id: str = "1234567890"
    region: str = "cn-hangzhou"
    max_connections: int = 20000
    dev_endpoints: bool = False  # /_minimns endpoints that change state (reset, SMS replies ...)
    console: bool = True  # the web console at /console (and the read-only /_minimns endpoints)
    limits: HttpLimits = field(default_factory=HttpLimits)
    # Host names (beside IP addresses, localhost and ``host``) the console and the
    # developer endpoints answer: a docker-compose service name, a machine's name.
    allowed_hosts: tuple[str, ...] = ()

    @property
    def credentials(self) -> Credentials | None:
        if self.access_key_id is None or self.access_key_secret is None:
            return None
        return Credentials(self.access_key_id, self.access_key_secret)


async def serve(
    broker: Broker,
    options: ServerOptions = ServerOptions(),
    *,
    clock: trio.testing.MockClock | None = None,
    task_status: trio.TaskStatus[tuple[MNSApp, str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled. ``task_status.started`` gets (app, "http://host:port")."""
    listeners = await trio.open_tcp_listeners(options.port, host=options.host)
    sockname = listeners[0].socket.getsockname()
    host, port = sockname[0], sockname[1]
    shown = f"[{host}]" if ":" in host else host
    # Pushes name this server's own certificate URL, so receivers verify offline.
    reachable = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, shown)
    cert_url = f"http://{reachable}:{port}{SIGNING_CERT_PATH}"
    if broker.pusher is None:
        broker.pusher = HttpPusher(cert_url=cert_url)
    elif isinstance(broker.pusher, HttpPusher):
        broker.pusher.cert_url = cert_url
    app = MNSApp(
        broker,
        credentials=options.credentials,
        account_id=options.account_id,
        region=options.region,
        clock=clock,
        default_host=f"{shown}:{port}",
        allowed_hosts=(options.host, *options.allowed_hosts),
        dev_endpoints=options.dev_endpoints,
        console=options.console,
    )
    limits = options.limits
    if clock is not None:
        # Jumps of a virtual clock are not idle time: connection timeouts would
        # fire on every advance, so a test server keeps connections open.
        limits = replace(limits, idle_timeout=math.inf, read_timeout=math.inf)
    timed = not (math.isinf(limits.idle_timeout) and math.isinf(limits.read_timeout))
    watchdog = Watchdog(min(1.0, limits.idle_timeout / 4, limits.read_timeout / 4)) if timed else None
    open_connections = 0

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal open_connections
        if open_connections >= options.max_connections:
            await stream.aclose()
            return
        # The edge reads and writes the plain socket (see http.py): take it out
        # of trio's wrapper, which has set TCP_NODELAY on it.
        wrapped = stream.socket
        sock = socket.socket(wrapped.family, wrapped.type, wrapped.proto, fileno=wrapped.detach())
        sock.setblocking(False)
        open_connections += 1
        try:
            await serve_connection(sock, app, app.reject, limits, watchdog)
        finally:
            open_connections -= 1

    async with trio.open_nursery() as nursery:
        if watchdog is not None:
            nursery.start_soon(watchdog.run)
        await nursery.start(trio.serve_listeners, handle, listeners)
        task_status.started((app, f"http://{shown}:{port}"))
