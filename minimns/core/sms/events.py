"""SMS event rules (事件通知规则): which events go where, and when a rule is live.

The seeds (docs/sms.md 000, "事件通知规则组成" and "注意事项") fix:

- three event types: SMSRequest:SendSuccessfully, SMSRequest:SendFailed,
  SMSExtend:ReplyMessage, one per rule ("事件类型" is one choice in the dialog);
- receivers are either exactly one topic ("只能选择一个"), never the SMS topic
  ("不能选择短信专用的主题（sms.xxx）"), which must already exist, or one or more
  HTTP / queue endpoints, for which a topic and its subscriptions are made
  ("会自动创建主题和对应的订阅"); never both ("互斥");
- at most 10 rules per region ("最多可以创建10条规则");
- "任意两个规则不能有交集，单条规则任意两个资源描述不能有交集": here two rules
  intersect when they have the same event type and share a receiver (the same
  topic, or the same endpoint), and one rule may not list an endpoint twice.
  (Same event type alone cannot be the meaning: with three types, 10 rules
  could never exist.) A choice where the seeds are silent;
- create and delete only ("暂时不支持修改");
- "新规则约10分钟后生效": a rule receives events from ``created_at +
  activation_ms`` (default ten minutes on the broker clock).

Rule names: 1-64 of letters, digits and ``-`` (the seeds' examples are
``succ-rule-sample`` / ``fail-rule-sample``), so the topic made for a rule,
``sms-event-<name>``, is a valid topic name. Errors use ``InvalidArgument``
(the seeds give no codes for rules).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..endpoint import HTTP, QUEUE, parse_endpoint
from .account import SmsError
from .formats import EVENT_TYPES

__all__ = ["ACTIVATION_MS", "RULES_MAX", "EventRule", "EventRules", "rule_topic_name"]

RULES_MAX = 10
ENDPOINTS_MAX = 10  # the console offers "还可以添加 N 个接收终端"; the seeds give no number
ACTIVATION_MS = 600_000
_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
SMS_TOPIC_PREFIX = "sms."


def rule_topic_name(rule_name: str) -> str:
    """The topic made for a rule with endpoints."""
    return f"sms-event-{rule_name}"


@dataclass(frozen=True)
class EventRule:
    name: str
    event_type: str
    topic: str  # the rule's topic: given, or made for its endpoints
    endpoints: tuple[str, ...] = field(default=())  # empty when a topic was given
    created_at: int = 0
    active_at: int = 0

    @property
    def made_topic(self) -> bool:
        """Whether minimns made the topic (and deletes it with the rule)."""
        return bool(self.endpoints)

    def active(self, now: int) -> bool:
        return now >= self.active_at


def _invalid(message: str) -> SmsError:
    return SmsError("InvalidArgument", message)


class EventRules:
    def __init__(self, activation_ms: int = ACTIVATION_MS) -> None:
        if activation_ms < 0:
            raise ValueError("activation_ms must not be negative")
        self.activation_ms = activation_ms
        self.rules: dict[str, EventRule] = {}

    def check_new(self, now: int, name: str, event_type: str, topic: str | None,
                  endpoints: list[str] | tuple[str, ...]) -> EventRule:
        """The rule these arguments make, or the InvalidArgument that refuses it.
        Checks everything except that a given topic exists (the broker knows that)."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _invalid("a rule name is 1-64 letters, digits and '-'")
        if name in self.rules:
            raise _invalid(f"the rule {name} already exists")
        if event_type not in EVENT_TYPES:
            raise _invalid(f"the event type must be one of {', '.join(EVENT_TYPES)}")
        if len(self.rules) >= RULES_MAX:
            raise _invalid(f"at most {RULES_MAX} event rules per region")
        endpoints = tuple(endpoints or ())
        if topic and endpoints:
            raise _invalid("a rule receives into one topic or into endpoints, not both")
        if topic:
            if topic.startswith(SMS_TOPIC_PREFIX):
                raise _invalid("the SMS topic (sms.*) cannot receive events")
            receivers = {topic}
        elif endpoints:
            if len(endpoints) > ENDPOINTS_MAX:
                raise _invalid(f"a rule has at most {ENDPOINTS_MAX} endpoints")
            for text in endpoints:
                if parse_endpoint(text).kind not in (HTTP, QUEUE):
                    raise _invalid(f"{text} is not an HTTP or queue endpoint")
            if len(set(endpoints)) != len(endpoints):
                raise _invalid("a rule lists an endpoint twice")
            receivers = set(endpoints)
        else:
            raise _invalid("a rule needs a topic or at least one endpoint")
        for other in self.rules.values():
            theirs = set(other.endpoints) if other.endpoints else {other.topic}
            if other.event_type == event_type and receivers & theirs:
                raise _invalid(f"the rule intersects the rule {other.name}")
        return EventRule(
            name, event_type, topic or rule_topic_name(name), endpoints, now,
            now + self.activation_ms,
        )

    def add(self, rule: EventRule) -> None:
        self.rules[rule.name] = rule

    def delete(self, name: str) -> EventRule:
        rule = self.rules.pop(name, None)
        if rule is None:
            raise _invalid(f"the rule {name} does not exist")
        return rule

    def matching(self, now: int, event_type: str) -> list[EventRule]:
        """Live rules of ``event_type``, in creation order."""
        return [r for r in self.rules.values() if r.event_type == event_type and r.active(now)]

    def export(self) -> dict[str, Any]:
        return {
            "activation_ms": self.activation_ms,
            "rules": [asdict(rule) for rule in self.rules.values()],
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> EventRules:
        rules = cls(data["activation_ms"])
        for item in data["rules"]:
            rule = EventRule(**{**item, "endpoints": tuple(item["endpoints"])})
            rules.rules[rule.name] = rule
        return rules
