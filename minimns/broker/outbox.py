"""The outbox: mail and SMS deliveries, recorded as a local broker makes them (it sends
no mail; the SMS engine takes what goes to an SMS endpoint)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..core.endpoint import MAIL

__all__ = ["OUTBOX_MAX", "LocalDelivery", "Outbox"]

OUTBOX_MAX = 10_000  # recorded mail / SMS deliveries kept per kind


@dataclass(frozen=True, slots=True)
class LocalDelivery:
    """A push to a mail or SMS endpoint, as recorded (a local broker sends no mail)."""

    kind: str  # "mail" or "sms"
    topic_name: str
    subscription_name: str
    endpoint: str
    address: str  # the mail address, the phone number, or "anonymous"
    message_id: str
    message_body: str
    message_tag: str | None
    message_attributes: dict[str, str]
    time: int  # epoch ms


@dataclass(slots=True)
class Outbox:
    """Recorded mail and SMS deliveries, newest last. A kind's handler (the SMS
    service handles ``sms``) then carries the delivery out: it returns None on
    success or a failure reason, which is retried like any failed push."""

    mail: deque[LocalDelivery] = field(default_factory=lambda: deque(maxlen=OUTBOX_MAX))
    sms: deque[LocalDelivery] = field(default_factory=lambda: deque(maxlen=OUTBOX_MAX))
    handlers: dict[str, Callable[[LocalDelivery], str | None]] = field(default_factory=dict)

    def deliver(self, delivery: LocalDelivery) -> str | None:
        (self.mail if delivery.kind == MAIL else self.sms).append(delivery)
        handler = self.handlers.get(delivery.kind)
        return None if handler is None else handler(delivery)

    def clear(self) -> None:
        self.mail.clear()
        self.sms.clear()
