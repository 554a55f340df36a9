"""Thousands of concurrent long polls over HTTP: one trio task each, no thread each."""

from __future__ import annotations

import re
import socket
import threading
import time

from mns.account import Account
from mns.queue import Message, QueueMeta

from minimns.testing.thread import ServerThread
from tests.server_helpers import raise_fd_limit

POLLS = 2000


def test_two_thousand_long_polls_each_get_one_message():
    raise_fd_limit(2 * POLLS + 256)
    with ServerThread() as server:
        host, port = server.endpoint[len("http://") :].rsplit(":", 1)
        account = Account(server.endpoint, "id", "secret")
        queue = account.get_queue("crowd")
        queue.create(QueueMeta())
        threads_before = threading.active_count()
        request = (
            f"GET /queues/crowd/messages?waitseconds=30 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "x-mns-version: 2015-06-06\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        sockets = []
        try:
            for _ in range(POLLS):
                sock = socket.create_connection((host, int(port)))
                sock.sendall(request)
                sockets.append(sock)
            deadline = time.monotonic() + 20
            while server.waiting("crowd") < POLLS and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.waiting("crowd") == POLLS
            assert threading.active_count() == threads_before  # tasks, not threads

            for start in range(0, POLLS, 16):
                queue.batch_send_message([Message(f"m{i}") for i in range(start, start + 16)])
            bodies = []
            for sock in sockets:
                sock.settimeout(20)
                data = b""
                while b"</Message>" not in data:
                    chunk = sock.recv(65536)
                    assert chunk, "the server closed a long poll without answering"
                    data += chunk
                assert data.startswith(b"HTTP/1.1 200")
                bodies.append(re.search(rb"<MessageBody>(.*?)</MessageBody>", data).group(1))
            assert len(set(bodies)) == POLLS
            assert server.waiting("crowd") == 0
            meta = queue.get_attributes()
            assert (meta.active_messages, meta.inactive_messages) == (0, POLLS)
        finally:
            for sock in sockets:
                sock.close()
