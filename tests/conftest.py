"""Run ``async def`` tests under trio with a virtual clock that jumps at once.

A test that takes the ``mock_clock`` fixture gets the clock it runs on, to
jump it by hand; ``autojump_threshold=0`` makes every sleep and long poll
finish in no real time.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re

import pytest
import trio
import trio.testing
from mns.account import Account

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

EPOCH_MS = 1_700_000_000_000  # a fixed start, so tests can assert exact times


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    clock = kwargs.get("mock_clock") or trio.testing.MockClock(autojump_threshold=0)
    trio.run(functools.partial(pyfuncitem.obj, **kwargs), clock=clock)
    return True


@pytest.fixture(scope="module")
def server():
    """A minimns server on a free loopback port with a virtual clock, one per test module."""
    with ServerThread() as running:
        yield running


@pytest.fixture(scope="module")
def auth_server():
    """The same, verifying signatures for the key id ``id`` and secret ``secret``."""
    options = ServerOptions(port=0, access_key_id="id", access_key_secret="secret")
    with ServerThread(options) as running:
        yield running


@pytest.fixture
def account(server):
    """An official SDK Account on the module's server."""
    return Account(server.endpoint, "id", "secret")


_serial = itertools.count(1)


@pytest.fixture
def name(request) -> str:
    """A name unique to this test, valid for queues, topics and subscriptions."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return f"t{next(_serial)}-{slug}"[:90].rstrip("-")


@pytest.fixture
def qname(name: str) -> str:
    return name
