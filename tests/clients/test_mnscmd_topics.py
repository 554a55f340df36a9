"""The SDK's bundled ``mnscmd`` tool: its topic and subscription commands, run as subprocesses.

mnscmd prints "<command> fail!" and still exits 0 when the server answers an
error, so every call checks both the exit status and the "succeed!" line.
Commands that do not depend on each other run in parallel to keep this quick.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from mns.account import Account

from tests.server_helpers import drain, md5_upper
from mns.queue import QueueMeta

MNSCMD = shutil.which("mnscmd", path=os.path.dirname(sys.executable)) or shutil.which("mnscmd")
pytestmark = pytest.mark.skipif(MNSCMD is None, reason="mnscmd is installed with aliyun-mns-sdk")

OWNER = "1234567890"


def _argv(endpoint: str, args: tuple[str, ...]) -> list[str]:
    return [
        sys.executable,
        MNSCMD,
        *args,
        f"--mnsendpoint={endpoint}",
        "--accesskeyid=id",
        "--accesskeysecret=secret",
    ]


def _check(args: tuple[str, ...], done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert f"{args[0]} succeed!" in done.stdout, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def mnscmd(endpoint: str, *args: str) -> str:
    done = subprocess.run(_argv(endpoint, args), capture_output=True, text=True, timeout=30)
    return _check(args, done)


def mnscmd_parallel(endpoint: str, *commands: tuple[str, ...]) -> list[str]:
    """Run independent commands at once; their outputs in order."""
    running = [
        (args, subprocess.Popen(_argv(endpoint, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for args in commands
    ]
    outputs = []
    for args, process in running:
        stdout, stderr = process.communicate(timeout=30)
        outputs.append(_check(args, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)))
    return outputs


def field(output: str, name: str) -> str:
    match = re.search(rf"^{name}\s*:\s*(.*)$", output, re.MULTILINE)
    assert match, f"{name} not in {output!r}"
    return match.group(1).strip()


def test_topic_and_subscription_commands(server):
    endpoint = server.endpoint
    account = Account(endpoint, "id", "secret")
    topic = "cmd-topic"
    queues = {}
    for suffix in ["tagged", "all"]:
        queues[suffix] = account.get_queue(f"cmd-{suffix}")
        queues[suffix].create(QueueMeta())
        queues[suffix].set_encoding(False)
    tagged_endpoint = f"acs:mns:cn-hangzhou:{OWNER}:queues/cmd-tagged"
    all_endpoint = f"acs:mns:cn-hangzhou:{OWNER}:queues/cmd-all"

    out = mnscmd(endpoint, "createtopic", f"--topicname={topic}", "--maxmsgsize=2048")
    assert f"TopicURL:{endpoint}/topics/{topic}" in out

    settopic, sub_tagged, sub_all, other = mnscmd_parallel(
        endpoint,
        ("settopicattr", f"--topicname={topic}", "--loggingenabled=True"),
        (
            "subscribe",
            f"--topicname={topic}",
            "--subname=sub-tagged",
            f"--endpoint={tagged_endpoint}",
            "--filtertag=important",
            "--notifystrategy=EXPONENTIAL_DECAY_RETRY",
            "--notifycontentformat=SIMPLIFIED",
        ),
        (
            "subscribe",
            f"--topicname={topic}",
            "--subname=sub-all",
            f"--endpoint={all_endpoint}",
            "--notifycontentformat=JSON",
        ),
        ("createtopic", f"--topicname={topic}-other"),
    )
    assert f"SubscriptionURL:{endpoint}/topics/{topic}/subscriptions/sub-tagged" in sub_tagged
    assert f"SubscriptionURL:{endpoint}/topics/{topic}/subscriptions/sub-all" in sub_all

    body = "hello from mnscmd"
    topic_attr, listed, sub_attr, page, plain, based, untagged = mnscmd_parallel(
        endpoint,
        ("gettopicattr", f"--topicname={topic}"),
        ("listtopic", "--prefix=cmd-topic", "--retnum=1"),
        ("getsubattr", f"--topicname={topic}", "--subname=sub-tagged"),
        ("listsub", f"--topicname={topic}", "--retnum=1"),
        ("publishmessage", f"--topicname={topic}", f"--body={body}", "--messagetag=important"),
        ("publishmessage", f"--topicname={topic}", f"--body={body}", "--messagetag=important", "--base64=True"),
        ("publishmessage", f"--topicname={topic}", "--body=untagged"),
    )
    assert field(topic_attr, "TopicName") == topic
    assert field(topic_attr, "MaximumMessageSize") == "2048"
    assert field(topic_attr, "LoggingEnabled") == "True"
    assert field(topic_attr, "MessageRetentionPeriod") == "86400"

    assert f"TopicURL:{endpoint}/topics/{topic}\n" in listed
    assert field(listed, "ListTopicNumber") == "1"
    assert field(listed, "NextMarker") == f"{topic}-other"

    assert field(sub_attr, "TopicOwner") == OWNER
    assert field(sub_attr, "TopicName") == topic
    assert field(sub_attr, "SubscriptionName") == "sub-tagged"
    assert field(sub_attr, "Endpoint") == tagged_endpoint
    assert field(sub_attr, "FilterTag") == "important"
    assert field(sub_attr, "NotifyStrategy") == "EXPONENTIAL_DECAY_RETRY"
    assert field(sub_attr, "NotifyContentFormat") == "SIMPLIFIED"

    assert field(page, "ListSubscriptionNumber") == "1"
    assert f"SubscriptionURL:{endpoint}/topics/{topic}/subscriptions/sub-all" in page
    assert field(page, "NextMarker") == "sub-tagged"

    encoded = "aGVsbG8gZnJvbSBtbnNjbWQ="  # base64 of the body: --base64=True publishes that text
    assert field(plain, "MessageBodyMD5") == md5_upper(body)
    assert field(based, "MessageBodyMD5") == md5_upper(encoded)
    assert field(untagged, "MessageBodyMD5") == md5_upper("untagged")
    ids = {field(out, "MessageID") for out in (plain, based, untagged)}
    assert len(ids) == 3

    # the tagged SIMPLIFIED subscription got both tagged messages verbatim; JSON got all three
    assert sorted(drain(queues["tagged"])) == sorted([body, encoded])
    assert sorted(json.loads(b)["Message"] for b in drain(queues["all"])) == sorted(
        [body, encoded, "untagged"]
    )

    assert "setsubattr succeed" in mnscmd(
        endpoint, "setsubattr", f"--topicname={topic}", "--subname=sub-tagged", "--notifystrategy=BACKOFF_RETRY"
    )
    sub_attr, full_list = mnscmd_parallel(
        endpoint,
        ("getsubattr", f"--topicname={topic}", "--subname=sub-tagged"),
        ("listsub", f"--topicname={topic}"),
    )
    assert field(sub_attr, "NotifyStrategy") == "BACKOFF_RETRY"
    assert field(sub_attr, "FilterTag") == "important"  # unchanged
    assert field(full_list, "ListSubscriptionNumber") == "2"
    assert "NextMarker" not in full_list

    mnscmd(endpoint, "unsubscribe", f"--topicname={topic}", "--subname=sub-tagged")
    remaining, _ = mnscmd_parallel(
        endpoint,
        ("listsub", f"--topicname={topic}"),
        ("deletetopic", f"--topicname={topic}-other"),
    )
    assert "sub-tagged" not in remaining and field(remaining, "ListSubscriptionNumber") == "1"

    mnscmd(endpoint, "deletetopic", f"--topicname={topic}")
    listed = mnscmd(endpoint, "listtopic", "--prefix=cmd-topic")
    assert "Topic not exist in this account." in listed


def test_topic_errors_are_reported_not_crashed(server):
    done = subprocess.run(
        _argv(server.endpoint, ("gettopicattr", "--topicname=cmd-nope")),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "gettopicattr fail!" in done.stdout
    assert "TopicNotExist" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
