"""SMS in the broker: the region's SMS topic, SMS changes, effects, the carrier's timer.

The pure ``SmsService`` decides; this module carries its decisions out on the
broker's own queues and topics:

- publishes to the SMS topic ``sms.topic-<region>`` (and to any topic with an
  ``sms:directsms:`` subscription) reach ``SmsHub.deliver`` through the push
  engine's outbox hook, inside the publish's own change, so replaying the
  journal's publish sends the SMS again, identically;
- every other SMS change is one ``["sms", now, op, args]`` record applied by
  ``SmsHub.apply`` (configuration, signatures and templates, event rules,
  replies, the carrier's deliveries coming due);
- a receipt or reply is sent into ``Alicom-Queue-<account>-SmsReport`` /
  ``-SmsUp`` when subscribed (and the queue still exists); an event message is
  published to the topic of each live rule of its type (a rule's topic that
  was deleted gets nothing, as the seeds (docs/sms.md) warn).

``Sms`` is the public handle: ``broker.sms``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable


from ..core.endpoint import parse_endpoint
from ..core.message import NO_PROPERTIES
from ..core.sms.account import AccountStatus, SmsError
from ..core.sms.carrier import FailureRule, HandsetMessage
from ..core.sms.events import EventRule
from ..core.sms.frequency import FrequencyLimits, FrequencyWindows
from ..core.sms.records import SendRecord
from ..core.sms.service import Effect, SendOutcome, SmsService, queue_name
from ..core.subscription import SubscriptionAttributes
from ..core.topic import TopicAttributes, TopicState
from ..errors import MNSError
from .changes import CreateQueue, DeleteTopic, SmsChange
from .outbox import LocalDelivery

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["Sms", "SmsHub"]

log = logging.getLogger("minimns.sms")


class SmsHub:
    """The broker's SMS state and the appliers of its changes."""

    def __init__(self, broker: "Broker", region: str) -> None:
        self.broker = broker
        self.service = SmsService(region)
        self._requests = 0
        self.replaying = False  # set while the journal is replayed: nothing is logged again
        self._ops: dict[str, Callable[..., Any]] = {
            "reset": self._reset,
            "activate": self._activate,
            "account": self._account,
            "signature": self._add_signature,
            "unsign": self._delete_signature,
            "template": self._add_template,
            "untemplate": self._delete_template,
            "configure": self._configure,
            "threshold": self._set_threshold,
            "lift": self._lift,
            "balance": self._set_balance,
            "subscribe": self._subscribe,
            "rule": self._create_rule,
            "unrule": self._delete_rule,
            "reply": self._reply,
            "send": self._send,
            "advance": self._advance,
        }

    # -- the change path ---------------------------------------------------------------------

    def apply(self, now: int, op: str, args: dict[str, Any]) -> Any:
        """One SMS change; an SmsError or MNSError changes nothing. Any change
        but a reset activates the service (once it succeeded)."""
        result = self._ops[op](now, **args)
        if op != "reset":
            self.init(now)  # after the op: a refused op must leave nothing behind
        self.schedule()
        return result

    def schedule(self) -> None:
        self.broker.schedule(self, self.service.next_due())

    def on_due(self) -> None:
        self.broker.commit(SmsChange(self.broker.now(), "advance", {}))

    def deliver(self, delivery: LocalDelivery) -> str | None:
        """An ``sms:directsms:`` push: the message goes to the SMS service. Whatever
        the rules decide, the push itself succeeded (failures become events)."""
        now = delivery.time
        outcome = self.service.send_direct(
            now, delivery.message_attributes.get("DirectSMS"), delivery.address,
            delivery.message_id,
        )
        if not self.replaying:  # a learner with no event rule sees why nothing was sent
            for number, error in outcome.failures:
                log.warning("SMS of message %s to %s not sent: %s: %s", delivery.message_id,
                            number or "any number", error.code, error.message)
        self._effects(now, outcome.effects)
        self._settle_due(now)
        self.schedule()
        return None

    def _settle_due(self, now: int) -> None:
        """What is due already (a carrier without latency) is settled in the same
        change, not on a timer turn later: replay does the same."""
        due = self.service.next_due()
        if due is not None and due <= now:
            self._effects(now, self.service.advance(now))

    def _effects(self, now: int, effects: Iterable[Effect]) -> None:
        broker = self.broker
        for effect in effects:
            if effect.kind == "event":
                for rule in self.service.rules.matching(now, effect.event_type or ""):
                    topic = broker.account.topics.get(rule.topic)
                    if topic is not None:
                        self._publish(now, topic, effect.body)
                continue
            name = queue_name(broker.account_id, "SmsReport" if effect.kind == "report" else "SmsUp")
            state = broker.account.queues.get(name)
            if state is not None:
                try:
                    state.send(now, effect.body, None, None, NO_PROPERTIES)
                except MNSError as error:
                    log.warning("SMS %s not queued into %s: %s", effect.kind, name, error)
                    continue
                broker.settle(state)

    def _publish(self, now: int, topic: TopicState, body: str) -> None:
        try:
            _, deliveries = topic.publish(now, body, None, {}, NO_PROPERTIES)
        except MNSError as error:
            log.warning("SMS event not published to %s: %s", topic.name, error)
            return
        self.broker.fan_out(deliveries, now)

    def message_id(self, now: int) -> str:
        """An id for a request sent without a topic message (the events' messageID),
        shaped like an MNS message id."""
        self._requests += 1
        prefix = self.broker.push_seed & 0xFFFFFFFFFFFFFFFF
        return f"{prefix:016X}-1-{now:X}-{self._requests:08X}"

    # -- appliers ------------------------------------------------------------------------------

    def init(self, now: int) -> None:
        """Activate SMS (开通): make the region's SMS topic and its subscription.

        The seeds: "针对使用短信功能的用户，每个地区会免费赠送一个主题和对应的订阅", so
        the topic appears with the first use of SMS (any SMS change, or
        ``broker.sms.activate()``), not in every account. Its token is fixed by
        the region, so a replay makes the same; ``Broker.token`` never hands
        out a live token again."""
        service, account = self.service, self.broker.account
        if service.topic_name in account.topics:
            return
        token = int.from_bytes(hashlib.blake2b(service.topic_name.encode(), digest_size=8).digest(),
                               "big") >> 1
        topic = TopicState(service.topic_name, TopicAttributes(), now, token)
        account.topics[topic.name] = topic
        topic.subscribe(now, service.subscription_name,
                        SubscriptionAttributes.make("sms:directsms:anonymous", None, None, None))

    def _activate(self, now: int) -> str:
        return self.service.topic_name

    def _reset(self, now: int) -> None:
        """A new SMS service, not activated (the SMS topic, if any, stays)."""
        self.broker.unschedule(self)
        self.service = SmsService(self.service.region)

    def _account(self, now: int, account_type: str | None = None,
                 status: str | None = None) -> None:
        account = self.service.account
        if account_type is not None:
            account.set_account_type(account_type)
        if status is not None:
            account.status = AccountStatus(status)

    def _add_signature(self, now: int, name: str, sign_type: str | None = None) -> Any:
        extra = {} if sign_type is None else {"sign_type": sign_type}
        return self.service.account.add_signature(now, name, **extra)

    def _delete_signature(self, now: int, name: str) -> Any:
        return self.service.account.delete_signature(name)

    def _add_template(self, now: int, name: str, content: str, kind: str,
                      code: str | None = None) -> Any:
        return self.service.account.add_template(now, name, content, kind, code=code)

    def _delete_template(self, now: int, code: str) -> Any:
        return self.service.account.delete_template(code)

    def _configure(self, now: int, limits: dict | None = None, latency_ms: int | None = None,
                   failures: list | None = None, blacklist: list | None = None,
                   forbidden_words: list | None = None, review_delay_ms: int | None = None,
                   activation_ms: int | None = None) -> None:
        service = self.service
        made_limits = FrequencyLimits(**limits) if limits is not None else None
        rules = [FailureRule.make(*rule) for rule in failures] if failures is not None else None
        for value in (latency_ms, review_delay_ms, activation_ms):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise SmsError("InvalidArgument", "times must be whole non-negative milliseconds")
        # validated: now change
        if made_limits is not None:
            windows = FrequencyWindows.restore({**service.windows.export(),
                                                "limits": made_limits.__dict__})
            service.windows = windows
        service.carrier.configure(latency_ms, rules)
        if blacklist is not None:
            service.blacklist = tuple(blacklist)
        if forbidden_words is not None:
            service.account.forbidden_words = tuple(forbidden_words)
        if review_delay_ms is not None:
            service.account.review_delay_ms = review_delay_ms
        if activation_ms is not None:
            service.rules.activation_ms = activation_ms

    def _set_threshold(self, now: int, kind: str, threshold: int | None) -> None:
        try:
            self.service.thresholds.set_threshold(kind, threshold)
        except ValueError as error:
            raise SmsError("InvalidArgument", str(error)) from None

    def _lift(self, now: int, kind: str) -> None:
        try:
            self.service.thresholds.lift(kind)
        except ValueError as error:
            raise SmsError("InvalidArgument", str(error)) from None

    def _set_balance(self, now: int, balance: int | None) -> None:
        if balance is not None and (not isinstance(balance, int) or balance < 0):
            raise SmsError("InvalidArgument", "the balance is a count of messages, or None")
        self.service.balance = balance

    def _subscribe(self, now: int, message_type: str, token: int) -> str:
        """Subscribe to SmsReport / SmsUp: the account's queue is made (if missing)."""
        service = self.service
        if message_type not in ("SmsReport", "SmsUp"):
            raise SmsError("InvalidArgument", "the message type must be SmsReport or SmsUp")
        name = queue_name(self.broker.account_id, message_type)
        if name not in self.broker.account.queues:
            self.broker.apply_within(CreateQueue(now, name, token, {}))
        service.subscribe(message_type)
        return name

    def _create_rule(self, now: int, name: str, event_type: str, topic: str | None = None,
                     endpoints: list[str] | None = None, token: int = 0) -> EventRule:
        broker = self.broker
        endpoints = [self._endpoint_text(e) for e in endpoints or ()]
        rule = self.service.rules.check_new(now, name, event_type, topic, endpoints)
        if topic:
            broker.account.topic(topic)  # TopicNotExist: the one topic must exist
        else:
            if rule.topic in broker.account.topics:  # never adopt (and later delete) a user's topic
                raise SmsError("InvalidArgument", f"the topic {rule.topic} already exists")
            made = broker.account.create_topic(now, rule.topic, token)[0]  # quota checked first
            for number, endpoint in enumerate(rule.endpoints, 1):
                made.subscribe(now, f"{rule.name}-{number}",
                               SubscriptionAttributes.make(endpoint, None, "SIMPLIFIED", None))
        self.service.add_rule(rule)
        return rule

    def _endpoint_text(self, endpoint: str) -> str:
        """An endpoint as given, or a bare queue name made a queue endpoint."""
        if isinstance(endpoint, str) and ":" not in endpoint and endpoint:
            broker = self.broker
            endpoint = f"acs:mns:{self.service.region}:{broker.account_id}:queues/{endpoint}"
        parse_endpoint(endpoint)
        return endpoint

    def _delete_rule(self, now: int, name: str) -> None:
        rule = self.service.rules.delete(name)
        if rule.made_topic:
            self.broker.apply_within(DeleteTopic(now, rule.topic))

    def _reply(self, now: int, number: str, content: str, extend_code: str | None = None) -> None:
        self._effects(now, self.service.reply(now, number, content, extend_code))

    def _send(self, now: int, sign_name: str, template_code: str, receivers: list,
              out_id: str | None = None, extend_code: str | None = None,
              message_id: str = "", atomic: bool = True) -> SendOutcome:
        outcome = self.service.send(
            now, sign_name, template_code, [tuple(r) for r in receivers], out_id=out_id,
            extend_code=extend_code, message_id=message_id, atomic=atomic,
        )
        self._effects(now, outcome.effects)
        self._settle_due(now)
        return outcome

    def _advance(self, now: int) -> None:
        self._effects(now, self.service.advance(now))

    # -- durable mode ------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return self.service.export()

    def restore(self, data: Mapping[str, Any]) -> None:
        self.service = SmsService.restore(dict(data))


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
