#!/usr/bin/env python
"""minimns durable mode: what journaling costs, next to memory only, in one run.

Run from the repository root::

    python benchmarks/bench_durable.py            # full run, about 2 minutes
    python benchmarks/bench_durable.py --quick    # smoke run

(a) the disk: fsync latency of a 4 KiB append (median, p99), measured here.
(b) send + receive + delete cycles per second with 1 and 64 concurrent
    in-process clients: memory only vs ``--fsync always`` (group commit) vs
    ``--fsync interval`` (100 ms). Targets at 64 clients: always within 3x of
    memory, interval within 1.5x.
(c) restart time with 1,000,000 journaled messages: replaying the journal,
    and loading a snapshot of the same state.

Real trio clock; medians of several runs; the data directory is on the same
disk as the system's temporary directory (``--dir`` to choose).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import trio  # noqa: E402

import minimns  # noqa: E402

perf = time.perf_counter
BODY = "x" * 256
TARGET_ALWAYS = 3.0
TARGET_INTERVAL = 1.5


@dataclass
class Config:
    reps: int
    seconds: float  # per measured run in (b)
    restart_messages: int


FULL = Config(reps=7, seconds=2.0, restart_messages=1_000_000)
QUICK = Config(reps=3, seconds=0.5, restart_messages=100_000)
results: list[tuple[str, float, str, bool]] = []


def fsync_latency(directory: str, n: int = 200) -> tuple[float, float]:
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = perf()
            os.fsync(fd)
            times.append(perf() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return statistics.median(times), times[int(0.99 * len(times))]


async def cycles(clients: int, seconds: float, **durable: object) -> float:
    """Send + receive + delete cycles per second, ``clients`` tasks at once."""
    done = 0
    async with minimns.open_broker(**durable) as broker:
        queue = await broker.create_queue("bench")

        async def client() -> None:
            nonlocal done
            while not stop:
                await queue.send_message(BODY)
                message = await queue.receive_message(wait_seconds=0)
                await queue.delete_message(message.receipt_handle)
                done += 1

        stop = False
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client)
            await trio.sleep(0.2)  # warm-up
            start_count, t0 = done, perf()
            await trio.sleep(seconds)
            rate = (done - start_count) / (perf() - t0)
            stop = True
        return rate


async def phase_b(cfg: Config, directory: str) -> None:
    print("\n(b) send + receive + delete cycles/s: memory vs journaled")
    for clients in (1, 64):
        got: dict[str, list[float]] = {"memory": [], "always": [], "interval": []}
        for _ in range(cfg.reps):
            for name in got:
                data_dir = os.path.join(directory, f"b-{name}")
                shutil.rmtree(data_dir, ignore_errors=True)
                durable = {} if name == "memory" else {"data_dir": data_dir, "fsync": name}
                got[name].append(await cycles(clients, cfg.seconds, **durable))
                shutil.rmtree(data_dir, ignore_errors=True)
        memory = statistics.median(got["memory"])
        line = f"    {clients:>2} client{'s' if clients > 1 else ' '}"
        for name, xs in got.items():
            rate = statistics.median(xs)
            line += f"  {name} {rate:8,.0f}/s ({memory / rate:4.2f}x)"
        print(line)
        for name, xs in got.items():
            print(f"        {name:<8} runs {[round(x) for x in xs]}")
        if clients == 64:
            for name, target in (("always", TARGET_ALWAYS), ("interval", TARGET_INTERVAL)):
                ratio = memory / statistics.median(got[name])
                results.append((f"(b) 64 clients {name} / memory", ratio, f"<= {target}", ratio <= target))


async def fill(data_dir: str, n: int, compact: bool) -> None:
    async with minimns.open_broker(data_dir=data_dir, fsync="interval",
                                   compact_bytes=1 << 40) as broker:
        queue = await broker.create_queue("big")
        batch = [BODY] * 16
        for _ in range(n // 16):
            await queue.batch_send_message(batch)
        if compact:
            broker.journal.compact()


async def reopen(data_dir: str, n: int) -> float:
    t0 = perf()
    async with minimns.open_broker(data_dir=data_dir, fsync="interval") as broker:
        elapsed = perf() - t0
        assert (await broker.get_queue("big").get_attributes()).active_messages == n
    return elapsed


async def phase_c(cfg: Config, directory: str) -> None:
    n = cfg.restart_messages
    print(f"\n(c) restart with {n:,} journaled messages ({len(BODY)}-char bodies)")
    for compact, label in ((False, "journal replay"), (True, "snapshot load")):
        data_dir = os.path.join(directory, "c")
        shutil.rmtree(data_dir, ignore_errors=True)
        t0 = perf()
        await fill(data_dir, n, compact)
        filled = perf() - t0
        size = sum(f.stat().st_size for f in Path(data_dir).iterdir())
        times = [await reopen(data_dir, n) for _ in range(max(1, cfg.reps // 2))]
        print(f"    {label:<15} restart {statistics.median(times):5.2f} s  (runs "
              f"{[round(t, 2) for t in times]}; {size / 2**20:.0f} MiB on disk; filled in {filled:.1f} s)")
        results.append((f"(c) restart, {label}", statistics.median(times), "report", True))
        shutil.rmtree(data_dir, ignore_errors=True)


async def main(cfg: Config, directory: str, phases: str) -> None:
    median, p99 = fsync_latency(directory)
    print(f"\n(a) the disk: fsync of a 4 KiB append: median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms")
    if "b" in phases:
        await phase_b(cfg, directory)
    if "c" in phases:
        await phase_c(cfg, directory)


def cli() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--phases", default="bc")
    ap.add_argument("--dir", help="where data directories go (default: a temporary one)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    directory = args.dir or tempfile.mkdtemp(prefix="minimns-bench-")
    print("minimns durable benchmark" + (" (--quick)" if args.quick else ""))
    print(f"python {sys.version.split()[0]}, trio {trio.__version__}, {os.cpu_count()} CPUs; "
          f"data in {directory}; medians of {cfg.reps} runs")
    try:
        trio.run(main, cfg, directory, args.phases)
    finally:
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)
    print("\nsummary")
    for label, value, target, ok in results:
        print(f"    {label:<34} {value:8.2f}   target {target:<7} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
