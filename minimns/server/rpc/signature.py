"""Alibaba Cloud RPC (POP) request signatures, as the official SDKs compute them.

Two algorithms, chosen by the request itself:

- ACS3-HMAC-SHA256, the default of ``alibabacloud-tea-openapi``: an
  ``Authorization: ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b>,Signature=<hex>``
  header over a canonical request (method, path, the query sorted with values
  RFC 3986-encoded and keys as they are, the signed headers lower-cased with
  stripped values, the signed-header list, and the hex SHA-256 of the body,
  which must equal ``x-acs-content-sha256``); string to sign
  ``"ACS3-HMAC-SHA256\\n" + hex(sha256(canonical))``, HMAC-SHA256 with the secret.
- The older RPC signature (``Config(signature_algorithm="v2")``): ``Signature``,
  ``SignatureMethod=HMAC-SHA1`` and ``AccessKeyId`` in the query; every query and
  form-body parameter but ``Signature``, sorted, percent-encoded, joined with
  ``&``; string to sign ``"POST&%2F&" + pct(canonical)``; base64 HMAC-SHA1 with
  ``secret + "&"``.

Errors are the POP gateway's: status, ``Code`` and ``Message`` (RPC errors are JSON).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote

__all__ = ["AcsError", "verify_acs"]

MAX_SKEW_MS = 15 * 60 * 1000
REQUIRED_SIGNED = ("host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
                   "x-acs-signature-nonce", "x-acs-version")


class AcsError(Exception):
    """A gateway-level refusal: HTTP status, Code and Message of the JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _pct(text: str) -> str:
    return quote(text, safe="~", encoding="utf-8")


def _mismatch() -> AcsError:
    return AcsError(400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation.")


def _unknown_key() -> AcsError:
    return AcsError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")


def verify_acs(method: str, target: str, headers: dict[str, str], body: bytes,
               secret_for: Callable[[str], str | None], now_ms: int,
               query: list[tuple[str, str]] | None = None) -> str:
    """Check the request's signature (either algorithm) and that it was signed within
    15 minutes of ``now_ms`` (wall clock); the access key id it was made with.
    ``headers`` have lower-case names; ``secret_for`` maps a key id to its secret or None;
    ``query`` is the target's query already decoded, if the caller has it."""
    if query is None:
        query = parse_qsl(target.partition("?")[2], keep_blank_values=True)
    authorization = headers.get("authorization", "")
    if authorization.startswith("ACS3-"):
        key_id = _verify_acs3(method, target, headers, body, authorization, secret_for, query)
        _check_time(headers.get("x-acs-date", ""), now_ms)
        return key_id
    if any(key == "Signature" for key, _ in query):
        key_id = _verify_rpc(method, query, headers, body, secret_for)
        _check_time(dict(query).get("Timestamp", ""), now_ms)
        return key_id
    raise AcsError(400, "MissingSignature", "Signature is mandatory for this action.")


def _check_time(stamp: str, now_ms: int) -> None:
    """``2026-11-22T18:16:57Z`` within 15 minutes of now, as the gateway requires."""
    try:
        sent = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise AcsError(400, "InvalidTimeStamp.Format",
                       "Specified time stamp or date value is not well formatted.") from None
    if abs(sent.timestamp() * 1000 - now_ms) > MAX_SKEW_MS:
        raise AcsError(400, "InvalidTimeStamp.Expired",
                       "Specified time stamp or date value is expired.")


def _verify_acs3(method: str, target: str, headers: dict[str, str], body: bytes,
                 authorization: str, secret_for: Callable[[str], str | None],
                 pairs: list[tuple[str, str]]) -> str:
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != "ACS3-HMAC-SHA256":
        raise AcsError(400, "InvalidSignatureMethod",
                       f"The signature method {algorithm} is not supported (use ACS3-HMAC-SHA256).")
    try:
        parts = dict(item.split("=", 1) for item in rest.strip().split(","))
        key_id, signed, signature = parts["Credential"], parts["SignedHeaders"], parts["Signature"]
    except (KeyError, ValueError):
        raise AcsError(400, "InvalidAuthorization", "The Authorization header is malformed.") from None
    names = signed.split(";")
    missing = [name for name in REQUIRED_SIGNED if name not in names]
    if missing or any(name not in headers for name in names):
        raise AcsError(400, "InvalidAuthorization",
                       f"SignedHeaders must cover {', '.join(REQUIRED_SIGNED)} and only headers sent.")
    payload = hashlib.sha256(body).hexdigest()
    if headers["x-acs-content-sha256"] != payload:
        raise AcsError(400, "ContentSHA256NotMatched",
                       "The x-acs-content-sha256 header does not match the body.")
    secret = secret_for(key_id)
    if secret is None:
        raise _unknown_key()
    path = target.partition("?")[0]
    query = "&".join(f"{k}={_pct(v)}" for k, v in sorted(pairs))
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    canonical = f"{method}\n{path or '/'}\n{query}\n{canonical_headers}\n{signed}\n{payload}"
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise _mismatch()
    return key_id


def _verify_rpc(method: str, query: list[tuple[str, str]], headers: dict[str, str],
                body: bytes, secret_for: Callable[[str], str | None]) -> str:
    params = list(query)
    if body and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    values = dict(params)
    signature = values.pop("Signature")
    if values.get("SignatureMethod") != "HMAC-SHA1":
        raise AcsError(400, "InvalidSignatureMethod", "SignatureMethod must be HMAC-SHA1.")
    secret = secret_for(values.get("AccessKeyId", ""))
    if secret is None:
        raise _unknown_key()
    canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(values.items()))
    to_sign = f"{method}&%2F&{_pct(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest),
                               signature.encode("utf-8", "surrogateescape")):
        raise _mismatch()
    return values["AccessKeyId"]
