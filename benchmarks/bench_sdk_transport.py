"""The official SDK on minimns: in-process ``mock_mns`` versus a ServerThread over loopback HTTP.

Measures send + receive + delete cycles per second through ``aliyun-mns-sdk``
(one thread, one Account), and what it costs to start and stop each.

    python benchmarks/bench_sdk_transport.py [--cycles 3000] [--reps 3]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from mns.queue import Message, QueueMeta  # noqa: E402

from minimns.testing.thread import ServerThread  # noqa: E402
from minimns.testing import MinimnsServer, mock_mns  # noqa: E402


def cycles(account, n: int, name: str) -> float:
    queue = account.get_queue(name)
    queue.create(QueueMeta())
    body = Message("x" * 100)
    for _ in range(50):  # warm up
        queue.delete_message(queue.send_message(body) and queue.receive_message().receipt_handle)
    started = time.perf_counter()
    for _ in range(n):
        queue.send_message(body)
        queue.delete_message(queue.receive_message().receipt_handle)
    return n / (time.perf_counter() - started)


def startup(make, times: int = 50) -> float:
    started = time.perf_counter()
    for _ in range(times):
        with make():
            pass
    return (time.perf_counter() - started) / times * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    results: dict[str, list[float]] = {"mock_mns": [], "mock_mns+sig": [], "http": [], "http+sig": []}
    for rep in range(args.reps):
        with mock_mns() as mock:
            results["mock_mns"].append(cycles(mock.account(), args.cycles, f"m{rep}"))
        with mock_mns(access_key_id="id", access_key_secret="secret") as mock:
            results["mock_mns+sig"].append(cycles(mock.account(), args.cycles, f"s{rep}"))
        with ServerThread() as server:
            from mns.account import Account

            results["http"].append(cycles(Account(server.endpoint, "id", "secret"), args.cycles, f"h{rep}"))
        with MinimnsServer() as server:
            results["http+sig"].append(cycles(server.account(), args.cycles, f"k{rep}"))

    print(f"send+receive+delete cycles/s (SDK, one thread, {args.cycles} cycles, median of {args.reps})")
    for name, values in results.items():
        print(f"  {name:14s} {statistics.median(values):8.0f} cycles/s  ({3 * statistics.median(values):.0f} requests/s)")
    print(f"  speed-up mock vs http: {statistics.median(results['mock_mns']) / statistics.median(results['http']):.2f}x")
    print("start + stop:")
    print(f"  mock_mns()      {startup(mock_mns):6.2f} ms")
    print(f"  ServerThread    {startup(ServerThread):6.2f} ms")
    print(f"  MinimnsServer   {startup(MinimnsServer):6.2f} ms")


if __name__ == "__main__":
    main()
