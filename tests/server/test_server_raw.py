"""The MNS server on the wire: raw sockets for what the official SDK cannot send or see.

Replys are read byte for byte, so header spelling, status codes, framing
and connection handling are checked as a client sees them. One plain server
and one with access keys per module; every test uses its own queues.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from email.utils import formatdate

import pytest

from minimns.errors import SignatureDoesNotMatch, TimeExpired
from minimns.server.http import Request
from minimns.server.mns.signature import Credentials, content_md5, sign, string_to_sign, verify
from tests.http_wire import Reply, Wire, assert_error_document, assert_request_id
from tests.server_helpers import wait_until

NS = "{http://mns.aliyuncs.com/doc/v1/}"

# -- fixtures --------------------------------------------------------------------------------------


# -- a raw HTTP/1.1 client -------------------------------------------------------------------------


class Conn(Wire):
    """A Wire whose ``request`` builds the request as the SDK would (see ``build``)."""

    def request(self, *args, **kwargs) -> Reply:
        return self.exchange(build(*args, **kwargs))


def http_date(offset_seconds: float = 0) -> str:
    return formatdate(time.time() + offset_seconds, usegmt=True)


def build(
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    version: bool = True,
    date: bool = True,
    keys: tuple[str, str] | None = None,
) -> bytes:
    """A request as the SDK would send it; ``keys=(id, secret)`` signs it."""
    all_headers = {"Host": host, "Content-Length": str(len(body))}
    if body:
        all_headers["content-md5"] = content_md5_of(body)
        all_headers["content-type"] = "text/xml;charset=UTF-8"
    if version:
        all_headers["x-mns-version"] = "2015-06-06"
    if date:
        all_headers["date"] = http_date()
    all_headers.update(headers or {})
    all_headers = {k: v for k, v in all_headers.items() if v is not None}
    if keys is not None and "Authorization" not in all_headers:
        all_headers["Authorization"] = authorization(method, target, all_headers, *keys)
    head = "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    return f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


# An implementation of the signature independent of minimns.server.mns.signature (mns-protocol.md 1.3).


def content_md5_of(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


def my_string_to_sign(method: str, target: str, headers: dict[str, str]) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    mns = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-mns-"))
    return (
        f"{method}\n{lower.get('content-md5', '')}\n{lower.get('content-type', '')}\n"
        f"{lower.get('date', '')}\n{mns}{target}"
    )


def authorization(method: str, target: str, headers: dict[str, str], key_id: str, secret: str):
    text = my_string_to_sign(method, target, headers)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return f"MNS {key_id}:{base64.b64encode(digest).decode()}"


def queue_body(**fields) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Queue xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</Queue>'
    ).encode()


def message_body(text: str, **fields) -> bytes:
    inner = f"<MessageBody>{text}</MessageBody>" + "".join(
        f"<{k}>{v}</{k}>" for k, v in fields.items()
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Message xmlns="http://mns.aliyuncs.com/doc/v1/">{inner}</Message>'
    ).encode("utf-8")


def create_queue(server, name: str, **fields) -> None:
    with Conn(server) as conn:
        assert conn.request("PUT", f"/queues/{name}", queue_body(**fields)).status == 201


def send_text(server, name: str, text: str, **fields) -> Reply:
    with Conn(server) as conn:
        response = conn.request("POST", f"/queues/{name}/messages", message_body(text, **fields))
    assert response.status == 201, response.body
    return response


def parked(server, name: str) -> int:
    return server.waiting(name)




# -- request id, error documents, Location ---------------------------------------------------------


def test_every_response_carries_x_mns_request_id_exactly(server, qname):
    seen = []
    with Conn(server) as conn:
        for args in [
            ("PUT", f"/queues/{qname}", queue_body()),  # 201
            ("PUT", f"/queues/{qname}", queue_body()),  # 204
            ("GET", f"/queues/{qname}"),  # 200
            ("GET", "/queues"),  # 200 list
            ("POST", f"/queues/{qname}/messages", message_body("hi")),  # 201
            ("GET", f"/queues/{qname}/messages?peekonly=true"),  # 200
            ("GET", f"/queues/{qname}/messages"),  # 200
            ("GET", f"/queues/{qname}/messages?waitseconds=0"),  # 404 MessageNotExist
            ("GET", "/queues/no-such-queue"),  # 404
            ("PUT", f"/queues/{qname}", queue_body(VisibilityTimeout=99)),  # 409
            ("GET", "/nowhere"),  # 400
            ("PUT", "/?accountmeta=true", b"<Account/>"),  # 204
            ("GET", "/?accountmeta=true"),  # 200
            ("DELETE", f"/queues/{qname}"),  # 204
        ]:
            response = conn.request(*args)
            seen.append(assert_request_id(response))
            assert response.header("x-mns-version") == "2015-06-06"
    # and on answers to requests that could not even be read
    with Conn(server) as conn:
        conn.send(b"hello\r\n\r\n")
        seen.append(assert_request_id(conn.response()))
    with Conn(server) as conn:
        conn.send(b"PUT /queues/x/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 10485760\r\n\r\n")
        seen.append(assert_request_id(conn.response()))
    assert len(set(seen)) == len(seen)  # a new id every time


def test_error_documents(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        for args, status, code in [
            (("GET", "/queues/no-such-queue"), 404, "QueueNotExist"),
            (("GET", f"/queues/{qname}/messages?waitseconds=0"), 404, "MessageNotExist"),
            (("PUT", f"/queues/{qname}", queue_body(DelaySeconds=5)), 409, "QueueAlreadyExist"),
            (("PUT", "/queues/bad_name", queue_body()), 400, "InvalidQueueName"),
            (("PUT", "/queues/" + "a" * 121, queue_body()), 400, "QueueNameLengthError"),
            (("PUT", f"/queues/{qname}?metaoverride=true", queue_body(VisibilityTimeout=0)), 400,
             "InvalidArgument"),
            (("POST", f"/queues/{qname}/messages", message_body("x", Priority=0)), 400,
             "InvalidArgument"),
            (("GET", f"/queues/{qname}/messages?waitseconds=31"), 400, "InvalidArgument"),
            (("GET", f"/queues/{qname}/messages?numOfMessages=17"), 400, "InvalidArgument"),
            (("DELETE", f"/queues/{qname}/messages?ReceiptHandle=garbage"), 400,
             "ReceiptHandleError"),
            (("DELETE", f"/queues/{qname}/messages?ReceiptHandle="), 400, "MissingReceiptHandle"),
            (("PUT", f"/queues/{qname}/messages?ReceiptHandle=1-1-1-1"), 400,
             "MissingVisibilityTimeout"),
            (("PUT", f"/queues/{qname}/messages?VisibilityTimeout=5"), 400,
             "MissingReceiptHandle"),
        ]:
            assert_error_document(conn.request(*args), status, code)


def test_location_on_201_and_204(server, qname):
    with Conn(server) as conn:
        created = conn.request("PUT", f"/queues/{qname}", queue_body(VisibilityTimeout=45))
        assert created.status == 201
        assert created.header("Location") == f"http://127.0.0.1/queues/{qname}"
        assert created.body == b""
        same = conn.request("PUT", f"/queues/{qname}", queue_body(VisibilityTimeout=45))
        assert same.status == 204
        assert same.header("Location") == f"http://127.0.0.1/queues/{qname}"
        # an empty body creates with defaults too
        other = conn.request("PUT", f"/queues/{qname}-2", b"")
        assert other.status == 201
        assert other.header("Location").endswith(f"/queues/{qname}-2")


def test_location_follows_the_host_header(server, qname):
    with Conn(server) as conn:
        response = conn.request("PUT", f"/queues/{qname}", b"", host="mns.example:8080")
        assert response.header("Location") == f"http://mns.example:8080/queues/{qname}"


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<Queue><VisibilityTimeout>60</VisibilityTimeout>",  # truncated
        b"not xml at all",
        b"<Topic><MaximumMessageSize>1024</MaximumMessageSize></Topic>",  # wrong root
        b"<Queue></Queue><Queue></Queue>",  # two roots
        b'<!DOCTYPE q [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Queue>&b;</Queue>',
        b'<!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]><Queue>&x;</Queue>',
    ],
    ids=["truncated", "text", "wrong-root", "two-roots", "entities", "external-entity"],
)
def test_malformed_xml_creates_nothing(server, qname, body):
    with Conn(server) as conn:
        assert_error_document(conn.request("PUT", f"/queues/{qname}", body), 400, "MalformedXML")
        assert_error_document(conn.request("GET", f"/queues/{qname}"), 404, "QueueNotExist")


def test_malformed_xml_on_send_and_batch_delete(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        for method, body in [
            ("POST", b"<Message><MessageBody>x</MessageBody>"),
            ("POST", b"<Queue/>"),
            ("DELETE", b"<ReceiptHandles><ReceiptHandle>x"),
        ]:
            response = conn.request(method, f"/queues/{qname}/messages", body)
            assert_error_document(response, 400, "MalformedXML")
        assert_error_document(
            conn.request("GET", f"/queues/{qname}/messages?waitseconds=0"), 404, "MessageNotExist"
        )


def test_invalid_utf8_body_is_malformed_xml(server, qname):
    with Conn(server) as conn:
        body = b"<Queue><VisibilityTimeout>6\xff\xfe0</VisibilityTimeout></Queue>"
        assert_error_document(conn.request("PUT", f"/queues/{qname}", body), 400, "MalformedXML")
        assert_error_document(conn.request("GET", f"/queues/{qname}"), 404, "QueueNotExist")
        assert conn.request("PUT", f"/queues/{qname}", b"").status == 201
        bad = b"<Message><MessageBody>caf\xe9 \xc3(</MessageBody></Message>"
        response = conn.request("POST", f"/queues/{qname}/messages", bad)
        assert_error_document(response, 400, "MalformedXML")
        assert_error_document(
            conn.request("GET", f"/queues/{qname}/messages?peekonly=true"), 404, "MessageNotExist"
        )


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "/nowhere"),
        ("GET", "/queues/q/nothing"),
        ("GET", "/queues/q/messages/extra"),
        ("POST", "/queues/q"),
        ("PATCH", "/queues/q"),
        ("DELETE", "/queues"),
        ("GET", "/"),
        ("GET", "/queue/q"),
    ],
)
def test_unknown_path_is_invalid_request_url(server, method, target):
    with Conn(server) as conn:
        assert_error_document(conn.request(method, target), 400, "InvalidRequestURL")
        # the connection stays usable
        assert conn.request("GET", "/queues").status == 200


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "/queues/{q}?foo=bar"),
        ("GET", "/queues?marker=x"),
        ("GET", "/queues/{q}/messages?bogus=1"),
        ("GET", "/queues/{q}/messages?waitseconds=1&extra"),
        ("DELETE", "/queues/{q}/messages?ReceiptHandle=1-1-1-1&x=1"),
        ("DELETE", "/queues/{q}?force=true"),
    ],
)
def test_unknown_query_item_is_invalid_query_string(server, qname, method, target):
    create_queue(server, qname)
    with Conn(server) as conn:
        response = conn.request(method, target.format(q=qname))
        assert_error_document(response, 400, "InvalidQueryString")
        assert conn.request("GET", f"/queues/{qname}").status == 200  # not deleted


def test_query_keys_match_case_insensitively(server, qname):
    create_queue(server, qname)
    send_text(server, qname, "one")
    with Conn(server) as conn:
        peeked = conn.request("GET", f"/queues/{qname}/messages?PeekOnly=true&NumOfMessages=2")
        assert peeked.status == 200 and peeked.xml().tag == NS + "Messages"
        got = conn.request("GET", f"/queues/{qname}/messages?WaitSeconds=0")
        handle = got.fields()["ReceiptHandle"]
        # the documented spelling of ChangeMessageVisibility's keys
        changed = conn.request(
            "PUT", f"/queues/{qname}/messages?receiptHandle={handle}&visibilityTimeout=60"
        )
        assert changed.status == 200
        assert changed.xml().tag == NS + "ChangeVisibility"
        new_handle = changed.fields()["ReceiptHandle"]
        deleted = conn.request("DELETE", f"/queues/{qname}/messages?receipthandle={new_handle}")
        assert deleted.status == 204


def test_logging_enabled_in_any_case(server, qname):
    with Conn(server) as conn:
        for i, value in enumerate(["True", "true", "TRUE", "False", "false"]):
            body = queue_body(LoggingEnabled=value)
            assert conn.request("PUT", f"/queues/{qname}-{i}", body).status == 201
            fields = conn.request("GET", f"/queues/{qname}-{i}").fields()
            assert fields["LoggingEnabled"] == ("True" if value.lower() == "true" else "False")
        bad = conn.request("PUT", f"/queues/{qname}-bad", queue_body(LoggingEnabled="yes"))
        assert_error_document(bad, 400, "InvalidArgument")


def test_non_integer_values_are_invalid_argument(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        for args in [
            ("PUT", f"/queues/{qname}?metaoverride=true", queue_body(VisibilityTimeout="abc")),
            ("PUT", f"/queues/{qname}?metaoverride=true", queue_body(DelaySeconds="1.5")),
            ("POST", f"/queues/{qname}/messages", message_body("x", Priority="+1")),
            ("POST", f"/queues/{qname}/messages", message_body("x", DelaySeconds="")),
            ("POST", f"/queues/{qname}/messages", b"<Message><Priority>1</Priority></Message>"),
            ("GET", f"/queues/{qname}/messages?waitseconds=-1"),
            ("GET", f"/queues/{qname}/messages?numOfMessages=two"),
            ("PUT", f"/queues/{qname}/messages?ReceiptHandle=1-1-1-1&VisibilityTimeout=x"),
        ]:
            assert_error_document(conn.request(*args), 400, "InvalidArgument")
        response = conn.request("GET", "/queues", headers={"x-mns-ret-number": "ten"})
        assert_error_document(response, 400, "InvalidArgument")


def test_double_minus_integer_is_invalid_argument(server, qname):
    with Conn(server) as conn:
        response = conn.request("PUT", f"/queues/{qname}", queue_body(VisibilityTimeout="--5"))
        assert_error_document(response, 400, "InvalidArgument")
        assert conn.request("PUT", f"/queues/{qname}", b"").status == 201
        for field in ("Priority", "DelaySeconds"):
            body = message_body("x", **{field: "--1"})
            response = conn.request("POST", f"/queues/{qname}/messages", body)
            assert_error_document(response, 400, "InvalidArgument")


def test_non_ascii_digit_ret_number_is_invalid_argument(server):
    with Conn(server) as conn:
        conn.send(
            b"GET /queues HTTP/1.1\r\nHost: h\r\nx-mns-ret-number: \xb2\r\n"
            b"x-mns-version: 2015-06-06\r\nContent-Length: 0\r\n\r\n"
        )
        assert_error_document(conn.response(), 400, "InvalidArgument")


# -- message documents -----------------------------------------------------------------------------


def test_message_documents_have_every_field_the_sdk_requires(server, qname):
    create_queue(server, qname)
    sent = send_text(server, qname, "a&#13;b &lt;c&gt; &amp; 世界")
    assert sent.xml().tag == NS + "Message"
    sent_fields = sent.fields()
    assert set(sent_fields) == {"MessageId", "MessageBodyMD5"}
    expected_md5 = hashlib.md5("a\rb <c> & 世界".encode()).hexdigest().upper()
    assert sent_fields["MessageBodyMD5"] == expected_md5
    with Conn(server) as conn:
        peeked = conn.request("GET", f"/queues/{qname}/messages?peekonly=true")
        fields = peeked.fields()
        assert set(fields) == {
            "MessageId", "MessageBodyMD5", "MessageBody", "EnqueueTime", "FirstDequeueTime",
            "DequeueCount", "Priority",
        }
        assert fields["FirstDequeueTime"] == fields["EnqueueTime"]
        assert fields["DequeueCount"] == "0"
        # \r comes back escaped, so XML parsers keep it
        escaped = "<MessageBody>a&#13;b &lt;c&gt; &amp; 世界</MessageBody>".encode()
        assert escaped in peeked.body
        assert fields["MessageBody"] == "a\rb <c> & 世界"

        received = conn.request("GET", f"/queues/{qname}/messages")
        fields = received.fields()
        assert set(fields) == {
            "MessageId", "ReceiptHandle", "MessageBodyMD5", "MessageBody", "EnqueueTime",
            "NextVisibleTime", "FirstDequeueTime", "DequeueCount", "Priority",
        }
        assert fields["MessageId"] == sent_fields["MessageId"]
        assert fields["MessageBodyMD5"] == expected_md5
        assert int(fields["NextVisibleTime"]) == int(fields["FirstDequeueTime"]) + 30_000
        assert fields["DequeueCount"] == "1"
        assert fields["Priority"] == "8"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", fields["ReceiptHandle"])  # safe unencoded


def test_batch_partial_failure_documents(server, qname):
    create_queue(server, qname)
    batch = (
        '<Messages xmlns="http://mns.aliyuncs.com/doc/v1/">'
        "<Message><MessageBody>ok</MessageBody></Message>"
        "<Message><MessageBody>bad</MessageBody><Priority>0</Priority></Message>"
        "</Messages>"
    ).encode()
    with Conn(server) as conn:
        response = conn.request("POST", f"/queues/{qname}/messages", batch)
        assert 400 <= response.status <= 600
        assert_request_id(response)
        assert response.xml().tag == NS + "Messages"
        entries = [{c.tag.replace(NS, "") for c in entry} for entry in response.xml()]
        assert entries == [{"MessageId", "MessageBodyMD5"}, {"ErrorCode", "ErrorMessage"}]

        got = conn.request("GET", f"/queues/{qname}/messages")
        handle = got.fields()["ReceiptHandle"]
        handles = (
            '<ReceiptHandles xmlns="http://mns.aliyuncs.com/doc/v1/">'
            f"<ReceiptHandle>{handle}</ReceiptHandle><ReceiptHandle>junk</ReceiptHandle>"
            "</ReceiptHandles>"
        ).encode()
        response = conn.request("DELETE", f"/queues/{qname}/messages", handles)
        assert 400 <= response.status <= 600
        assert_request_id(response)
        root = response.xml()
        assert root.tag == NS + "Errors"
        errors = [{c.tag.replace(NS, ""): c.text for c in entry} for entry in root]
        assert errors == [
            {
                "ErrorCode": "ReceiptHandleError",
                "ErrorMessage": "The receipt handle you provide is not valid.",
                "ReceiptHandle": "junk",
            }
        ]
        # the valid handle was used: its message is gone
        again = conn.request("DELETE", f"/queues/{qname}/messages?ReceiptHandle={handle}")
        assert_error_document(again, 404, "MessageNotExist")


def test_list_queue_documents(server, qname):
    for suffix in ("a", "b", "c"):
        create_queue(server, f"{qname}-{suffix}")
    with Conn(server) as conn:
        first = conn.request(
            "GET", "/queues", headers={"x-mns-prefix": qname, "x-mns-ret-number": "2"}
        )
        assert first.xml().tag == NS + "Queues"
        urls = [e.text for e in first.xml().iter(NS + "QueueURL")]
        assert urls == [f"http://127.0.0.1/queues/{qname}-a", f"http://127.0.0.1/queues/{qname}-b"]
        marker = first.fields()["NextMarker"]
        assert marker
        second = conn.request(
            "GET",
            "/queues",
            headers={"x-mns-prefix": qname, "x-mns-ret-number": "2", "x-mns-marker": marker},
        )
        assert [e.text for e in second.xml().iter(NS + "QueueURL")] == [
            f"http://127.0.0.1/queues/{qname}-c"
        ]
        assert "NextMarker" not in second.fields()  # omitted when done, never empty
        meta = conn.request(
            "GET", "/queues", headers={"x-mns-prefix": f"{qname}-a", "x-mns-with-meta": "true"}
        )
        entry = next(meta.xml().iter(NS + "Queue"))
        children = {c.tag.replace(NS, ""): c.text for c in entry}
        assert children["QueueName"] == f"{qname}-a"
        assert all(value for value in children.values())  # no empty element (RespDataDamaged)


# -- HTTP handling ---------------------------------------------------------------------------------


def test_body_larger_than_limit_is_answered_without_reading_it(server):
    with Conn(server) as conn:
        # only the head is sent: a server that waited for the 10 MB would never answer
        conn.send(
            b"PUT /queues/big/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 10485760\r\n"
            b"content-type: text/xml;charset=UTF-8\r\n\r\n"
        )
        response = conn.response()
        assert 400 <= response.status < 500
        assert_error_document(response, response.status, response.fields()["Code"])
        assert conn.closed_by_server()
    with Conn(server) as conn:  # and the server still serves
        assert conn.request("GET", "/queues").status == 200


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
        b"\x00" * 64 + b"\r\n\r\n",
        b"GET /queues HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    ],
    ids=["hello", "tls", "zeros", "bad-length"],
)
def test_garbage_gets_an_error_or_a_close_and_the_server_keeps_serving(server, garbage):
    with Conn(server) as conn:
        conn.send(garbage)
        try:
            response = conn.response()
        except (EOFError, ConnectionResetError):
            pass  # a close is an acceptable answer
        else:
            assert 400 <= response.status < 500
            assert_request_id(response)
            assert response.xml().tag == NS + "Error"
            assert conn.closed_by_server()
    with Conn(server) as conn:
        assert conn.request("GET", "/queues").status == 200


def test_head_request_gets_a_response_without_body(server):
    with Conn(server) as conn:
        conn.send(build("HEAD", "/queues/some-queue"))
        response_head = b""
        while b"\r\n\r\n" not in response_head:
            data = conn.sock.recv(65536)
            assert data, "connection closed without a response"
            response_head += data
        head, _, rest = response_head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 4")
        assert b"\r\nx-mns-request-id: " in head
        assert rest == b""  # a response to HEAD has no body
        conn.buffer = b""
        assert conn.request("GET", "/queues").status == 200


def test_advancing_the_clock_keeps_idle_connections_open(server):
    with Conn(server, timeout=0.5) as conn:
        assert conn.request("GET", "/queues").status == 200
        server.advance(301)
        assert not conn.closed_by_server()  # nothing arrives within 0.5 s: still open
        assert conn.request("GET", "/queues").status == 200


def test_keep_alive_serves_many_requests_on_one_connection(server, qname):
    with Conn(server) as conn:
        assert conn.request("PUT", f"/queues/{qname}", b"").status == 201
        for i in range(20):
            response = conn.request("POST", f"/queues/{qname}/messages", message_body(f"m{i}"))
            assert response.status == 201
            assert response.header("Connection") is None
        bodies = []
        for _ in range(2):
            got = conn.request("GET", f"/queues/{qname}/messages?numOfMessages=16")
            bodies += [e.text for e in got.xml().iter(NS + "MessageBody")]
        assert sorted(bodies) == sorted(f"m{i}" for i in range(20))
        assert conn.request("DELETE", f"/queues/{qname}").status == 204


def test_pipelined_requests_are_answered_in_order(server, qname):
    with Conn(server) as conn:
        conn.send(
            build("PUT", f"/queues/{qname}", b"")
            + build("POST", f"/queues/{qname}/messages", message_body("piped"))
            + build("GET", "/queues/no-such-queue")
            + build("GET", f"/queues/{qname}/messages?peekonly=true")
        )
        statuses = [conn.response().status for _ in range(4)]
        assert statuses == [201, 201, 404, 200]


def test_http_10_request_is_answered_then_closed(server):
    with Conn(server) as conn:
        conn.send(b"GET /queues HTTP/1.0\r\n\r\n")
        response = conn.response()
        assert response.status == 200
        assert_request_id(response)
        assert conn.closed_by_server()


def test_client_connection_close_is_honoured(server):
    with Conn(server) as conn:
        response = conn.request("GET", "/queues", headers={"Connection": "close"})
        assert response.status == 200
        assert conn.closed_by_server()


def test_chunked_request_body(server, qname):
    create_queue(server, qname)
    body = message_body("chunky")
    with Conn(server) as conn:
        conn.send(
            f"POST /queues/{qname}/messages HTTP/1.1\r\nHost: h\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"%x\r\n%s\r\n" % (10, body[:10])
            + b"%x\r\n%s\r\n" % (len(body) - 10, body[10:])
            + b"0\r\n\r\n"
        )
        assert conn.response().status == 201
        got = conn.request("GET", f"/queues/{qname}/messages")
        assert got.fields()["MessageBody"] == "chunky"


# -- long polls over raw sockets -------------------------------------------------------------------


def test_long_poll_answers_when_a_message_arrives(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        conn.send(build("GET", f"/queues/{qname}/messages?waitseconds=30"))
        assert wait_until(lambda: parked(server, qname) == 1)
        send_text(server, qname, "arrived")
        response = conn.response()
        assert response.status == 200
        assert response.fields()["MessageBody"] == "arrived"


def test_long_poll_with_a_pipelined_request_behind_it(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        conn.send(build("GET", f"/queues/{qname}/messages?waitseconds=30"))
        assert wait_until(lambda: parked(server, qname) == 1)
        conn.send(build("GET", f"/queues/{qname}"))  # arrives while the poll waits
        send_text(server, qname, "first")
        polled = conn.response()
        assert polled.status == 200
        assert polled.fields()["MessageBody"] == "first"
        attributes = conn.response()
        assert attributes.status == 200
        assert attributes.fields()["InactiveMessages"] == "1"


def test_long_poll_ends_when_the_clock_passes_the_wait(server, qname):
    create_queue(server, qname)
    with Conn(server) as conn:
        conn.send(build("GET", f"/queues/{qname}/messages?numOfMessages=4&waitseconds=30"))
        assert wait_until(lambda: parked(server, qname) == 1)
        server.advance(30)
        assert_error_document(conn.response(), 404, "MessageNotExist")
        assert conn.request("GET", "/queues").status == 200  # still a good connection


def test_client_that_disconnects_during_a_long_poll_takes_no_message(server, qname):
    create_queue(server, qname)
    conn = Conn(server)
    conn.send(build("GET", f"/queues/{qname}/messages?waitseconds=30"))
    assert wait_until(lambda: parked(server, qname) == 1)
    conn.close()
    # The server notices the hang-up while waiting and drops the waiter.
    wait_until(lambda: parked(server, qname) == 0, timeout=2)
    send_text(server, qname, "for someone still listening")
    with Conn(server) as other:
        response = other.request("GET", f"/queues/{qname}/messages?waitseconds=0")
        assert response.status == 200, response.body
        fields = response.fields()
        assert fields["MessageBody"] == "for someone still listening"
        assert fields["DequeueCount"] == "1"  # nobody received it before


def test_many_disconnected_long_polls_leave_no_waiters(server, qname):
    create_queue(server, qname)
    conns = [Conn(server) for _ in range(10)]
    for conn in conns:
        conn.send(build("GET", f"/queues/{qname}/messages?numOfMessages=16&waitseconds=30"))
    assert wait_until(lambda: parked(server, qname) == 10)
    for conn in conns:
        conn.close()
    assert wait_until(lambda: parked(server, qname) == 0)
    send_text(server, qname, "a")
    send_text(server, qname, "b")
    with Conn(server) as other:
        got = other.request("GET", f"/queues/{qname}/messages?numOfMessages=16")
        counts = [e.text for e in got.xml().iter(NS + "DequeueCount")]
        assert counts == ["1", "1"]


# -- signatures ------------------------------------------------------------------------------------

VECTORS = [
    (
        "GET\n\n\nSun, 22 Nov 2026 12:43:36 GMT\nx-mns-marker:m0\nx-mns-prefix:q\n"
        "x-mns-ret-number:10\nx-mns-version:2015-06-06\n/queues",
        "MNS id:BJkOshw4GJrcXIoFLDrPj7+UiGg=",
    ),
    (
        "PUT\nNTIwYzdjMmM0ZGQ2NzczMDI4OTRjOTk4OGI5MTY4MjM=\ntext/xml;charset=UTF-8\n"
        "Sun, 22 Nov 2026 12:43:36 GMT\nx-mns-version:2015-06-06\n/queues/q1",
        "MNS id:TotsR4MqHTuTJCygbrtJsTBlkkg=",
    ),
    (
        "DELETE\n\n\nSun, 22 Nov 2026 12:43:36 GMT\nx-mns-version:2015-06-06\n"
        "/queues/q1/messages?ReceiptHandle=1-ab+c/d==",
        "MNS id:0pWiZobzNXiXjJQnt6tULu1o2ZI=",
    ),
]

CAPTURE_DATE = "Sun, 22 Nov 2026 12:43:36 GMT"
CAPTURE_MS = 1795351416000  # CAPTURE_DATE in epoch ms
CREATE_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><Queue xmlns="http://mns.aliyuncs.com/doc/v1/">'
    b"<VisibilityTimeout>60</VisibilityTimeout><PollingWaitSeconds>5</PollingWaitSeconds>"
    b"<LoggingEnabled>True</LoggingEnabled></Queue>"
)
SEND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
    b"<MessageBody>aGVsbG8g5LiW55WM</MessageBody><DelaySeconds>0</DelaySeconds>"
    b"<Priority>8</Priority></Message>"
)


def _captured(method, target, body, authorization, extra=None):
    headers = {
        "accept-encoding": "identity",
        "content-length": str(len(body)),
        "connection": "Keep-Alive",
        "x-mns-version": "2015-06-06",
        "host": "127.0.0.1:34933",
        "date": CAPTURE_DATE,
        "user-agent": "aliyun-sdk-python/1.3.0(Linux/6.18.44-fc-v657/x86_64;3.11.7)",
        "authorization": authorization,
    }
    if body:
        headers["content-md5"] = content_md5(body)
        headers["content-type"] = "text/xml;charset=UTF-8"
    headers.update(extra or {})
    return Request(method, target, headers, body)


CAPTURED = [
    _captured("PUT", "/queues/q1", CREATE_BODY, "MNS id:TotsR4MqHTuTJCygbrtJsTBlkkg="),
    _captured("POST", "/queues/q1/messages", SEND_BODY, "MNS id:BSizseRfnCxbqPvfFDZyby0lQ2Y="),
    _captured(
        "GET", "/queues/q1/messages?waitseconds=10", b"", "MNS id:62vpEID2KWEdtJpxV8QRWmJrmfQ="
    ),
    _captured(
        "GET",
        "/queues",
        b"",
        "MNS id:BJkOshw4GJrcXIoFLDrPj7+UiGg=",
        {"x-mns-prefix": "q", "x-mns-ret-number": "10", "x-mns-marker": "m0"},
    ),
    _captured(
        "DELETE",
        "/queues/q1/messages?ReceiptHandle=1-ab+c/d==",
        b"",
        "MNS id:0pWiZobzNXiXjJQnt6tULu1o2ZI=",
    ),
]


@pytest.mark.parametrize("text, expected", VECTORS)
def test_signature_test_vectors(text, expected):
    assert f"MNS id:{sign('secret', text)}" == expected
    # the independent signer used by these tests agrees
    method, md5, ctype, date, *rest = text.split("\n")
    headers = {"content-md5": md5, "content-type": ctype, "date": date}
    for line in rest[:-1]:
        name, _, value = line.partition(":")
        headers[name] = value
    assert my_string_to_sign(method, rest[-1], headers) == text
    assert authorization(method, rest[-1], headers, "id", "secret") == expected


def test_string_to_sign_of_captured_requests():
    listing, create = CAPTURED[3], CAPTURED[0]
    assert string_to_sign(listing.method, listing.target, listing.headers) == VECTORS[0][0]
    assert string_to_sign(create.method, create.target, create.headers) == VECTORS[1][0]
    assert content_md5(CREATE_BODY) == "NTIwYzdjMmM0ZGQ2NzczMDI4OTRjOTk4OGI5MTY4MjM="
    assert content_md5(SEND_BODY) == "Y2UzYjI4NjkyMDlmMzk0YTBkZTQxNWExMTdlNTA1Yjc="


@pytest.mark.parametrize("request_", CAPTURED, ids=lambda r: f"{r.method}-{r.target}")
def test_captured_sdk_requests_verify(request_):
    credentials = Credentials("id", "secret")
    verify(request_, credentials, CAPTURE_MS + 60_000)  # no exception
    # one changed byte anywhere in the signed text breaks it
    tampered = Request(request_.method, request_.target + "x", request_.headers, request_.body)
    with pytest.raises(SignatureDoesNotMatch):
        verify(tampered, credentials, CAPTURE_MS)
    # and the same request an hour later is expired
    with pytest.raises(TimeExpired):
        verify(request_, credentials, CAPTURE_MS + 3_600_000)


# -- the server with access keys -------------------------------------------------------------------

KEYS = ("id", "secret")


def test_signed_raw_requests_are_accepted(auth_server, qname):
    with Conn(auth_server) as conn:
        assert conn.request("PUT", f"/queues/{qname}", queue_body(), keys=KEYS).status == 201
        sent = conn.request(
            "POST", f"/queues/{qname}/messages", message_body("signed"), keys=KEYS
        )
        assert sent.status == 201
        # header names in any case; x-mns-* canonicalised in lower case
        response = conn.request(
            "GET",
            "/queues",
            headers={"X-MNS-Prefix": qname, "X-Mns-Ret-Number": "5", "x-mns-version": None,
                     "X-Mns-Version": "2015-06-06"},
            keys=KEYS,
        )
        assert response.status == 200, response.body
        # the signature covers the raw target: '+', '/' and '=' stay as they are
        response = conn.request(
            "DELETE", f"/queues/{qname}/messages?ReceiptHandle=1-ab+c/d==", keys=KEYS
        )
        assert_error_document(response, 400, "ReceiptHandleError")
        # an STS token is outside the signature
        response = conn.request(
            "GET", f"/queues/{qname}", headers={"security-token": "TOKEN"}, keys=KEYS
        )
        assert response.status == 200


def test_wrong_signature_and_unknown_key(auth_server, qname):
    with Conn(auth_server) as conn:
        response = conn.request("PUT", f"/queues/{qname}", b"", keys=("id", "wrong"))
        assert_error_document(response, 403, "SignatureDoesNotMatch")
        response = conn.request("PUT", f"/queues/{qname}", b"", keys=("nobody", "secret"))
        assert_error_document(response, 403, "InvalidAccessKeyId")
        assert_error_document(conn.request("GET", f"/queues/{qname}", keys=KEYS), 404,
                              "QueueNotExist")


def test_content_md5_mismatch_is_invalid_digest(auth_server, qname):
    body = queue_body()
    with Conn(auth_server) as conn:
        wrong = content_md5_of(body + b" ")
        response = conn.request(
            "PUT", f"/queues/{qname}", body, headers={"content-md5": wrong}, keys=KEYS
        )
        assert_error_document(response, 400, "InvalidDigest")
        # RFC 1864's form (base64 of the 16 raw bytes, what ali-mns sends) of another body
        raw_md5 = base64.b64encode(hashlib.md5(body + b" ").digest()).decode()
        response = conn.request(
            "PUT", f"/queues/{qname}", body, headers={"content-md5": raw_md5}, keys=KEYS
        )
        assert_error_document(response, 400, "InvalidDigest")
        assert_error_document(conn.request("GET", f"/queues/{qname}", keys=KEYS), 404,
                              "QueueNotExist")
        raw_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # ... and of this one
        response = conn.request(
            "PUT", f"/queues/{qname}", body, headers={"content-md5": raw_md5}, keys=KEYS
        )
        assert response.status == 201


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60], ids=["20-min-ago", "20-min-ahead"])
def test_date_20_minutes_off_is_time_expired(auth_server, qname, offset):
    with Conn(auth_server) as conn:
        response = conn.request(
            "PUT", f"/queues/{qname}", b"", headers={"date": http_date(offset)}, keys=KEYS
        )
        assert_error_document(response, 408, "TimeExpired")
        # 10 minutes off is within the 15 allowed
        response = conn.request(
            "PUT", f"/queues/{qname}", b"", headers={"date": http_date(offset / 2)}, keys=KEYS
        )
        assert response.status == 201


def test_advancing_the_virtual_clock_does_not_expire_signatures(auth_server, qname):
    """Date skew is judged against the wall clock, not the broker's virtual one."""
    auth_server.advance(3600)
    with Conn(auth_server) as conn:
        assert conn.request("PUT", f"/queues/{qname}", b"", keys=KEYS).status == 201


def test_missing_authorization(auth_server, qname):
    with Conn(auth_server) as conn:
        response = conn.request("PUT", f"/queues/{qname}", b"")
        assert_error_document(response, 400, "MissingAuthorizationHeader")
        assert_error_document(conn.request("GET", f"/queues/{qname}", keys=KEYS), 404,
                              "QueueNotExist")


@pytest.mark.parametrize(
    "value", ["Basic aWQ6c2VjcmV0", "MNS id", "MNS :abc", "MNS id:", "mns"]
)
def test_malformed_authorization(auth_server, value):
    with Conn(auth_server) as conn:
        response = conn.request("GET", "/queues", headers={"Authorization": value})
        assert_error_document(response, 400, "InvalidAuthorizationHeader")


def test_missing_date(auth_server):
    with Conn(auth_server) as conn:
        response = conn.request("GET", "/queues", date=False, keys=KEYS)
        assert_error_document(response, 400, "MissingDateHeader")


def test_missing_version_header(auth_server):
    with Conn(auth_server) as conn:
        response = conn.request("GET", "/queues", version=False, keys=KEYS)
        assert_error_document(response, 400, "MissingVersionHeader")


def test_invalid_version_header(auth_server):
    with Conn(auth_server) as conn:
        response = conn.request(
            "GET", "/queues", headers={"x-mns-version": "2014-01-01"}, keys=KEYS
        )
        assert_error_document(response, 400, "InvalidVersionHeader")


def test_plain_server_ignores_missing_credentials(server):
    with Conn(server) as conn:
        assert conn.request("GET", "/queues").status == 200
        assert conn.request("GET", "/queues", headers={"Authorization": "whatever"}).status == 200
