"""Helpers shared by the tests that drive a server from another thread."""

from __future__ import annotations

import hashlib
import resource
import time
from typing import Any, Callable

import pytest
from mns.mns_exception import MNSServerException


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true (a synchronisation point, not a timing sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def md5_upper(text: str) -> str:
    """MessageBodyMD5 as MNS computes it: upper-case hex MD5 of the UTF-8 text."""
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def drain(queue: Any) -> list[str]:
    """Every body in an SDK queue (read as it is stored), removing them."""
    bodies = []
    while True:
        try:
            messages = queue.batch_receive_message(16)
        except MNSServerException as error:
            assert error.type == "MessageNotExist"
            return bodies
        for message in messages:
            bodies.append(message.message_body)
            queue.delete_message(message.receipt_handle)


def raise_fd_limit(needed: int) -> None:
    """Raise the soft limit on open files to ``needed`` (skip the test if the hard one is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def server_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> MNSServerException:
    """The MNS error an SDK call raises (the test fails if it raises none)."""
    with pytest.raises(MNSServerException) as caught:
        call(*args, **kwargs)
    return caught.value
