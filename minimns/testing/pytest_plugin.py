"""The ``minimns`` pytest plugin: fixtures for code that uses the official MNS SDK.

Registered through the ``pytest11`` entry point, so it is active wherever
minimns is installed. Fixtures (all function-scoped; a server starts in a
few milliseconds):

``mns_mock``
    a ``mock_mns()`` active for the test: every SDK ``Account``, whatever
    its endpoint, talks to an in-process minimns, no sockets. It has
    ``advance(seconds)``, ``reset()``, ``broker`` and ``account()``.
``minimns_server``
    a ``MinimnsServer`` (a ServerThread on a free loopback port, virtual
    clock, signatures verified): ``endpoint``, ``access_key_id``,
    ``access_key_secret``, ``advance(seconds)``, ``reset()``, ``account()``.
``mns_account``
    an SDK ``mns.account.Account`` connected to ``minimns_server``.
``mns_open_broker``
    for ``async def`` tests, whatever runs them (a conftest, pytest-trio,
    anyio on trio): ``async with mns_open_broker() as broker:`` runs an
    in-process broker on the test's own trio clock, so under
    ``MockClock(autojump_threshold=0)`` days of retention pass at once.

The plugin adds fixtures only. It has no ``pytest_pyfunc_call`` or other
hooks, so it never competes with whatever runs a project's ``async def``
tests (trio, anyio or a conftest of its own). The SDK is imported only by
the fixtures that need it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Callable, Iterator

import pytest

from ..broker.broker import Broker
from ..opening import open_broker
from .server import MinimnsServer
from .mock import MNSMock, mock_mns

__all__ = ["minimns_server", "mns_account", "mns_mock", "mns_open_broker"]


@pytest.fixture
def mns_mock() -> Iterator[MNSMock]:
    """Every SDK Account talks to an in-process minimns for the duration of the test."""
    with mock_mns() as mock:
        yield mock


@pytest.fixture
def minimns_server() -> Iterator[MinimnsServer]:
    """A minimns server on a free loopback port with a virtual clock."""
    with MinimnsServer() as server:
        yield server


@pytest.fixture
def mns_account(minimns_server: MinimnsServer) -> Iterator[Any]:
    """An ``mns.account.Account`` connected to ``minimns_server``."""
    account = minimns_server.account()
    try:
        yield account
    finally:
        account.get_client().close_connection()


@pytest.fixture
def mns_open_broker() -> Callable[..., AbstractAsyncContextManager[Broker]]:
    """``minimns.open_broker`` for the test's trio run (options as open_broker's)."""
    return open_broker
