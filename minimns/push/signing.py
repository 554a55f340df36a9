"""The push signature: what MNS puts in ``Authorization`` when it POSTs to an HTTP endpoint.

MNS signs each push with an RSA key (SHA1withRSA, PKCS#1 v1.5) and names the
certificate holding the public key in ``x-mns-signing-cert-url`` (base64 of
its URL); receivers fetch the certificate and verify. minimns makes its own
self-signed key and certificate and serves the PEM itself, so receivers
written against the official samples verify minimns pushes offline
(docs/protocol.md 6.5).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import threading
from typing import Iterable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

__all__ = ["PushSigner", "string_to_sign", "verify_notification"]

COMMON_NAME = "minimns push signing"
VALID_DAYS = 3650

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class PushSigner:
    """An RSA 2048 key and a self-signed certificate for it, made on first use.

    ``PushSigner()`` uses one key per process (``PushSigner.default()``):
    a 2048-bit key costs ~100 ms to generate and a test suite opens hundreds
    of brokers. Pass ``private_key`` for a key of your own.
    """

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self._private_key = private_key
        self._certificate_pem: bytes | None = None

    @classmethod
    def default(cls) -> PushSigner:
        """The process-wide signer; every ``PushSigner()`` shares its key and certificate."""
        global _default_signer
        with _shared_lock:
            if _default_signer is None:
                _default_signer = cls()
            return _default_signer

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        self._materialize()
        assert self._private_key is not None
        return self._private_key

    @property
    def certificate_pem(self) -> bytes:
        """The self-signed X.509 certificate (PEM) receivers verify pushes with."""
        self._materialize()
        assert self._certificate_pem is not None
        return self._certificate_pem

    def sign(self, string_to_sign: str) -> str:
        """base64 of the PKCS#1 v1.5 signature over SHA-1 of the UTF-8 string."""
        signature = self.private_key.sign(
            string_to_sign.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1()
        )
        return base64.b64encode(signature).decode("ascii")

    def _materialize(self) -> None:
        if self._certificate_pem is not None:
            return
        if self._private_key is None:
            self._private_key, self._certificate_pem = _shared_material()
        else:
            self._certificate_pem = _self_signed_pem(self._private_key)


_default_signer: PushSigner | None = None
_shared_key: tuple[rsa.RSAPrivateKey, bytes] | None = None
_shared_lock = threading.Lock()  # a server thread and the test thread may both ask first


def _shared_material() -> tuple[rsa.RSAPrivateKey, bytes]:
    """The process's one key and certificate, made on first use."""
    global _shared_key
    with _shared_lock:
        if _shared_key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _shared_key = (key, _self_signed_pem(key))
        return _shared_key


def _self_signed_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # a receiver's clock may lag
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _header_items(headers: Headers) -> list[tuple[str, str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(name.lower(), value) for name, value in items]


def string_to_sign(method: str, headers: Headers, path: str) -> str:
    """The text MNS signs for a push (docs/protocol.md 6.5).

    ``headers`` names are matched case-insensitively; ``x-mns-*`` lines are
    ``name:value`` with the name lower-cased and the value as sent, sorted as
    whole strings (as the Python, Java and Go samples sort them). ``path`` is
    the request-target as on the request line, query included.

    With no ``x-mns-*`` header at all the block is empty and the text ends
    in ``date + "\\n\\n" + path``, as the official Python sample builds it
    (``"%s\\n%s\\n%s\\n%s" % (method, md5_type_date, service_str, path)``);
    the Java and Go samples would drop one newline there. A push always
    carries ``x-mns-signing-cert-url``, so real pushes never hit the case.
    """
    items = _header_items(headers)
    lookup: dict[str, str] = {}
    for name, value in items:
        lookup.setdefault(name, value)
    mns_lines = sorted(f"{name}:{value}" for name, value in items if name.startswith("x-mns-"))
    return "\n".join(
        [
            method,
            lookup.get("content-md5", ""),
            lookup.get("content-type", ""),
            lookup.get("date", ""),
            "\n".join(mns_lines),
            path,
        ]
    )


def verify_notification(method: str, headers: Headers, path: str, certificate_pem: bytes) -> bool:
    """True when ``Authorization`` is a valid SHA1withRSA signature of this push.

    For checking pushes offline (tests, receivers): the certificate is given,
    not fetched from ``x-mns-signing-cert-url``.
    """
    items = _header_items(headers)
    authorization = next((value for name, value in items if name == "authorization"), None)
    if not authorization:
        return False
    try:
        signature = base64.b64decode(authorization, validate=True)
    except (binascii.Error, ValueError):
        return False
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    text = string_to_sign(method, items, path).encode("utf-8")
    try:
        public_key.verify(signature, text, padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature:
        return False
    return True
