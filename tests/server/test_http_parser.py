"""The request parser on its own: every framing case the server relies on,
and a Hypothesis check that how the bytes are split never changes what is read."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from minimns.server.http_parser import MAX_BODY, MAX_HEAD, RequestParser


def feed(*chunks: bytes, parser: RequestParser | None = None) -> RequestParser:
    parser = parser or RequestParser()
    for chunk in chunks:
        parser.feed(chunk)
    return parser


def seen(parser: RequestParser) -> list[tuple]:
    return [(r.method, r.target, r.headers, r.body, r.last) for r in parser.requests]


GET = b"GET /queues/q/messages?waitseconds=0 HTTP/1.1\r\nHost: h\r\nx-mns-version: 2015-06-06\r\n\r\n"
POST = b"POST /queues/q/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"


def test_one_request_with_lower_case_names_stripped_values_and_query():
    parser = feed(b"GET /queues/q/messages?WaitSeconds=3&peekonly=true HTTP/1.1\r\n"
                  b"Host: h:1\r\nX-MNS-Version:   2015-06-06  \r\n\r\n")
    (request,) = parser.requests
    assert request.method == "GET"
    assert request.target == "/queues/q/messages?WaitSeconds=3&peekonly=true"
    assert request.path == "/queues/q/messages"
    assert request.query == {"waitseconds": "3", "peekonly": "true"}
    assert request.headers == {"host": "h:1", "x-mns-version": "2015-06-06"}
    assert not request.last and not parser.partial and parser.refusal is None


def test_an_absolute_form_target_becomes_origin_form_with_its_authority_as_host():
    parser = feed(b"GET http://1234.mns.cn-hangzhou.aliyuncs.com/queues/q?waitseconds=1 HTTP/1.1\r\n"
                  b"Host: proxy:80\r\n\r\n"
                  b"DELETE HTTP://acct.mns.cn-hangzhou.aliyuncs.com HTTP/1.1\r\nHost: x\r\n\r\n")
    first, second = parser.requests
    assert (first.target, first.path, first.query) == ("/queues/q?waitseconds=1", "/queues/q",
                                                       {"waitseconds": "1"})
    assert first.headers["host"] == "1234.mns.cn-hangzhou.aliyuncs.com"  # RFC 9112 3.2.2
    assert (second.target, second.headers["host"]) == ("/", "acct.mns.cn-hangzhou.aliyuncs.com")


def test_a_target_in_another_form_is_left_for_the_server_to_refuse():
    """Only http(s) absolute forms are rewritten; ``*``, ``ftp://...`` and the like
    reach the server as they are, which answers them as URLs it does not route
    (after checking the signature, as for any request)."""
    parser = feed(b"GET ftp://host/queues HTTP/1.1\r\nHost: h\r\n\r\n"
                  b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
    assert [r.target for r in parser.requests] == ["ftp://host/queues", "*"]
    assert parser.refusal is None


def test_keep_alive_and_pipelining_give_every_request_in_order():
    parser = feed(GET + POST + GET)
    assert [(m, b) for m, _, _, b, _ in seen(parser)] == [("GET", b""), ("POST", b"hello"), ("GET", b"")]
    assert not any(last for *_, last in seen(parser))


def test_a_repeated_header_keeps_its_last_value():
    parser = feed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Mns-Prefix: one\r\nx-mns-prefix: two\r\n\r\n")
    assert parser.requests[0].headers["x-mns-prefix"] == "two"


def test_a_request_in_pieces_is_partial_until_whole():
    parser = feed(POST[:30])
    assert parser.partial and not parser.requests
    feed(POST[30:-2], parser=parser)
    assert parser.partial and not parser.requests
    feed(POST[-2:], parser=parser)
    assert not parser.partial and parser.requests[0].body == b"hello"


def test_expect_100_continue_is_reported_until_the_body_comes():
    head = b"PUT /queues/q HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    parser = feed(head)
    assert parser.wants_continue and not parser.requests
    feed(b"abcd", parser=parser)
    assert not parser.wants_continue and parser.requests[0].body == b"abcd"


def test_expect_100_continue_with_the_body_already_there_needs_no_100():
    head = b"PUT /queues/q HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    parser = feed(head + b"abcd")
    assert not parser.wants_continue and parser.requests[0].body == b"abcd"


def test_expect_100_continue_on_an_empty_body_or_http_10_needs_no_100():
    assert not feed(b"PUT /q HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"
                    ).wants_continue
    assert not feed(b"PUT /q HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
                    ).wants_continue


def test_a_head_over_the_limit_in_one_feed_is_refused():
    parser = feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\n")
    assert not parser.requests
    assert (parser.refusal.status, parser.refusal.code) == (400, "InvalidRequest")
    assert "head" in parser.refusal.message


def test_a_head_over_the_limit_across_many_feeds_is_refused():
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 20_000 + b"\r\n\r\n"
    parser = RequestParser()
    for start in range(0, len(data), 100):
        parser.feed(data[start:start + 100])
    assert parser.refusal is not None and not parser.requests


def test_many_small_headers_over_the_limit_are_refused():
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(200))
    parser = feed(b"GET / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\n")
    assert parser.refusal is not None and not parser.requests


def test_a_head_just_under_the_limit_is_read():
    parser = feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * (MAX_HEAD - 100) + b"\r\n\r\n")
    assert parser.refusal is None and len(parser.requests) == 1


def test_a_head_that_never_ends_is_refused_before_it_grows_past_the_limit():
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ")
    for _ in range(40):
        parser.feed(b"v" * 1000)  # one header value: no callback until it ends
        if parser.refusal is not None:
            break
    assert parser.refusal is not None


def test_a_content_length_over_the_limit_is_refused_before_the_body():
    parser = feed(b"POST /queues/q/messages HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n"
                  % (MAX_BODY + 1))
    assert (parser.refusal.status, parser.refusal.code) == (400, "InvalidArgument")


def test_a_chunked_body_over_the_limit_is_refused():
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"a" * 64 * 1024)
    parser = feed(b"POST /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 9)
    assert parser.refusal is not None and parser.refusal.code == "InvalidArgument"
    assert not parser.requests


def test_a_chunked_body_is_joined_and_its_trailers_ignored():
    parser = feed(b"POST /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n" + GET)
    first, second = parser.requests
    assert first.body == b"abcde" and "x-trailer" not in first.headers
    assert second.method == "GET"


def test_content_length_with_transfer_encoding_is_refused_as_smuggling():
    parser = feed(b"POST /q HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert parser.refusal is not None and parser.refusal.status == 400
    assert not parser.requests


def test_two_different_content_lengths_are_refused():
    parser = feed(b"POST /q HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
    assert parser.refusal is not None and not parser.requests


def test_http_10_and_connection_close_make_the_last_request():
    assert feed(b"GET / HTTP/1.0\r\n\r\n").requests[0].last
    assert feed(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").requests[0].last
    # HTTP/1.0 keep-alive is not offered: the server closes after answering
    assert feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").requests[0].last


def test_bytes_after_the_last_request_are_refused_and_it_is_still_read():
    parser = feed(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" + GET)
    assert len(parser.requests) == 1 and parser.requests[0].last


def test_http_11_without_host_and_other_versions_are_refused():
    assert feed(b"GET / HTTP/1.1\r\n\r\n").refusal.code == "InvalidRequest"
    refusal = feed(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n").refusal
    assert refusal is not None and "HTTP/2.0" in refusal.message


def test_an_upgrade_request_is_read_as_http_11_and_so_is_what_follows():
    upgrade = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    for chunks in ((upgrade + GET,), (upgrade, GET)):  # the next request with it, or after it
        parser = feed(*chunks)
        assert [r.method for r in parser.requests] == ["GET", "GET"]
        assert parser.refusal is None and not parser.eof


def test_connect_is_read_then_nothing_after_it():
    parser = feed(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + GET)
    (request,) = parser.requests
    assert request.method == "CONNECT" and request.last and parser.eof


def test_garbage_is_refused_and_nothing_more_is_read():
    parser = feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert (parser.refusal.status, parser.refusal.code) == (400, "InvalidRequest")
    feed(GET, parser=parser)
    assert not parser.requests


def test_requests_before_garbage_are_kept():
    parser = feed(GET + b"NOT HTTP AT ALL\r\n\r\n")
    assert len(parser.requests) == 1 and parser.refusal is not None


def test_bare_lf_line_ends_are_refused():
    assert feed(b"GET / HTTP/1.1\nHost: h\n\n").refusal is not None


def test_the_end_of_the_stream_mid_request_is_refused_and_between_requests_is_not():
    parser = feed(POST[:-2], b"")
    assert parser.eof and parser.refusal is not None and "ends before" in parser.refusal.message
    parser = feed(GET, b"")
    assert parser.eof and parser.refusal is None and len(parser.requests) == 1


def test_a_refused_head_request_is_flagged_so_its_answer_has_no_body():
    parser = feed(b"HEAD /q HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    assert parser.refusal is not None and parser.refusal.head
    parser = feed(b"HEAD / HTTP/2.0\r\nHost: h\r\n\r\n")
    assert parser.refusal is not None and parser.refusal.head


def test_a_non_ascii_url_is_invalid_request_url():
    parser = feed("GET /queues/é HTTP/1.1\r\nHost: h\r\n\r\n".encode("utf-8"))
    assert parser.refusal is not None
    assert parser.refusal.code in ("InvalidRequestURL", "InvalidRequest")


# -- splitting never changes the outcome -------------------------------------------------------

_token = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_value = st.text("abcdefghijklmnopqrstuvwxyz0123456789 :;,/=+", max_size=40)
_path = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10),
                 max_size=4).map(lambda parts: "/" + "/".join(parts))


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD"]))
    target = draw(_path) + draw(st.sampled_from(["", "?waitseconds=3", "?a=1&B=2&&c"]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0"]))
    headers = [("Host", "h")] if version == "1.1" else []
    headers += draw(st.lists(st.tuples(_token.map(lambda t: "x-" + t), _value), max_size=5))
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked", "none"])) if body else "none"
    if framing == "none" and body and method != "HEAD":
        framing = "length"
    if draw(st.booleans()):
        headers.append(("Connection", draw(st.sampled_from(["close", "keep-alive"]))))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
        raw_body = body
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        cut = draw(st.integers(0, len(body)))
        raw_body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:cut], body[cut:])
                            if part) + b"0\r\n\r\n"
    else:
        raw_body = b""
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode() + b"\r\n" + raw_body


def _outcome(parser: RequestParser) -> tuple:
    refusal = parser.refusal
    return seen(parser), None if refusal is None else (refusal.status, refusal.code, refusal.head)


@settings(max_examples=300, deadline=None)
@given(st.lists(_request(), min_size=1, max_size=4), st.binary(max_size=20), st.data())
def test_any_split_of_a_stream_reads_the_same_as_the_whole(requests, tail, data):
    stream = b"".join(requests) + tail
    whole = feed(stream, b"")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)]) if b > a]
    split = feed(*pieces, b"")
    assert _outcome(split) == _outcome(whole)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.data())
def test_any_bytes_are_read_or_refused_the_same_however_split(stream, data):
    whole = feed(stream, b"")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)]) if b > a]
    assert _outcome(feed(*pieces, b"")) == _outcome(whole)
    assert whole.refusal is not None or whole.eof


@settings(max_examples=200, deadline=None)
@given(st.lists(_request(), min_size=1, max_size=4))
def test_well_formed_requests_are_read_up_to_the_last_one(requests):
    """Every request is read, up to one that closes the connection (HTTP/1.0,
    Connection: close); bytes after that are refused, and never answered."""
    parser = feed(b"".join(requests))
    read = list(parser.requests)
    closing = [i for i, r in enumerate(read) if r.last]
    if closing:  # the server answers up to the first of them, then closes
        assert len(read) >= closing[0] + 1
        assert (parser.refusal is not None) == (len(read) < len(requests))
    else:
        assert parser.refusal is None and len(read) == len(requests)
