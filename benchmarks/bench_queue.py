#!/usr/bin/env python
"""minimns queue benchmarks, side by side with a bare trio memory channel.

Run from the repository root::

    python benchmarks/bench_queue.py            # full run, about 1-2 minutes
    python benchmarks/bench_queue.py --quick    # smoke run, well under 20 s
    python benchmarks/bench_queue.py --profile a   # cProfile of phase (a)'s minimns side
    python benchmarks/bench_queue.py --phases cd   # only some phases

Every figure is measured against ``trio.open_memory_channel(math.inf)``
carrying the same 256-character str bodies, in the same process and the same
``trio.run``, under trio's real clock. Each figure is the median over several
runs; broker and channel runs are interleaved so drift hits both alike.
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import math
import os
import platform
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import trio  # noqa: E402
from trio.testing import wait_all_tasks_blocked  # noqa: E402

import minimns  # noqa: E402

perf = time.perf_counter
BODY = "x" * 256  # one shared body string: its 256 bytes are never counted as overhead
BATCH = 16

# Targets (ratios are minimns / channel).
TARGET_A_RATIO = 2.0
TARGET_B_RATIO = 4.0
TARGET_C_P99_US = 1000.0
TARGET_D_RATIO = 1.5
TARGET_D_BYTES = 400.0


@dataclass
class Config:
    reps: int
    single: int  # messages per run in (a)
    batches: int  # batches of 16 per run in (b)
    wakes: int  # wake-ups per run in (c)
    small: int  # backlog sizes in (d)
    big: int
    drain: int  # receive+delete timed per run in (d)
    mem: int  # messages filled under tracemalloc in (d)
    mem_reps: int


FULL = Config(reps=5, single=20_000, batches=2_000, wakes=2_000,
              small=1_000, big=1_000_000, drain=2_000, mem=200_000, mem_reps=3)
QUICK = Config(reps=3, single=3_000, batches=300, wakes=300,
               small=1_000, big=100_000, drain=1_000, mem=50_000, mem_reps=1)

_names = itertools.count()
results: list[tuple[str, float, str, bool]] = []  # summary rows: label, value, target, ok


def fresh_name() -> str:
    return f"bench-{next(_names)}"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt_runs(xs: list[float], unit_scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    return "[" + " ".join(fmt.format(x * unit_scale) for x in xs) + "]"


def settle_gc() -> None:
    gc.collect()


# ------------------------------------------------------------------------------------------
# (a) one message at a time
# ------------------------------------------------------------------------------------------


async def chan_single(n: int) -> float:
    send, recv = trio.open_memory_channel(math.inf)
    t0 = perf()
    for _ in range(n):
        await send.send(BODY)
        await recv.receive()
    return (perf() - t0) / n


async def broker_single(broker: minimns.Broker, n: int) -> float:
    q = await broker.create_queue(fresh_name())
    t0 = perf()
    for _ in range(n):
        await q.send_message(BODY)
        m = await q.receive_message(wait_seconds=0)
        await q.delete_message(m.receipt_handle)
    dt = (perf() - t0) / n
    await q.delete()
    return dt


# ------------------------------------------------------------------------------------------
# (b) batches of 16
# ------------------------------------------------------------------------------------------


async def chan_batch_per_msg(batches: int) -> float:
    send, recv = trio.open_memory_channel(math.inf)
    t0 = perf()
    for _ in range(batches):
        for _ in range(BATCH):
            await send.send(BODY)
        for _ in range(BATCH):
            await recv.receive()
    return (perf() - t0) / (batches * BATCH)


async def chan_batch_list(batches: int) -> float:
    send, recv = trio.open_memory_channel(math.inf)
    t0 = perf()
    for _ in range(batches):
        await send.send([BODY] * BATCH)
        await recv.receive()
    return (perf() - t0) / (batches * BATCH)


async def broker_batch(broker: minimns.Broker, batches: int) -> float:
    q = await broker.create_queue(fresh_name())
    t0 = perf()
    for _ in range(batches):
        await q.batch_send_message([BODY] * BATCH)
        got = await q.batch_receive_message(BATCH, wait_seconds=0)
        await q.batch_delete_message([m.receipt_handle for m in got])
    dt = (perf() - t0) / (batches * BATCH)
    assert len(got) == BATCH, len(got)
    await q.delete()
    return dt


# ------------------------------------------------------------------------------------------
# (c) long-poll wake latency
# ------------------------------------------------------------------------------------------


async def _wake_loop(
    n: int,
    receive: Callable[[], Awaitable[object]],
    after: Callable[[object], Awaitable[None]],
    send: Callable[[], Awaitable[object]],
) -> list[float]:
    """The receiver parks in ``receive``; once every task is blocked, the sender
    stamps the time and sends. Latency = stamp -> receiver holding the message."""
    lat: list[float] = []
    stamp = [0.0]

    async def receiver() -> None:
        for _ in range(n):
            got = await receive()
            lat.append(perf() - stamp[0])
            await after(got)  # untimed (delete, for the broker)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        for _ in range(n):
            await wait_all_tasks_blocked()  # receiver is parked (and the broker idle)
            stamp[0] = perf()
            await send()
    return lat


async def chan_wake(n: int) -> list[float]:
    s, r = trio.open_memory_channel(math.inf)

    async def nothing(_: object) -> None:
        pass

    return await _wake_loop(n, r.receive, nothing, lambda: s.send(BODY))


async def broker_wake(broker: minimns.Broker, n: int) -> list[float]:
    q = await broker.create_queue(fresh_name())

    async def delete(m: object) -> None:
        await q.delete_message(m.receipt_handle)  # type: ignore[attr-defined]

    lat = await _wake_loop(
        n, lambda: q.receive_message(wait_seconds=30), delete, lambda: q.send_message(BODY)
    )
    await q.delete()
    return lat


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


# ------------------------------------------------------------------------------------------
# (d) backlog: cost with n queued, and memory per queued message
# ------------------------------------------------------------------------------------------


async def broker_fill(q: minimns.Queue, n: int) -> None:
    full, rest = divmod(n, BATCH)
    batch = [BODY] * BATCH
    for _ in range(full):
        await q.batch_send_message(batch)
    if rest:
        await q.batch_send_message(batch[:rest])


async def broker_backlog(q: minimns.Queue, k: int) -> float:
    """Mean receive+delete time with the backlog held constant: each message
    taken is replaced by one sent (untimed) to the back."""
    total = 0.0
    for _ in range(k):
        t0 = perf()
        m = await q.receive_message(wait_seconds=0)
        await q.delete_message(m.receipt_handle)
        total += perf() - t0
        await q.send_message(BODY)
    return total / k


def chan_fill(n: int):  # type: ignore[no-untyped-def]
    s, r = trio.open_memory_channel(math.inf)
    for _ in range(n):
        s.send_nowait(BODY)
    return s, r


async def chan_backlog(s, r, k: int) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for _ in range(k):
        t0 = perf()
        await r.receive()
        total += perf() - t0
        await s.send(BODY)
    return total / k


async def broker_memory(broker: minimns.Broker, n: int) -> float:
    q = await broker.create_queue(fresh_name())
    await broker_fill(q, BATCH)  # first-use allocations out of the way
    await q.delete()
    q = await broker.create_queue(fresh_name())
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        await broker_fill(q, n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    await q.delete()
    return (after - before) / n


def chan_memory(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        s, r = trio.open_memory_channel(math.inf)
        for _ in range(n):
            s.send_nowait(BODY)  # what is stored is the same as after send()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del s, r
    return (after - before) / n


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------


def line(name: str, us: float, runs: list[float]) -> None:
    rate = 1e6 / us if us > 0 else float("inf")
    print(f"    {name:<38} {us:8.3f} µs/msg {rate:>12,.0f} msgs/s   runs {fmt_runs(runs, 1e6)}")


async def phase_a(broker: minimns.Broker, cfg: Config) -> None:
    n = cfg.single
    print(f"\n(a) send + receive + delete, one message at a time   [{n:,} msgs x {cfg.reps} runs]")
    await chan_single(n // 10)  # warm-up
    await broker_single(broker, n // 10)
    ch, br = [], []
    for _ in range(cfg.reps):
        settle_gc()
        ch.append(await chan_single(n))
        settle_gc()
        br.append(await broker_single(broker, n))
    c, b = median(ch), median(br)
    ratio = b / c
    ok = ratio <= TARGET_A_RATIO
    line("channel  send + receive", c * 1e6, ch)
    line("minimns  send + receive + delete", b * 1e6, br)
    print(f"    ratio minimns/channel {ratio:6.2f}x   target <= {TARGET_A_RATIO}   {verdict(ok)}")
    results.append(("(a) single cycle, ratio", ratio, f"<= {TARGET_A_RATIO}", ok))


async def phase_b(broker: minimns.Broker, cfg: Config) -> None:
    n = cfg.batches
    print(
        f"\n(b) batches of {BATCH}: batch_send + batch_receive + batch_delete, per message"
        f"   [{n:,} batches x {cfg.reps} runs]"
    )
    await chan_batch_per_msg(n // 10)
    await chan_batch_list(n // 10)
    await broker_batch(broker, n // 10)
    ch, cl, br = [], [], []
    for _ in range(cfg.reps):
        settle_gc()
        ch.append(await chan_batch_per_msg(n))
        settle_gc()
        cl.append(await chan_batch_list(n))
        settle_gc()
        br.append(await broker_batch(broker, n))
    c, l_, b = median(ch), median(cl), median(br)
    ratio = b / c
    ok = ratio <= TARGET_B_RATIO
    line(f"channel  {BATCH} sends, {BATCH} receives", c * 1e6, ch)
    line(f"channel  one list of {BATCH} per item", l_ * 1e6, cl)
    line("minimns  batch of 16", b * 1e6, br)
    print(
        f"    ratio minimns/channel-per-message {ratio:6.2f}x   target <= {TARGET_B_RATIO}   "
        f"{verdict(ok)}"
    )
    print(f"    (for information) ratio minimns/channel-of-lists {b / l_:6.2f}x")
    results.append(("(b) batch-16 per msg, ratio", ratio, f"<= {TARGET_B_RATIO}", ok))


async def phase_c(broker: minimns.Broker, cfg: Config) -> None:
    n = cfg.wakes
    print(f"\n(c) long-poll wake latency, parked receiver <- send   [{n:,} wakes x {cfg.reps} runs]")
    await chan_wake(n // 10)
    await broker_wake(broker, n // 10)
    stats: dict[str, dict[str, list[float]]] = {
        k: {"p50": [], "p99": [], "max": []} for k in ("channel", "minimns")
    }
    for _ in range(cfg.reps):
        for name, run in (("channel", lambda: chan_wake(n)), ("minimns", lambda: broker_wake(broker, n))):
            settle_gc()
            lat = await run()
            stats[name]["p50"].append(pct(lat, 50))
            stats[name]["p99"].append(pct(lat, 99))
            stats[name]["max"].append(max(lat))
    med = {k: {s: median(v) for s, v in d.items()} for k, d in stats.items()}
    for name, label in (("channel", "channel  receive() <- send()"),
                        ("minimns", "minimns  receive_message(30) <- send")):
        m = med[name]
        print(
            f"    {label:<38} p50 {m['p50'] * 1e6:8.1f} µs   p99 {m['p99'] * 1e6:8.1f} µs   "
            f"max {m['max'] * 1e6:8.1f} µs   p99 runs {fmt_runs(stats[name]['p99'], 1e6, '{:.0f}')}"
        )
    r50 = med["minimns"]["p50"] / med["channel"]["p50"]
    r99 = med["minimns"]["p99"] / med["channel"]["p99"]
    p99_us = med["minimns"]["p99"] * 1e6
    ok = p99_us < TARGET_C_P99_US
    print(
        f"    ratio minimns/channel p50 {r50:5.2f}x  p99 {r99:5.2f}x   "
        f"minimns p99 {p99_us:.1f} µs  target < {TARGET_C_P99_US:.0f} µs   {verdict(ok)}"
    )
    results.append(("(c) wake latency p99, µs", p99_us, f"< {TARGET_C_P99_US:.0f}", ok))


async def phase_d(broker: minimns.Broker, cfg: Config) -> None:
    k = cfg.drain
    print(
        f"\n(d) receive + delete with {cfg.small:,} vs {cfg.big:,} queued"
        f"   [{k:,} timed per run x {cfg.reps} runs; backlog held constant]"
    )
    t0 = perf()
    small_q = await broker.create_queue(fresh_name())
    big_q = await broker.create_queue(fresh_name())
    await broker_fill(small_q, cfg.small)
    await broker_fill(big_q, cfg.big)
    cs, cr = chan_fill(cfg.small)
    bs, brr = chan_fill(cfg.big)
    fill_s = perf() - t0
    print(f"    (filled in {fill_s:.1f} s: {cfg.big / fill_s if fill_s else 0:,.0f} msgs/s incl. channels)")
    await broker_backlog(small_q, k // 10)
    await broker_backlog(big_q, k // 10)
    await chan_backlog(cs, cr, k // 10)
    await chan_backlog(bs, brr, k // 10)
    series: dict[str, list[float]] = {"ms": [], "mb": [], "cs": [], "cb": []}
    for _ in range(cfg.reps):
        settle_gc()
        series["ms"].append(await broker_backlog(small_q, k))
        settle_gc()
        series["mb"].append(await broker_backlog(big_q, k))
        settle_gc()
        series["cs"].append(await chan_backlog(cs, cr, k))
        settle_gc()
        series["cb"].append(await chan_backlog(bs, brr, k))
    med = {key: median(v) for key, v in series.items()}
    line(f"channel  receive, {cfg.small:,} queued", med["cs"] * 1e6, series["cs"])
    line(f"channel  receive, {cfg.big:,} queued", med["cb"] * 1e6, series["cb"])
    line(f"minimns  recv+delete, {cfg.small:,} queued", med["ms"] * 1e6, series["ms"])
    line(f"minimns  recv+delete, {cfg.big:,} queued", med["mb"] * 1e6, series["mb"])
    growth = med["mb"] / med["ms"]
    ok = growth <= TARGET_D_RATIO
    print(
        f"    big/small: channel {med['cb'] / med['cs']:5.2f}x   minimns {growth:5.2f}x   "
        f"target <= {TARGET_D_RATIO}   {verdict(ok)}"
    )
    print(
        f"    ratio minimns/channel: small {med['ms'] / med['cs']:5.2f}x   "
        f"big {med['mb'] / med['cb']:5.2f}x"
    )
    results.append(("(d) big/small receive cost", growth, f"<= {TARGET_D_RATIO}", ok))
    await small_q.delete()
    await big_q.delete()
    del cs, cr, bs, brr
    settle_gc()

    m = cfg.mem
    print(f"\n(d) memory per queued message beyond its body   [{m:,} msgs x {cfg.mem_reps} runs, tracemalloc]")
    cm, bm = [], []
    for _ in range(cfg.mem_reps):
        cm.append(chan_memory(m))
        settle_gc()
        bm.append(await broker_memory(broker, m))
        settle_gc()
    c, b = median(cm), median(bm)
    ok = b < TARGET_D_BYTES
    print(f"    {'channel':<38} {c:8.1f} B/msg   runs {fmt_runs(cm, 1.0, '{:.1f}')}")
    print(f"    {'minimns':<38} {b:8.1f} B/msg   runs {fmt_runs(bm, 1.0, '{:.1f}')}")
    print(
        f"    ratio minimns/channel {b / c:6.1f}x   minimns {b:.0f} B/msg  "
        f"target < {TARGET_D_BYTES:.0f} B   {verdict(ok)}"
    )
    results.append(("(d) memory per message, B", b, f"< {TARGET_D_BYTES:.0f}", ok))


PHASES = {"a": phase_a, "b": phase_b, "c": phase_c, "d": phase_d}


def usage() -> tuple[float, float, int]:
    """(wall s, cpu s, involuntary context switches) so far, for this process."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return perf(), ru.ru_utime + ru.ru_stime, ru.ru_nivcsw


def report_usage(start: tuple[float, float, int]) -> None:
    """Wall vs CPU time of a phase: a process that was kept off the CPU (other
    load on the machine) shows inflated, noisier timings, and long tail latencies."""
    wall0, cpu0, ivcsw0 = start
    wall, cpu, ivcsw = usage()
    share = (cpu - cpu0) / (wall - wall0) if wall > wall0 else 1.0
    print(
        f"    [phase: {wall - wall0:.1f} s wall, {cpu - cpu0:.1f} s cpu ({share:.0%} on cpu), "
        f"{ivcsw - ivcsw0} involuntary context switches]"
    )
    if share < 0.9:
        print("    WARNING: this process was off the CPU for a good part of the phase "
              "(other load on the machine?): timings are inflated and tails longer")


async def main(cfg: Config, phases: str) -> None:
    async with minimns.open_broker() as broker:
        for p in phases:
            start = usage()
            await PHASES[p](broker, cfg)
            report_usage(start)
            settle_gc()


# ------------------------------------------------------------------------------------------
# profiling: the minimns side of one phase under cProfile
# ------------------------------------------------------------------------------------------


async def broker_single_split(broker: minimns.Broker, n: int) -> tuple[float, float, float]:
    """(send, receive, delete) mean wall time per call, unprofiled, as in (a)."""
    q = await broker.create_queue(fresh_name())
    ts = tr = td = 0.0
    for _ in range(n):
        t0 = perf()
        await q.send_message(BODY)
        t1 = perf()
        m = await q.receive_message(wait_seconds=0)
        t2 = perf()
        await q.delete_message(m.receipt_handle)
        t3 = perf()
        ts, tr, td = ts + t1 - t0, tr + t2 - t1, td + t3 - t2
    await q.delete()
    return ts / n, tr / n, td / n


def core_cycle(n: int) -> float:
    """send + receive + delete straight on a QueueState: the state machine alone."""
    from minimns.core.attributes import QueueAttributes
    from minimns.core.queue import QueueState

    now = 1_700_000_000_000
    best = math.inf
    for _ in range(3):
        state = QueueState("core", QueueAttributes(), now, 0x1234ABCD)
        t0 = perf()
        for _ in range(n):
            state.send(now, BODY)
            state.delete(now, state.receive(now, 1)[0].receipt_handle)
        best = min(best, (perf() - t0) / n)
    return best


async def checkpoint_cost(n: int) -> float:
    best = math.inf
    for _ in range(3):
        t0 = perf()
        for _ in range(n):
            await trio.lowlevel.cancel_shielded_checkpoint()
        best = min(best, (perf() - t0) / n)
    return best


async def profile_target(phase: str, cfg: Config) -> None:
    async with minimns.open_broker() as broker:
        if phase == "a":
            await broker_single_split(broker, cfg.single // 10)  # warm-up
            ch = median([await chan_single(cfg.single) for _ in range(3)])
            splits = [await broker_single_split(broker, cfg.single) for _ in range(3)]
            s, r, d = (median([x[i] for x in splits]) for i in range(3))
            print(
                f"wall time per call, unprofiled (median of 3 x {cfg.single:,}): "
                f"send_message {s * 1e6:.1f} µs, receive_message {r * 1e6:.1f} µs, "
                f"delete_message {d * 1e6:.1f} µs; channel send+receive {ch * 1e6:.1f} µs"
            )
            core, tick = core_cycle(cfg.single), await checkpoint_cost(cfg.single)
            print(
                f"the same cycle on the bare QueueState (no trio, no broker): {core * 1e6:.1f} µs; "
                f"one trio checkpoint (cancel_shielded_checkpoint): {tick * 1e6:.1f} µs"
            )
            rest = s + r + d - core - 3 * tick
            print(
                f"=> of {(s + r + d) * 1e6:.1f} µs per cycle: core {core * 1e6:.1f}, "
                f"3 checkpoints {3 * tick * 1e6:.1f}, broker layer and the rest {rest * 1e6:.1f}"
            )
            work = lambda: broker_single(broker, cfg.single)  # noqa: E731
        elif phase == "b":
            work = lambda: broker_batch(broker, cfg.batches)  # noqa: E731
        elif phase == "c":
            work = lambda: broker_wake(broker, cfg.wakes)  # noqa: E731
        else:
            q = await broker.create_queue(fresh_name())
            await broker_fill(q, cfg.big)
            work = lambda: broker_backlog(q, cfg.drain * 5)  # noqa: E731
        gc.collect()
        prof = cProfile.Profile()
        prof.enable()
        await work()
        prof.disable()
        dump_profile(prof)


def dump_profile(prof: cProfile.Profile, top: int = 25) -> None:
    """Top functions by own and by cumulative time, then minimns's own functions
    alone. The trio run loop appears too: it is what a checkpoint costs."""
    views = (
        ("tottime", "all functions, by own time", ()),
        ("cumulative", "all functions, by cumulative time", ()),
        ("tottime", "minimns functions only, by own time", ("minimns/",)),
    )
    for key, title, restrict in views:
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).sort_stats(key)
        stats.print_stats(*restrict, top)
        text = out.getvalue()
        text = text[text.find("   ncalls"):].rstrip()
        text = text.replace(str(ROOT) + os.sep, "").replace(os.path.dirname(trio.__file__), "trio")
        for prefix in {sys.prefix, sys.base_prefix}:
            text = text.replace(prefix + os.sep, "")
        print(f"\n--- top {top}: {title} ---")
        print(text)


def run_profile(phase: str, cfg: Config) -> None:
    print(f"cProfile of phase ({phase}), the minimns workload only (no channel reference)")
    trio.run(profile_target, phase, cfg)


def header(cfg: Config, quick: bool) -> None:
    print("minimns queue benchmark" + (" (--quick: smaller sizes, fewer runs)" if quick else ""))
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"trio {trio.__version__}, minimns {minimns.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, real trio clock"
    )
    print(f"body: {len(BODY)}-char str (one shared object); figures are medians of {cfg.reps} runs")


def summary() -> bool:
    print("\nsummary")
    all_ok = True
    for label, value, target, ok in results:
        all_ok &= ok
        print(f"    {label:<32} {value:10.2f}   target {target:<8} {verdict(ok)}")
    return all_ok


def cli() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run (smaller sizes, 3 runs)")
    ap.add_argument("--phases", default="abcd", help="which phases to run, e.g. 'ac' (default abcd)")
    ap.add_argument("--reps", type=int, help="runs per figure (default 5, --quick 3)")
    ap.add_argument("--profile", choices=sorted(PHASES), help="cProfile one phase's minimns side")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    args = ap.parse_args()
    if not args.phases or set(args.phases) - set(PHASES):
        ap.error(f"--phases takes letters from {''.join(PHASES)}")
    cfg = QUICK if args.quick else FULL
    if args.reps:
        cfg.reps = args.reps
    if args.profile:
        run_profile(args.profile, cfg)
        return 0
    header(cfg, args.quick)
    t0 = perf()
    trio.run(main, cfg, args.phases)
    all_ok = summary()
    print(f"\ntotal {perf() - t0:.1f} s")
    return 1 if (args.strict and not all_ok) else 0


if __name__ == "__main__":
    sys.exit(cli())
