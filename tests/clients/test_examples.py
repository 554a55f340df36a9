"""The examples run as documented (each in a fresh interpreter, on the real clock)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

from ..node_driver import NODE_DIR, NODE_MISSING, Node

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "script, expected",
    [
        ("producer_consumer.py", "late order"),
        ("topic_push.py", "signature ok=True"),
        ("sms_verification.py", "codes sent to the number: 1"),
    ],
)
def test_example_runs(script: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


@NODE_MISSING
def test_the_node_example_runs_against_a_server_with_keys():
    Node.install()
    options = ServerOptions(port=0, access_key_id="example-id", access_key_secret="example-key")
    with ServerThread(options) as running:
        env = dict(os.environ, NODE_PATH=str(NODE_DIR / "node_modules"),
                   MNS_ENDPOINT=running.endpoint, MNS_ACCESS_KEY_ID="example-id",
                   MNS_ACCESS_KEY_SECRET="example-key")
        done = subprocess.run([shutil.which("node") or "node",
                               str(EXAMPLES / "node_producer_consumer.js")],
                              capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "orders handled: 6" in done.stdout
