"""RPC signature checks on requests built here (the SDK's own requests are in test_sms_api.py):
tampering with any signed part, stale timestamps, missing signed headers, the v2 signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

import pytest

from minimns.server.rpc.signature import AcsError, verify_acs

SECRET = "s3cret"
NOW = datetime(2026, 11, 22, 18, 0, 0, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)
PARAMS = {"PhoneNumbers": "13800000000", "SignName": "阿里云 测试", "TemplateParam": '{"a": "b~*"}'}


def secret_for(key):
    return SECRET if key == "ak" else None


def pct(text):
    return quote(text, safe="~")


def acs3(params=PARAMS, body=b"", date=NOW, secret=SECRET, drop=()):
    headers = {
        "host": "127.0.0.1:9876", "x-acs-action": "SendSms", "x-acs-version": "2017-05-25",
        "x-acs-date": date.strftime("%Y-%m-%dT%H:%M:%SZ"), "x-acs-signature-nonce": "n" * 32,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(), "accept": "application/json",
    }
    names = sorted(n for n in headers if n not in drop)
    query = "&".join(f"{k}={pct(v)}" for k, v in sorted(params.items()))
    canonical = (f"POST\n/\n{query}\n" + "".join(f"{n}:{headers[n]}\n" for n in names)
                 + f"\n{';'.join(names)}\n{headers['x-acs-content-sha256']}")
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"ACS3-HMAC-SHA256 Credential=ak,SignedHeaders={';'.join(names)},"
                                f"Signature={signature}")
    return f"/?{urlencode(params)}", headers


def check(target, headers, body=b""):
    return verify_acs("POST", target, headers, body, secret_for, NOW_MS)


def test_a_good_acs3_signature_passes():
    assert check(*acs3()) == "ak"


def test_tampering_fails():
    target, headers = acs3()
    with pytest.raises(AcsError) as caught:
        check(target.replace("13800000000", "13900000000"), headers)
    assert (caught.value.status, caught.value.code) == (400, "SignatureDoesNotMatch")
    with pytest.raises(AcsError):
        check(target, {**headers, "accept": "text/xml"})
    with pytest.raises(AcsError) as caught:
        check(target, headers, body=b"x")
    assert caught.value.code == "ContentSHA256NotMatched"
    with pytest.raises(AcsError) as caught:
        check(*acs3(secret="other"))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_an_unknown_key_is_not_found():
    target, headers = acs3()
    headers["authorization"] = headers["authorization"].replace("Credential=ak", "Credential=zz")
    with pytest.raises(AcsError) as caught:
        check(target, headers)
    assert (caught.value.status, caught.value.code) == (404, "InvalidAccessKeyId.NotFound")


def test_the_required_headers_must_be_signed():
    with pytest.raises(AcsError) as caught:
        check(*acs3(drop=("x-acs-date",)))
    assert caught.value.code == "InvalidAuthorization"


def test_a_stale_timestamp_is_refused():
    from datetime import timedelta

    assert check(*acs3(date=NOW - timedelta(minutes=14))) == "ak"
    with pytest.raises(AcsError) as caught:
        check(*acs3(date=NOW - timedelta(minutes=16)))
    assert caught.value.code == "InvalidTimeStamp.Expired"


def v2(params=PARAMS, body_params=None, secret=SECRET, timestamp="2026-11-22T18:00:00Z"):
    query = {**params, "Action": "SendSms", "Format": "json", "Version": "2017-05-25",
             "Timestamp": timestamp, "SignatureNonce": "x", "SignatureMethod": "HMAC-SHA1",
             "SignatureVersion": "1.0", "AccessKeyId": "ak"}
    signed = {**query, **(body_params or {})}
    canonical = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(signed.items()))
    digest = hmac.new((secret + "&").encode(), f"POST&%2F&{pct(canonical)}".encode(), hashlib.sha1)
    query["Signature"] = base64.b64encode(digest.digest()).decode()
    body = urlencode(body_params).encode() if body_params else b""
    headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
    return f"/?{urlencode(query)}", headers, body


def test_the_v2_signature_covers_query_and_form_body():
    assert check(*v2(body_params={"PhoneNumberJson": '["1"]'})) == "ak"
    target, headers, body = v2(body_params={"PhoneNumberJson": '["1"]'})
    with pytest.raises(AcsError) as caught:
        check(target, headers, body.replace(b"1", b"2"))
    assert caught.value.code == "SignatureDoesNotMatch"
    with pytest.raises(AcsError) as caught:
        check(*v2(timestamp="2026-11-22T17:00:00Z"))
    assert caught.value.code == "InvalidTimeStamp.Expired"


def test_no_signature_at_all():
    with pytest.raises(AcsError) as caught:
        check("/?Action=SendSms", {})
    assert caught.value.code == "MissingSignature"


def test_a_non_ascii_signature_is_a_mismatch_not_a_crash():
    target, headers = acs3()
    headers["authorization"] = headers["authorization"].rsplit("=", 1)[0] + "=é"
    with pytest.raises(AcsError) as caught:
        check(target, headers)
    assert caught.value.code == "SignatureDoesNotMatch"
    target, headers, body = v2()
    target = target.rsplit("Signature=", 1)[0] + "Signature=%C3%A9"
    with pytest.raises(AcsError) as caught:
        check(target, headers, body)
    assert caught.value.code == "SignatureDoesNotMatch"
