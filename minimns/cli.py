"""The ``minimns`` command: ``minimns serve`` runs the MNS-compatible server."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from functools import partial

import trio
import trio.testing

from .opening import open_broker
from .config import ConfigError, apply_config, load_config, serve_defaults
from .journal.store import DataDirLocked, JournalDamaged, recover_data_dir
from .server.serve import DEFAULT_PORT, ServerOptions, serve

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minimns", description="Alibaba Cloud MNS, locally.")
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="serve the MNS REST API (the official SDK works unchanged)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    s.add_argument("--access-key-id", help="verify request signatures with this key id ...")
    s.add_argument("--access-key-secret", help="... and this secret (both, or neither)")
    s.add_argument("--account-id", default="1234567890", help="the account id queues belong to")
    s.add_argument("--region", default="cn-hangzhou", help="the region name (default cn-hangzhou)")
    s.add_argument(
        "--virtual-clock",
        action="store_true",
        help="run on a clock that moves with real time and can be jumped: "
        "POST /_minimns/clock/advance?seconds=N",
    )
    s.add_argument(
        "--data-dir",
        help="durable mode: journal every change to DIR before acknowledging it, "
        "and recover from it at start (default: memory only)",
    )
    s.add_argument(
        "--fsync",
        choices=("always", "interval", "never"),
        default="always",
        help="with --data-dir: always (acknowledge after fsync; default), interval "
        "(write and fsync every --fsync-interval-ms: a crash may lose that much), never",
    )
    s.add_argument("--fsync-interval-ms", type=int, default=100, help="for --fsync interval (100)")
    s.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file of queues, topics, subscriptions and SMS to create at start",
    )
    s.add_argument(
        "--dev-endpoints",
        action="store_true",
        help="serve the /_minimns endpoints that change state (reset, SMS replies, lifting "
        "thresholds); the read-only ones come with the console",
    )
    s.add_argument("--no-console", action="store_true", help="turn the web console at /console off")
    s.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="a host name the console and /_minimns answer besides IP addresses, localhost "
        "and --host (a docker-compose service name, say); repeatable",
    )
    s.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    r = commands.add_parser(
        "recover",
        help="cut a journal damaged in the middle at its damage (serve refuses to start on "
        "one), keeping a copy of the file, and report how many records were dropped",
    )
    r.add_argument("--data-dir", required=True, help="the data directory to recover")
    return parser


def _recover(data_dir: str) -> int:
    try:
        report = recover_data_dir(data_dir)
    except DataDirLocked as error:
        print(f"minimns: {error}", file=sys.stderr)
        return 1
    if report.damage is None:
        print(f"minimns: {report.journal_path} is intact ({report.kept} records): nothing to do")
        return 0
    damage = report.damage
    print(f"minimns: {report.journal_path} was damaged at byte {damage.offset} of "
          f"{damage.size} ({damage.reason}).\n"
          f"  kept:    the {report.kept} records before the damage\n"
          f"  dropped: {report.dropped} intact records after it\n"
          f"  copy:    the damaged file as it was, {report.copy_path}\n"
          f"`minimns serve --data-dir {data_dir}` starts from what was kept.")
    return 0


async def _serve(args: argparse.Namespace, clock: trio.testing.MockClock | None) -> int:
    options = ServerOptions(
        host=args.host,
        port=args.port,
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        account_id=args.account_id,
        region=args.region,
        dev_endpoints=args.dev_endpoints,
        console=not args.no_console,
        allowed_hosts=tuple(args.allowed_host),
    )
    durable = (
        {"data_dir": args.data_dir, "fsync": args.fsync, "fsync_interval_ms": args.fsync_interval_ms}
        if args.data_dir
        else {}
    )
    async with open_broker(account_id=args.account_id, region=args.region, **durable) as broker, \
            trio.open_nursery() as nursery:
        try:
            config = load_config(args.config) if args.config else None
            await serve_defaults(broker, config)
            if config is not None:
                await apply_config(broker, config)
        except ConfigError as error:
            print(f"minimns: --config {args.config}: {error}", file=sys.stderr)
            nursery.cancel_scope.cancel()
            return 2
        _, endpoint = await nursery.start(partial(serve, broker, options, clock=clock))
        if options.credentials is None:
            print("minimns: no access keys configured: accepting every request signature", flush=True)
        if clock is not None:
            print(f"minimns: virtual clock: POST {endpoint}/_minimns/clock/advance?seconds=N", flush=True)
        if args.data_dir:
            print(f"minimns: durable: {args.data_dir} (fsync {args.fsync})", flush=True)
        if broker.sms.active:
            print(f"minimns: SMS topic {broker.sms.topic_name}", flush=True)
        if options.console:
            print(f"minimns: console at {endpoint}/console", flush=True)
        print(f"minimns: serving MNS at {endpoint}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                print("minimns: stopping", flush=True)
                nursery.cancel_scope.cancel()
                break
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "recover":
        logging.basicConfig(level="WARNING", format="%(name)s %(levelname)s %(message)s")
        return _recover(args.data_dir)
    if (args.access_key_id is None) != (args.access_key_secret is None):
        print("minimns: give --access-key-id and --access-key-secret together", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    clock = trio.testing.MockClock(rate=1.0) if args.virtual_clock else None
    try:
        return trio.run(_serve, args, clock, clock=clock)
    except DataDirLocked as error:
        print(f"minimns: {error}", file=sys.stderr)
        return 1
    except JournalDamaged as error:
        print(f"minimns: refusing to start: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"minimns: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
