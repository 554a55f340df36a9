"""The simulated carrier (运营商): latency, configured failures, handset inboxes.

An accepted message reaches the carrier and is delivered ``latency_ms`` later
(on the broker clock) into the number's handset inbox, unless a failure rule
matches the number: then the carrier reports that rule's error and the
handset gets nothing. Rules are tried in order; a pattern is a number or a
shell-style pattern (``1380000*``, ``00852*``).

The receipt codes are the SMS service's: ``DELIVERED`` / "用户接收成功" for a
delivery; the named failures map to its receipt error codes
(``MOBILE_NOT_ON_SERVICE``, ``MOBILE_IN_BLACK``, ``SP_UNKNOWN_ERROR``), and a
rule may name any other code and message. The seeds (docs/sms.md) show the receipt fields
but no receipt codes (their example is ``UNKNOW`` / 未知异常), so these are the
service's documented ones, a choice.

Inboxes keep the last ``INBOX_MAX`` messages per number: a test reads what a
phone "received"; a reply injected from a number answers the message it got last.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import astuple, dataclass
from fnmatch import fnmatchcase
from typing import Any

__all__ = [
    "CARRIER_ERRORS",
    "DEFAULT_LATENCY_MS",
    "DELIVERED_CODE",
    "DELIVERED_MESSAGE",
    "INBOX_MAX",
    "Carrier",
    "FailureRule",
    "HandsetMessage",
]

DEFAULT_LATENCY_MS = 1000
INBOX_MAX = 1000
DELIVERED_CODE, DELIVERED_MESSAGE = "DELIVERED", "用户接收成功"
CARRIER_ERRORS = {
    "unreachable": ("MOBILE_NOT_ON_SERVICE", "停机、空号、暂停服务、关机、不在服务区"),
    "blacklisted": ("MOBILE_IN_BLACK", "手机号在运营商黑名单中"),
    "error": ("SP_UNKNOWN_ERROR", "运营商未知错误"),
}


@dataclass(frozen=True)
class FailureRule:
    pattern: str
    code: str
    message: str

    @classmethod
    def make(cls, pattern: str, error: str = "unreachable", message: str | None = None) -> FailureRule:
        """A rule from a named failure (``unreachable``, ``blacklisted``, ``error``)
        or a carrier code of your own with its ``message``."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("a failure rule needs a number or pattern")
        if error in CARRIER_ERRORS:
            code, default = CARRIER_ERRORS[error]
            return cls(pattern, code, message or default)
        return cls(pattern, error, message or error)

    def matches(self, number: str) -> bool:
        return fnmatchcase(number, self.pattern)


@dataclass(frozen=True)
class HandsetMessage:
    """What a phone shows: the full text with its 【signature】, and where it came from."""

    time: int
    text: str
    sign_name: str
    template_code: str
    biz_id: str
    extend_code: str


class Carrier:
    def __init__(self, latency_ms: int = DEFAULT_LATENCY_MS,
                 failures: list[FailureRule] | None = None) -> None:
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        self.latency_ms = latency_ms
        self.failures: list[FailureRule] = list(failures or ())
        self._pending: list[tuple[int, int, str, str]] = []  # (due, seq, biz_id, number)
        self._seq = 0
        self._inboxes: dict[str, deque[HandsetMessage]] = {}

    def configure(self, latency_ms: int | None = None,
                  failures: list[FailureRule] | None = None) -> None:
        """Change latency (for messages accepted from now on) and the failure rules."""
        if latency_ms is not None:
            if latency_ms < 0:
                raise ValueError("latency_ms must not be negative")
            self.latency_ms = latency_ms
        if failures is not None:
            self.failures = list(failures)

    def submit(self, now: int, biz_id: str, number: str) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (now + self.latency_ms, self._seq, biz_id, number))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next_due(self) -> int | None:
        return self._pending[0][0] if self._pending else None

    def due(self, now: int) -> list[tuple[int, str, str]]:
        """(due time, biz_id, number) of every message the carrier concludes by ``now``."""
        out = []
        while self._pending and self._pending[0][0] <= now:
            due, _, biz_id, number = heapq.heappop(self._pending)
            out.append((due, biz_id, number))
        return out

    def verdict(self, number: str) -> FailureRule | None:
        """The first failure rule for ``number``, or None: it is delivered."""
        return next((rule for rule in self.failures if rule.matches(number)), None)

    def deliver(self, number: str, message: HandsetMessage) -> None:
        inbox = self._inboxes.get(number)
        if inbox is None:
            inbox = self._inboxes[number] = deque(maxlen=INBOX_MAX)
        inbox.append(message)

    def inbox(self, number: str) -> list[HandsetMessage]:
        return list(self._inboxes.get(number, ()))

    def inboxes(self) -> dict[str, list[HandsetMessage]]:
        return {number: list(inbox) for number, inbox in self._inboxes.items()}

    def last_received(self, number: str) -> HandsetMessage | None:
        inbox = self._inboxes.get(number)
        return inbox[-1] if inbox else None

    def export(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "failures": [list(astuple(rule)) for rule in self.failures],
            "pending": [list(entry) for entry in self._pending],
            "seq": self._seq,
            "inboxes": {n: [list(astuple(m)) for m in inbox] for n, inbox in self._inboxes.items()},
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Carrier:
        carrier = cls(data["latency_ms"], [FailureRule(*rule) for rule in data["failures"]])
        carrier._pending = [tuple(entry) for entry in data["pending"]]  # type: ignore[misc]
        heapq.heapify(carrier._pending)
        carrier._seq = data["seq"]
        for number, messages in data["inboxes"].items():
            carrier._inboxes[number] = deque(
                (HandsetMessage(*m) for m in messages), maxlen=INBOX_MAX
            )
        return carrier
