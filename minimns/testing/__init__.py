"""Test helpers: the in-process SDK transport (``mock_mns``) and a pytest plugin.

``minimns.testing.pytest_plugin`` is registered as the ``minimns`` pytest
plugin (entry point ``pytest11``) and provides the fixtures ``mns_mock``,
``minimns_server`` and ``mns_account``.
"""

from .server import MinimnsServer
from .mock import DEFAULT_ENDPOINT, MNSMock, active_mock, mock_mns

__all__ = ["DEFAULT_ENDPOINT", "MNSMock", "MinimnsServer", "active_mock", "mock_mns"]
