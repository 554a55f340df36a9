"""An in-process transport for the official SDK: ``with mock_mns(): ...``.

In the spirit of moto's ``mock_aws``: while a mock is active, every
``mns.account.Account`` (made before or inside the block, any endpoint, http
or https) talks to one in-process minimns instead of the network. No socket
is opened: the SDK's ``send_request`` is patched (``sdk_patch.py``) and each
request is handed to an ``MNSApp`` running on a trio loop in a background
thread. The answer is read back as the SDK reads an ``http.client``
response: ``dict(getheaders())`` with the ``Content-Length`` the server's
HTTP layer adds, and the body decoded as UTF-8. Anything that goes wrong in
transit becomes ``MNSClientNetworkException``, as on a real connection.

Mocks nest: the innermost active one answers, and the patch is removed
when the last one ends. The same mock may be re-entered (a decorated
function calling itself); its broker lives from the outermost enter to the
matching exit, so each decorated call starts from empty queues.
"""


from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable, TypeVar

import outcome
import trio
import trio.testing

from ..broker.broker import Broker
from ..config import apply_config
from ..opening import open_broker
from ..server.app import MNSApp
from ..server.http import HttpLimits, Request, Response
from ..server.mns.signature import Credentials
from .sdk_patch import TransportError, active_mock, install, lock, mocks, uninstall, wire_request
from .thread import sole_error

__all__ = ["DEFAULT_ENDPOINT", "MNSMock", "active_mock", "mock_mns"]

F = TypeVar("F", bound=Callable[..., Any])

# ".invalid" never resolves (RFC 2606): an Account on it that escapes the mock fails fast.
DEFAULT_ENDPOINT = "http://minimns.invalid"



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
        with lock:
            if self._depth == 0:
                self._start_loop()
            self._depth += 1
            if not mocks:
                try:
                    install()
                except BaseException:
                    self._depth -= 1
                    if self._depth == 0:
                        self._stop_loop()
                    raise
            mocks.append(self)
        return self

    def stop(self) -> None:
        with lock:
            if self._depth == 0:
                raise RuntimeError("this mock is not active")
            self._depth -= 1
            for i in range(len(mocks) - 1, -1, -1):  # exits out of order are fine too
                if mocks[i] is self:
                    del mocks[i]
                    break
            try:
                if not mocks:
                    uninstall()
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
            request, request_size = wire_request(req_inter)
            try:
                response = self.call(self._serve, request)
            except (trio.RunFinishedError, trio.Cancelled, RuntimeError) as error:
                raise TransportError(f"minimns mock is not running: {error!r}") from error
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
