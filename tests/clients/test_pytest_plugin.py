"""The ``minimns`` pytest plugin (entry point pytest11): its fixtures, used as a user would."""

from __future__ import annotations

import threading
import time

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.mns_http import MNSHttp
from mns.queue import Message, QueueMeta

import minimns.testing.pytest_plugin as plugin_module
from minimns.testing import MinimnsServer, MNSMock, active_mock

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


def test_plugin_is_registered_through_the_entry_point(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("minimns")
    assert plugin is plugin_module
    # fixtures only: no hooks, so nothing competes with a conftest's pytest_pyfunc_call
    assert pytestconfig.pluginmanager.get_hookcallers(plugin) == []
    assert not hasattr(plugin, "pytest_pyfunc_call")


def test_mns_account_round_trip(mns_account, minimns_server):
    assert isinstance(minimns_server, MinimnsServer)
    assert minimns_server.endpoint.startswith("http://127.0.0.1:")
    queue = mns_account.get_queue("jobs")
    queue.create(QueueMeta())
    queue.send_message(Message("hello"))
    got = queue.receive_message(wait_seconds=1)
    assert got.message_body == b"hello"
    queue.delete_message(got.receipt_handle)
    with pytest.raises(MNSServerException) as info:
        mns_account.get_queue("missing").get_attributes()
    assert info.value.type == "QueueNotExist"


def test_minimns_server_checks_signatures(minimns_server):
    assert (minimns_server.access_key_id, minimns_server.access_key_secret) != (None, None)
    ok = Account(minimns_server.endpoint, minimns_server.access_key_id, minimns_server.access_key_secret)
    assert ok.list_queue() == ([], "")  # a fresh server per test: no queues left from others
    bad = Account(minimns_server.endpoint, minimns_server.access_key_id, "wrong")
    with pytest.raises(MNSServerException) as info:
        bad.list_queue()
    assert info.value.type == "SignatureDoesNotMatch"
    for account in (ok, bad):
        account.get_client().close_connection()


def test_minimns_server_advance_skips_a_delay(mns_account, minimns_server):
    queue = mns_account.get_queue("later")
    queue.create(QueueMeta())
    queue.send_message(Message("x", delay_seconds=60))
    with pytest.raises(MNSServerException):
        queue.receive_message()
    minimns_server.advance(60)
    assert queue.receive_message().message_body == b"x"
    minimns_server.advance(3 * 86400)  # days on: the SDK's keep-alive connection survives
    assert queue.receive_message().dequeue_count == 2
    minimns_server.reset()
    assert mns_account.list_queue() == ([], "")


def test_minimns_server_long_poll_woken_from_another_thread(mns_account, minimns_server):
    queue = mns_account.get_queue("poll")
    queue.create(QueueMeta())
    other = minimns_server.account()
    sender = threading.Timer(0.1, lambda: other.get_queue("poll").send_message(Message("late")))
    started = time.perf_counter()
    sender.start()
    got = queue.receive_message(wait_seconds=10)
    sender.join()
    other.get_client().close_connection()
    assert got.message_body == b"late"
    assert time.perf_counter() - started < 2


def test_mns_mock_fixture(mns_mock):
    assert isinstance(mns_mock, MNSMock) and active_mock() is mns_mock
    account = Account("https://1234567890.mns.cn-hangzhou.aliyuncs.com", "id", "secret")
    queue = account.get_queue("mocked")
    queue.create(QueueMeta())
    queue.send_message(Message("x", delay_seconds=60))
    mns_mock.advance(60)
    assert queue.receive_message().message_body == b"x"


def test_fixtures_in_a_project_with_its_own_async_runner(pytester):
    # A project conftest that runs async tests itself (like ours) keeps working with the
    # plugin's fixtures; each test starts fresh and the patch is gone after the mock.
    pytester.makeconftest(
        """
        import functools, inspect
        import pytest, trio

        @pytest.hookimpl(tryfirst=True)
        def pytest_pyfunc_call(pyfuncitem):
            if not inspect.iscoroutinefunction(pyfuncitem.obj):
                return None
            kwargs = {n: pyfuncitem.funcargs[n] for n in pyfuncitem._fixtureinfo.argnames}
            trio.run(functools.partial(pyfuncitem.obj, **kwargs))
            return True
        """
    )
    pytester.makepyfile(
        """
        import pytest, trio
        from mns.account import Account
        from mns.mns_exception import MNSClientNetworkException
        from mns.queue import Message, QueueMeta

        pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

        def make(account, name):
            queue = account.get_queue(name)
            queue.create(QueueMeta())
            return queue

        def test_one(mns_mock):
            make(Account("http://anywhere", "i", "s"), "q").send_message(Message("x"))

        def test_two_starts_empty(mns_mock):
            assert Account("http://anywhere", "i", "s").list_queue() == ([], "")

        async def test_async_with_mock(mns_mock):
            await trio.sleep(0)
            make(mns_mock.account(), "q").send_message(Message("y"))
            assert mns_mock.account().get_queue("q").receive_message().message_body == b"y"

        def test_server(mns_account, minimns_server):
            make(mns_account, "q").send_message(Message("z"))
            assert mns_account.get_queue("q").receive_message().message_body == b"z"

        def test_patch_gone_afterwards():
            with pytest.raises(MNSClientNetworkException):
                Account("http://127.0.0.1:1", "i", "s").list_queue()
        """
    )
    # (hypothesis's plugin would import and assertion-rewrite all of hypothesis in here: 1.5 s)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=5)
    assert MNSHttp.__dict__["send_request"].__module__ == "mns.mns_http"


async def test_mns_open_broker_runs_on_the_test_clock(mns_open_broker):
    import trio

    async with mns_open_broker(epoch_ms=1_700_000_000_000) as broker:
        queue = await broker.create_queue("plugin-q", message_retention_period=60)
        await queue.send_message("m")
        await trio.sleep(3600)  # an hour of virtual time: retention plays out at once
        assert (await queue.get_attributes()).active_messages == 0
        assert broker.now() == 1_700_000_000_000 + 3_600_000
