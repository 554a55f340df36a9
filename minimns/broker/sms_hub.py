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

``Sms`` (sms.py) is the public handle: ``broker.sms``; this module is the state
and the appliers behind it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable


from ..core.endpoint import parse_endpoint
from ..core.message import NO_PROPERTIES
from ..core.sms.account import AccountStatus, SmsError
from ..core.sms.carrier import FailureRule
from ..core.sms.events import EventRule
from ..core.sms.frequency import FrequencyLimits, FrequencyWindows
from ..core.sms.service import Effect, SendOutcome, SmsService, queue_name
from ..core.subscription import SubscriptionAttributes
from ..core.topic import TopicAttributes, TopicState
from ..errors import MNSError
from .changes import CreateQueue, DeleteTopic, SmsChange
from .outbox import LocalDelivery

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["SmsHub"]

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
        self._run_due(now)
        self.schedule()
        return None

    def _run_due(self, now: int) -> None:
        """What is due already (a carrier without latency) is carried out in the same
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
                broker.wake_and_schedule(state)

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
        self._run_due(now)
        return outcome

    def _advance(self, now: int) -> None:
        self._effects(now, self.service.advance(now))

    # -- durable mode ------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return self.service.export()

    def restore(self, data: Mapping[str, Any]) -> None:
        self.service = SmsService.restore(dict(data))
