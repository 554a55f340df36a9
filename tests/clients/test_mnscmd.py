"""The SDK's bundled ``mnscmd`` tool against ``minimns serve``, run as subprocesses."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

MNSCMD = shutil.which("mnscmd", path=os.path.dirname(sys.executable)) or shutil.which("mnscmd")
pytestmark = pytest.mark.skipif(MNSCMD is None, reason="mnscmd is installed with aliyun-mns-sdk")


@pytest.fixture(scope="module")
def endpoint():
    server = subprocess.Popen(
        [sys.executable, "-m", "minimns", "serve", "--port", "0", "--virtual-clock"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in server.stdout:
            match = re.search(r"serving MNS at (http://\S+)", line)
            if match:
                break
        else:
            pytest.fail("minimns serve printed no endpoint")
        yield match.group(1)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0


def mnscmd(endpoint: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, MNSCMD, *args, f"--mnsendpoint={endpoint}", "--accesskeyid=id", "--accesskeysecret=secret"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}\s*:\s*(.*)$", output, re.MULTILINE)
    assert match, f"{name} not in {output!r}"
    return match.group(1).strip()


def test_queue_commands(endpoint):
    out = mnscmd(endpoint, "createqueue", "--queuename=cmdq", "--vistimeout=40", "--waitsec=0")
    assert "createqueue succeed" in out and f"QueueURL:{endpoint}/queues/cmdq" in out
    assert "setqueueattr succeed" in mnscmd(endpoint, "setqueueattr", "--queuename=cmdq", "--delaysec=0", "--loggingenabled=True")
    out = mnscmd(endpoint, "getqueueattr", "--queuename=cmdq")
    assert field(out, "VisibilityTimeout") == "40"
    assert field(out, "LoggingEnabled") == "True"
    assert f"{endpoint}/queues/cmdq" in mnscmd(endpoint, "listqueue", "--prefix=cmd")

    out = mnscmd(endpoint, "sendmessage", "--queuename=cmdq", "--body=hello mnscmd", "--priority=2")
    message_id = field(out, "MessageID")
    out = mnscmd(endpoint, "peekmessage", "--queuename=cmdq")
    assert field(out, "MessageID") == message_id and field(out, "DequeueCount") == "0"
    out = mnscmd(endpoint, "receivemessage", "--queuename=cmdq", "--waitsec=1")
    assert field(out, "MessageBody") == "b'hello mnscmd'"
    assert field(out, "Priority") == "2"
    handle = field(out, "ReceiptHandle")
    out = mnscmd(endpoint, "changevisibility", "--queuename=cmdq", f"--handle={handle}", "--vistimeout=100")
    new_handle = field(out, "ReceiptHandle")
    assert new_handle != handle
    assert "deletemessage succeed" in mnscmd(endpoint, "deletemessage", "--queuename=cmdq", f"--handle={new_handle}")
    assert "deletequeue succeed" in mnscmd(endpoint, "deletequeue", "--queuename=cmdq")
    assert "cmdq" not in mnscmd(endpoint, "listqueue", "--prefix=cmd")


def test_account_commands(endpoint):
    assert "RequestId" in mnscmd(endpoint, "setaccountattr", "--loggingbucket=logs")
    assert field(mnscmd(endpoint, "getaccountattr"), "LoggingBucket") == "logs"


def test_errors_are_reported_not_crashed(endpoint):
    done = subprocess.run(
        [sys.executable, MNSCMD, "getqueueattr", "--queuename=nope", f"--mnsendpoint={endpoint}", "--accesskeyid=id", "--accesskeysecret=secret"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "QueueNotExist" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
