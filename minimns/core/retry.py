"""Push retry strategies exactly as MNS schedules them (docs/protocol.md 6.4).

A failed push is retried after a delay that depends on the subscription's
NotifyStrategy and on how many attempts were made; when the strategy has no
retry left the message is dropped for that subscription.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "BACKOFF_RETRY",
    "EXPONENTIAL_DECAY_RETRY",
    "NOTIFY_STRATEGIES",
    "retry_delay_ms",
    "retry_jitter",
    "retry_limit",
]

BACKOFF_RETRY = "BACKOFF_RETRY"
EXPONENTIAL_DECAY_RETRY = "EXPONENTIAL_DECAY_RETRY"
NOTIFY_STRATEGIES = (BACKOFF_RETRY, EXPONENTIAL_DECAY_RETRY)

BACKOFF_RETRIES = 3  # each after a random 10-20 s
BACKOFF_MIN_MS, BACKOFF_MAX_MS = 10_000, 20_000
EXPONENTIAL_RETRIES = 176  # 1, 2, 4, ... 256 s, then 512 s x 167: 86,015 s, about a day
EXPONENTIAL_CAP_S = 512


def retry_jitter(seed: int, topic: str, subscription: str, message_id: str, attempts: int) -> float:
    """The random part of a BACKOFF_RETRY delay, in [0, 1): drawn from the data
    directory's seed, the subscription, the message and the attempt, so it is the
    same on replay and spread like random."""
    key = f"{seed}:{topic}:{subscription}:{message_id}:{attempts}"
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def retry_limit(strategy: str) -> int:
    """How many retries follow the first attempt."""
    return BACKOFF_RETRIES if strategy == BACKOFF_RETRY else EXPONENTIAL_RETRIES


def retry_delay_ms(strategy: str, attempts: int, jitter: float) -> int | None:
    """Milliseconds until the next attempt after ``attempts`` failed ones, or
    None when the strategy is exhausted. ``jitter`` in [0, 1) picks the random
    BACKOFF_RETRY delay; the caller draws it, which keeps this pure."""
    if attempts > retry_limit(strategy):
        return None
    if strategy == BACKOFF_RETRY:
        return BACKOFF_MIN_MS + int(jitter * (BACKOFF_MAX_MS - BACKOFF_MIN_MS + 1))
    return min(1 << (attempts - 1), EXPONENTIAL_CAP_S) * 1000
