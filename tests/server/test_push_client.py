"""The push client and the push signature, against small h11 receivers on loopback.

Every test runs on a MockClock with autojump_threshold=0: loopback sockets
deliver within the sending syscall, so the clock only jumps when a receiver
really hangs (the 5 s timeout then passes in no real time). Receiver-side
bookkeeping is read after ``wait_all_tasks_blocked()``, which wakes before
the clock jumps.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
import tempfile

import pytest
import trio
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from minimns.push import HttpPusher, PushFailed, PushSigner, string_to_sign, verify_notification
from minimns.push.client import MAX_RESPONSE_BODY

from ..push_receivers import (
    CLOSE,
    Abort,
    Raw,
    Reply,
    Seen,
    receiving,
    sample_endpoint_accepts,
    status,
)

CERT_URL = "http://127.0.0.1:9876/_minimns/x509_public_certificate.pem"
BODY = b"<Notification>hello</Notification>"
PUSH_HEADERS = [
    ("content-md5", "5D41402ABC4B2A76B9719D911017C592"),
    ("content-type", "text/xml;charset=utf-8"),
    ("date", "Wed, 29 Mar 2023 08:41:27 GMT"),
    ("x-mns-request-id", "6423F9B7BF94313030AF5EA0"),
    ("x-mns-message-id", "250EB49D5F8D737A391C93C6ED165396"),
    ("x-mns-version", "2015-06-06"),
]


def pusher(**options: object) -> HttpPusher:
    return HttpPusher(cert_url=CERT_URL, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------ the signature


def test_string_to_sign_is_the_documented_layout() -> None:
    headers = {
        "Content-MD5": "ABC",
        "Content-Type": "text/plain;charset=utf-8",
        "Date": "Wed, 29 Mar 2023 08:41:27 GMT",
        "X-MNS-Version": "2015-06-06",
        "x-mns-request-id": "R1",
        "Host": "example.com",
    }
    assert string_to_sign("POST", headers, "/notifications?a=1") == (
        "POST\nABC\ntext/plain;charset=utf-8\nWed, 29 Mar 2023 08:41:27 GMT\n"
        "x-mns-request-id:R1\nx-mns-version:2015-06-06\n/notifications?a=1"
    )
    assert string_to_sign("POST", list(headers.items()), "/notifications?a=1") == string_to_sign(
        "POST", headers, "/notifications?a=1"
    )


def test_string_to_sign_missing_fields_and_no_mns_headers() -> None:
    # An empty x-mns block still leaves its line, as the Python sample's "%s\n%s\n%s\n%s" does.
    assert string_to_sign("POST", {"date": "D"}, "/p") == "POST\n\n\nD\n\n/p"


def test_string_to_sign_sorts_whole_lines() -> None:
    # ":" sorts after "-": "x-mns-a-b:..." comes before "x-mns-a:...", as the samples sort strings
    text = string_to_sign("POST", [("x-mns-a", "1"), ("x-mns-a-b", "2")], "/")
    assert text.endswith("x-mns-a-b:2\nx-mns-a:1\n/")


def test_default_signer_is_shared_and_self_signed() -> None:
    signer = PushSigner.default()
    assert PushSigner.default() is signer
    assert PushSigner().certificate_pem == signer.certificate_pem
    certificate = x509.load_pem_x509_certificate(signer.certificate_pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minimns push signing")])
    assert certificate.subject == name and certificate.issuer == name
    certificate.verify_directly_issued_by(certificate)
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
    lifetime = certificate.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=3649) < lifetime <= datetime.timedelta(days=3650)


def test_own_key_and_verify_notification() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = PushSigner(private_key=key)
    assert signer.certificate_pem != PushSigner.default().certificate_pem
    headers = dict(PUSH_HEADERS)
    headers["Authorization"] = signer.sign(string_to_sign("POST", headers, "/n"))
    assert verify_notification("POST", headers, "/n", signer.certificate_pem)
    assert not verify_notification("POST", headers, "/n", PushSigner.default().certificate_pem)
    assert not verify_notification("POST", headers, "/other", signer.certificate_pem)
    assert not verify_notification(
        "POST", {**headers, "x-mns-version": "x"}, "/n", signer.certificate_pem
    )
    assert not verify_notification(
        "POST", {**headers, "Authorization": "not base64!"}, "/n", signer.certificate_pem
    )
    del headers["Authorization"]
    assert not verify_notification("POST", headers, "/n", signer.certificate_pem)


# ------------------------------------------------------------ the request


async def test_push_sends_a_signed_mns_request() -> None:
    async with receiving(status(201)) as receiver, pusher() as client:
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 201
    [seen] = receiver.requests
    assert (seen.method, seen.target, seen.http_version) == ("POST", "/notifications", "1.1")
    assert seen.body == BODY
    port = receiver.url.rsplit(":", 1)[1]
    cert_url = base64.b64encode(CERT_URL.encode()).decode()
    names = [name for name, _ in seen.raw_headers]
    assert names == [
        "Host",
        *(name for name, _ in PUSH_HEADERS),
        "x-mns-signing-cert-url",
        "Authorization",
        "Content-Length",
        "User-Agent",
        "Accept",
        "Connection",
    ]
    headers = dict(seen.raw_headers)
    assert {name: headers[name] for name, _ in PUSH_HEADERS} == dict(PUSH_HEADERS)
    assert headers["Host"] == f"127.0.0.1:{port}"
    assert headers["x-mns-signing-cert-url"] == cert_url
    assert headers["Content-Length"] == str(len(BODY))
    assert headers["User-Agent"] == "Aliyun Notification Service Agent"
    assert headers["Accept"] == "*/*"
    assert headers["Connection"] == "keep-alive"
    pem = PushSigner.default().certificate_pem
    assert verify_notification(seen.method, seen.raw_headers, seen.target, pem)
    assert sample_endpoint_accepts(seen, {CERT_URL: pem})


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("", "/notifications"),
        ("/", "/"),
        ("/api/test", "/api/test"),
        ("/api/test?token=a+b%2F&x=1", "/api/test?token=a+b%2F&x=1"),
        ("?x=1", "/notifications?x=1"),
    ],
)
async def test_request_target_is_the_endpoint_path(path: str, target: str) -> None:
    async with receiving(status(200)) as receiver, pusher() as client:
        await client.push(receiver.url + path, PUSH_HEADERS, BODY)
    [seen] = receiver.requests
    assert seen.target == target
    pem = PushSigner.default().certificate_pem
    assert verify_notification("POST", seen.raw_headers, target, pem)
    assert sample_endpoint_accepts(seen, {CERT_URL: pem})


async def test_cert_url_is_settable_and_signed() -> None:
    async with receiving(status(204)) as receiver, pusher() as client:
        client.cert_url = "http://127.0.0.1:4321/_minimns/x509_public_certificate.pem"
        await client.push(receiver.url, PUSH_HEADERS, b"")
    [seen] = receiver.requests
    pem = PushSigner.default().certificate_pem
    assert base64.b64decode(seen.headers["x-mns-signing-cert-url"]).decode() == client.cert_url
    assert seen.headers["content-length"] == "0" and seen.body == b""
    assert sample_endpoint_accepts(seen, {client.cert_url: pem})


async def test_caller_may_not_set_the_client_headers() -> None:
    async with pusher() as client:
        for name in ("Authorization", "host", "x-mns-signing-cert-url", "Content-Length"):
            with pytest.raises(ValueError):
                await client.push("http://127.0.0.1:1/", [(name, "x")], b"")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http:///path", "http://127.0.0.1:99999/"])
async def test_unusable_url_fails(url: str) -> None:
    async with pusher() as client:
        with pytest.raises(PushFailed):
            await client.push(url, PUSH_HEADERS, BODY)


# ------------------------------------------------------------ the answer


@pytest.mark.parametrize("code", [200, 201, 204, 299])
async def test_2xx_is_success(code: int) -> None:
    async with (
        receiving(status(code, b"" if code == 204 else b"ok")) as receiver,
        pusher() as client,
    ):
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == code


@pytest.mark.parametrize("code", [500, 302, 404, 400])
async def test_other_statuses_fail(code: int) -> None:
    async with receiving(status(code, b"nope")) as receiver, pusher() as client:
        with pytest.raises(PushFailed) as failed:
            await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert failed.value.reason == f"HTTP {code}"


async def test_hanging_receiver_fails_after_exactly_the_timeout() -> None:
    async def answer(seen: Seen) -> Reply:
        if seen.connection == 0:
            await trio.sleep_forever()
        return Reply(200)

    async with receiving(answer) as receiver, pusher() as client:
        start = trio.current_time()
        with pytest.raises(PushFailed) as failed:
            await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert trio.current_time() - start == pytest.approx(5.0, abs=1e-9)
        assert failed.value.reason == "timed out after 5 s"
        # the timed-out connection is dropped, not kept for the next push
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert receiver.connections == 2


async def test_timeout_is_configurable() -> None:
    async def answer(seen: Seen) -> Reply:
        await trio.sleep(1.0)  # virtual
        return Reply(200)

    async with receiving(answer) as receiver:
        async with pusher(timeout=0.5) as client:
            with pytest.raises(PushFailed, match=r"timed out after 0\.5 s"):
                await client.push(receiver.url, PUSH_HEADERS, BODY)
        async with pusher(timeout=1.5) as client:
            assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200


async def test_close_without_answer_fails_and_is_not_retried() -> None:
    async def answer(seen: Seen) -> None:
        return CLOSE

    async with receiving(answer) as receiver, pusher() as client:
        with pytest.raises(PushFailed) as failed:
            await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert failed.value.reason == "connection closed before a response"
        assert receiver.connections == 1 and len(receiver.requests) == 1


async def test_close_in_the_middle_of_the_response_fails() -> None:
    async def answer(seen: Seen) -> Raw:
        return Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async with receiving(answer) as receiver, pusher() as client:
        with pytest.raises(PushFailed) as failed:
            await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert failed.value.reason == "connection closed in the middle of the response"


async def test_malformed_response_fails() -> None:
    async def answer(seen: Seen) -> Raw:
        return Raw(b"HELLO THERE\r\n\r\n")

    async with receiving(answer) as receiver, pusher() as client:
        with pytest.raises(PushFailed, match="^malformed response"):
            await client.push(receiver.url, PUSH_HEADERS, BODY)


async def test_answer_framed_by_eof_counts() -> None:
    async def answer(seen: Seen) -> Raw:
        return Raw(b"HTTP/1.1 200 OK\r\n\r\nbody until the end")

    async with receiving(answer) as receiver, pusher() as client:
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert receiver.connections == 2


async def test_refused_port_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with pusher() as client:
        with pytest.raises(PushFailed) as failed:
            await client.push(f"http://127.0.0.1:{port}/", PUSH_HEADERS, BODY)
        assert failed.value.reason == "connection refused"


async def test_localhost_needs_no_resolver_thread() -> None:
    # trio resolves names in a thread, during which autojump would leap to the deadline
    async with receiving(status(200)) as receiver, pusher() as client:
        url = receiver.url.replace("127.0.0.1", "localhost")
        start = trio.current_time()
        assert await client.push(url, PUSH_HEADERS, BODY) == 200
        assert trio.current_time() == start
    assert receiver.requests[0].headers["host"] == "localhost:" + url.rsplit(":", 1)[1]


async def test_large_response_body_is_not_read_to_the_end() -> None:
    async with receiving(status(200, b"x" * (MAX_RESPONSE_BODY * 4))) as receiver:
        async with pusher() as client:
            assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
            assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert receiver.connections == 2  # the first connection was dropped, not drained


# ------------------------------------------------------------ keep-alive


async def test_keep_alive_reuses_one_connection() -> None:
    async def answer(seen: Seen) -> Reply:
        return Reply(503 if seen.target == "/fail" else 200, b"ok")

    async with receiving(answer) as receiver, pusher() as client:
        for _ in range(3):
            assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        with pytest.raises(PushFailed):  # a failure status keeps the connection too
            await client.push(receiver.url + "/fail", PUSH_HEADERS, BODY)
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert receiver.connections == 1
        assert [seen.connection for seen in receiver.requests] == [0, 0, 0, 0, 0]


async def test_connection_close_answer_is_not_reused() -> None:
    async def answer(seen: Seen) -> Reply:
        return Reply(200, headers=[("Connection", "close")])

    async with receiving(answer) as receiver, pusher() as client:
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert receiver.connections == 2


async def test_idle_connection_closed_by_receiver_is_replaced() -> None:
    async def answer(seen: Seen) -> Reply:
        return Reply(200, close_after=True)  # keep-alive on the wire, then hang up while idle

    async with receiving(answer) as receiver, pusher() as client:
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        await trio.testing.wait_all_tasks_blocked()
        assert receiver.closed == 1
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert [seen.connection for seen in receiver.requests] == [0, 1]


async def test_idle_connection_with_stray_bytes_is_not_reused() -> None:
    # Some servers say "408 Request Timeout" on an idle connection before closing it;
    # read as the answer to our next push, it would fail it.
    stray = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    async def answer(seen: Seen) -> Reply:
        return Reply(200, then=stray if seen.connection == 0 else b"")

    async with receiving(answer) as receiver, pusher() as client:
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        await trio.testing.wait_all_tasks_blocked()
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert [seen.connection for seen in receiver.requests] == [0, 1]


@pytest.mark.parametrize("hang_up", [CLOSE, Abort()], ids=["fin", "rst"])
async def test_reused_connection_dropped_before_answer_is_retried_once(
    hang_up: Abort | None,
) -> None:
    # The race the idle check cannot see: the receiver closes as our request arrives.
    async def answer(seen: Seen) -> Reply | Abort | None:
        if seen.connection == 0 and len(receiver.requests) == 2:
            return hang_up
        return Reply(200)

    async with receiving(answer) as receiver, pusher() as client:
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        assert await client.push(receiver.url, PUSH_HEADERS, BODY) == 200
        assert [seen.connection for seen in receiver.requests] == [0, 0, 1]
        assert receiver.requests[2].raw_headers == receiver.requests[1].raw_headers


async def test_concurrent_pushes_take_their_own_connections() -> None:
    all_in = trio.Event()

    async def answer(seen: Seen) -> Reply:
        if len(receiver.requests) == 3:
            all_in.set()
        await all_in.wait()  # nobody is answered before all three are in flight
        return Reply(200)

    async def push_three(client: HttpPusher) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(client.push, receiver.url, PUSH_HEADERS, BODY)

    async with receiving(answer) as receiver:
        async with pusher() as client:
            await push_three(client)
            assert receiver.connections == 3
            await push_three(client)  # three idle connections, one each
            assert receiver.connections == 3
        async with pusher(max_idle_per_origin=2) as client:
            await push_three(client)
            await push_three(client)
            assert receiver.connections == 3 + 3 + 1  # two were kept, the third is new


async def test_aclose_closes_idle_connections() -> None:
    async with receiving(status(200)) as receiver:
        client = pusher()
        await client.push(receiver.url, PUSH_HEADERS, BODY)
        await client.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert receiver.closed == 1


# ------------------------------------------------------------ https


def _tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context for 127.0.0.1, client context trusting its CA); EC keys, made fast."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(
        subject: str,
        issuer: str,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        ca: bool,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("minimns test CA", "minimns test CA", ca_key, ca_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build("127.0.0.1", "minimns test CA", leaf_key, ca_key, False)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.NamedTemporaryFile() as chain:
        chain.write(
            leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + leaf.public_bytes(serialization.Encoding.PEM)
        )
        chain.flush()
        server.load_cert_chain(chain.name)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


async def test_https_endpoint() -> None:
    server_ssl, client_ssl = _tls_pair()
    async with receiving(status(201), server_ssl) as receiver:
        async with pusher(ssl_context=client_ssl) as client:
            assert await client.push(receiver.url + "/hook", PUSH_HEADERS, BODY) == 201
            assert await client.push(receiver.url + "/hook", PUSH_HEADERS, BODY) == 201
        assert receiver.connections == 1
        [seen, _] = receiver.requests
        assert seen.target == "/hook" and seen.body == BODY
        assert sample_endpoint_accepts(seen, {CERT_URL: PushSigner.default().certificate_pem})
        async with pusher(ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
            with pytest.raises(PushFailed, match="^TLS handshake failed"):
                await client.push(receiver.url, PUSH_HEADERS, BODY)
