#!/usr/bin/env python
"""minimns topic benchmarks: publish-to-delivery, side by side with the same work done by hand.

Run from the repository root::

    python benchmarks/bench_topics.py             # full run, about a minute
    python benchmarks/bench_topics.py --quick     # smoke run, well under 20 s
    python benchmarks/bench_topics.py --phases a  # only some phases

(a) fan-out to 1, 10 and 100 queue subscriptions vs the floor: the same
    copies sent by hand with ``Queue.send_message`` to each queue.
(b) delivery to one HTTP subscription on a loopback receiver (another
    process) vs the floor: the same signed POSTs sent by hand with the push
    client, at the same concurrency.
(c) throughput to healthy subscriptions (10 queues + 1 HTTP receiver) with
    and without one more subscription whose endpoint fails every push and
    retries (EXPONENTIAL_DECAY_RETRY, so retries come due during the run):
    once answering HTTP 500, once refusing connections.

Everything runs under trio's real clock; each figure is the median of
several interleaved runs. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import h11  # noqa: E402
import trio  # noqa: E402

import minimns  # noqa: E402
from minimns.push.client import HttpPusher  # noqa: E402

perf = time.perf_counter
BODY = "x" * 256
TARGET_FANOUT_RATIO = 2.0  # minimns / by-hand, queue subscriptions
TARGET_FAILING_DROP = 0.10  # healthy throughput lost to one failing subscription


@dataclass
class Config:
    reps: int
    deliveries: int  # queue copies per run in (a), split over the subscriptions
    http_messages: int  # messages per run in (b) and (c)


FULL = Config(reps=7, deliveries=100_000, http_messages=3_000)
QUICK = Config(reps=3, deliveries=20_000, http_messages=500)

_names = itertools.count()
results: list[tuple[str, float, str, bool]] = []


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def runs(xs: list[float], fmt: str = "{:.2f}") -> str:
    return "[" + ", ".join(fmt.format(x) for x in xs) + "]"


# -- a receiver in another process ------------------------------------------------------------


async def receiver_main(port_file: str, fail: bool) -> None:
    """Answer every POST with 204 (or 500 with ``fail``); GET /stats returns the count."""
    count = 0

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal count
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    is_stats = event.method == b"GET"
                    while not isinstance(part := conn.next_event(), h11.EndOfMessage):
                        if part is h11.NEED_DATA:
                            data = await stream.receive_some(65536)
                            if not data:
                                return
                            conn.receive_data(data)
                    if is_stats:
                        body = json.dumps({"count": count}).encode()
                        status = 200
                    else:
                        count += 1
                        body, status = b"", 500 if fail else 204
                    headers = [("Content-Length", str(len(body)))]
                    await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
                    await stream.send_all(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
                    continue
                return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    Path(port_file).write_text(str(listeners[0].socket.getsockname()[1]))
    await trio.serve_listeners(handle, listeners)


class Receiver:
    def __init__(self, fail: bool = False) -> None:
        port_file = f"/tmp/minimns-bench-receiver-{os.getpid()}-{next(_names)}"
        cmd = [sys.executable, __file__, "--receiver", port_file] + (["--fail"] if fail else [])
        self.proc = subprocess.Popen(cmd)
        deadline = perf() + 10
        while not os.path.exists(port_file) or not Path(port_file).read_text():
            if perf() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        self.port = int(Path(port_file).read_text())
        os.unlink(port_file)
        self.url = f"http://127.0.0.1:{self.port}/notifications"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def refused_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/notifications"


# -- (a) fan-out to queue subscriptions ---------------------------------------------------------


async def fanout_minimns(broker: minimns.Broker, n: int, messages: int) -> tuple[float, list[float]]:
    topic = await broker.create_topic(fresh("t"))
    queues = [await broker.create_queue(fresh("q")) for _ in range(n)]
    for i, q in enumerate(queues):
        await topic.subscribe(f"s{i}", f"acs:mns:cn-hangzhou:1:queues/{q.queue_name}",
                              notify_content_format="SIMPLIFIED")
    lat = []
    t0 = perf()
    for _ in range(messages):
        s = perf()
        await topic.publish_message(BODY)
        lat.append(perf() - s)
    elapsed = perf() - t0
    for q in queues:
        assert (await q.get_attributes()).active_messages == messages
        await q.delete()
    await topic.delete()
    return elapsed, lat


async def fanout_by_hand(broker: minimns.Broker, n: int, messages: int) -> tuple[float, list[float]]:
    queues = [await broker.create_queue(fresh("q")) for _ in range(n)]
    lat = []
    t0 = perf()
    for _ in range(messages):
        s = perf()
        for q in queues:
            await q.send_message(BODY)
        lat.append(perf() - s)
    elapsed = perf() - t0
    for q in queues:
        await q.delete()
    return elapsed, lat


async def phase_a(broker: minimns.Broker, cfg: Config) -> None:
    print("\n(a) fan-out to N queue subscriptions vs the same sends by hand")
    for n in (1, 10, 100):
        messages = max(cfg.deliveries // n, 200)
        await fanout_minimns(broker, n, min(messages, 200))  # warm-up
        ours, hand, ours_lat, hand_lat = [], [], [], []
        for _ in range(cfg.reps):
            gc.collect()
            e, lat = await fanout_minimns(broker, n, messages)
            ours.append(e / (messages * n) * 1e6)
            ours_lat += lat
            gc.collect()
            e, lat = await fanout_by_hand(broker, n, messages)
            hand.append(e / (messages * n) * 1e6)
            hand_lat += lat
        ratio = median(ours) / median(hand)
        print(f"    N={n:<3} minimns {median(ours):6.2f} us/copy ({1e6 / median(ours):9,.0f} copies/s)"
              f"  by hand {median(hand):6.2f} us/copy ({1e6 / median(hand):9,.0f} copies/s)"
              f"  ratio {ratio:.2f}")
        print(f"          publish latency p50 {pct(ours_lat, 50) * 1e6:8.1f} us  p99 "
              f"{pct(ours_lat, 99) * 1e6:8.1f} us | by hand p50 {pct(hand_lat, 50) * 1e6:8.1f} us"
              f"  p99 {pct(hand_lat, 99) * 1e6:8.1f} us")
        print(f"          runs minimns {runs(ours)}  by hand {runs(hand)}")
        results.append((f"(a) fan-out N={n} ratio", ratio, f"<= {TARGET_FANOUT_RATIO}",
                        ratio <= TARGET_FANOUT_RATIO))


# -- (b) one HTTP subscription -------------------------------------------------------------------


async def http_minimns(broker: minimns.Broker, url: str, messages: int) -> tuple[float, list[float]]:
    topic = await broker.create_topic(fresh("t"))
    sub = await topic.subscribe("h", url, notify_content_format="SIMPLIFIED")
    lat: list[float] = []
    t0 = perf()
    for _ in range(messages):
        await topic.publish_message(BODY)
    await broker.wait_pushes_settled()
    elapsed = perf() - t0
    stats = sub.stats()
    assert stats.delivered == messages, stats
    await topic.delete()
    return elapsed, lat


async def http_by_hand(pusher: HttpPusher, url: str, messages: int, concurrency: int) -> float:
    """The same signed POSTs, ``concurrency`` at a time, straight from the push client."""
    headers = [("content-type", "text/plain;charset=utf-8"), ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
               ("x-mns-message-id", "0" * 32)]
    remaining = messages

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await pusher.push(url, headers, BODY.encode())

    t0 = perf()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return perf() - t0


async def http_latency(broker: minimns.Broker, url: str, samples: int) -> list[float]:
    """Publish one message at a time and time until the push is acknowledged."""
    topic = await broker.create_topic(fresh("t"))
    await topic.subscribe("h", url, notify_content_format="SIMPLIFIED")
    lat = []
    for _ in range(samples):
        s = perf()
        await topic.publish_message(BODY)
        await broker.wait_pushes_settled()
        lat.append(perf() - s)
    await topic.delete()
    return lat


async def phase_b(broker: minimns.Broker, cfg: Config) -> None:
    print("\n(b) one HTTP subscription, receiver in another process, vs the same POSTs by hand")
    receiver = Receiver()
    try:
        pusher = HttpPusher()
        concurrency = broker._pushes.concurrency
        await http_minimns(broker, receiver.url, 100)  # warm-up (and the signing key)
        ours, hand = [], []
        m = cfg.http_messages
        for _ in range(cfg.reps):
            gc.collect()
            e, _ = await http_minimns(broker, receiver.url, m)
            ours.append(m / e)
            gc.collect()
            hand.append(m / await http_by_hand(pusher, receiver.url, m, concurrency))
        await pusher.aclose()
        lat = await http_latency(broker, receiver.url, min(m, 500))
        ratio = median(ours) / median(hand)
        print(f"    minimns {median(ours):8,.0f} pushes/s  by hand {median(hand):8,.0f} pushes/s"
              f"  ratio {ratio:.2f}")
        print(f"    publish-to-acknowledged latency, one at a time: p50 {pct(lat, 50) * 1e3:.2f} ms"
              f"  p99 {pct(lat, 99) * 1e3:.2f} ms")
        print(f"    runs minimns {runs(ours, '{:,.0f}')}  by hand {runs(hand, '{:,.0f}')}")
        results.append(("(b) HTTP pushes/s vs by hand", ratio, "report", True))
    finally:
        receiver.close()


# -- (c) a failing subscription beside healthy ones ---------------------------------------------


async def healthy_run(broker: minimns.Broker, url: str, failing: str | None, messages: int) -> float:
    """Healthy deliveries per second (10 queue copies + 1 HTTP push per message)."""
    topic = await broker.create_topic(fresh("t"))
    queues = [await broker.create_queue(fresh("q")) for _ in range(10)]
    for i, q in enumerate(queues):
        await topic.subscribe(f"q{i}", f"acs:mns:cn-hangzhou:1:queues/{q.queue_name}",
                              notify_content_format="SIMPLIFIED")
    healthy = await topic.subscribe("h", url, notify_content_format="SIMPLIFIED")
    if failing:
        await topic.subscribe("f", failing, notify_strategy="EXPONENTIAL_DECAY_RETRY")
    t0 = perf()
    for _ in range(messages):
        await topic.publish_message(BODY)
    while healthy.stats().delivered < messages:
        await trio.sleep(0.001)
    elapsed = perf() - t0
    for q in queues:
        await q.delete()
    await topic.delete()
    return messages * 11 / elapsed


async def phase_c(broker: minimns.Broker, cfg: Config) -> None:
    print("\n(c) healthy throughput (10 queues + 1 HTTP) with one subscription failing every push")
    receiver, failer = Receiver(), Receiver(fail=True)
    try:
        m = cfg.http_messages
        await healthy_run(broker, receiver.url, None, 100)
        variants = {"alone": None, "beside HTTP 500": failer.url, "beside refused": refused_url()}
        got: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(cfg.reps):
            for name, failing in variants.items():
                gc.collect()
                got[name].append(await healthy_run(broker, receiver.url, failing, m))
        for name, xs in got.items():
            # Each run is compared with the "alone" run of the same round, so slow
            # drift of the machine cancels; the drop is the median of those ratios.
            drop = 1 - median([x / alone for x, alone in zip(xs, got["alone"])])
            print(f"    {name:<16} {median(xs):9,.0f} healthy deliveries/s  drop {drop:6.1%}  "
                  f"runs {runs(xs, '{:,.0f}')}")
            if name != "alone":
                results.append((f"(c) drop {name}", drop, f"< {TARGET_FAILING_DROP:.0%}",
                                drop < TARGET_FAILING_DROP))
    finally:
        receiver.close()
        failer.close()


PHASES = {"a": phase_a, "b": phase_b, "c": phase_c}


async def main(cfg: Config, phases: str) -> None:
    async with minimns.open_broker() as broker:
        for p in phases:
            t0, c0 = perf(), time.process_time()
            await PHASES[p](broker, cfg)
            print(f"    [phase: {perf() - t0:.1f} s wall, {time.process_time() - c0:.1f} s cpu]")


def cli() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--phases", default="abc")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--receiver", help=argparse.SUPPRESS)
    ap.add_argument("--fail", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        trio.run(receiver_main, args.receiver, args.fail)
        return 0
    cfg = QUICK if args.quick else FULL
    if args.reps:
        cfg.reps = args.reps
    print("minimns topic benchmark" + (" (--quick)" if args.quick else ""))
    print(f"python {platform.python_version()}, trio {trio.__version__}, {os.cpu_count()} CPUs, "
          f"real trio clock; medians of {cfg.reps} runs; {len(BODY)}-char bodies")
    trio.run(main, cfg, args.phases)
    print("\nsummary")
    for label, value, target, ok in results:
        print(f"    {label:<32} {value:8.3f}   target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
