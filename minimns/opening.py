"""``open_broker``: a broker with its edges, the journal store of a data directory and
the HTTP push client, built here so that the broker itself imports neither."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from .broker.broker import Broker, run_broker

__all__ = ["open_broker"]


@asynccontextmanager
async def open_broker(
    *,
    data_dir: str | None = None,
    fsync: str = "always",
    fsync_interval_ms: int = 100,
    compact_bytes: int | None = None,
    pusher: object | None = None,
    **options: object,
) -> AsyncIterator[Broker]:
    """Run a broker for the duration of the block::

        async with minimns.open_broker() as broker:
            queue = await broker.create_queue("jobs")

    Options: ``epoch_ms`` (epoch ms at start; default the wall clock),
    ``max_queues`` (1000), ``max_topics`` (1000), ``max_waiters`` per queue
    (10000), ``seed`` (for reproducible ids and retry jitter), ``account_id``
    (the TopicOwner in notifications), ``region`` (cn-hangzhou: names the SMS
    topic ``sms.topic-<region>``), ``pusher`` (the HTTP push client;
    default ``minimns.push.HttpPusher``, which loads its signing key on first push).

    Durable mode: with ``data_dir`` every change is journaled there before it
    is acknowledged, and the state is recovered from it at start.
    ``fsync``: ``always`` (default; acknowledge after fsync, with group
    commit), ``interval`` (acknowledge at once, write and fsync every
    ``fsync_interval_ms``; a crash may lose that much) or ``never``.
    """
    journal = None
    if data_dir is not None:
        from .journal.store import COMPACT_MIN_BYTES, Store

        journal = Store(data_dir, fsync, fsync_interval_ms,
                        COMPACT_MIN_BYTES if compact_bytes is None else compact_bytes)
    if pusher is None:
        from .push.client import HttpPusher

        pusher = HttpPusher()
    async with run_broker(journal=journal, pusher=pusher, **options) as broker:
        yield broker
