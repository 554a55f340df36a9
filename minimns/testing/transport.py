"""An in-process transport for the official SDK: ``with mock_mns(): ...``.

In the spirit of moto's ``mock_aws``: while a mock is active, every
``mns.account.Account`` (made before or inside the block, any endpoint, http
or https) talks to one in-process minimns instead of the network. No socket
is opened: ``MNSHttp.send_request`` -- the single method through which the
SDK sends every request -- is patched on the class, and each request is
handed to an ``MNSApp`` running on a trio loop in a background thread.

The request is built as ``http.client`` would put it on the wire (the raw
request-target as the SDK wrote it, ``Host``, ``Accept-Encoding`` and
``Content-Length`` added, header values latin-1, the same refusals of
control characters and non-ASCII targets), and the answer is read back as
the SDK's own ``send_request`` reads an ``http.client`` response:
``dict(getheaders())`` with the ``Content-Length`` the server's HTTP layer
adds, and the body decoded as UTF-8. Anything that goes wrong in transit
becomes ``MNSClientNetworkException``, as it does on a real connection.

Mocks nest: the innermost active one answers, and the patch is removed
when the last one ends. The same mock may be re-entered (a decorated
function calling itself); its broker lives from the outermost enter to the
matching exit, so each decorated call starts from empty queues.

The ``mns`` package is imported only when a mock starts, so importing
minimns does not need the SDK.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from typing import Any, Callable, TypeVar

import outcome
import trio
import trio.testing

from ..broker.broker import Broker
from ..opening import open_broker
from ..config import apply_config
from ..server.app import MNSApp
from ..server.mns.signature import Credentials
from ..server.http import HttpLimits, Request, Response
from .thread import sole_error

__all__ = ["DEFAULT_ENDPOINT", "MNSMock", "active_mock", "mock_mns"]

F = TypeVar("F", bound=Callable[..., Any])

# ".invalid" never resolves (RFC 2606): an Account on it that escapes the mock fails fast.
DEFAULT_ENDPOINT = "http://minimns.invalid"

# http.client refuses these in a request-target (http.client._contains_disallowed_url_pchar_re).
_DISALLOWED_URL_CHAR = re.compile("[\x00-\x20\x7f]")
# and these in a header value (http.client._is_illegal_header_value).
_ILLEGAL_HEADER_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])")
_LEGAL_HEADER_NAME = re.compile(rb"[^:\s][^:\r\n]*")
_METHODS_EXPECTING_BODY = {"PATCH", "POST", "PUT"}


class _TransportError(Exception):
    """Raised where a socket-level failure would be; the SDK makes it a network exception."""


# -- the patch ---------------------------------------------------------------------------------

_lock = threading.RLock()
_active: list["MNSMock"] = []  # innermost last
_saved: dict[str, Any] = {}  # "cls", "original", "patched" while installed


def active_mock() -> "MNSMock | None":
    """The mock now answering SDK requests (the innermost active one), or None."""
    with _lock:
        return _active[-1] if _active else None


def _install() -> None:
    from mns.mns_http import MNSHttp  # the SDK: imported only when mocking

    original = MNSHttp.__dict__["send_request"]

    @functools.wraps(original)
    def send_request(self: Any, req_inter: Any) -> Any:
        mock = active_mock()
        if mock is None:  # a request racing the last mock's exit goes out as usual
            return original(self, req_inter)
        return mock._send_request(self, req_inter)

    MNSHttp.send_request = send_request
    _saved.update(cls=MNSHttp, original=original, patched=send_request)


def _uninstall() -> None:
    cls, original, patched = _saved.pop("cls"), _saved.pop("original"), _saved.pop("patched")
    if cls.__dict__.get("send_request") is patched:  # leave a later patch by someone else alone
        cls.send_request = original


# -- the mock ----------------------------------------------------------------------------------


class MNSMock:
    """One in-process minimns and the SDK patch that reaches it. Make it with ``mock_mns()``.

    Use as a context manager (``with mock_mns() as mock:``) or a decorator
    (``@mock_mns()`` on a function, coroutine function or class). While
    active: ``broker`` is the live ``minimns.Broker`` (its methods are async
    and belong to the mock's loop: call them with ``mock.call(fn, *args)``),
    ``advance(seconds)`` jumps the virtual clock, ``reset()`` drops every
    queue, and ``account()`` makes an SDK ``Account`` (any endpoint works).
    """

    def __init__(
        self,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        account_id: str = "1234567890",
        region: str = "cn-hangzhou",
        limits: HttpLimits | None = None,
        config: Any = None,
        **broker_options: Any,
    ) -> None:
        if (access_key_id is None) != (access_key_secret is None):
            raise ValueError("give both access_key_id and access_key_secret, or neither")
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.account_id = account_id
        self.region = region
        self.limits = limits or HttpLimits()
        self._broker_options = broker_options
        self.config = config  # a TOML path or dict for minimns.config.apply_config
        self._depth = 0
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self.clock: trio.testing.MockClock | None = None
        self.app: MNSApp | None = None

    def __repr__(self) -> str:
        state = "active" if self._depth else "stopped"
        return f"<MNSMock {state}>"

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._depth > 0

    def start(self) -> "MNSMock":
        with _lock:
            if self._depth == 0:
                self._start_loop()
            self._depth += 1
            if not _active:
                try:
                    _install()
                except BaseException:
                    self._depth -= 1
                    if self._depth == 0:
                        self._stop_loop()
                    raise
            _active.append(self)
        return self

    def stop(self) -> None:
        with _lock:
            if self._depth == 0:
                raise RuntimeError("this mock is not active")
            self._depth -= 1
            for i in range(len(_active) - 1, -1, -1):  # exits out of order are fine too
                if _active[i] is self:
                    del _active[i]
                    break
            try:
                if not _active:
                    _uninstall()
            finally:
                if self._depth == 0:
                    self._stop_loop()

    def __enter__(self) -> "MNSMock":
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop()
        if exc_type is None and self._depth == 0 and self._error is not None:
            raise RuntimeError("the minimns mock's loop failed") from self._error

    def __call__(self, target: F) -> F:
        """Decorate a test function (sync or async) or every ``test*`` method of a class."""
        if inspect.isclass(target):
            for name, value in list(vars(target).items()):
                if name.startswith("test") and inspect.isfunction(value):
                    setattr(target, name, self(value))
            return target  # type: ignore[return-value]
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await target(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(target)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return target(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    # -- what tests use ------------------------------------------------------------------------

    @property
    def broker(self) -> Broker:
        return self._require_app().broker

    def account(self, endpoint: str = DEFAULT_ENDPOINT, **kwargs: Any) -> Any:
        """An SDK ``Account`` on ``endpoint`` with this mock's keys (or placeholder keys)."""
        from mns.account import Account

        return Account(
            endpoint,
            self.access_key_id or "minimns-id",
            self.access_key_secret or "minimns-secret",
            **kwargs,
        )

    def advance(self, seconds: float) -> None:
        """Jump the virtual clock: due delays, visibility timeouts and retention apply at once,
        and long polls whose wait ends within the jump return."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        clock = self.clock

        async def jump() -> None:
            clock.jump(seconds)  # type: ignore[union-attr]
            await trio.sleep(0)

        self._require_app()
        self.call(jump)

    def reset(self) -> None:
        """Drop every queue (parked long polls wake to QueueNotExist), every topic and
        pending push, the recorded mail and SMS, and account settings."""
        self.call(self._require_app().reset)

    def wait_pushes_settled(self) -> None:
        """Block until no push is waiting or in flight (HTTP pushes take real time;
        retries wait on the clock: ``advance`` it to run them)."""
        self.call(self.broker.wait_pushes_settled)

    def call(self, async_fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``async_fn(*args)`` on the mock's loop (e.g. a broker method); its result."""
        token = self._token
        if token is None or not self.active:
            raise RuntimeError("this mock is not active")
        if trio.lowlevel.in_trio_task():
            # Called from inside some trio run (an async test calling sync code): from_thread
            # refuses to block a trio thread, so hand the call over from a helper thread.
            box: list[outcome.Outcome] = []

            def relay() -> None:
                box.append(outcome.capture(trio.from_thread.run, async_fn, *args, trio_token=token))

            helper = threading.Thread(target=relay, name="minimns-mock-relay", daemon=True)
            helper.start()
            helper.join()
            return box[0].unwrap()
        return trio.from_thread.run(async_fn, *args, trio_token=token)

    # -- the loop ------------------------------------------------------------------------------

    def _require_app(self) -> MNSApp:
        if self.app is None or not self.active:
            raise RuntimeError("this mock is not active")
        return self.app

    def _start_loop(self) -> None:
        self.clock = trio.testing.MockClock(rate=1.0)
        self._error = None
        self._token = None
        self.app = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="minimns-mock", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self.app is None:
            self._thread.join()
            raise RuntimeError("the minimns mock could not start") from self._error

    def _stop_loop(self) -> None:
        thread, token, cancel = self._thread, self._token, self._cancel
        if thread is None:
            return
        if token is not None and cancel is not None and thread.is_alive():
            try:
                token.run_sync_soon(cancel.cancel)  # from any thread, trio or not
            except trio.RunFinishedError:
                pass
        thread.join()
        self._thread = None
        self._token = None
        self._cancel = None
        self.app = None

    def _run(self, ready: threading.Event) -> None:
        try:
            trio.run(self._main, ready, clock=self.clock)
        except BaseException as error:  # noqa: BLE001 - reported by start() or __exit__
            self._error = sole_error(error)
        finally:
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        credentials = None
        if self.access_key_id is not None and self.access_key_secret is not None:
            credentials = Credentials(self.access_key_id, self.access_key_secret)
        options = {"account_id": self.account_id, "region": self.region, **self._broker_options}
        async with open_broker(**options) as broker:
            if self.config is not None:
                await apply_config(broker, self.config)
            app = MNSApp(
                broker,
                credentials=credentials,
                account_id=self.account_id,
                region=self.region,
                clock=self.clock,
                default_host=DEFAULT_ENDPOINT.partition("://")[2],
            )
            with trio.CancelScope() as cancel:
                self._cancel = cancel
                self._token = trio.lowlevel.current_trio_token()
                self.app = app
                ready.set()
                await trio.sleep_forever()

    # -- one request ---------------------------------------------------------------------------

    async def _serve(self, request: Request) -> Response:
        """What the server's HTTP layer does around the app, minus the socket."""
        app = self.app
        assert app is not None
        limits = self.limits
        header_size = sum(len(name) + len(value) + 4 for name, value in request.headers.items())
        if header_size > limits.max_header:
            return app.reject(
                400, "InvalidRequest", "The request is not valid HTTP/1.1: headers too long."
            )
        if len(request.body) > limits.max_body:
            return app.reject(
                400, "InvalidArgument", f"The request body is larger than {limits.max_body} bytes."
            )
        return await app(request)

    def _send_request(self, http: Any, req_inter: Any) -> Any:
        """``MNSHttp.send_request``, with the connection replaced by this mock."""
        from mns.mns_exception import MNSClientNetworkException
        from mns.mns_http import ResponseInternal

        try:
            if http.logger:
                http.logger.debug("SendRequest %s" % req_inter)
            request, request_size = _wire_request(req_inter)
            try:
                response = self.call(self._serve, request)
            except (trio.RunFinishedError, trio.Cancelled, RuntimeError) as error:
                raise _TransportError(f"minimns mock is not running: {error!r}") from error
            headers = list(response.headers)
            headers.append(("Content-Length", str(len(response.body))))  # as serve_connection adds
            resp_inter = ResponseInternal(
                status=response.status, header=dict(headers), data=response.body
            )
            resp_inter.data = resp_inter.data.decode("utf-8")
            http.request_size = request_size
            http.response_size = len(resp_inter.data)
            if http.logger:
                http.logger.debug("GetResponse %s" % resp_inter)
            return resp_inter
        except Exception as error:
            raise MNSClientNetworkException(
                "NetWorkException", str(error), req_inter.get_req_id()
            ) from error


def _wire_request(req_inter: Any) -> tuple[Request, int]:
    """The request ``http.client`` would send for the SDK's ``RequestInternal``, as the
    server's HTTP layer would read it; and the byte count the SDK reports as request_size."""
    method = req_inter.method
    target = req_inter.uri or "/"
    found = _DISALLOWED_URL_CHAR.search(target)
    if found:
        raise _TransportError(
            f"URL can't contain control characters. {target!r} (found at least {found.group()!r})"
        )
    try:
        request_line = f"{method} {target} HTTP/1.1".encode("ascii")
    except UnicodeEncodeError as error:
        raise _TransportError(str(error)) from error

    body = req_inter.data
    if body is None:
        body = b""
        length = "0" if method.upper() in _METHODS_EXPECTING_BODY else None
    else:
        if isinstance(body, str):
            body = body.encode("iso-8859-1")  # http.client's encoding of a str body
        body = bytes(body)
        length = str(len(body))

    sent = dict(req_inter.header)
    names = {name.lower() for name in sent}
    wire: list[tuple[bytes, bytes]] = []
    if "host" not in names:
        wire.append((b"Host", b"minimns.invalid"))
    if "accept-encoding" not in names:
        wire.append((b"Accept-Encoding", b"identity"))
    for name, value in sent.items():
        raw_name = name.encode("ascii")
        if not _LEGAL_HEADER_NAME.fullmatch(raw_name):
            raise _TransportError(f"Invalid header name {raw_name!r}")
        raw_value = (value if isinstance(value, str) else str(value)).encode("latin-1")
        if _ILLEGAL_HEADER_VALUE.search(raw_value):
            raise _TransportError(f"Invalid header value {raw_value!r}")
        wire.append((raw_name, raw_value))
    if "content-length" not in names and "transfer-encoding" not in names and length is not None:
        wire.append((b"Content-Length", length.encode("ascii")))

    headers = {n.decode("latin-1").lower(): v.decode("latin-1").strip() for n, v in wire}
    size = len(request_line) + 2 + sum(len(n) + len(v) + 4 for n, v in wire) + 2 + len(body)
    return Request(method, target, headers, body), size


def mock_mns(func: F | None = None, **options: Any) -> Any:
    """Route every SDK ``Account`` to an in-process minimns while active.

    ``with mock_mns() as mock:``, ``@mock_mns()`` or bare ``@mock_mns``.
    Options: ``access_key_id`` and ``access_key_secret`` (then signatures,
    Content-MD5 and Date are verified as MNS does), ``account_id``,
    ``region``, ``limits`` (an ``HttpLimits``), and the broker's options
    (``epoch_ms``, ``max_queues``, ``max_waiters``, ``seed``).
    """
    mock = MNSMock(**options)
    if func is not None:
        return mock(func)
    return mock
