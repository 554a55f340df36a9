"""Temporary keys for the Alicom receipt queues (QueryTokenForMnsQueue).

The seeds (docs/sms.md 002): "用户可以通过阿里云账号拿到一个临时的token用于获取队列中的消息".
A token is a
temporary AccessKeyId / AccessKeySecret / SecurityToken that the MNS side accepts
until its ExpireTime (on the broker clock, so a virtual clock expires it) for one
queue only: reading and deleting that account's SmsReport or SmsUp messages.
Keys live in memory (a restart makes clients fetch new ones, as an expiry does).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["KEYS_MAX", "TOKEN_LIFETIME_MS", "TemporaryKey", "TemporaryKeys"]

TOKEN_LIFETIME_MS = 3_600_000
KEYS_MAX = 10_000  # issued keys kept; the oldest are forgotten first


@dataclass(frozen=True, slots=True)
class TemporaryKey:
    access_key_id: str
    access_key_secret: str
    security_token: str
    queue: str
    created_at: int
    expires_at: int

    def allows(self, method: str, path: str) -> bool:
        """Reading only: the queue's attributes, and its messages received, peeked,
        deleted or hidden longer (GET, DELETE, PUT); never a send (POST)."""
        base = f"/queues/{self.queue}"
        if path == base:
            return method == "GET"
        return path.startswith(base + "/messages") and method in ("GET", "DELETE", "PUT")


class TemporaryKeys:
    def __init__(self, lifetime_ms: int = TOKEN_LIFETIME_MS) -> None:
        self.lifetime_ms = lifetime_ms
        self._keys: OrderedDict[str, TemporaryKey] = OrderedDict()

    def issue(self, queue: str, now: int) -> TemporaryKey:
        key = TemporaryKey(
            access_key_id=f"STS.{secrets.token_hex(12)}",
            access_key_secret=secrets.token_urlsafe(30),
            security_token=f"CAIS{secrets.token_urlsafe(96)}",
            queue=queue,
            created_at=now,
            expires_at=now + self.lifetime_ms,
        )
        self._keys[key.access_key_id] = key
        while len(self._keys) > KEYS_MAX:
            self._keys.popitem(last=False)
        return key

    def get(self, access_key_id: str) -> TemporaryKey | None:
        return self._keys.get(access_key_id)

    def clear(self) -> None:
        self._keys.clear()
