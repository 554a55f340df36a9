"""SMS through the server with the official MNS SDK, as the seeds' samples do it: publish to the
SMS topic with DirectSMSInfo, read SmsReport / SmsUp from the Alicom queues, receive event
messages through a queue endpoint and an HTTP endpoint; the TOML configuration; the developer
endpoints; ``minimns serve --config``."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.request

import pytest
from mns.account import Account
from mns.topic import DirectSMSInfo, TopicMessage

from minimns.config import ConfigError
from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

from ..server_helpers import drain, wait_until

NUMBER = "13800000000"
REPORT_QUEUE = "Alicom-Queue-1234567890-SmsReport"
UP_QUEUE = "Alicom-Queue-1234567890-SmsUp"

CONFIG_TOML = """
[[queue]]
name = "events"

[sms]
account_type = "enterprise"
activation_ms = 0
subscribe = ["SmsReport", "SmsUp"]
blacklist = ["赌"]

[sms.carrier]
latency_ms = 2000
[[sms.carrier.failures]]
pattern = "1390000*"
error = "unreachable"

[sms.thresholds]
day = 100
month = "unlimited"

[[sms.signatures]]
name = "阿里云"

[[sms.templates]]
code = "SMS_100001"
name = "login"
content = "您的验证码为${code}，请勿泄露"
type = "verification"

[[sms.event_rules]]
name = "failures"
event_type = "SMSRequest:SendFailed"
endpoints = ["events"]

[[sms.event_rules]]
name = "replies"
event_type = "SMSExtend:ReplyMessage"
endpoints = ["events"]
"""


class Collector(http.server.BaseHTTPRequestHandler):
    """An HTTP push endpoint that keeps every body it is sent."""

    bodies: list[str] = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(self.rfile.read(length).decode())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def collector():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events"
    server.shutdown()


@pytest.fixture
def server(tmp_path, collector):
    path = tmp_path / "minimns.toml"
    text = CONFIG_TOML + f"""
[[sms.event_rules]]
name = "successes"
event_type = "SMSRequest:SendSuccessfully"
endpoints = ["{collector}"]
"""
    path.write_text(text, encoding="utf-8")
    Collector.bodies = []
    with ServerThread(ServerOptions(port=0, dev_endpoints=True), config=str(path)) as running:
        yield running


def account(server):
    return Account(server.endpoint, "id", "key")


def alicom(server, message_type):
    queue = account(server).get_queue(f"Alicom-Queue-1234567890-{message_type}")
    queue.set_encoding(False)  # the messages are JSON text, as the seeds' consumers read them
    return queue


def events(server):
    queue = account(server).get_queue("events")
    queue.set_encoding(False)  # SIMPLIFIED event bodies: key=value text
    return queue


def publish(server, numbers, params=None, sign="阿里云", template="SMS_100001", single=True):
    info = DirectSMSInfo(free_sign_name=sign, template_code=template, single=single)
    if single:
        for number in numbers:
            info.add_receiver(number)
        info.set_params(params or {"code": "1234"})
    else:
        for number in numbers:
            info.add_receiver(number, params[number])
    topic = account(server).get_topic("sms.topic-cn-hangzhou")
    return topic.publish_message(TopicMessage("sms-message", direct_sms=info))


def dev(server, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.endpoint}/_minimns/sms{path}", data=data,
                                     method="GET" if body is None else "POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def fields(event):
    return dict(pair.split("=", 1) for pair in event.split("&"))


def test_publish_with_direct_sms_then_receipt_event_and_inbox(server):
    published = publish(server, [NUMBER, "13900000001"])
    assert dev(server, f"/inbox?number={NUMBER}") == []
    server.advance(2)
    assert wait_until(lambda: len(dev(server, f"/inbox?number={NUMBER}")) == 1)
    [message] = dev(server, f"/inbox?number={NUMBER}")
    assert message["text"] == "【阿里云】您的验证码为1234，请勿泄露"
    reports = {}
    assert wait_until(lambda: reports.update(
        (json.loads(b)["phone_number"], json.loads(b)) for b in drain(alicom(server, "SmsReport"))
    ) or len(reports) == 2)
    assert reports[NUMBER]["success"] is True and reports[NUMBER]["err_code"] == "DELIVERED"
    assert (reports["13900000001"]["success"], reports["13900000001"]["err_code"]) == (
        False, "MOBILE_NOT_ON_SERVICE")
    # SendSuccessfully reached the HTTP endpoint, SendFailed the queue endpoint
    assert wait_until(lambda: len(Collector.bodies) == 1)
    success = fields(Collector.bodies[0])
    assert (success["messageID"], success["receiver"], success["event"]) == (
        published.message_id, NUMBER, "SendSuccessfully")
    [failure] = drain(events(server))
    assert failure == (f"messageID={published.message_id}&receiver=13900000001&state=2"
                       "&err_code=MOBILE_NOT_ON_SERVICE|停机、空号、暂停服务、关机、不在服务区"
                       "&event=SendFailed")


def test_rule_failures_arrive_as_events_on_the_queue_endpoint(server):
    published = publish(server, [NUMBER], {"code": "赌"})
    publish(server, [NUMBER], {"code": "http://a.cn"})
    publish(server, ["12"], single=True)
    got = drain(events(server))
    assert [fields(e)["err_code"] for e in got] == [
        "isv.BLACK_KEY_CONTROL_LIMIT|黑名单管控",
        "InvalidDayu.Malformed|null",
        "InvalidRecNum.Malformed|The specified recNum is wrongly formed.",
    ]
    assert fields(got[0])["messageID"] == published.message_id


def test_multi_content_through_the_sdk(server):
    publish(server, [NUMBER, "13700000000"], {NUMBER: {"code": "1"}, "13700000000": {"code": "2"}},
            single=False)
    server.advance(2)
    assert wait_until(lambda: len(dev(server, "/inboxes")) == 2)
    inboxes = dev(server, "/inboxes")
    assert inboxes[NUMBER][0]["text"].endswith("1，请勿泄露")
    assert inboxes["13700000000"][0]["text"].endswith("2，请勿泄露")


def test_a_reply_through_the_developer_endpoint_reaches_sms_up_and_the_event(server):
    publish(server, [NUMBER])
    server.advance(2)
    assert wait_until(lambda: dev(server, f"/inbox?number={NUMBER}") != [])
    assert dev(server, "/reply", {"number": NUMBER, "content": "收到"}) == {"ok": True}
    [up] = drain(alicom(server, "SmsUp"))
    assert json.loads(up)["content"] == "收到" and json.loads(up)["sign_name"] == "阿里云"
    [event] = drain(events(server))
    assert fields(event)["sender"] == f"86{NUMBER}" and fields(event)["event"] == "ReplyMessage"


def test_the_overview_and_lifting_a_threshold(server):
    overview = dev(server, "")
    assert overview["topic"] == "sms.topic-cn-hangzhou" and overview["subscription"] == "sms-subscription"
    assert overview["account"] == {"type": "enterprise", "status": "normal"}
    assert [t["code"] for t in overview["templates"]] == ["SMS_100001"]
    assert overview["templates"][0]["state"] == "approved"
    assert overview["thresholds"]["day"] == {"threshold": 100, "count": 0, "stopped": False, "alerts": 0}
    assert [r["name"] for r in overview["event_rules"]] == ["failures", "replies", "successes"]
    assert dev(server, "/thresholds/lift?kind=day", {})["day"]["stopped"] is False
    with pytest.raises(urllib.error.HTTPError) as caught:
        dev(server, "/thresholds/lift?kind=week", {})
    assert caught.value.code == 400 and json.loads(caught.value.read())["Code"] == "InvalidArgument"


def test_changing_developer_endpoints_need_the_flag():
    with ServerThread() as running:  # the console is on: reading is allowed
        assert dev(running, "")["topic"] == "sms.topic-cn-hangzhou"
        with pytest.raises(urllib.error.HTTPError) as caught:
            dev(running, "/reply", {"number": NUMBER, "content": "x"})
        assert caught.value.code == 400  # InvalidRequestURL, as any unknown path
    with ServerThread(ServerOptions(port=0, console=False)) as running:
        with pytest.raises(urllib.error.HTTPError) as caught:
            dev(running, "")
        assert caught.value.code == 400


def test_reset_drops_sms_state(server):
    publish(server, [NUMBER])
    server.call(server.app.reset)
    assert dev(server, "")["templates"] == [] and dev(server, "/inboxes") == {}


def test_a_bad_configuration_names_the_entry():
    bad = {"sms": {"templates": [{"name": "x", "content": "全是${a}${b}", "type": "nope"}]}}
    with pytest.raises(ConfigError, match="template x"):
        with ServerThread(config=bad):
            pass
    with pytest.raises(ConfigError, match="unknown sections"):
        with ServerThread(config={"queues": []}):
            pass


def refused_config(tmp_path, text: str) -> str:
    """``minimns serve --config`` on a file holding ``text``: it must exit 2; its stderr."""
    path = tmp_path / "refused.toml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "minimns", "serve", "--port", "0", "--config",
                             str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    return result.stderr


class Served:
    """``minimns serve`` as a subprocess; ``.endpoint`` once it serves, ``.stop()`` its stderr."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "minimns", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for line in self.process.stdout:
            if "serving MNS at" in line:
                self.endpoint = line.rsplit(" ", 1)[1].strip()
                break

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=10)[1]


def test_minimns_serve_reads_the_config_file(tmp_path):
    path = tmp_path / "minimns.toml"
    path.write_text(CONFIG_TOML, encoding="utf-8")
    served = Served("--config", str(path), "--dev-endpoints")
    try:
        urls = account(served).list_queue()[0]
        names = [url.rsplit("/", 1)[1] for url in urls]
        assert names == [REPORT_QUEUE, UP_QUEUE, "events"]
        with urllib.request.urlopen(f"{served.endpoint}/_minimns/sms") as response:
            assert json.loads(response.read())["account"]["type"] == "enterprise"
    finally:
        served.stop()
    assert "sms.thresholds.day" in refused_config(tmp_path, "[sms]\nthresholds = { day = -1 }\n")


def test_a_fresh_minimns_serve_has_the_sms_topic_and_the_test_template():
    served = Served()
    try:
        topics = account(served).list_topic()[0]
        assert [url.rsplit("/", 1)[1] for url in topics] == ["sms.topic-cn-hangzhou"]
        topic = account(served).get_topic("sms.topic-cn-hangzhou")
        (subscription,) = topic.list_subscription()[0]
        meta = topic.get_subscription(subscription.rsplit("/", 1)[1]).get_attributes()
        assert meta.endpoint == "sms:directsms:anonymous"
        # the test signature and template send out of the box ...
        publish(served, [NUMBER], {"code": "4321"}, sign="阿里云短信测试", template="SMS_154950909")
        assert wait_until(lambda: dev(served, f"/inbox?number={NUMBER}"))
        (received,) = dev(served, f"/inbox?number={NUMBER}")
        assert received["text"].startswith("【阿里云短信测试】您正在使用阿里云短信测试服务，体验验证码是：4321")
        # ... and an unknown signature or template is refused with the seeds' codes
        publish(served, [NUMBER], sign="没有的签名", template="SMS_154950909")
        publish(served, [NUMBER], sign="阿里云短信测试", template="SMS_999")
    finally:
        log = served.stop()
    assert "InvalidSignName.Malformed" in log and "InvalidTemplateCode.Malformed" in log


def test_a_config_can_turn_the_sms_world_off(tmp_path):
    off = tmp_path / "off.toml"
    off.write_text("[sms]\nenabled = false\n", encoding="utf-8")
    bare = tmp_path / "bare.toml"
    bare.write_text("[sms]\ntest_template = false\n", encoding="utf-8")
    served = Served("--config", str(off))
    try:
        assert account(served).list_topic()[0] == []
    finally:
        served.stop()
    served = Served("--config", str(bare), "--dev-endpoints")
    try:
        assert len(account(served).list_topic()[0]) == 1
        assert dev(served, "")["signatures"] == [] and dev(served, "")["templates"] == []
    finally:
        served.stop()
    assert "sms.enabled = false" in refused_config(
        tmp_path, "[sms]\nenabled = false\naccount_type = \"enterprise\"\n")
