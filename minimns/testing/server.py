"""A ServerThread with test keys: what the ``minimns_server`` fixture yields."""

from __future__ import annotations

from typing import Any

from ..server.serve import ServerOptions
from .thread import ServerThread

__all__ = ["MinimnsServer"]

ACCESS_KEY_ID = "minimns-test-id"
ACCESS_KEY_SECRET = "minimns-test-secret"


class MinimnsServer(ServerThread):
    """A minimns server on a free loopback port, on a virtual clock, verifying signatures.

    ``endpoint``, ``access_key_id`` and ``access_key_secret`` are what an SDK
    ``Account`` needs (``account()`` makes one); ``advance(seconds)`` jumps
    the clock; ``reset()`` drops every queue.
    """

    def __init__(
        self,
        *,
        access_key_id: str = ACCESS_KEY_ID,
        access_key_secret: str = ACCESS_KEY_SECRET,
        host: str = "127.0.0.1",
        **broker_options: Any,
    ) -> None:
        # On a virtual clock, serve() keeps idle connections open across advance().
        options = ServerOptions(
            host=host, port=0, access_key_id=access_key_id, access_key_secret=access_key_secret
        )
        super().__init__(options, virtual_clock=True, **broker_options)
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret

    def __enter__(self) -> "MinimnsServer":
        self.start()
        return self

    def account(self, **kwargs: Any) -> Any:
        """An SDK ``Account`` on this server with its keys."""
        from mns.account import Account

        return Account(self.endpoint, self.access_key_id, self.access_key_secret, **kwargs)

    def reset(self) -> None:
        """Drop every queue (parked long polls wake to QueueNotExist) and account settings."""
        self.call(self.app.reset)
