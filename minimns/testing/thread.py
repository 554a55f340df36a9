"""A server in a background thread, for synchronous code such as the official SDK."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import trio
import trio.testing

from ..opening import open_broker
from ..config import apply_config
from ..server.serve import ServerOptions, serve

__all__ = ["ServerThread"]


def sole_error(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (trio's nurseries wrap
    what a start-up step raises), so a caller sees the ConfigError itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class ServerThread:
    """``with ServerThread() as server: Account(server.endpoint, ...)``.

    Runs broker and server on their own trio loop. With ``virtual_clock``
    the clock moves with real time and ``advance(seconds)`` jumps it.
    """

    def __init__(
        self,
        options: ServerOptions | None = None,
        *,
        virtual_clock: bool = True,
        config: Any = None,
        **broker_options: Any,
    ) -> None:
        self.options = options or ServerOptions(port=0)
        self.config = config  # a TOML path or dict for minimns.config.apply_config
        self.clock = trio.testing.MockClock(rate=1.0) if virtual_clock else None
        self._broker_options = broker_options
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="minimns-server", daemon=True)
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self.endpoint = ""
        self.app: Any = None

    def __enter__(self) -> "ServerThread":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._token is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)  # type: ignore[union-attr]
        self._thread.join()

    @property
    def broker(self) -> Any:
        return self.app.broker

    def advance(self, seconds: float) -> None:
        """Jump the virtual clock; due delays, visibility timeouts and retention apply at once."""
        if self.clock is None:
            raise RuntimeError("this server runs on the real clock")

        async def jump() -> None:
            self.clock.jump(seconds)  # type: ignore[union-attr]
            await trio.sleep(0)

        trio.from_thread.run(jump, trio_token=self._token)

    def waiting(self, queue_name: str) -> int:
        """How many long polls are parked on a queue right now."""
        return trio.from_thread.run_sync(self.broker.waiting, queue_name, trio_token=self._token)

    def wait_pushes_settled(self) -> None:
        """Block until no push is waiting or in flight (HTTP pushes take real time;
        retries wait on the clock: ``advance`` it to run them)."""
        self.call(self.broker.wait_pushes_settled)

    def call(self, async_fn: Any, *args: Any) -> Any:
        """Run ``async_fn(*args)`` on the server's loop (e.g. a broker method)."""
        return trio.from_thread.run(async_fn, *args, trio_token=self._token)

    def _run(self) -> None:
        try:
            trio.run(self._main, clock=self.clock)
        except BaseException as error:  # surfaced by start()
            self._error = sole_error(error)
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        options = {"account_id": self.options.account_id, "region": self.options.region,
                   **self._broker_options}
        async with open_broker(**options) as broker:
            if self.config is not None:
                await apply_config(broker, self.config)
            async with trio.open_nursery() as nursery:
                self._cancel = nursery.cancel_scope
                self.app, self.endpoint = await nursery.start(
                    partial(serve, broker, self.options, clock=self.clock)
                )
                self._ready.set()
