"""``broker.sms``: the public handle of the broker's SMS service (set it up, send,
read what happened). Every method is one recorded change, applied by
``SmsHub`` (sms_hub.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..core.sms.account import SmsError
from ..core.sms.carrier import FailureRule, HandsetMessage
from ..core.sms.events import EventRule
from ..core.sms.frequency import FrequencyLimits
from ..core.sms.records import SendRecord
from ..core.sms.service import SendOutcome, SmsService
from .changes import SmsChange

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Sms"]


class Sms:
    """The broker's SMS service (``broker.sms``): set it up, send, read what happened.

    Every method that changes something is a recorded change (durable mode
    keeps it) and raises ``SmsError`` (``.code``, ``.message``) with the seeds'
    codes when refused, changing nothing."""

    def __init__(self, broker: "Broker") -> None:
        self._broker = broker

    @property
    def service(self) -> SmsService:
        """The pure state (read it; change it only through these methods)."""
        return self._broker.sms_hub.service

    @property
    def topic_name(self) -> str:
        return self.service.topic_name

    @property
    def subscription_name(self) -> str:
        return self.service.subscription_name

    @property
    def active(self) -> bool:
        """Whether SMS has been activated (its topic exists) in this account."""
        return self.service.topic_name in self._broker.account.topics

    async def _change(self, op: str, **args: Any) -> Any:
        broker = self._broker
        return await broker.perform(SmsChange(broker.now(), op, args))

    async def activate(self) -> str:
        """Activate SMS (its topic and subscription appear); the SMS topic's name."""
        return await self._change("activate")

    async def set_account(self, account_type: str | None = None, status: str | None = None) -> None:
        """``personal`` / ``enterprise``; ``normal`` / ``frozen`` / ``out_of_service`` (业务停机)."""
        if account_type is not None and account_type not in ("personal", "enterprise"):
            raise SmsError("InvalidArgument", "account_type is personal or enterprise")
        if status is not None and status not in ("normal", "frozen", "out_of_service"):
            raise SmsError("InvalidArgument", "status is normal, frozen or out_of_service")
        await self._change("account", account_type=account_type, status=status)

    async def add_signature(self, name: str, sign_type: str | None = None) -> Any:
        return await self._change("signature", name=name, sign_type=sign_type)

    async def delete_signature(self, name: str) -> Any:
        return await self._change("unsign", name=name)

    async def add_template(self, name: str, content: str, kind: str = "notification",
                           code: str | None = None) -> Any:
        """``kind``: verification, notification, promotion or international."""
        return await self._change("template", name=name, content=content, kind=_kind(kind), code=code)

    async def delete_template(self, code: str) -> Any:
        return await self._change("untemplate", code=code)

    def signatures(self) -> list[Any]:
        return self.service.account.signatures()

    def templates(self) -> list[Any]:
        return self.service.account.templates()

    async def configure(
        self,
        *,
        limits: FrequencyLimits | Mapping[str, int | None] | None = None,
        latency_ms: int | None = None,
        failures: Iterable[FailureRule | tuple | list | Mapping] | None = None,
        blacklist: Iterable[str] | None = None,
        forbidden_words: Iterable[str] | None = None,
        review_delay_ms: int | None = None,
        activation_ms: int | None = None,
    ) -> None:
        """Frequency limits, the carrier (latency, failure rules: (pattern, error[,
        message]) with error ``unreachable`` / ``blacklisted`` / ``error`` or a code),
        blacklist, forbidden review words, review delay and event-rule activation."""
        if isinstance(limits, FrequencyLimits):
            limits = dict(limits.__dict__)
        rules = None
        if failures is not None:
            rules = [_failure_args(rule) for rule in failures]
        await self._change(
            "configure",
            limits=None if limits is None else {**FrequencyLimits().__dict__, **limits},
            latency_ms=latency_ms, failures=rules,
            blacklist=None if blacklist is None else list(blacklist),
            forbidden_words=None if forbidden_words is None else list(forbidden_words),
            review_delay_ms=review_delay_ms, activation_ms=activation_ms,
        )

    async def set_threshold(self, kind: str, threshold: int | None) -> None:
        """``day`` / ``month``: None unlimited (不限), 0 closed (关闭发送), or a count."""
        await self._change("threshold", kind=kind, threshold=threshold)

    async def lift_threshold(self, kind: str) -> None:
        """The manual 解除 after a threshold stopped sending."""
        await self._change("lift", kind=kind)

    async def subscribe(self, message_type: str) -> str:
        """Subscribe to ``SmsReport`` or ``SmsUp``; the name of the account's queue."""
        return await self._change("subscribe", message_type=message_type, token=self._broker.token())

    async def create_event_rule(self, name: str, event_type: str, *, topic: str | None = None,
                                endpoints: Iterable[str] = ()) -> EventRule:
        """A rule into one existing topic, or into HTTP / queue endpoints (a queue by
        name or endpoint); live ``activation_ms`` (10 minutes) after creation."""
        return await self._change("rule", name=name, event_type=event_type, topic=topic,
                                  endpoints=list(endpoints), token=self._broker.token())

    async def delete_event_rule(self, name: str) -> None:
        await self._change("unrule", name=name)

    def event_rules(self) -> list[EventRule]:
        return list(self.service.rules.rules.values())

    async def reply(self, number: str, content: str, extend_code: str | None = None) -> None:
        """A handset replies (上行): SmsUp and the ReplyMessage event."""
        await self._change("reply", number=number, content=content, extend_code=extend_code)

    async def send(self, sign_name: str, template_code: str, numbers: Iterable[str],
                   params: str | Mapping[str, str] | None = None, *, out_id: str | None = None,
                   extend_code: str | None = None, atomic: bool = True) -> SendOutcome:
        """Send like the SendSms API: one template and parameters to every number.
        ``atomic`` (default) refuses the whole request at its first failure."""
        if isinstance(params, Mapping):
            params = dict(params)
        receivers = [[number, params] for number in numbers]
        return _sent(await self._change(
            "send", sign_name=sign_name, template_code=template_code, receivers=receivers,
            out_id=out_id, extend_code=extend_code, message_id=self._message_id(), atomic=atomic,
        ))

    async def send_batch(self, template_code: str, numbers: list[str], sign_names: list[str],
                         params: list[str | Mapping[str, str] | None] | None = None,
                         extend_codes: list[str | None] | None = None, *,
                         out_id: str | None = None) -> SendOutcome:
        """Send like SendBatchSms: one template, and per number its own signature,
        parameters and extend code. All or nothing."""
        count = len(numbers)
        params = params if params is not None else [None] * count
        extend_codes = extend_codes if extend_codes is not None else [None] * count
        if not (len(sign_names) == len(params) == len(extend_codes) == count):
            raise SmsError("InvalidArgument", "one signature, parameters and extend code per number",
                           "isv.INVALID_PARAMETERS")
        receivers = [
            [number, dict(p) if isinstance(p, Mapping) else p, sign, extend]
            for number, sign, p, extend in zip(numbers, sign_names, params, extend_codes)
        ]
        return _sent(await self._change(
            "send", sign_name=sign_names[0] if sign_names else "", template_code=template_code,
            receivers=receivers, out_id=out_id, message_id=self._message_id(), atomic=True,
        ))

    async def set_balance(self, balance: int | None) -> None:
        """Billable messages prepaid (isv.AMOUNT_NOT_ENOUGH beyond them); None: unlimited."""
        await self._change("balance", balance=balance)

    def _message_id(self) -> str:
        return self._broker.sms_hub.message_id(self._broker.now())

    def inbox(self, number: str) -> list[HandsetMessage]:
        """What a phone received, oldest first."""
        return self.service.carrier.inbox(number)

    def inboxes(self) -> dict[str, list[HandsetMessage]]:
        return self.service.carrier.inboxes()

    def records(self, number: str) -> list[SendRecord]:
        """Every kept record of ``number`` (30 days), oldest first."""
        return self.service.records.by_number(number)

    def query_send_details(self, number: str, send_date: str, biz_id: str | None = None,
                           page_size: int = 10, current_page: int = 1) -> tuple[int, list[SendRecord]]:
        """(TotalCount, records of the page), as QuerySendDetails."""
        return self.service.records.query(self._broker.now(), number, send_date, biz_id,
                                          page_size, current_page)

    def statistics(self) -> dict[str, dict[str, int]]:
        return self.service.records.statistics()

    async def reset(self) -> None:
        """Back to a new SMS service: no signatures, templates, records or rules."""
        await self._change("reset")


def _sent(outcome: SendOutcome) -> SendOutcome:
    """An atomic send's refusal, raised once the change (with any alert it left) is recorded."""
    if outcome.error is not None:
        raise outcome.error
    return outcome


def _kind(kind: str) -> str:
    value = getattr(kind, "value", kind)
    if value not in ("verification", "notification", "promotion", "international"):
        raise SmsError("InvalidArgument",
                       "kind is verification, notification, promotion or international")
    return value


def _failure_args(rule: Any) -> list:
    if isinstance(rule, FailureRule):
        return [rule.pattern, rule.code, rule.message]
    if isinstance(rule, Mapping):
        return [rule["pattern"], rule.get("error", "unreachable"), rule.get("message")]
    return list(rule)
