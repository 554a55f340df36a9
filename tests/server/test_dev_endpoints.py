"""The /_minimns developer endpoints and the Prometheus metrics, over HTTP, as a test suite in
any language would read them; what the console may and may not do (auth, cross-site posts)."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread
from tests.http_wire import exchange, request_bytes


def get(server, path, auth=None, method="GET", data=None, headers=None):
    request = urllib.request.Request(server.endpoint + path, method=method, data=data,
                                     headers=dict(headers or {}))
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def get_json(server, path, **kwargs):
    return json.loads(get(server, path, **kwargs)[2])


def status_of(server, path, **kwargs):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(server, path, **kwargs)
    return caught.value.code


@pytest.fixture
def server():
    with ServerThread(ServerOptions(port=0, dev_endpoints=True)) as running:
        yield running


def test_health(server):
    health = get_json(server, "/_minimns/health")
    assert health["status"] == "ok" and health["queues"] == 0 and health["virtual_clock"] is True


def test_the_queue_dump_shows_every_state_and_receives_nothing(server):
    account = Account(server.endpoint, "id", "key")
    queue = account.get_queue("jobs")
    queue.set_encoding(False)  # bodies as sent, not base64
    queue.create(QueueMeta())
    queue.send_message(Message("ready"))
    queue.send_message(Message("later", delay_seconds=60))
    queue.send_message(Message("taken"))
    taken = queue.receive_message()  # the first active one ("ready") is now inactive
    dump = get_json(server, "/_minimns/queues/jobs/messages")
    assert (dump["active"], dump["inactive"], dump["delayed"]) == (1, 1, 1)
    states = {m["body"]: m for m in dump["messages"]}
    assert [m["body"] for m in dump["messages"]] == ["ready", "later", "taken"]
    assert states["later"]["state"] == "delayed" and states["taken"]["state"] == "active"
    received = states[taken.message_body]
    assert received["state"] == "inactive" and received["dequeue_count"] == 1
    assert received["receipt_handle"] == taken.receipt_handle
    assert states["taken"]["receipt_handle"] is None
    again = get_json(server, "/_minimns/queues/jobs/messages")
    assert again == dump  # reading changed nothing
    assert [m["body"] for m in get_json(server, "/_minimns/queues/jobs/messages?limit=1")["messages"]] == ["ready"]
    assert status_of(server, "/_minimns/queues/nope/messages") == 404


def test_outbox_and_pushes(server):
    account = Account(server.endpoint, "id", "key")
    topic = account.get_topic("news")
    from mns.topic import TopicMeta
    topic.create(TopicMeta())
    topic.get_subscription("mail").subscribe(SubscriptionMeta("mail:directmail:a@example.com"))
    topic.get_subscription("dead").subscribe(SubscriptionMeta("http://127.0.0.1:1/push"))
    topic.publish_message(TopicMessage("hello"))
    outbox = get_json(server, "/_minimns/outbox")
    assert [(d["address"], d["message_body"]) for d in outbox["mail"]] == [("a@example.com", "hello")]
    server.wait_pushes_settled()
    pushes = {p["subscription"]: p for p in get_json(server, "/_minimns/pushes")}
    dead = pushes["dead"]
    assert dead["failures"] == 1 and dead["retrying"] == 1
    assert dead["retries"][0]["attempts"] == 1 and dead["retries"][0]["due"] == dead["next_retry_time"]
    assert pushes["mail"]["delivered"] == 1


def test_reset_drops_everything(server):
    account = Account(server.endpoint, "id", "key")
    account.get_queue("q").create(QueueMeta())
    assert get_json(server, "/_minimns/reset", method="POST", data=b"") == {"ok": True}
    assert get_json(server, "/_minimns/health")["queues"] == 0


def test_reset_needs_the_flag():
    with ServerThread() as running:
        assert status_of(running, "/_minimns/reset", method="POST", data=b"") == 400
        assert get_json(running, "/_minimns/health")["status"] == "ok"  # reading comes with the console


METRIC_LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+(Inf)?$')


def test_metrics_in_the_prometheus_text_format(server):
    account = Account(server.endpoint, "id", "key")
    queue = account.get_queue('odd"name'.replace('"', "-"))
    queue.create(QueueMeta())
    queue.send_message(Message("x"))
    queue.send_message(Message("y", delay_seconds=5))
    message = queue.receive_message()
    queue.delete_message(message.receipt_handle)
    status, content_type, body = get(server, "/_minimns/metrics")
    text = body.decode()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or METRIC_LINE.match(line), line
    assert 'minimns_queue_messages{queue="odd-name",state="delayed"} 1' in text
    assert 'minimns_queue_messages{queue="odd-name",state="active"} 0' in text
    assert ('minimns_requests_total{operation="send_message",kind="queues",resource="odd-name",'
            'status="201"} 2') in text
    assert ('minimns_requests_total{operation="delete_message",kind="queues",resource="odd-name",'
            'status="204"} 1') in text
    counts = re.findall(r'^minimns_request_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M)
    values = [int(v) for _, v in counts]
    assert values == sorted(values) and counts[-1][0] == "+Inf"
    assert re.search(r"^minimns_request_duration_seconds_count (\d+)$", text, re.M).group(1) == str(values[-1])
    assert "minimns_sms_accepted_total 0" in text


def test_metrics_count_pushes_and_sms():
    config = {"sms": {"signatures": [{"name": "阿里云"}], "carrier": {"latency_ms": 0},
                      "templates": [{"code": "SMS_1", "name": "c", "content": "验证码${code}",
                                     "type": "verification"}]}}
    with ServerThread(config=config) as running:
        account = Account(running.endpoint, "id", "key")
        from mns.topic import DirectSMSInfo
        info = DirectSMSInfo(free_sign_name="阿里云", template_code="SMS_1", single=True)
        info.add_receiver("13800000000")
        info.set_params({"code": "1"})
        account.get_topic("sms.topic-cn-hangzhou").publish_message(TopicMessage("s", direct_sms=info))
        text = get(running, "/_minimns/metrics")[2].decode()
        assert "minimns_sms_accepted_total 1" in text and "minimns_sms_delivered_total 1" in text
        assert ('minimns_push_delivered_total{topic="sms.topic-cn-hangzhou",'
                'subscription="sms-subscription"} 1') in text


def test_with_keys_the_console_and_endpoints_need_basic_auth():
    options = ServerOptions(port=0, access_key_id="ak", access_key_secret="sk", dev_endpoints=True)
    with ServerThread(options) as running:
        assert status_of(running, "/console/queues") == 401
        assert status_of(running, "/_minimns/health") == 401
        assert status_of(running, "/_minimns/health", auth=("ak", "wrong")) == 401
        assert get(running, "/console/queues", auth=("ak", "sk"))[0] == 200
        assert get_json(running, "/_minimns/health", auth=("ak", "sk"))["status"] == "ok"
        # the push certificate stays public: receivers fetch it
        assert get(running, "/_minimns/x509_public_certificate.pem")[0] == 200


def mns_signed(server, method, resource, key_id, secret):
    """Headers for a request signed the MNS way, by the official SDK's own signer."""
    from mns.mns_client import MNSClient
    from mns.auth import Credentials

    client = MNSClient(server.endpoint, key_id, secret)
    headers = {"x-mns-version": "2015-06-06", "host": client.host,
               "content-type": "text/xml;charset=UTF-8",  # signed, as the SDK signs it
               "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    headers["Authorization"] = client.get_signature(method, headers, resource, Credentials(key_id, secret))
    return headers


def test_with_keys_the_clock_takes_an_mns_signature_or_basic_auth():
    options = ServerOptions(port=0, access_key_id="ak", access_key_secret="sk", dev_endpoints=True)
    with ServerThread(options) as running:
        start = get_json(running, "/_minimns/clock", auth=("ak", "sk"))["now_ms"]
        target = "/_minimns/clock/advance?seconds=60"
        signed = mns_signed(running, "POST", target, "ak", "sk")
        moved = json.loads(get(running, target, method="POST", data=b"", headers=signed)[2])
        assert moved["now_ms"] - start >= 60_000
        assert get(running, target, method="POST", data=b"", auth=("ak", "sk"))[0] == 200
        wrong = mns_signed(running, "POST", target, "ak", "not-the-secret")
        assert status_of(running, target, method="POST", data=b"", headers=wrong) == 401
        other_path = mns_signed(running, "POST", "/_minimns/clock/advance?seconds=1", "ak", "sk")
        assert status_of(running, target, method="POST", data=b"", headers=other_path) == 401
        assert status_of(running, "/_minimns/health", headers=mns_signed(running, "GET", "/_minimns/health",
                                                                           "ak", "wrong")) == 401
        assert get(running, "/_minimns/health",
                   headers=mns_signed(running, "GET", "/_minimns/health", "ak", "sk"))[0] == 200


def test_a_cross_site_post_is_refused(server):
    form = b"action=create&name=evil"
    assert status_of(server, "/console/queues", method="POST", data=form,
                     headers={"Origin": "http://evil.example",
                              "Content-Type": "application/x-www-form-urlencoded"}) == 403
    host = server.endpoint.partition("//")[2]
    status, _, page = get(server, "/console/queues", method="POST", data=form,
                          headers={"Origin": f"http://{host}",
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and b"evil" in page
    assert get_json(server, "/_minimns/health")["queues"] == 1


def test_console_off():
    with ServerThread(ServerOptions(port=0, console=False)) as running:
        assert status_of(running, "/console/queues") == 400
        assert status_of(running, "/_minimns/health") == 400


def test_console_pages_render_and_escape(server):
    account = Account(server.endpoint, "id", "key")
    queue = account.get_queue("q1")
    queue.set_encoding(False)
    queue.create(QueueMeta())
    queue.send_message(Message("<script>alert(1)</script>"))
    for path in ("/console/queues", "/console/queues/q1", "/console/topics", "/console/sms",
                 "/console/clock", "/console/static/console.js", "/console/static/console.css"):
        assert get(server, path)[0] == 200, path
    page = get(server, "/console/queues/q1")[2]
    assert b"<script>alert(1)</script>" not in page and b"&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert get(server, "/console/queues/missing")[0] == 200  # a page saying it does not exist


def test_odd_input_never_answers_500():
    options = ServerOptions(port=0, access_key_id="ak", access_key_secret="sk")
    with ServerThread(options) as running:
        request = urllib.request.Request(running.endpoint + "/console/queues")
        request.add_header("Authorization", "Basic \u00e9\u00e9".encode().decode("latin-1"))
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 401
    with ServerThread(ServerOptions(port=0, dev_endpoints=True)) as running:
        account = Account(running.endpoint, "id", "key")
        account.get_queue("q1").create(QueueMeta())
        from mns.topic import TopicMeta
        account.get_topic("t1").create(TopicMeta())
        assert get(running, "/console/topics/t1?page=" + "9" * 5000)[0] == 200
        assert status_of(running, "/_minimns/queues/q1/messages?limit=" + "0" * 5000 + "1") == 400
        form = "action=threshold&kind=day&threshold=\u00b2".encode()
        status, _, page = get(running, "/console/sms", method="POST", data=form,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and b"a quota is a count" in page
        status, _, page = get(running, "/console/queues", method="POST", data=b"action=delete",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200 and b'class="error"' in page  # an unnamed queue: the MNS error, shown


def test_developer_posts_from_another_site_are_refused(server):
    assert status_of(server, "/_minimns/reset", method="POST", data=b"",
                     headers={"Origin": "http://evil.example"}) == 403
    assert get_json(server, "/_minimns/reset", method="POST", data=b"") == {"ok": True}


def test_metric_families_are_contiguous_and_made_up_paths_are_not_counted(server):
    account = Account(server.endpoint, "id", "key")
    from mns.topic import TopicMeta
    topic = account.get_topic("t")
    topic.create(TopicMeta())
    for name in ("a", "b"):
        topic.get_subscription(name).subscribe(SubscriptionMeta("mail:directmail:x@example.com"))
    for i in range(5):
        with pytest.raises(MNSServerException):
            account.get_queue(f"ghost{i}").get_attributes()
    text = get(server, "/_minimns/metrics")[2].decode()
    names = [line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
    seen = []
    for name in names:
        if not seen or seen[-1] != name:
            assert name not in seen, f"{name} is split into two groups"
            seen.append(name)
    assert "ghost" not in text
    assert 'operation="get_queue_attributes",kind="queues",resource="",status="404"} 5' in text


# -- DNS rebinding: a page on another site that rebinds its name to 127.0.0.1 ---------------


def raw(server, method: str, path: str, host: str, body: bytes = b"", **headers: str):
    return exchange(server, request_bytes(method, path, {"Host": host, **headers}, body))


def port_of(server) -> str:
    return server.endpoint.rsplit(":", 1)[1]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/_minimns/reset", b""),
    ("POST", "/_minimns/clock/advance?seconds=60", b""),
    ("GET", "/_minimns/health", b""),
    ("GET", "/_minimns/queues/kept/messages", b""),
    ("GET", "/console/queues", b""),
    ("POST", "/console/queues", b"action=delete&name=kept"),
])
def test_a_foreign_host_is_refused_on_every_console_and_developer_path(server, method, path, body):
    Account(server.endpoint, "id", "key").get_queue("kept").create(QueueMeta())
    before = get_json(server, "/_minimns/clock")["now_ms"]
    evil = f"evil.example:{port_of(server)}"
    reply = raw(server, method, path, evil, body, Origin=f"http://{evil}",
                **{"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 403
    assert json.loads(reply.body)["Code"] == "InvalidHost"
    assert get_json(server, "/_minimns/health")["queues"] == 1  # nothing was reset or deleted
    assert get_json(server, "/_minimns/clock")["now_ms"] - before < 60_000


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "127.0.0.1", "LOCALHOST.", "app.localhost:{port}"])
def test_the_hosts_that_name_this_machine_are_served(server, host):
    reply = raw(server, "GET", "/_minimns/health", host.format(port=port_of(server)))
    assert reply.status == 200 and json.loads(reply.body)["status"] == "ok"


def test_a_foreign_host_is_refused_even_with_the_keys():
    options = ServerOptions(port=0, access_key_id="ak", access_key_secret="sk")
    with ServerThread(options) as running:
        basic = "Basic " + base64.b64encode(b"ak:sk").decode()
        assert raw(running, "GET", "/console/queues", f"127.0.0.1:{port_of(running)}",
                   Authorization=basic).status == 200
        reply = raw(running, "GET", "/console/queues", "evil.example", Authorization=basic)
        assert reply.status == 403 and json.loads(reply.body)["Code"] == "InvalidHost"


def test_the_mns_api_takes_any_host_as_mns_does(server):
    """Only the console and /_minimns check the Host: SDKs (and ali-mns through a
    proxy) name the cloud's host, and the REST API is signed, not cookie-bound."""
    reply = raw(server, "GET", "/queues", "1234567890.mns.cn-hangzhou.aliyuncs.com",
                **{"x-mns-version": "2015-06-06"})
    assert reply.status == 200


def test_console_pages_may_not_be_framed_and_load_only_their_own_code(server):
    reply = raw(server, "GET", "/console/queues", f"127.0.0.1:{port_of(server)}")
    assert reply.status == 200
    assert reply.header("X-Frame-Options") == "DENY"
    policy = reply.header("Content-Security-Policy")
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy


def test_without_keys_a_browser_on_a_foreign_host_cannot_use_the_mns_or_rpc_api(server):
    """A rebinding page's requests carry Origin or Sec-Fetch-* (every browser sends
    them; an SDK sends neither): without keys to check, those are held to the Host rule."""
    Account(server.endpoint, "id", "key").get_queue("precious").create(QueueMeta())
    evil = f"evil.example:{port_of(server)}"
    rest = raw(server, "DELETE", "/queues/precious", evil, Origin=f"http://{evil}",
               **{"x-mns-version": "2015-06-06"})
    rpc = raw(server, "POST", "/?Action=DeleteQueue&Version=2022-01-19&QueueName=precious", evil,
              **{"Sec-Fetch-Site": "same-origin", "x-acs-action": "DeleteQueue",
                 "x-acs-version": "2022-01-19"})
    assert (rest.status, rpc.status) == (403, 403)
    assert json.loads(rpc.body)["Code"] == "InvalidHost"
    assert get_json(server, "/_minimns/health")["queues"] == 1
    sdk_like = raw(server, "GET", "/queues", evil, **{"x-mns-version": "2015-06-06"})
    assert sdk_like.status == 200  # no browser headers: an SDK or a proxy (ali-mns)


def test_allowed_hosts_extend_the_names_the_console_answers():
    with ServerThread(ServerOptions(port=0, allowed_hosts=("mns-local",))) as running:
        port = port_of(running)
        assert raw(running, "GET", "/_minimns/health", f"mns-local:{port}").status == 200
        assert raw(running, "GET", "/_minimns/health", f"other:{port}").status == 403
