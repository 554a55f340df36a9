#!/usr/bin/env python
"""The SMS API over HTTP: SendSms through the official SDK, and server capacity without it,
side by side with Redis on loopback.

Run from the repository root::

    python benchmarks/bench_sms_api.py           # full run, about a minute
    python benchmarks/bench_sms_api.py --quick   # smoke run

``minimns serve`` runs in its own process with access keys set (every request's
ACS3-HMAC-SHA256 signature is verified), receipts on (SmsReport subscribed),
carrier latency 0 (each accepted SMS is delivered and its JSON receipt queued
within the request), frequency limits lifted (so requests can repeat numbers).

(a) SendSms one at a time through ``alibabacloud-dysmsapi20170525`` vs redis-py
    LPUSH of the same request as JSON to a local ``redis-server``: the same
    one-request-one-round-trip loop, so the ratio is the cost of the SDK and
    the SMS engine over a bare network round trip.
(b) server capacity without the SDK: 64 keep-alive connections from an asyncio
    client in another process, each keeping one pre-signed SendSms request in
    flight, vs the same client sending LPUSH to Redis.

Medians of interleaved runs; needs redis (``pip install -e '.[bench]'``) and a
``redis-server`` binary, else the reference is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
perf = time.perf_counter
AK, SK = "bench-ak", "bench-sk"
SIGN, TEMPLATE = "阿里云", "SMS_100001"
CONFIG = f"""
[sms]
account_type = "enterprise"
subscribe = ["SmsReport"]
[sms.limits]
verification_per_minute = "unlimited"
verification_per_hour = "unlimited"
verification_per_day = "unlimited"
template_per_day = "unlimited"
number_per_day = "unlimited"
[sms.carrier]
latency_ms = 0
[[sms.signatures]]
name = "{SIGN}"
[[sms.templates]]
code = "{TEMPLATE}"
name = "login"
content = "您的验证码为${{code}}，请勿泄露"
type = "verification"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_minimns(config_path: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "minimns", "serve", "--port", str(port), "--config", config_path,
         "--access-key-id", AK, "--access-key-secret", SK],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wait_port(port)
    return proc, port


def start_redis() -> tuple[subprocess.Popen, int] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def request_params(i: int) -> dict[str, str]:
    return {"PhoneNumbers": str(13_000_000_000 + i % 100_000), "SignName": SIGN,
            "TemplateCode": TEMPLATE, "TemplateParam": json.dumps({"code": str(i % 10_000)})}


# ---------------------------------------------------------------- (a) through the SDK


def sdk_run(port: int, n: int, start: int) -> float:
    from alibabacloud_dysmsapi20170525 import models
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_openapi.models import Config

    client = Client(Config(endpoint=f"127.0.0.1:{port}", protocol="http", access_key_id=AK,
                           access_key_secret=SK))
    requests = [models.SendSmsRequest(
        phone_numbers=p["PhoneNumbers"], sign_name=SIGN, template_code=TEMPLATE,
        template_param=p["TemplateParam"]) for p in map(request_params, range(start, start + n))]
    t0 = perf()
    for request in requests:
        body = client.send_sms(request).body
        if body.code != "OK":
            raise RuntimeError(f"SendSms: {body.code} {body.message}")
    return n / (perf() - t0)


def redis_run(port: int, n: int, start: int) -> float:
    import redis

    r = redis.Redis(port=port)
    payloads = [json.dumps(request_params(i)) for i in range(start, start + n)]
    t0 = perf()
    for payload in payloads:
        r.lpush("sms", payload)
    rate = n / (perf() - t0)
    r.delete("sms")
    return rate


# ---------------------------------------------------------------- (b) capacity, no SDK


def signed_request(port: int, params: dict[str, str]) -> bytes:
    """A SendSms request signed ACS3-HMAC-SHA256, as the SDK builds it (fixed nonce: the
    server does not refuse a repeated nonce)."""
    host = f"127.0.0.1:{port}"
    empty = hashlib.sha256(b"").hexdigest()
    headers = {
        "host": host, "x-acs-version": "2017-05-25", "x-acs-action": "SendSms",
        "x-acs-date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": hashlib.md5(str(params).encode()).hexdigest(),
        "accept": "application/json", "x-acs-content-sha256": empty,
    }
    names = sorted(headers)
    query = "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(params.items()))
    canonical = (f"POST\n/\n{query}\n" + "".join(f"{k}:{headers[k]}\n" for k in names)
                 + f"\n{';'.join(names)}\n{empty}")
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(SK.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"ACS3-HMAC-SHA256 Credential={AK},SignedHeaders="
                                f"{';'.join(names)},Signature={signature}")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST /?{urlencode(params)} HTTP/1.1\r\n{head}content-length: 0\r\n\r\n".encode()


def resp_command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Conn(asyncio.Protocol):
    def __init__(self, requests: list[bytes], stats: dict, http: bool) -> None:
        self.requests, self.stats, self.http = requests, stats, http
        self.buf = bytearray()
        self.i = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fire()

    def fire(self) -> None:
        self.transport.write(self.requests[self.i % len(self.requests)])  # type: ignore[attr-defined]
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.http:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).lower()
                k = head.find(b"content-length:")
                total = end + 4 + (int(head[k + 15:].split(b"\r\n", 1)[0]) if k >= 0 else 0)
                if len(self.buf) < total:
                    return
                ok = head.startswith(b"http/1.1 200") and b'"Code": "OK"' in self.buf[end:total]
            else:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                total, ok = end + 2, self.buf[:1] == b":"
            del self.buf[:total]
            self.stats["done" if ok else "errors"] += 1
            self.fire()


async def _capacity(port: int, requests: list[list[bytes]], http: bool, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    stats = {"done": 0, "errors": 0}
    transports = []
    for mine in requests:
        transport, _ = await loop.create_connection(lambda m=mine: _Conn(m, stats, http),
                                                    "127.0.0.1", port)
        transports.append(transport)
    await asyncio.sleep(0.5)  # warm up
    d0, t0 = stats["done"], perf()
    await asyncio.sleep(seconds)
    rate = (stats["done"] - d0) / (perf() - t0)
    for transport in transports:
        transport.close()
    if stats["errors"]:
        raise RuntimeError(f"{stats['errors']} failed requests")
    return rate


def capacity_client(arg: str) -> None:
    spec = json.loads(arg)
    port, http, conns, seconds = spec["port"], spec["http"], spec["conns"], spec["seconds"]
    if http:
        requests = [[signed_request(port, request_params(c * 50 + i)) for i in range(50)]
                    for c in range(conns)]
    else:
        requests = [[resp_command("LPUSH", "sms", json.dumps(request_params(c * 50 + i)))
                     for i in range(50)] for c in range(conns)]
    print(asyncio.run(_capacity(port, requests, http, seconds)))


def capacity(port: int, http: bool, conns: int, seconds: float) -> float:
    spec = json.dumps({"port": port, "http": http, "conns": conns, "seconds": seconds})
    out = subprocess.run([sys.executable, __file__, "--_client", spec], capture_output=True,
                         text=True, timeout=seconds + 60, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip())


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--_client")
    args = parser.parse_args()
    if args._client:
        capacity_client(args._client)
        return
    for name in ("HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)  # the SDK ignores NO_PROXY
    n, reps, seconds = (500, 3, 2.0) if args.quick else (2000, 5, 5.0)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False, encoding="utf-8") as f:
        f.write(CONFIG)
    server, port = start_minimns(f.name)
    redis_server = start_redis()
    try:
        sdk, ref = [], []
        for rep in range(reps):
            sdk.append(sdk_run(port, n, rep * n))
            if redis_server:
                ref.append(redis_run(redis_server[1], n, rep * n))
        sdk_rate = statistics.median(sdk)
        print(f"(a) SendSms via the official SDK: {sdk_rate:8,.0f} requests/s "
              f"({1e6 / sdk_rate:.0f} us each; runs {', '.join(f'{x:,.0f}' for x in sdk)})")
        if ref:
            ref_rate = statistics.median(ref)
            print(f"    redis-py LPUSH, same loop:    {ref_rate:8,.0f} requests/s  "
                  f"ratio {ref_rate / sdk_rate:.1f}x")
        cap, cap_ref = [], []
        for _ in range(reps):
            cap.append(capacity(port, True, 64, seconds))
            if redis_server:
                cap_ref.append(capacity(redis_server[1], False, 64, seconds))
        cap_rate = statistics.median(cap)
        print(f"(b) server capacity, 64 connections, signed raw SendSms: {cap_rate:8,.0f} requests/s "
              f"(runs {', '.join(f'{x:,.0f}' for x in cap)})")
        if cap_ref:
            ref_rate = statistics.median(cap_ref)
            print(f"    Redis LPUSH, same client:                             {ref_rate:8,.0f} "
                  f"requests/s  ratio {ref_rate / cap_rate:.1f}x")
    finally:
        server.terminate()
        server.wait(10)
        if redis_server:
            redis_server[0].terminate()
        os.unlink(f.name)


if __name__ == "__main__":
    main()
