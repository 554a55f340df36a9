#!/usr/bin/env python
"""minimns SMS benchmark: accepted SMS per second through the SMS topic, side by side with
plain topic publishes in the same run.

Run from the repository root::

    python benchmarks/bench_sms.py           # full run, about half a minute
    python benchmarks/bench_sms.py --quick   # smoke run

SMS path: ``publish_message`` to ``sms.topic-<region>`` with a DirectSMS attribute
(one receiver, a verification template with one variable), receipts on (SmsReport
subscribed), carrier latency 0: each message runs every check, is recorded, reaches
the carrier, is delivered into its handset inbox and its receipt is queued into
``Alicom-Queue-<account>-SmsReport``. The run ends when the last receipt is queued.
Each send goes to a different number so the frequency limits (left on) never refuse.

Reference: the same number of ``publish_message`` calls to a plain topic with one
queue subscription (a publish and one queued copy: the MNS work an SMS also does).

Everything runs under trio's real clock; figures are medians of interleaved runs.
Target: the SMS path within 3x of a plain publish.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import trio  # noqa: E402

import minimns  # noqa: E402
from minimns.core.topic import TopicMessage  # noqa: E402

perf = time.perf_counter
TARGET_RATIO = 3.0
SIGN = "阿里云"
TEMPLATE = "SMS_100001"


async def sms_run(n: int) -> float:
    """Seconds per accepted SMS, receipts included."""
    async with minimns.open_broker() as broker:
        sms = broker.sms
        await sms.set_account("enterprise")
        await sms.add_signature(SIGN)
        await sms.add_template("code", "您的验证码为${code}，请勿泄露", "verification", code=TEMPLATE)
        await sms.configure(latency_ms=0)
        report = await sms.subscribe("SmsReport")
        topic = broker.get_topic(sms.topic_name)
        # The attribute as JSON text, as the SDK sends it (not a dict encoded in the loop).
        messages = [
            TopicMessage("sms-message", message_attributes={"DirectSMS": json.dumps({
                "FreeSignName": SIGN, "TemplateCode": TEMPLATE, "Type": "singleContent",
                "Receiver": str(13_000_000_000 + i), "SmsParams": json.dumps({"code": str(i % 10_000)}),
            })})
            for i in range(n)
        ]
        gc.collect()
        start = perf()
        for message in messages:
            await topic.publish_message(message)
        while _count(broker, report) < n:  # the carrier settles on the broker's timer
            await trio.sleep(0)
        elapsed = perf() - start
        assert len(sms.service.records) == n
        return elapsed / n


def _count(broker: minimns.Broker, name: str) -> int:
    state = broker.account.queues[name]
    return state.meta(broker.now()).active_messages


async def publish_run(n: int) -> float:
    """Seconds per plain publish to a topic with one queue subscription."""
    async with minimns.open_broker() as broker:
        await broker.create_queue("copies")
        topic = await broker.create_topic("plain")
        await topic.subscribe("q", "acs:mns:cn-hangzhou:1234567890:queues/copies",
                              notify_content_format="SIMPLIFIED")
        body = "sms-message"
        gc.collect()
        start = perf()
        for _ in range(n):
            await topic.publish_message(body)
        elapsed = perf() - start
        assert _count(broker, "copies") == n
        return elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, reps = (5_000, 3) if args.quick else (20_000, 7)
    print(f"python {platform.python_version()}, trio {trio.__version__}, {n} messages x {reps} runs")
    sms_times, plain_times = [], []
    for _ in range(reps):  # interleaved, so drift hits both alike
        plain_times.append(trio.run(publish_run, n))
        sms_times.append(trio.run(sms_run, n))
    sms_us, plain_us = statistics.median(sms_times) * 1e6, statistics.median(plain_times) * 1e6
    ratio = sms_us / plain_us
    print(f"plain publish (1 queue copy): {plain_us:7.1f} us/msg  {1e6 / plain_us:9,.0f} msgs/s")
    print(f"SMS via the SMS topic:        {sms_us:7.1f} us/msg  {1e6 / sms_us:9,.0f} SMS/s "
          "(checks, record, carrier, inbox, receipt)")
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISSED"
    print(f"ratio SMS / plain: {ratio:.2f}x (target <= {TARGET_RATIO}) {verdict}")


if __name__ == "__main__":
    main()
