"""Fuzzing the HTTP surface with Hypothesis (issue 5): random and mutated requests.

Two kinds of input reach a real server over raw sockets:

* structured requests: an MNS operation (or a wrong method / path for one) with
  fuzzed names, query strings, headers and XML bodies (wrong types, huge
  numbers, missing and extra elements, namespaces, entities, DOCTYPE, CDATA,
  invalid UTF-8, other encodings declared), and sizes around the 64 KB message
  and 512 KiB body limits; on the plain server and, signed or not, on the one
  that verifies signatures;
* mutated requests: what the SDK sends (one or several requests, pipelined,
  some with chunked bodies), with bytes flipped, inserted, deleted, duplicated
  and Content-Length off, sent half-closed so that nothing can wait.

Every answer must be well framed, carry ``x-mns-request-id``, never be a 5xx
(the one exception is BatchSendMessage's documented partial-failure document,
mns-protocol.md 2.6), never show a traceback, and an error must be a complete
MNS ``<Error>`` document whose status matches its code. After every example the
server still answers on the same connection, or on a new one when it said it
would close. A control message sent before any fuzzing is still there, with
the same body and MD5, at the end. Faults injected into the running app are
answered with exactly the InternalError document.

Requests never wait: generated receives get ``waitseconds=0`` unless their
wait is invalid anyway, clock jumps are capped at a minute, and every read
has a 5 s timeout, so a hang fails the example instead of the run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, assume, currently_in_test_context, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from mns.account import Account
from mns.queue import Message, QueueMeta

from minimns.errors import error_class
from minimns.server.http import Request
from minimns.server.mns import queues as queue_routes
from minimns.server.mns import topics as topic_routes
from tests.http_wire import Reply, Wire, local

NS = "http://mns.aliyuncs.com/doc/v1/"
REQUEST_ID = re.compile(rb"[0-9A-F]{24}")
KEYS = ("id", "secret")
API_VERSION = "2015-06-06"
MAX_BODY = 512 * 1024

CONTROL = "fuzzctl-control"  # no generated request may contain "fuzzctl"
CONTROL_BODY = "control <message> & 世界 ☃ \"double\" 'single'\ttab"

FUZZ = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)

# Codes the authentication layer answers with: a request that is not correctly
# signed must get one of these (or the HTTP layer's InvalidRequest), never reach a route.
AUTH_CODES = {
    "MissingVersionHeader",
    "InvalidVersionHeader",
    "MissingAuthorizationHeader",
    "InvalidAuthorizationHeader",
    "InvalidAccessKeyId",
    "MissingDateHeader",
    "InvalidDateHeader",
    "SignatureDoesNotMatch",
    "TimeExpired",
    "InvalidDigest",
}


# -- requests ----------------------------------------------------------------------------------


def http_date(offset: float = 0.0) -> str:
    return formatdate(time.time() + offset, usegmt=True)


def content_md5(body: bytes) -> str:
    """As the MNS SDKs send it: base64 of the lower-case hex digest (mns-protocol.md 1.2)."""
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


def authorization(
    method: str, target: str, headers: list[tuple[bytes, bytes]], key_id: str, secret: str
) -> bytes:
    """mns-protocol.md 1.3, over the headers as a server reads them: names in any
    case, the last of repeated headers, values without surrounding blanks,
    ``x-mns-date`` in the place of Date when present."""
    seen: dict[str, str] = {}
    for name, value in headers:
        seen[name.decode("latin-1").lower()] = value.strip(b" \t").decode("latin-1")
    date = seen.get("x-mns-date") or seen.get("date", "")
    mns = "".join(f"{k}:{seen[k]}\n" for k in sorted(seen) if k.startswith("x-mns-"))
    text = (
        f"{method}\n{seen.get('content-md5', '')}\n{seen.get('content-type', '')}\n"
        f"{date}\n{mns}{target}"
    )
    digest = hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()
    return f"MNS {key_id}:{base64.b64encode(digest).decode()}".encode("latin-1")


def build(
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    keys: tuple[str, str] | None = None,
) -> bytes:
    """A well-formed request as the SDK writes it; ``keys`` signs it."""
    raw = [
        (b"Host", b"127.0.0.1"),
        (b"Accept-Encoding", b"identity"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Connection", b"Keep-Alive"),
        (b"x-mns-version", API_VERSION.encode()),
        (b"date", http_date().encode()),
        (b"user-agent", b"aliyun-sdk-python/1.3.0(Linux/6.0/x86_64;3.11.7)"),
    ]
    if body:
        raw += [(b"content-md5", content_md5(body).encode()),
                (b"content-type", b"text/xml;charset=UTF-8")]
    raw += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers or []]
    if keys is not None:
        raw.append((b"authorization", authorization(method, target, raw, *keys)))
    head = b"".join(n + b": " + v + b"\r\n" for n, v in raw)
    return f"{method} {target} HTTP/1.1\r\n".encode() + head + b"\r\n" + body


def exchange(server, data: bytes) -> Reply:
    with Wire(server) as wire:
        wire.send(data)
        reply = wire.reply()
    assert reply is not None, f"no answer to {data[:300]!r}"
    return reply  # (a Wire's exchange would raise; this says which request)


def xml_doc(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><{root} xmlns="{NS}">{inner}</{root}>'.encode()


# -- the invariants every answer keeps ---------------------------------------------------------


_QUIET = [False]


@contextmanager
def _quiet():
    _QUIET[0] = True
    try:
        yield
    finally:
        _QUIET[0] = False


def event(text: str) -> None:
    """Counted in ``--hypothesis-show-statistics``; a no-op outside Hypothesis."""
    if currently_in_test_context() and not _QUIET[0]:
        hypothesis_event(text)


def check_reply(reply: Reply, sent: bytes, method: str | None, count: bool = True) -> str | None:
    """Assert what holds for every answer; returns the error code, if any.
    ``count``: tally its status and code in the Hypothesis statistics."""
    if not count:
        with _quiet():
            return check_reply(reply, sent, method)
    context = f"request {sent[:1500]!r}\nreply {reply!r}"
    ids = [(n, v) for n, v in reply.headers if n.lower() == b"x-mns-request-id"]
    assert len(ids) == 1 and ids[0][0] == b"x-mns-request-id", context
    assert REQUEST_ID.fullmatch(ids[0][1]), context
    assert reply.header("x-mns-version") == API_VERSION, context
    body = reply.body
    head = method == "HEAD" and not body  # an answer to a HEAD request the server read
    for trace in (b"Traceback (most recent call last)", b'File "', b"RuntimeError"):
        assert trace not in body or trace in sent, context
    if head:
        assert not reply.headers_named("content-length"), context
    elif reply.status not in (204, 304):
        assert reply.headers_named("content-length") == [str(len(body)).encode()], context
    assert reply.status in (200, 201, 204, 400, 401, 403, 404, 408, 409, 500), context
    root = None
    if body:
        content_type = (reply.header("content-type") or "").encode("latin-1")
        assert content_type, context
        if content_type.lower().startswith(b"text/xml"):
            try:
                root = ElementTree.fromstring(body)
            except ElementTree.ParseError as error:
                raise AssertionError(f"answer is not well-formed XML ({error})\n{context}") from None
            assert root.tag.startswith("{" + NS + "}"), context
    if reply.status >= 500:
        # BatchSendMessage's partial failure is a 500 <Messages> document (mns-protocol.md 2.6);
        # anything else would be a bug or an InternalError, and no fault is injected here.
        assert (
            reply.status == 500 and method in ("POST", None) and root is not None
            and local(root.tag) == "Messages"
        ), f"5xx answer\n{context}"
        entries = [{local(c.tag) for c in entry} for entry in root]
        assert entries and all(
            e in ({"MessageId", "MessageBodyMD5"}, {"ErrorCode", "ErrorMessage"}) for e in entries
        ), context
        assert {"ErrorCode", "ErrorMessage"} in entries, context
        event("BatchSendFail 500")
        return "BatchSendFail"
    if reply.status < 400:
        event(f"{reply.status} {method or ''}".rstrip())
        return None
    if head:
        event(f"HEAD {reply.status}")
        return None
    request_line = sent.split(b"\r\n", 1)[0]
    if b" /_minimns/" in request_line and reply.status == 401:
        event("developer endpoint 401")  # JSON, and Basic authentication: not an MNS operation
        return None
    browser = re.search(rb"(?im)^(origin|sec-fetch-site):", sent) is not None
    if (b" /_minimns/" in request_line or b" /console" in request_line or browser) \
            and reply.status == 403 and body.startswith(b"{") \
            and json.loads(body).get("Code") == "InvalidHost":
        hosts = re.findall(rb"(?im)^host:[ \t]*([^\r\n]*)", sent)  # the server takes the last
        name = hosts[-1].strip().rsplit(b":", 1)[0].lower() if hosts else b""
        assert not re.fullmatch(rb"[0-9.]+|\[[0-9a-f:.]+\]|localhost", name), context
        event("developer endpoint: foreign Host 403")  # DNS rebinding refused (JSON)
        return None
    assert root is not None, f"an error without an XML document\n{context}"
    if local(root.tag) == "Errors":  # BatchDeleteMessage partial failure (2.9)
        assert reply.status == 404, context
        for entry in root:
            assert local(entry.tag) == "Error", context
            fields = {local(c.tag): c.text for c in entry}
            assert set(fields) == {"ErrorCode", "ErrorMessage", "ReceiptHandle"}, context
            assert fields["ErrorCode"] and fields["ErrorMessage"], context
        event("BatchDeleteFail 404")
        return "BatchDeleteFail"
    assert local(root.tag) == "Error", context
    fields = {local(child.tag): (child.text or "") for child in root}
    assert set(fields) == {"Code", "Message", "RequestId", "HostId"}, context
    code = fields["Code"]
    expected = 400 if code == "InvalidRequest" else error_class(code).status
    assert code == "InvalidRequest" or error_class(code).code == code, f"unknown code\n{context}"
    assert code != "InternalError", context
    assert method != "HEAD" or code == "InvalidRequest", context  # a body: HEAD was not read
    assert reply.status == expected, context
    assert fields["Message"], context
    assert fields["RequestId"].encode() == ids[0][1], context
    assert fields["HostId"].startswith("http://"), context
    event(f"{reply.status} {code}")
    return code


def says_close(reply: Reply) -> bool:
    return any(b"close" in v.lower() for v in reply.headers_named("connection"))


# -- the control message ----------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    message_id: str
    md5: str


def _send_control(srv) -> Control:
    queue = Account(srv.endpoint, *KEYS).get_queue(CONTROL)
    queue.set_encoding(False)  # the body goes over the wire as it is
    queue.create(QueueMeta(msg_ttl=604800))
    sent = queue.send_message(Message(CONTROL_BODY, priority=1))
    md5 = hashlib.md5(CONTROL_BODY.encode()).hexdigest().upper()
    assert sent.message_body_md5 == md5
    return Control(sent.message_id, md5)


def _create_pool(srv, keys) -> None:
    """The shared resources the fuzzed requests mostly name, so that they find
    something: queues (with a message each), topics, a subscription pushing into fz-b."""
    for name in POOL_QUEUES:
        assert exchange(srv, build("PUT", f"/queues/{name}", keys=keys)).status in (201, 204)
        sent = build("POST", f"/queues/{name}/messages",
                     xml_doc("Message", "<MessageBody>pool</MessageBody>"), keys=keys)
        assert exchange(srv, sent).status == 201
    for name in POOL_TOPICS:
        assert exchange(srv, build("PUT", f"/topics/{name}", keys=keys)).status in (201, 204)
    subscribe = xml_doc("Subscription", "<Endpoint>acs:mns:cn-hangzhou:1234567890:queues/fz-b"
                        "</Endpoint>")
    sent = build("PUT", f"/topics/{POOL_TOPICS[0]}/subscriptions/{POOL_SUBSCRIPTIONS[0]}",
                 subscribe, keys=keys)
    assert exchange(srv, sent).status in (201, 204)


@pytest.fixture(scope="module")
def control(server) -> Control:
    sent = _send_control(server)
    _create_pool(server, None)
    return sent


@pytest.fixture(scope="module")
def auth_control(auth_server) -> Control:
    sent = _send_control(auth_server)
    _create_pool(auth_server, KEYS)
    return sent


def control_request(keys: tuple[str, str] | None) -> bytes:
    return build("GET", f"/queues/{CONTROL}", keys=keys)


def assert_control_intact(srv, expected: Control, keys: tuple[str, str] | None) -> None:
    """Still there, the same body and MD5, never received, nothing else in its queue."""
    with Wire(srv) as wire:
        wire.send(build("GET", f"/queues/{CONTROL}/messages?peekonly=true", keys=keys))
        peeked = wire.reply()
        assert peeked is not None and peeked.status == 200, peeked
        fields = peeked.fields()
        assert fields["MessageBody"] == CONTROL_BODY
        assert fields["MessageBodyMD5"] == expected.md5
        assert fields["MessageId"] == expected.message_id
        assert fields["DequeueCount"] == "0"
        assert fields["Priority"] == "1"
        wire.send(control_request(keys))
        attributes = wire.reply()
        assert attributes is not None and attributes.status == 200, attributes
        counts = attributes.fields()
        assert (counts["ActiveMessages"], counts["InactiveMessages"], counts["DelayMessages"]) == (
            "1", "0", "0",
        )
    queue = Account(srv.endpoint, *KEYS).get_queue(CONTROL)
    queue.set_encoding(False)
    message = queue.peek_message()  # and the SDK reads it as it was sent
    assert message.message_body == CONTROL_BODY and message.message_id == expected.message_id


def assert_serving(srv, keys, wire: Wire | None = None) -> None:
    """GET /queues/{control} answers 200: on ``wire`` when given, else on a new connection."""
    if wire is None:
        with Wire(srv) as fresh:
            return assert_serving(srv, keys, fresh)
    sent = control_request(keys)
    assert wire.send(sent), "the server closed a connection it had not said it would close"
    reply = wire.reply()
    assert reply is not None, "the server closed a connection it had not said it would close"
    check_reply(reply, sent, "GET", count=False)
    assert reply.status == 200, reply


# -- strategies: the pieces of a structured request --------------------------------------------

POOL_QUEUES = ("fz-a", "fz-b", "fz-c")  # shared by examples, so creates, sends and receives meet
POOL_TOPICS = ("fzt-a", "fzt-b")
POOL_SUBSCRIPTIONS = ("fzs-a", "fzs-b")
WEIRD_NAMES = (
    "", ".", "..", "%2F", "%00", "%zz", "a%20b", "-a", "a_b", "a.b", "A", "0", "a" * 120,
    "a" * 121, "a" * 256, "b" * 4000, "x/y", "x//y", "%E4%B8%96", "*", "~", "a;b", "a,b",
    "a=b", "a&b", "a?b", "a#b", "messages", "queues", "subscriptions", "..%2F..%2Fetc",
)
INT_LIKE = (
    "0", "1", "-1", "2", "8", "15", "16", "17", "30", "31", "60", "1024", "1023", "65536",
    "65537", "43200", "43201", "604800", "604801", "999999999", "1000000000",
    "999999999999999999", "1000000000000000000", "99999999999999999999", "00", "007", "+1",
    "-0", "--5", "1.5", "1e3", "0x10", " 5", "5 ", "\u0663", "\uff15", "", "abc", "%31",
    "true", "1,2", "١٢",
)
BOOLISH = ("true", "True", "TRUE", "false", "False", "1", "0", "yes", "", "tru", " true", "%74rue")
SECONDS = ("0", "1", "0.5", "60", "-1", "nan", "inf", "-inf", "1e3", "abc", "", "31536001", "1_0")
HANDLES = (
    "1-ab+c/d==", "1-1-1-1", "", "garbage", "1-" + "F" * 70, "1-0-0-0", "1--1-1", "1-a-b-c",
    "1-FFFFFFFFFFFFFFFF-FFFFFFFFFFFFFFFF-FFFF", "2-1-1-1", "1-1-1-1-1", "%31-1-1-1",
)
SEEN_HANDLES: list[str] = []  # receipt handles the server gave out during fuzzing
_HANDLE_IN_REPLY = re.compile(rb"<ReceiptHandle>([^<]{1,80})</ReceiptHandle>")


def remember_handles(reply: Reply) -> None:
    for match in _HANDLE_IN_REPLY.finditer(reply.body):
        SEEN_HANDLES.append(match.group(1).decode())
    del SEEN_HANDLES[:-64]


printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
any_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)


def often(common: st.SearchStrategy, rare: st.SearchStrategy, odds: int = 3) -> st.SearchStrategy:
    """``common`` ``odds`` times as often as ``rare``."""
    return st.one_of(*[common] * odds, rare)


def names(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    valid = often(st.sampled_from(pool), st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,24}\Z"), 2)
    weird = st.one_of(st.sampled_from(WEIRD_NAMES), st.text(printable, min_size=1, max_size=30),
                      any_text)
    return often(valid, weird, 5)


@st.composite
def receipt_handles(draw) -> str:
    """A handle the server gave out, or a made-up one. The same draws happen either
    way (Hypothesis requires that); only their use depends on what was seen."""
    use_seen, index = draw(st.booleans()), draw(st.integers(0, 1 << 20))
    made_up = draw(
        st.one_of(
            st.sampled_from(HANDLES),
            st.from_regex(r"\A1-[0-9A-F]{1,16}-[0-9A-F]{1,8}-[0-9A-F]{1,4}\Z"),
            st.text(printable, max_size=70),
        )
    )
    if use_seen and SEEN_HANDLES:
        return SEEN_HANDLES[index % len(SEEN_HANDLES)]
    return made_up


QUERY_VALUES = {
    "waitseconds": st.sampled_from(INT_LIKE),
    "numofmessages": st.sampled_from(INT_LIKE),
    "visibilitytimeout": st.sampled_from(INT_LIKE),
    "peekonly": st.sampled_from(BOOLISH),
    "metaoverride": st.sampled_from(BOOLISH),
    "accountmeta": st.sampled_from(("true",) * 4 + BOOLISH),
    "receipthandle": receipt_handles(),
    "seconds": st.sampled_from(SECONDS),
}
VALID_QUERY_VALUES = {
    "waitseconds": st.just("0"),
    "numofmessages": st.integers(1, 16).map(str),
    "visibilitytimeout": st.sampled_from(("1", "30", "43200")),
    "peekonly": st.sampled_from(("true", "false")),
    "metaoverride": st.just("true"),
    "accountmeta": st.just("true"),
    "receipthandle": receipt_handles(),
    "seconds": st.sampled_from(("0", "1")),
}
QUERY_KEYS = ("waitseconds", "numOfMessages", "peekonly", "ReceiptHandle", "VisibilityTimeout",
              "metaoverride", "accountmeta", "seconds")


@st.composite
def query_strings(draw, keys: tuple[str, ...], clean: bool = False) -> str:
    items: list[str] = []
    for key in keys:
        if clean and draw(st.booleans()):
            items.append(f"{key}={draw(VALID_QUERY_VALUES[key.lower()])}")
        elif not clean and draw(st.integers(0, 3)):
            spelling = draw(st.sampled_from((key, key.lower(), key.upper(), key.swapcase())))
            value = draw(often(QUERY_VALUES[key.lower()], st.text(printable, max_size=12)))
            items.append(f"{spelling}={value}")
    if clean:
        return "&".join(items)
    for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 3)) == 0 else 0):
        key = draw(st.one_of(st.sampled_from(QUERY_KEYS), st.text(printable, max_size=10)))
        value = draw(st.one_of(st.none(), *[st.text(printable, max_size=12)] * 3, any_text))
        items.append(key if value is None else f"{key}={value}")
    if draw(st.integers(0, 9)) == 0:
        items.insert(draw(st.integers(0, len(items))), "")  # "&&"
    items = draw(st.permutations(items))
    return "&".join(items)


OPERATIONS = (  # method, path, body root, query keys (mns-protocol.md 1.1)
    ("PUT", "/queues/{q}", "Queue", ("metaoverride",)),
    ("GET", "/queues/{q}", None, ()),
    ("DELETE", "/queues/{q}", None, ()),
    ("GET", "/queues", None, ()),
    ("POST", "/queues/{q}/messages", "Message", ()),
    ("POST", "/queues/{q}/messages", "Messages", ()),
    ("GET", "/queues/{q}/messages", None, ("waitseconds", "numOfMessages", "peekonly")),
    ("GET", "/queues/{q}/messages", None, ("peekonly", "numOfMessages")),
    ("DELETE", "/queues/{q}/messages", None, ("ReceiptHandle",)),
    ("DELETE", "/queues/{q}/messages", "ReceiptHandles", ()),
    ("PUT", "/queues/{q}/messages", None, ("ReceiptHandle", "VisibilityTimeout")),
    ("PUT", "/topics/{t}", "Topic", ("metaoverride",)),
    ("GET", "/topics/{t}", None, ()),
    ("DELETE", "/topics/{t}", None, ()),
    ("GET", "/topics", None, ()),
    ("POST", "/topics/{t}/messages", "Message", ()),
    ("PUT", "/topics/{t}/subscriptions/{s}", "Subscription", ("metaoverride",)),
    ("GET", "/topics/{t}/subscriptions/{s}", None, ()),
    ("DELETE", "/topics/{t}/subscriptions/{s}", None, ()),
    ("GET", "/topics/{t}/subscriptions", None, ()),
    ("PUT", "/", "Account", ("accountmeta",)),
    ("GET", "/", None, ("accountmeta",)),
    ("POST", "/commonbuy/openservice", None, ()),
    ("GET", "/_minimns/clock", None, ()),
    ("POST", "/_minimns/clock/advance", None, ("seconds",)),
    ("GET", "/_minimns/x509_public_certificate.pem", None, ()),
)
SHAPES = (
    "/queues", "/queues/", "/queues/{q}", "/queues/{q}/", "/queues/{q}/messages",
    "/queues/{q}/messages/", "/queues/{q}/messages/{x}", "/queues//messages", "/queues/{q}/{x}",
    "/topics", "/topics/", "/topics/{t}", "/topics/{t}/messages", "/topics/{t}/subscriptions",
    "/topics/{t}/subscriptions/", "/topics/{t}/subscriptions/{s}",
    "/topics/{t}/subscriptions/{s}/{x}", "/topics//subscriptions/{s}", "/", "*",
    "/commonbuy/openservice", "/commonbuy/openservice/", "/_minimns/clock",
    "/_minimns/clock/advance", "/_minimns/x509_public_certificate.pem", "/_minimns/{x}",
    "/_minimns", "http://127.0.0.1/queues/{q}", "//queues/{q}", "/QUEUES/{q}",
    "/queues/{q}/messages/../messages", "{x}", "/{x}",
)
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH")
ODD_METHODS = ("get", "TRACE", "CONNECT", "M-SEARCH", "PROPFIND", "GET\x00", "G T", "")

# -- strategies: XML bodies -----------------------------------------------------------------------

ENDPOINTS = (
    "http://127.0.0.1:1/", "http://127.0.0.1:1/path?x=1", "https://127.0.0.1:1",
    "HTTP://127.0.0.1:1/up", "http://[::1]:1/", "http://127.0.0.1:99999/", "http://127.0.0.1:0/",
    "http://127.0.0.1:x/", "http://[::1", "http://u@127.0.0.1:1/", "http://127.0.0.1:1/#f",
    "http://127.0.0.1:1/mns-reserved-x", "http://", "http:///x", "ftp://127.0.0.1/",
    "acs:mns:cn-hangzhou:1234567890:queues/fz-a", "acs:mns:cn-hangzhou:1234567890:queues/fz-b",
    "acs:mns:x:y:queues/nonexistent", "acs:mns:x:y:queues/", "acs:mns:x:y:queues/a_b",
    "acs:mns::y:queues/fz-a", "mail:directmail:a@b.com", "mail:directmail:nobody",
    "sms:directsms:anonymous", "sms:directsms:13800000000", "sms:directsms:12", "",
    "http://127.0.0.1:1/ space", "http://127.0.0.1:1/\u00e9",
)
JSON_TEXTS = (
    '{"AccountName": "a@b.com", "Subject": "s", "AddressType": 0, "IsHtml": 1, '
    '"ReplyToAddress": 0}',
    '{"FreeSignName": "S", "TemplateCode": "SMS_1", "Type": "singleContent", '
    '"Receiver": "13800000000", "SmsParams": "{}"}',
    "", "{", "[]", "null", "1e999", "NaN", '{"a": 1e999}', '{"a": NaN}', '{"a": -Infinity}',
    '{"a": "\\ud800"}', '{"a": 1, "a": 2}', "[" * 50 + "]" * 50, '"string"',
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
).map(json.dumps)
# Nesting from shallow to far past the recursion limit (InvalidArgument, see
# test_deeply_nested_message_attribute_json_is_invalid_argument).
nested_json = st.sampled_from([1, 5, 100, 5000]).map(lambda d: '{"a": ' * d + "1" + "}" * d)
json_texts = st.one_of(st.sampled_from(JSON_TEXTS), json_values, nested_json)

_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def esc(text: str) -> str:
    return text.translate(_XML_ESCAPES)


xml_chars = st.characters(blacklist_categories=("Cs",))
clean_chars = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc")), st.sampled_from("\t\n\r ")
)
CHAR_REFS = ("&#13;", "&#0;", "&#xD800;", "&#x10FFFF;", "&#65;", "&#x1F600;", "&#xFFFE;",
             "&#9;", "&#x110000;", "&#;", "&#x85;", "&#12;")
ENTITY_REFS = ("&lt;", "&amp;", "&gt;", "&quot;", "&apos;", "&foo;", "&a;", "&lol9;", "&x;")


@st.composite
def contents(draw) -> str:
    """The XML source of an element's content: text of every kind, markup, references."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return esc(draw(st.sampled_from(INT_LIKE + BOOLISH)))
    if kind == 1:
        return str(draw(st.integers(-(10**20), 10**20)))
    if kind == 2:
        return esc(draw(st.text(clean_chars, max_size=40)))
    if kind == 3:
        return draw(st.text(xml_chars, max_size=20))  # unescaped: may not be XML at all
    if kind == 4:
        return f"<![CDATA[{draw(st.text(clean_chars, max_size=20))}]]>" + draw(
            st.sampled_from(("", "tail", "<![CDATA[two]]>"))
        )
    if kind == 5:
        return "".join(draw(st.lists(st.sampled_from(CHAR_REFS + ENTITY_REFS), max_size=3)))
    if kind == 6:
        return draw(st.sampled_from(("<x>1</x>", "<Priority>1</Priority>", "<a><b><c/></b></a>",
                                     "1<x/>", "<x xmlns='urn:y'>1</x>", "<!-- c -->5", "<?pi x?>")))
    if kind == 7:
        return ""
    return esc(draw(st.text(clean_chars, min_size=1, max_size=12)))


def specific(name: str) -> st.SearchStrategy[str]:
    if name == "Endpoint":
        return st.one_of(st.sampled_from(ENDPOINTS),
                         any_text.filter(lambda t: not t.lower().startswith("http")))
    if name == "NotifyStrategy":
        return st.sampled_from(("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY", "backoff_retry", "x"))
    if name == "NotifyContentFormat":
        return st.sampled_from(("XML", "JSON", "SIMPLIFIED", "xml", "HTML", ""))
    if name in ("FilterTag", "MessageTag"):
        return st.one_of(st.sampled_from(("", "tagA", "a" * 16, "a" * 17, "é" * 16)), any_text)
    if name == "LoggingBucket":
        return st.one_of(st.sampled_from(("", "bucket", "b" * 64, "b" * 65)), any_text)
    if name == "MessageBody":
        return st.one_of(st.sampled_from(("hello", "x", " ", "<>&", "世界")), any_text)
    return st.sampled_from(INT_LIKE + BOOLISH)


@st.composite
def children(
    draw, fields: tuple[str, ...], required: str | None = None, clean: bool = False
) -> list[str]:
    out = []
    if clean:
        for name in fields:
            if name == required or draw(st.booleans()):
                out.append(f"<{name}>{esc(draw(VALID_VALUES[name]))}</{name}>")
        return out
    for name in fields:
        if name == required and draw(st.integers(0, 9)) or draw(st.booleans()):
            value = draw(often(specific(name).map(esc), contents(), 2))
            out.append(f"<{name}>{value}</{name}>" if value or draw(st.booleans()) else f"<{name}/>")
    if draw(st.integers(0, 4)) == 0:  # a repeated or an unknown element
        name = draw(st.one_of(st.sampled_from(fields), st.sampled_from(("Unknown", "x", "Queue")),
                              st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,10}\Z")))
        out.append(f"<{name}>{draw(contents())}</{name}>")
    return draw(st.permutations(out))


@st.composite
def properties(draw, tag: str, entry: str, clean: bool = False) -> str:
    entries = []
    if clean:
        for _ in range(draw(st.integers(1, 3))):
            name, value = draw(st.from_regex(r"\A[a-z]{1,8}\Z")), draw(VALID_VALUES["MessageBody"])
            kind = draw(st.sampled_from(("STRING", "NUMBER", "BOOLEAN")))
            entries.append(f"<{entry}><Name>{name}</Name><Value>{esc(value)}</Value>"
                           f"<Type>{kind}</Type></{entry}>")
        return f"<{tag}>{''.join(entries)}</{tag}>"
    for _ in range(draw(st.integers(0, 3))):
        parts = []
        for part, values in (("Name", any_text), ("Value", any_text),
                             ("Type", st.sampled_from(("STRING", "NUMBER", "BOOLEAN", "x", "")))):
            if draw(st.integers(0, 5)):
                parts.append(f"<{part}>{esc(draw(values))}</{part}>")
        wrong = draw(st.integers(0, 9)) == 0
        entries.append(f"<{'Other' if wrong else entry}>{''.join(parts)}</{'Other' if wrong else entry}>")
    return f"<{tag}>{''.join(entries)}</{tag}>"


@st.composite
def message_inner(draw, big: bool, clean: bool = False) -> str:
    parts = draw(children(("MessageBody", "DelaySeconds", "Priority", "MessageGroupId",
                           "MessageTag"), required="MessageBody", clean=clean))
    if big:  # the 64 KB message size limit: 65536 bytes of UTF-8 is the most a queue takes
        size = draw(st.sampled_from((65535, 65536, 65537)))
        text = "x" * size if draw(st.booleans()) else "é" * (size // 2) + "x" * (size % 2)
        parts = [p for p in parts if not p.startswith("<MessageBody")]
        parts.insert(0, f"<MessageBody>{text}</MessageBody>")
    if draw(st.integers(0, 3)) == 0:
        parts.append(draw(properties("UserProperties", "PropertyValue", clean)))
    if draw(st.integers(0, 5)) == 0:
        parts.append(draw(properties("SystemProperties", "SystemPropertyValue", clean)))
    if clean and draw(st.integers(0, 3)) == 0:
        mail = esc(JSON_TEXTS[0])
        parts.append(f"<MessageAttributes><DirectMail>{mail}</DirectMail></MessageAttributes>")
    elif not clean and draw(st.integers(0, 3)) == 0:
        attributes = []
        for name in draw(st.lists(st.sampled_from(("DirectMail", "DirectSMS", "DYSMS", "DM",
                                                    "Other")), max_size=3)):
            attributes.append(f"<{name}>{esc(draw(json_texts))}</{name}>")
        parts.append(f"<MessageAttributes>{''.join(attributes)}</MessageAttributes>")
    return "".join(parts)


PROLOGS = (
    "", '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="UTF-8"?>\n',
    '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>', '<?xml version="1.0" encoding="bogus"?>',
    '<?xml version="1.0" encoding="ascii"?>', '<?xml version="1.1"?>', '<?xml version="2.0"?>',
    '<?xml version="1.0" standalone="yes"?>', " <?xml version='1.0'?>", "<?xml?>",
)
DOCTYPES = (
    "", "<!DOCTYPE Queue>", '<!DOCTYPE q [<!ENTITY a "aaaa">]>',
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>',
    '<!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE q [<!ENTITY x SYSTEM "http://127.0.0.1:1/x.dtd">]>',
    '<!DOCTYPE q SYSTEM "http://127.0.0.1:1/x.dtd">',
    '<!DOCTYPE q [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
    '<!DOCTYPE q [<!ELEMENT q ANY><!ATTLIST q a CDATA "d">]>',
    '<!DOCTYPE q [<!ENTITY x "<Priority>1</Priority>">]>',
)
NAMESPACES = (
    f' xmlns="{NS}"', f' xmlns="{NS}"', "", ' xmlns="http://mns.aliyuncs.com/doc/v1"',
    ' xmlns="urn:other"', f' xmlns:m="{NS}"', ' xmlns:xi="http://www.w3.org/2001/XInclude"',
    ' a="1" a="2"', ' xmlns=""',
)
ROOT_FIELDS = {
    "Queue": ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
              "VisibilityTimeout", "PollingWaitSeconds", "LoggingEnabled"),
    "Topic": ("MaximumMessageSize", "LoggingEnabled"),
    "Subscription": ("Endpoint", "NotifyStrategy", "NotifyContentFormat", "FilterTag"),
    "Account": ("LoggingBucket",),
}
GOOD_ENDPOINTS = (
    "acs:mns:cn-hangzhou:1234567890:queues/fz-a", "acs:mns:cn-hangzhou:1234567890:queues/fz-c",
    "http://127.0.0.1:1/", "mail:directmail:a@b.com", "sms:directsms:anonymous",
)
VALID_VALUES = {
    "DelaySeconds": st.sampled_from(("0", "0", "1", "604800")),
    "MaximumMessageSize": st.sampled_from(("1024", "4096", "65536")),
    "MessageRetentionPeriod": st.sampled_from(("60", "345600", "604800")),
    "VisibilityTimeout": st.sampled_from(("1", "30", "43200")),
    "PollingWaitSeconds": st.sampled_from(("0", "1", "30")),
    "LoggingEnabled": st.sampled_from(("True", "False", "true")),
    "Priority": st.integers(1, 16).map(str),
    "MessageBody": st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1,
                           max_size=40),
    "MessageGroupId": st.from_regex(r"\A[a-z0-9]{1,16}\Z"),
    "MessageTag": st.sampled_from(("tagA", "tagB")),
    "FilterTag": st.sampled_from(("tagA", "")),
    "Endpoint": st.sampled_from(GOOD_ENDPOINTS),
    "NotifyStrategy": st.sampled_from(("BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY")),
    "NotifyContentFormat": st.sampled_from(("XML", "JSON", "SIMPLIFIED")),
    "LoggingBucket": st.sampled_from(("", "bucket")),
}
ROOTS = ("Queue", "Message", "Messages", "ReceiptHandles", "Topic", "Subscription", "Account")
BAD_BYTES = (b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x00", b"\x80")


@st.composite
def xml_bodies(draw, root: str | None = None, clean: bool = False) -> bytes:
    if clean and root is not None:
        if root == "Messages":
            count = draw(st.integers(1, 4))
            inner = "".join(f"<Message>{draw(message_inner(False, True))}</Message>"
                            for _ in range(count))
            if draw(st.integers(0, 3)) == 0:  # one entry out of range: a partial failure
                inner += "<Message><MessageBody>bad</MessageBody><Priority>0</Priority></Message>"
        elif root == "Message":
            inner = draw(message_inner(False, True))
        elif root == "ReceiptHandles":
            inner = "".join(f"<ReceiptHandle>{esc(draw(receipt_handles()))}</ReceiptHandle>"
                            for _ in range(draw(st.integers(1, 4))))
        else:
            inner = "".join(draw(children(ROOT_FIELDS[root], clean=True)))
        return xml_doc(root, inner)
    if root is None or draw(st.integers(0, 7)) == 0:
        root = draw(st.one_of(st.sampled_from(ROOTS), st.sampled_from(("Error", "x", "queue"))))
    big = draw(st.integers(0, 40)) == 0
    if root == "Message":
        inner = draw(message_inner(big))
    elif root == "Messages":
        count = draw(st.sampled_from((0, 1, 2, 3, 16, 17)))
        inner = "".join(f"<Message>{draw(message_inner(False))}</Message>" for _ in range(count))
        if draw(st.integers(0, 5)) == 0:
            inner += "<Other/>"
    elif root == "ReceiptHandles":
        count = draw(st.sampled_from((0, 1, 2, 3, 16, 17)))
        inner = "".join(f"<ReceiptHandle>{esc(draw(receipt_handles()))}</ReceiptHandle>"
                        for _ in range(count))
    else:
        inner = "".join(draw(children(ROOT_FIELDS.get(root, ("x",)))))
    if draw(st.integers(0, 9)) == 0:
        inner += draw(st.sampled_from(("&a;", "&x;", "&lol9;", "<xi:include href='/etc/passwd'/>",
                                       "<!-- comment -->", "<?pi data?>", "text")))
    namespace = draw(often(st.just(NAMESPACES[0]), st.sampled_from(NAMESPACES), 2))
    tag = f"m:{root}" if namespace.startswith(" xmlns:m") else root
    document = (
        draw(often(st.sampled_from(PROLOGS[:2]), st.sampled_from(PROLOGS)))
        + draw(often(st.just(""), st.sampled_from(DOCTYPES), 5))
        + f"<{tag}{namespace}>{inner}</{tag}>"
        + draw(often(st.just(""), st.sampled_from(("\n", "<Queue/>", "trailing", "<!-- c -->")), 8))
    )
    encoding = draw(often(st.just("utf-8"), st.sampled_from(("utf-16", "utf-16-be", "latin-1",
                                                             "utf-8-sig", "utf-32", "cp500")), 8))
    body = document.encode(encoding, errors="replace")
    # (Positions are drawn as 256ths of the body: a draw must not depend on its length,
    # which depends on the receipt handles fuzzing has seen so far.)
    if draw(st.integers(0, 19)) == 0:  # invalid UTF-8 somewhere
        at = len(body) * draw(st.integers(0, 256)) // 256
        body = body[:at] + draw(st.sampled_from(BAD_BYTES)) + body[at:]
    if draw(st.integers(0, 29)) == 0:
        body = body[: len(body) * draw(st.integers(0, 256)) // 256]
    if draw(st.integers(0, 40)) == 0:  # the 512 KiB body limit, padded with a comment
        target = MAX_BODY + draw(st.integers(-2, 1))
        start = body.find(b"<", 1) if body.startswith(b"<?xml") else 0
        pad = target - len(body) - 7
        if pad >= 0 and start >= 0:
            body = body[:start] + b"<!--" + b"p" * pad + b"-->" + body[start:]
    return body


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from((b"", b"   \n", b"{}", b'{"Queue": {}}', b"<", b"<Queue", b"\xef\xbb\xbf",
                     b"\xff\xfe<\x00Q\x00/\x00>\x00", b"<Queue/>" * 3)),
    st.text(max_size=50).map(lambda t: t.encode("utf-8", "surrogatepass")),
)

# -- strategies: headers ------------------------------------------------------------------------

DATES = (
    "NOW", "", "yesterday", "Sun, 22 Nov 2015 12:43:36 GMT", "Mon, 01 Jan 0001 00:00:00 +0100",
    "Fri, 31 Dec 9999 23:59:59 -0100", "Sun, 22 Nov 99999 12:43:36 GMT",
    "Sun, 22 Nov 2015 12:43:36 +9999", "Sun, 22 Nov 2015 99:43:36 GMT", "1700000000",
    "Thu, 01 Jan 1970 00:00:00 GMT", "Tue, 19 Jan 2038 03:14:08 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Sun, 31 Feb 2026 10:00:00 GMT",
    "SKEW", "Sun, 22 Nov 2015 12:43:36", "\xff",
)
AUTHS = (
    "MNS id:abc", "MNS id:", "MNS :x", "MNS", "mns id:x", "Basic aWQ6c2VjcmV0", "MNS  id:x",
    "MNS id:x:y", "MNS nobody:x", "", "MNS " + "a" * 5000 + ":x", "MNS id:" + "=" * 40,
    "MNS \xe9:x", "MNS id:\x80",
)
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").decode("latin-1")),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0xFF), max_size=10),
)
HEADERS = (
    ("x-mns-version", st.sampled_from((API_VERSION, "2014-01-01", "", API_VERSION + " ",
                                       "2015-06-6", "\xff"))),
    ("x-mns-ret-number", st.sampled_from(INT_LIKE)),
    ("x-mns-prefix", st.one_of(st.sampled_from(("fz", "fz-a", "", "z", "\xff")), header_values)),
    ("x-mns-marker", st.one_of(st.sampled_from(("fz-b", "", "~", "\x80")), header_values)),
    ("x-mns-with-meta", st.sampled_from(BOOLISH)),
    ("x-mns-user-request-id", header_values),
    ("x-mns-date", st.sampled_from(DATES)),
    ("x-mns-anything", header_values),
    ("Content-Type", st.sampled_from(("text/xml;charset=UTF-8", "application/json", "",
                                      "text/xml; charset=utf-16", "*/*", "text/xml;charset=x"))),
    ("Content-MD5", st.one_of(st.sampled_from(("", "x", "1B2M2Y8AsgTpgAmY7PhCfg==", "=" * 24)),
                              header_values)),
    ("Date", st.sampled_from(DATES)),
    ("Authorization", st.sampled_from(AUTHS)),
    ("Connection", st.sampled_from(("close", "keep-alive", "Keep-Alive", "upgrade",
                                    "close, keep-alive", "te", ""))),
    ("Upgrade", st.sampled_from(("websocket", "h2c"))),
    ("Expect", st.sampled_from(("100-continue", "nonsense"))),
    ("Accept-Encoding", st.sampled_from(("gzip", "identity", "*", ""))),
    ("User-Agent", header_values),
    ("security-token", header_values),
    ("Host", st.sampled_from(("mns.example:8080", "", "\xe9", "[::1]:80", "h\tx", "<h>&"))),
)
header_names = st.one_of(
    st.from_regex(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}\Z"),
    st.sampled_from(("bad name", "x:y", "é", "x\x00", "(x)")),
).filter(lambda n: n.lower() not in ("content-length", "transfer-encoding"))


@st.composite
def extra_headers(draw) -> list[tuple[str, str]]:
    out = []
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2, 3, 5)))):
        if draw(st.integers(0, 5)):
            name, values = draw(st.sampled_from(HEADERS))
            if draw(st.booleans()):
                name = draw(st.sampled_from((name.lower(), name.upper(), name.title())))
            out.append((name, draw(values)))
        else:
            out.append((draw(header_names), draw(header_values)))
    if out and draw(st.integers(0, 5)) == 0:
        out.append(out[draw(st.integers(0, len(out) - 1))])  # a duplicated header
    if draw(st.integers(0, 30)) == 0:  # around the 16 KiB limit of a request head, and beyond
        size = draw(st.sampled_from((8000, 15000, 16300, 16500, 30000, 70000)))
        out.append((draw(st.sampled_from(("X-Big", "x-mns-big", "Cookie"))), "v" * size))
    return out


def date_value(value: str) -> str:
    if value == "NOW":
        return http_date()
    if value == "SKEW":  # beyond the 15 minutes allowed
        return http_date(20 * 60)
    return value


# -- structured requests ---------------------------------------------------------------------------


class Case:
    """A generated request: its parts, and the bytes that go on the wire."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        version: str = "HTTP/1.1",
        chunks: list[int] | None = None,  # chunk sizes when sent chunked
        send_length: bool = True,
        authentic: bool = False,  # signed right, fresh date, right MD5 and version
    ) -> None:
        self.method, self.target, self.headers, self.body = method, target, headers, body
        self.version, self.authentic = version, authentic
        head = list(headers)
        if chunks is not None:
            head.append((b"Transfer-Encoding", b"chunked"))
        elif send_length:
            head.append((b"Content-Length", str(len(body)).encode()))
        line = f"{method} {target} {version}\r\n".encode("utf-8", "surrogatepass")
        self.data = line + b"".join(n + b": " + v + b"\r\n" for n, v in head) + b"\r\n"
        if chunks is None:
            self.data += body
            return
        at = 0
        for size in chunks + [len(body)]:
            piece = body[at : at + size]
            if piece:
                self.data += b"%x\r\n%s\r\n" % (len(piece), piece)
            at += len(piece)
        self.data += b"0\r\n\r\n"

    def __repr__(self) -> str:
        return f"Case({self.data[:3000]!r}{' ...' if len(self.data) > 3000 else ''})"


def encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    def enc(text: str) -> bytes:
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")

    return enc(name), enc(value)


def defuse(method: str, target: str) -> str:
    """Keep a generated request from waiting: a receive that could park gets
    ``waitseconds=0`` (the last value of a repeated key wins, as the server reads
    it); a clock jump longer than a minute becomes one second."""
    request = Request(method, target, {})
    suffix = ""
    parts = request.path.split("/")
    if (
        method == "GET" and len(parts) == 4 and parts[1] == "queues" and parts[2]
        and parts[3] == "messages" and request.query.get("peekonly", "").lower() != "true"
    ):
        wait = request.query.get("waitseconds")
        if wait is None or (wait.isascii() and wait.isdigit() and len(wait) <= 9 and int(wait)):
            suffix = "waitseconds=0"
    if request.path == "/_minimns/clock/advance":
        try:
            seconds = float(request.query.get("seconds", ""))
        except ValueError:
            seconds = 0.0
        if seconds > 60:
            suffix = "seconds=1"
    if suffix:
        target += ("&" if "?" in target else "?") + suffix
    return target


@st.composite
def structured_requests(draw, signed: bool = False) -> Case:
    """An MNS request; in ``clean`` ones (2 in 5) only the values vary, within their
    ranges, so that operations succeed and state builds up for the others to meet."""
    clean = draw(st.integers(0, 4)) < 2
    method, shape, root, keys = draw(st.sampled_from(OPERATIONS))
    if not clean and draw(st.integers(0, 3)) == 0:
        method = draw(often(st.sampled_from(METHODS), st.sampled_from(ODD_METHODS)))
    if not clean and draw(st.integers(0, 4)) == 0:
        shape = draw(st.sampled_from(SHAPES))
        keys = draw(st.lists(st.sampled_from(QUERY_KEYS), max_size=3, unique=True))
    if clean:
        path = shape.format(q=draw(st.sampled_from(POOL_QUEUES)),
                            t=draw(st.sampled_from(POOL_TOPICS)),
                            s=draw(st.sampled_from(POOL_SUBSCRIPTIONS)))
    else:
        path = shape.format(
            q=draw(names(POOL_QUEUES)), t=draw(names(POOL_TOPICS)),
            s=draw(names(POOL_SUBSCRIPTIONS)), x=draw(names(("x", "messages"))),
        )
    query = draw(query_strings(tuple(keys), clean))
    target = path + ("?" + query if query or not clean and draw(st.integers(0, 9)) == 0 else "")
    target = defuse(method, target)

    body_kind = draw(st.integers(0, 9))
    if clean:
        body = b"" if root is None else draw(xml_bodies(root, clean=True))
    elif root is not None and body_kind < 7 or root is None and body_kind == 0:
        body = draw(xml_bodies(root))
    elif body_kind < 9:
        body = b""
    else:
        body = draw(raw_bodies)

    host = "127.0.0.1" if clean or draw(st.integers(0, 9)) else draw(st.sampled_from(
        ("127.0.0.1:9876", "mns.example:8080", "1234567890.mns.cn-hangzhou.aliyuncs.com",
         "[::1]:80", "", "a" * 300, "\xe9", None)))
    headers: list[tuple[str, str]] = [] if host is None else [("Host", host)]
    if clean or draw(st.integers(0, 9)):
        headers.append(("x-mns-version", API_VERSION))
    if clean or draw(st.integers(0, 9)):
        headers.append(("Date", "NOW"))
    if body and (clean or draw(st.integers(0, 3))):
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
        if clean or draw(st.booleans()):
            headers.append(("Content-MD5", content_md5(body)))
    if clean and method == "GET" and shape in ("/queues", "/topics", "/topics/{t}/subscriptions"):
        headers += draw(st.lists(st.sampled_from((
            ("x-mns-prefix", "fz"), ("x-mns-ret-number", "1"), ("x-mns-ret-number", "1000"),
            ("x-mns-marker", "fz-b"), ("x-mns-with-meta", "true"))), max_size=3, unique=True))
    elif not clean:
        headers += draw(extra_headers())
    headers = [(n, date_value(v) if n.lower() in ("date", "x-mns-date") else v)
               for n, v in headers]
    raw_headers = [encode_header(n, v) for n, v in headers]

    authentic = False
    if signed:
        mode = "valid" if clean else draw(
            st.sampled_from(("valid",) * 4 + ("wrong-secret", "wrong-id", "none")))
        if mode != "none":
            key_id, secret = {"valid": KEYS, "wrong-secret": ("id", "nope"),
                              "wrong-id": ("nobody", "secret")}[mode]
            raw_headers.append((b"Authorization",
                                authorization(method, target, raw_headers, key_id, secret)))
        authentic = mode == "valid" and is_authentic(raw_headers, body)

    version = "HTTP/1.1"
    if not clean and draw(st.integers(0, 19)) == 0:
        version = draw(st.sampled_from(("HTTP/1.0", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/1",
                                        "http/1.1", "")))
    chunks = None
    if body and draw(st.integers(0, 7)) == 0:
        # Sizes as 256ths of the body, for the same reason as positions above.
        chunks = [max(1, len(body) * k // 256)
                  for k in draw(st.lists(st.integers(1, 256), max_size=4))]
    send_length = bool(body) or clean or draw(st.integers(0, 3)) > 0
    case = Case(method, target, raw_headers, body, version, chunks, send_length, authentic)
    assume(b"fuzzctl" not in case.data.lower())
    return case


def is_authentic(headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """Whether the headers other than Authorization pass the server's checks: the
    last x-mns-version is right, the date in effect is within 15 minutes, and any
    Content-MD5 matches the body. (The Authorization is ours, appended last.)"""
    seen = {n.lower(): v.strip(b" \t") for n, v in headers}
    if seen.get(b"x-mns-version") != API_VERSION.encode():
        return False
    md5 = seen.get(b"content-md5")
    raw_md5 = base64.b64encode(hashlib.md5(body).digest())  # RFC 1864's form is taken too
    if md5 is not None and md5 not in (content_md5(body).encode(), raw_md5):
        return False
    date = seen.get(b"x-mns-date") or seen.get(b"date")
    try:
        skew = abs(parsedate_to_datetime(date.decode("latin-1")).timestamp() - time.time())
    except (AttributeError, TypeError, ValueError, IndexError, OverflowError):
        return False
    assume(not 14 * 60 < skew < 16 * 60)  # too close to the limit to say
    return skew <= 14 * 60


def run_structured(srv, case: Case, keys: tuple[str, str] | None) -> None:
    method = case.method
    with Wire(srv) as wire:
        wire.send(case.data)
        reply = wire.reply()
        assert reply is not None, f"the server closed the connection without an answer to {case!r}"
        code = check_reply(reply, case.data, method)
        remember_handles(reply)
        if keys is not None:  # the signing server
            bypass = Request("GET", case.target, {}).path.startswith("/_minimns/")
            # (the HTTP layer refuses what it cannot read before anyone can check a signature)
            unread = code == "InvalidRequest" or b"The request body is larger than" in reply.body
            unread = unread or method == "HEAD" and not reply.body  # no code to see
            if not case.authentic and not bypass:
                assert reply.status >= 400 and (code in AUTH_CODES or unread), (
                    f"not correctly signed, yet {reply!r}\nfor {case!r}")
            if case.authentic:
                assert code not in AUTH_CODES, f"correctly signed, yet {reply!r}\nfor {case!r}"
        if case.version == "HTTP/1.0":
            assert says_close(reply), f"an HTTP/1.0 request, kept alive: {reply!r}"
        if says_close(reply):
            assert wire.closed_by_server(), "the server said it would close, and did not"
            assert_serving(srv, keys)  # a closed connection is replaced by a new one
        else:
            assert_serving(srv, keys, wire)  # the same connection keeps serving


# -- mutated requests ----------------------------------------------------------------------------

MUTANT_QUEUE, MUTANT_TOPIC = "fz-mut", "fzt-mut"


def sdk_requests(keys: tuple[str, str] | None) -> list[bytes]:
    """Requests as the SDK sends them, one per operation (mns-protocol.md 1.1, 1.2)."""
    q, t = f"/queues/{MUTANT_QUEUE}", f"/topics/{MUTANT_TOPIC}"
    message = xml_doc("Message", "<MessageBody>aGVsbG8g5LiW55WM</MessageBody>"
                      "<DelaySeconds>0</DelaySeconds><Priority>8</Priority>")
    batch = xml_doc("Messages", "".join(f"<Message><MessageBody>m{i}</MessageBody>"
                                        f"<Priority>{i + 1}</Priority></Message>" for i in range(3)))
    handles = xml_doc("ReceiptHandles", "<ReceiptHandle>1-ab+c/d==</ReceiptHandle>"
                      "<ReceiptHandle>1-1-1-1</ReceiptHandle>")
    publish = xml_doc("Message", "<MessageBody>hi &lt;there&gt;</MessageBody><MessageTag>tagA"
                      "</MessageTag><MessageAttributes><DirectMail>{&quot;AccountName&quot;: "
                      "&quot;a@b.com&quot;, &quot;Subject&quot;: &quot;s&quot;}</DirectMail>"
                      "</MessageAttributes>")
    paging = [("x-mns-prefix", "fz"), ("x-mns-ret-number", "10"), ("x-mns-marker", "fz-a")]
    return [
        build("PUT", q, xml_doc("Queue", "<VisibilityTimeout>30</VisibilityTimeout>"), keys=keys),
        build("POST", f"{q}/messages", message, keys=keys),
        build("POST", f"{q}/messages", batch, keys=keys),
        build("GET", f"{q}/messages?waitseconds=0", keys=keys),
        build("GET", f"{q}/messages?numOfMessages=3&waitseconds=0", keys=keys),
        build("GET", f"{q}/messages?peekonly=true", keys=keys),
        build("GET", f"{q}/messages?peekonly=true&numOfMessages=3", keys=keys),
        build("DELETE", f"{q}/messages?ReceiptHandle=1-ab+c/d==", keys=keys),
        build("DELETE", f"{q}/messages", handles, keys=keys),
        build("PUT", f"{q}/messages?ReceiptHandle=1-1-1-1&VisibilityTimeout=10", keys=keys),
        build("GET", q, keys=keys),
        build("GET", "/queues", headers=paging, keys=keys),
        build("PUT", t, xml_doc("Topic", "<MaximumMessageSize>65536</MaximumMessageSize>"),
              keys=keys),
        build("POST", f"{t}/messages", publish, keys=keys),
        build("PUT", f"{t}/subscriptions/fzs-mut", xml_doc(
            "Subscription", f"<Endpoint>acs:mns:cn-hangzhou:1234567890:queues/{MUTANT_QUEUE}"
            "</Endpoint><NotifyContentFormat>SIMPLIFIED</NotifyContentFormat>"), keys=keys),
        build("GET", "/topics", headers=paging + [("x-mns-with-meta", "true")], keys=keys),
        build("GET", f"{t}/subscriptions", keys=keys),
        build("GET", "/?accountmeta=true", keys=keys),
        build("PUT", "/?accountmeta=true", xml_doc("Account", "<LoggingBucket>b</LoggingBucket>"),
              keys=keys),
        build("POST", "/commonbuy/openservice", keys=keys),
    ]


def chunked(request: bytes, pieces: int) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    head = re.sub(rb"Content-Length: \d+", b"Transfer-Encoding: chunked", head)
    size = max(1, len(body) // pieces)
    out = b""
    for at in range(0, len(body), size):
        out += b"%x\r\n%s\r\n" % (len(body[at : at + size]), body[at : at + size])
    return head + b"\r\n\r\n" + out + b"0\r\n\r\n"


INSERTS = (b"\r\n", b"\n", b"\r", b"\x00", b"%", b"&", b"=", b"?", b":", b" ", b"\t", b"\xff",
           b"0", b"9", b"-", b"/", b"<", b">", b"]]>", b"&lt;", b"\r\n\r\n", b"Content-Length: 5\r\n",
           b"Transfer-Encoding: chunked\r\n", b"Expect: 100-continue\r\n", b"HTTP/1.1",
           b"\xc3\xa9", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"99999999999999999999", b"-1")


@st.composite
def mutations(draw, templates: list[bytes], signed: bool = False) -> bytes:
    picks = draw(st.lists(st.integers(0, len(templates) - 1), min_size=1, max_size=3))
    parts = []
    for index in picks:
        request = templates[index]
        if b"\r\n\r\n<" in request and draw(st.integers(0, 4)) == 0:
            request = chunked(request, draw(st.integers(1, 4)))
        parts.append(request)
    data = bytearray(b"".join(parts))
    head_end = data.find(b"\r\n\r\n") + 4
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("flip", "set", "insert", "delete", "dup", "truncate",
                                   "length", "crlf")))
        where = draw(st.sampled_from(("anywhere", "head", "line", "body")))
        low, high = {"anywhere": (0, len(data)), "head": (0, min(head_end, len(data))),
                     "line": (0, max(1, data.find(b"\r\n"))),
                     "body": (min(head_end, len(data)), len(data))}[where]
        at = draw(st.integers(low, max(low, high - 1)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1,
                                                                            max_size=8)))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[at:]
        elif op == "length":
            match = re.search(rb"Content-Length: (\d+)", data)
            if match:
                value = max(0, int(match.group(1)) + draw(st.sampled_from(
                    (-100, -5, -1, 1, 5, 1000, MAX_BODY, 10**12))))
                data[match.start(1) : match.end(1)] = str(value).encode()
        elif op == "crlf":
            found = data.find(b"\r\n", at)
            if found >= 0:
                data[found : found + 2] = draw(st.sampled_from((b"\n", b"\r", b"\n\r", b"")))
    out = bytes(data)
    assume(b"fuzzctl" not in out.lower())
    return out


def may_park(data: bytes) -> bool:
    """A first request that could be a long poll: the server then drops it on our
    half-close without an answer (it watches for hang-ups while it waits)."""
    first = data.split(b"\n", 1)[0]
    return first.startswith(b"GET ") and b"messages" in first


def run_mutated(srv, data: bytes, keys: tuple[str, str] | None) -> None:
    with Wire(srv) as wire:
        wire.send(data)
        try:
            wire.sock.shutdown(socket.SHUT_WR)  # no more input: nothing can wait for it
        except OSError:
            pass
        replies = wire.replies_until_eof()
    if data.strip() and not may_park(data):
        assert replies, f"no answer at all to {data[:1500]!r}"
    for reply in replies:
        check_reply(reply, data, None)
        remember_handles(reply)
    assert_serving(srv, keys)


# -- the fuzz tests ------------------------------------------------------------------------------


def fuzzed(srv, expected: Control, keys: tuple[str, str] | None, examples: int,
           strategy, run) -> None:
    """Drive ``run`` with ``examples`` cases of ``strategy``, then check, in the same
    test, that the control message and the server came through: the check never
    runs without the fuzzing before it."""

    @settings(max_examples=examples, **FUZZ)
    @given(case=strategy)
    def one(case) -> None:
        run(case)

    one()
    assert_control_intact(srv, expected, keys)
    assert_serving(srv, keys)


def test_fuzz_structured_requests(server, control):
    fuzzed(server, control, None, 300, structured_requests(),
           lambda case: run_structured(server, case, None))


def test_fuzz_structured_requests_signed(auth_server, auth_control):
    fuzzed(auth_server, auth_control, KEYS, 150, structured_requests(signed=True),
           lambda case: run_structured(auth_server, case, KEYS))


def test_fuzz_mutated_sdk_requests(server, control):
    fuzzed(server, control, None, 200, mutations(sdk_requests(None)),
           lambda case: run_mutated(server, case, None))


def test_fuzz_mutated_signed_sdk_requests(auth_server, auth_control):
    fuzzed(auth_server, auth_control, KEYS, 100, mutations(sdk_requests(KEYS), signed=True),
           lambda case: run_mutated(auth_server, case, KEYS))


# -- sizes and limits, at their exact edges -------------------------------------------------------


def _fresh_queue(srv, name: str) -> None:
    assert exchange(srv, build("PUT", f"/queues/{name}")).status in (201, 204)


@pytest.mark.parametrize(
    "text, status",
    [("x" * 65536, 201), ("x" * 65537, 400), ("é" * 32768, 201), ("é" * 32768 + "x", 400)],
    ids=["64KB", "64KB+1", "64KB-utf8", "64KB-utf8+1"],
)
def test_message_size_limit(server, control, text, status):
    _fresh_queue(server, "fz-size")
    sent = build("POST", "/queues/fz-size/messages", xml_doc("Message", f"<MessageBody>{text}"
                                                             "</MessageBody>"))
    reply = exchange(server, sent)
    code = check_reply(reply, sent, "POST")
    assert reply.status == status and code in (None, "InvalidArgument"), reply


def _padded_message(total: int) -> bytes:
    start = b'<?xml version="1.0" encoding="utf-8"?>'
    rest = xml_doc("Message", "<MessageBody>padded</MessageBody>")[len(start):]
    return start + b"<!--" + b"p" * (total - len(start) - len(rest) - 7) + b"-->" + rest


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_body_limit_is_512_kib(server, control, framing):
    _fresh_queue(server, "fz-limit")
    for total, fits in ((MAX_BODY, True), (MAX_BODY + 1, False)):
        body = _padded_message(total)
        assert len(body) == total
        data = build("POST", "/queues/fz-limit/messages", body)
        if framing == "chunked":
            data = chunked(data, 7)
        with Wire(server) as wire:
            if framing == "length" and not fits:
                wire.send(data[: data.index(b"\r\n\r\n") + 4])  # refused on its head alone
            else:
                wire.send(data)
            reply = wire.reply()
            assert reply is not None
            code = check_reply(reply, data, "POST")
            if fits:
                assert reply.status == 201, reply
                assert_serving(server, None, wire)
            else:
                assert (reply.status, code) == (400, "InvalidArgument"), reply
                assert b"larger than 524288 bytes" in reply.body
                assert says_close(reply) and wire.closed_by_server()
    assert_serving(server, None)


def test_request_head_limit(server, control):
    """A head within 16 KiB is served; one far beyond it (100 KiB: more than the server
    reads at once) is refused with InvalidRequest and the connection closed."""
    with Wire(server) as wire:
        sent = build("GET", "/queues", headers=[("X-Big", "v" * 15000)])
        wire.send(sent)
        reply = wire.reply()
        assert reply is not None and reply.status == 200
        check_reply(reply, sent, "GET")
        assert_serving(server, None, wire)
    with Wire(server) as wire:
        sent = build("GET", "/queues", headers=[("X-Big", "v" * 100_000)])
        wire.send(sent)
        reply = wire.reply()
        assert reply is not None
        assert (reply.status, check_reply(reply, sent, "GET")) == (400, "InvalidRequest")
        assert says_close(reply) and wire.closed_by_server()
    assert_serving(server, None)


def test_entity_tricks_neither_expand_nor_fetch(server, control):
    """Billion laughs and external entities are MalformedXML, at once, and create
    nothing; an external DTD or entity is never fetched (a listener would see it)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        laughs = ['<!ENTITY l0 "lol">'] + [
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
        ]
        refused = [
            f"<!DOCTYPE Queue [{''.join(laughs)}]><Queue><DelaySeconds>&l9;</DelaySeconds></Queue>",
            '<!DOCTYPE Queue [<!ENTITY x SYSTEM "file:///etc/passwd">]><Queue>&x;</Queue>',
            f'<!DOCTYPE Queue [<!ENTITY x SYSTEM "{url}/x">]><Queue>&x;</Queue>',
            f'<!DOCTYPE Queue [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]><Queue/>',
        ]
        harmless = [f'<!DOCTYPE Queue SYSTEM "{url}/q.dtd"><Queue/>']  # a DTD nobody reads
        for body in refused + harmless:
            started = time.monotonic()
            sent = build("PUT", "/queues/fz-entities", body.encode())
            reply = exchange(server, sent)
            code = check_reply(reply, sent, "PUT")
            assert time.monotonic() - started < 1.0
            if body in refused:
                assert (reply.status, code) == (400, "MalformedXML"), body
                assert exchange(server, build("GET", "/queues/fz-entities")).status == 404
            else:
                assert reply.status in (201, 204), body
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody came


@pytest.mark.parametrize(
    "data",
    [
        b"hello\r\n\r\n",
        b"GET /queues HTTP/1.0\r\n\r\n",
        b"GET /queues HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET /queues HTTP/1.1\r\n\r\n",  # no Host
        b"PUT /queues/x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
        b"PUT /queues/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"PUT /queues/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["garbage", "http-1.0", "connection-close", "no-host", "two-lengths", "gzip", "bad-chunk"],
)
def test_a_closed_connection_is_replaced_by_a_new_one(server, control, data):
    with Wire(server) as wire:
        wire.send(data)
        reply = wire.reply()
        assert reply is not None
        check_reply(reply, data, "GET")
        assert says_close(reply) and wire.closed_by_server()
    assert_serving(server, None)


# -- injected faults -------------------------------------------------------------------------------


def _fail(*args, **kwargs):
    raise RuntimeError('Traceback (most recent call last):\n  File "/x.py", line 1: injected')


async def _async_fail(*args, **kwargs):
    _fail()


@pytest.mark.parametrize(
    "where, request_",
    [
        ("route", ("GET", "/queues/fz-fault")),
        ("parser", ("PUT", "/queues/fz-fault", xml_doc("Queue", ""))),
        ("topic-route", ("GET", "/topics/fzt-fault/subscriptions")),
        ("broker", ("GET", "/queues")),
        ("head", ("HEAD", "/queues")),
    ],
)
def test_injected_fault_is_an_internal_error_document(server, control, monkeypatch, where,
                                                     request_):
    method = request_[0]
    try:
        if where == "route":
            monkeypatch.setattr(queue_routes, "get_queue_attributes", _async_fail)
        elif where == "parser":
            monkeypatch.setattr(queue_routes, "parse", _fail)
        elif where == "topic-route":
            monkeypatch.setattr(topic_routes, "list_subscription", _async_fail)
        else:  # the broker's listing, behind GET /queues; HEAD is routed the same way
            monkeypatch.setattr(server.broker.account, "list_queues", _fail)
            if where == "head":
                monkeypatch.setattr("minimns.server.mns.queues.route",
                                    lambda m, rest: queue_routes.list_queue)
        sent = build(*request_)
        with Wire(server) as wire:
            wire.send(sent)
            reply = wire.reply()
            assert reply is not None and reply.status == 500, reply
            assert reply.header("x-mns-request-id") is not None
            if method == "HEAD":
                assert reply.body == b""
            else:
                assert reply.header("content-type").startswith("text/xml")
                root = reply.xml()
                assert root.tag == f"{{{NS}}}Error"
                fields = reply.fields()
                assert set(fields) == {"Code", "Message", "RequestId", "HostId"}
                assert (fields["Code"], fields["Message"]) == ("InternalError", "Interal error.")
                assert fields["RequestId"] == reply.header("x-mns-request-id")
                for trace in (b"Traceback", b'File "', b"injected", b"RuntimeError"):
                    assert trace not in reply.body
            assert not says_close(reply)
            # the same connection answers the next request normally
            other = build("GET", "/?accountmeta=true")
            wire.send(other)
            after = wire.reply()
            assert after is not None and after.status == 200
            check_reply(after, other, "GET")
    finally:
        monkeypatch.undo()
    assert_serving(server, None)


# -- bugs found by fuzzing -------------------------------------------------------------------------


def test_deeply_nested_message_attribute_json_is_invalid_argument(server, control):
    assert exchange(server, build("PUT", "/topics/fzt-json")).status in (201, 204)
    for attribute in ("DirectMail", "DirectSMS"):
        deep = "[" * 5000 + "]" * 5000
        body = xml_doc("Message", "<MessageBody>x</MessageBody><MessageAttributes>"
                       f"<{attribute}>{deep}</{attribute}></MessageAttributes>")
        sent = build("POST", "/topics/fzt-json/messages", body)
        reply = exchange(server, sent)
        assert (reply.status, check_reply(reply, sent, "POST")) == (400, "InvalidArgument")


@pytest.mark.parametrize("encoding", ["bogus", "utf-9", "rot13"])
def test_xml_declaring_an_unknown_encoding_is_malformed_xml(server, control, encoding):
    body = f'<?xml version="1.0" encoding="{encoding}"?><Queue/>'.encode()
    sent = build("PUT", "/queues/fz-encoding", body)
    reply = exchange(server, sent)
    assert (reply.status, check_reply(reply, sent, "PUT")) == (400, "MalformedXML")


@pytest.mark.parametrize("target", ["/queues/fz-missing", "/queues"], ids=["error", "list"])
def test_control_characters_in_host_never_break_a_document(server, control, target):
    sent = f"GET {target} HTTP/1.1\r\nHost: \x01h\r\nx-mns-version: {API_VERSION}\r\n\r\n"
    reply = exchange(server, sent.encode())
    check_reply(reply, sent.encode(), "GET")  # fails: not well-formed XML


@pytest.mark.parametrize("method", ["CONNECT", "DELETE"])
def test_the_clock_route_answers_only_get(server, control, method):
    sent = f"{method} /_minimns/clock HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    with Wire(server) as wire:
        wire.send(sent)
        reply = wire.reply()
    assert reply is not None, "no answer at all"  # CONNECT today
    assert (reply.status, check_reply(reply, sent, method)) == (400, "InvalidRequestURL")


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 524289\r\n\r\n", b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
     b"Content-Length: 10\r\n\r\nabc"],
    ids=["too-large", "bad-chunk", "cut-short"],
)
def test_head_with_an_unreadable_body_is_answered(server, control, framing):
    sent = b"HEAD /queues HTTP/1.1\r\nHost: h\r\n" + framing
    with Wire(server) as wire:
        wire.send(sent)
        wire.sock.shutdown(socket.SHUT_WR)
        replies = wire.replies_until_eof()
    assert len(replies) == 1, "no answer at all"
    assert replies[0].status == 400
    check_reply(replies[0], sent, "HEAD")


def test_non_ascii_signature_is_signature_does_not_match(auth_server, auth_control):
    sent = (f"GET /queues HTTP/1.1\r\nHost: h\r\nx-mns-version: {API_VERSION}\r\n"
            f"Date: {http_date()}\r\nAuthorization: MNS id:\x80bc=\r\n\r\n").encode("latin-1")
    reply = exchange(auth_server, sent)
    assert (reply.status, check_reply(reply, sent, "GET")) == (403, "SignatureDoesNotMatch")
