"""The SMS service of one region: the send pipeline, the carrier's verdicts, replies.

Pure like the rest of the core: every call takes ``now``, nothing reads a clock
or does I/O. What reaches the outside world (a receipt into the SmsReport
queue, a reply into SmsUp, an event message for the event rules) comes back
as ``Effect`` values; the broker turns them into queue sends and topic
publishes inside the same recorded change, so a replay makes them again.

The checks of a send, in order, each with the seeds' MNS code and SendSms
(``isv.*``) code (000 "报错信息汇总"; 002 / 004 error tables):

1. account status: frozen -> InvalidDayuStatus.Malformed / isv.ACCOUNT_ABNORMAL
   (one failure for the whole request, no receiver: 000 (2.2));
2. receivers: none, or more than 1000 -> InvalidRecNum.Malformed /
   isv.MOBILE_NUMBER_ILLEGAL, isv.MOBILE_COUNT_OVER_LIMIT (for the request);
3. signature approved -> InvalidSignName.Malformed / isv.SMS_SIGNATURE_ILLEGAL,
   template approved (and allowed for the account type) ->
   InvalidTemplateCode.Malformed / isv.SMS_TEMPLATE_ILLEGAL; a failure per
   number (000 (2.1): "发送多个手机号时，模板或签名错，分别返回多个异步信息");
4. then per number: the number (mainland ``1`` and 10 digits, optionally
   ``86`` / ``+86`` / ``0086`` before it; international ``00`` and the country
   code, which needs an international template, and an international
   template needs one) -> InvalidRecNum.Malformed / isv.MOBILE_NUMBER_ILLEGAL;
   parameters a JSON object of strings -> InvalidParamString.Malformed /
   isv.INVALID_JSON_PARAM ("只接受字符串值"); every template variable given ->
   InvalidParamStringTemplate.Malformed / isv.TEMPLATE_MISSING_PARAMETERS
   (extra parameters are ignored); no URL in a value -> InvalidDayu.Malformed
   ("null") / isv.PARAM_NOT_SUPPORT_URL; value lengths (15 for personal
   accounts) -> InvalidDayuParamString.Malformed / isv.PARAM_LENGTH_LIMIT;
   frequency limits -> InvalidSendSms / isv.BUSINESS_LIMIT_CONTROL;
5. send thresholds, one request counted -> InvalidQuota / isv.BUSINESS_LIMIT_CONTROL
   (for every number left);
6. the blacklist, numbers and words of the rendered text -> isv.BLACK_KEY_CONTROL_LIMIT
   "黑名单管控" (the seeds (docs/sms.md) have no MNS code for it: the isv code serves both);
7. the balance, when one is set (billable messages prepaid) -> isv.AMOUNT_NOT_ENOUGH
   "账户余额不足" (again no MNS code in the seeds).

A receiver is ``(number, parameters)``, or ``(number, parameters, signature,
extend code)`` for SendBatchSms, where each number has its own signature.

A repeated number in one request is sent once. ``atomic`` (the SendSms API)
refuses the whole request at its first failure and changes nothing; the
topic path sends to the numbers that pass and reports the others as events.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .account import SmsAccount, SmsError, Template
from .billing import message_count, render
from .carrier import DELIVERED_CODE, DELIVERED_MESSAGE, Carrier, HandsetMessage
from .events import EventRule, EventRules
from .formats import (
    EVENT_REPLY,
    SEND_FAILED,
    SEND_SUCCESSFULLY,
    failure_event,
    reply_event,
    report_body,
    success_event,
    up_body,
)
from .frequency import FrequencyLimits, FrequencyWindows
from .thresholds import SendThresholds
from .records import SendRecord, SendRecords
from .review import TemplateType

__all__ = [
    "MESSAGE_TYPES",
    "NUMBERS_MAX",
    "REPLIES_MAX",
    "Effect",
    "Reply",
    "SendOutcome",
    "SmsService",
    "normalize_number",
    "queue_name",
]

NUMBERS_MAX = 1000  # 002: "支持对多个手机号码发送短信…批量调用…上限为1000个手机号码"
REPLIES_MAX = 1000
MESSAGE_TYPES = ("SmsReport", "SmsUp")
_MAINLAND = re.compile(r"(?:\+86|0086|86)?(1[0-9]{10})")
_INTERNATIONAL = re.compile(r"00[1-9][0-9]{5,16}")
_URL = re.compile(
    r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org|io|top|xyz|cc|me|info|vip|club|site|shop)\b)"
)


def queue_name(account_id: str, message_type: str) -> str:
    """The account's receipt / reply queue (002: ``Alicom-Queue-xxxxxx-SmsReport``)."""
    return f"Alicom-Queue-{account_id}-{message_type}"


def normalize_number(number: object, kind: TemplateType) -> str:
    """The number as records and receipts show it, or InvalidRecNum.Malformed."""
    text = number.strip() if isinstance(number, str) else ""
    mainland = _MAINLAND.fullmatch(text)
    international = _INTERNATIONAL.fullmatch(text) if not text.startswith("0086") else None
    if mainland and kind is not TemplateType.INTERNATIONAL:
        return mainland.group(1)
    if international and kind is TemplateType.INTERNATIONAL:
        return text
    raise _error("InvalidRecNum.Malformed", "The specified recNum is wrongly formed.",
                 "isv.MOBILE_NUMBER_ILLEGAL")


def _error(code: str, message: str, isv: str, isv_message: str | None = None) -> SmsError:
    return SmsError(code, message, isv, isv_message)


def _parse_params(params: object) -> dict[str, str]:
    if params is None or params == "":
        values: object = {}
    elif isinstance(params, str):
        try:
            values = json.loads(params)
        except (ValueError, RecursionError):
            values = None
    else:
        values = params
    if not isinstance(values, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and _is_text(k) and _is_text(v)
        for k, v in values.items()
    ):
        raise _error("InvalidParamString.Malformed", "The specified paramString is wrongly formed.",
                     "isv.INVALID_JSON_PARAM")
    return dict(values)


def _is_text(value: str) -> bool:
    """Valid Unicode (JSON's \\ud800 escapes can carry lone surrogates, which no
    receipt, record or page could ever be encoded with)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_params(template: Template, values: dict[str, str], account: SmsAccount) -> str:
    """The rendered content, after the parameter checks of step 4."""
    variables = template.variables
    if any(name not in values for name in variables):
        raise _error("InvalidParamStringTemplate.Malformed",
                     "The specified paramString and template is wrongly formed.",
                     "isv.TEMPLATE_MISSING_PARAMETERS")
    if any(("." in values[name] or ":" in values[name]) and _URL.search(values[name])
           for name in variables):  # every URL form the pattern knows has a "." or ":"
        raise _error("InvalidDayu.Malformed", "null", "isv.PARAM_NOT_SUPPORT_URL")
    account.check_param_values({name: values[name] for name in variables})
    return render(template.content, values)


@dataclass(frozen=True)
class Effect:
    """Something the broker must do: ``report`` / ``up`` (a queue message body) or
    ``event`` (a body for the rules of ``event_type``)."""

    kind: str
    body: str
    event_type: str | None = None


@dataclass
class SendOutcome:
    biz_id: str | None  # None when no number was accepted
    accepted: list[str] = field(default_factory=list)
    failures: list[tuple[str | None, SmsError]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    error: SmsError | None = None  # an atomic send's refusal (nothing was sent)


@dataclass(frozen=True)
class Reply:
    time: int
    number: str
    content: str
    sign_name: str
    dest_code: str
    sequence_id: int


class SmsService:
    """Everything SMS of one region: account, rules, records, carrier, event rules."""

    def __init__(
        self,
        region: str = "cn-hangzhou",
        *,
        account: SmsAccount | None = None,
        limits: FrequencyLimits | None = None,
        thresholds: SendThresholds | None = None,
        carrier: Carrier | None = None,
        blacklist: Sequence[str] = (),
        rules: EventRules | None = None,
    ) -> None:
        self.region = region
        self.account = account if account is not None else SmsAccount()
        self.windows = FrequencyWindows(limits)
        self.thresholds = thresholds if thresholds is not None else SendThresholds()
        self.carrier = carrier if carrier is not None else Carrier()
        self.records = SendRecords()
        self.rules = rules if rules is not None else EventRules()
        self.blacklist: tuple[str, ...] = tuple(blacklist)
        self.balance: int | None = None  # billable messages left; None: unlimited
        self.subscribed: set[str] = set()  # of MESSAGE_TYPES
        self.replies: deque[Reply] = deque(maxlen=REPLIES_MAX)
        self._biz = 0
        self._sequence = 0

    @property
    def topic_name(self) -> str:
        """The region's SMS topic (短信专用主题), made with the broker."""
        return f"sms.topic-{self.region}"

    subscription_name = "sms-subscription"  # as the seeds' console shows it (000, 短信概况)

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        now: int,
        sign_name: str,
        template_code: str,
        receivers: Sequence[tuple[str, object]],
        *,
        out_id: str | None = None,
        extend_code: str | None = None,
        message_id: str = "",
        atomic: bool = False,
    ) -> SendOutcome:
        """Check a request against every rule, in order, and hand what passes to the carrier.

        ``receivers`` are (number, parameters) pairs, the parameters a JSON text
        or a mapping. With ``atomic`` the first failure refuses the whole request:
        nothing is sent and ``outcome.error`` says why. (The refusal is returned,
        not raised, because checking it may leave a trace that must be recorded
        like any change: a threshold's alert.)"""
        if atomic:
            try:
                return self._send(now, sign_name, template_code, receivers, out_id=out_id,
                                  extend_code=extend_code, message_id=message_id, atomic=True)
            except SmsError as error:
                return SendOutcome(None, error=error)
        return self._send(now, sign_name, template_code, receivers, out_id=out_id,
                          extend_code=extend_code, message_id=message_id, atomic=False)

    def _send(
        self,
        now: int,
        sign_name: str,
        template_code: str,
        receivers: Sequence[tuple[str, object]],
        *,
        out_id: str | None,
        extend_code: str | None,
        message_id: str,
        atomic: bool,
    ) -> SendOutcome:
        outcome = SendOutcome(None)
        try:
            self.account.check_can_send()
            if not receivers:
                raise _error("InvalidRecNum.Malformed", "The specified recNum is wrongly formed.",
                             "isv.MOBILE_NUMBER_ILLEGAL")
            if len(receivers) > NUMBERS_MAX:
                raise _error("InvalidRecNum.Malformed",
                             f"more than {NUMBERS_MAX} numbers in one request",
                             "isv.MOBILE_COUNT_OVER_LIMIT")
        except SmsError as error:
            if atomic:
                raise
            return self._failed(outcome, [(None, error)], message_id, now)
        unique: dict[str, tuple[object, str, str | None]] = {}
        for receiver in receivers:
            number, params = receiver[0], receiver[1]
            sign = receiver[2] if len(receiver) > 2 else sign_name
            extend = receiver[3] if len(receiver) > 3 else extend_code
            unique.setdefault(number, (params, sign, extend))
        try:
            for sign in dict.fromkeys(sign for _, sign, _ in unique.values()):
                self.account.check_signature(sign)
            template = self.account.check_template(template_code)
        except SmsError as error:
            if atomic:
                raise
            return self._failed(outcome, [(n, error) for n in unique], message_id, now)
        failures: list[tuple[str | None, SmsError]] = []
        passed: dict[str, tuple[str, str, str | None]] = {}  # normalized -> (content, sign, extend)
        for number, (params, sign, extend) in unique.items():
            try:
                normalized = normalize_number(number, template.kind)
                if normalized in passed:
                    continue
                content = _check_params(template, _parse_params(params), self.account)
                hit = self.windows.check(now, normalized, sign, template.code, template.kind)
                if hit is not None:
                    raise _error(hit.code, hit.message, hit.isv_code, hit.isv_message)
                passed[normalized] = (content, sign, extend)
            except SmsError as error:
                if atomic:
                    raise
                failures.append((number, error))
        if passed and (hit := self.thresholds.check(now)) is not None:
            error = _error(hit.code, hit.message, hit.isv_code)
            if atomic:
                raise error
            failures += [(number, error) for number in passed]
            passed = {}
        for number, (content, _, _) in list(passed.items()):
            if self._blacklisted(number, content):
                error = _error("isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控", "isv.BLACK_KEY_CONTROL_LIMIT")
                if atomic:
                    raise error
                failures.append((number, error))
                del passed[number]
        if passed and self.balance is not None:
            cost = sum(message_count(content, sign) for content, sign, _ in passed.values())
            if cost > self.balance:
                error = _error("isv.AMOUNT_NOT_ENOUGH", "账户余额不足", "isv.AMOUNT_NOT_ENOUGH")
                if atomic:
                    raise error
                failures += [(number, error) for number in passed]
                passed = {}
        if passed:
            self._accept(now, outcome, template, passed, out_id, message_id)
        return self._failed(outcome, failures, message_id, now)

    def _blacklisted(self, number: str, content: str) -> bool:
        return any(entry == number or (entry and entry in content) for entry in self.blacklist)

    def _accept(self, now: int, outcome: SendOutcome, template: Template,
                passed: dict[str, tuple[str, str, str | None]], out_id: str | None,
                message_id: str) -> None:
        self.thresholds.count_requests(now)
        self._biz += 1
        biz_id = outcome.biz_id = f"{now:013d}{self._biz % 1_000_000:06d}^0"
        for number, (content, sign_name, extend_code) in passed.items():
            size = message_count(content, sign_name)
            if self.balance is not None:
                self.balance -= size
            self.windows.count_send(now, number, sign_name, template.code, template.kind)
            self.records.add(SendRecord(
                biz_id, number, sign_name, template.code, f"【{sign_name}】{content}", out_id,
                extend_code, message_id, now, size,
            ))
            self.carrier.submit(now, biz_id, number)
            outcome.accepted.append(number)

    def _failed(self, outcome: SendOutcome, failures: list[tuple[str | None, SmsError]],
                message_id: str, now: int) -> SendOutcome:
        wanted = self._wanted(SEND_FAILED, now)
        for number, error in failures:
            if number is not None:
                self.records.count(now, "rejected")
            if wanted:
                outcome.effects.append(Effect(
                    "event", failure_event(message_id, number, error.code, error.message),
                    SEND_FAILED,
                ))
        outcome.failures += failures
        return outcome

    def send_direct(self, now: int, attribute: str | None, address: str,
                    message_id: str) -> SendOutcome:
        """A topic message's DirectSMS attribute (mns-protocol 3.5), delivered to an
        ``sms:directsms:`` endpoint: ``anonymous`` sends to the attribute's receivers,
        a number sends to that number alone."""
        try:
            if attribute is None:
                raise _error("MissingParameter", "The input parameter DirectSMS that is mandatory "
                             "for processing this request is not supplied", "isv.INVALID_PARAMETERS")
            info = json.loads(attribute)
            if not isinstance(info, dict):
                raise ValueError
        except (ValueError, RecursionError, SmsError) as caught:
            error = caught if isinstance(caught, SmsError) else _error(
                "InvalidParamString.Malformed", "The specified paramString is wrongly formed.",
                "isv.INVALID_JSON_PARAM")
            return self._failed(SendOutcome(None), [(None, error)], message_id, now)
        receivers: list[tuple[str, object]]
        params = info.get("SmsParams")
        if info.get("Type") == "multiContent":
            try:
                table = json.loads(params) if isinstance(params, str) else params
            except (ValueError, RecursionError):
                table = None
            if not isinstance(table, dict):
                error = _error("InvalidParamString.Malformed",
                               "The specified paramString is wrongly formed.",
                               "isv.INVALID_JSON_PARAM")
                return self._failed(SendOutcome(None), [(None, error)], message_id, now)
            numbers = [address] if address != "anonymous" else list(table)
            receivers = [(n, table.get(n)) for n in numbers]
        else:
            numbers = (
                [address] if address != "anonymous"
                else [n for n in str(info.get("Receiver") or "").split(",") if n]
            )
            receivers = [(n, params) for n in numbers]
        return self.send(now, str(info.get("FreeSignName") or ""),
                         str(info.get("TemplateCode") or ""), receivers, message_id=message_id)

    # -- time: the carrier and reviews --------------------------------------------------------

    def next_due(self) -> int | None:
        dues = [d for d in (self.carrier.next_due(), self.account.next_due()) if d is not None]
        return min(dues) if dues else None

    def advance(self, now: int) -> list[Effect]:
        """Complete reviews and carrier deliveries due by ``now``; their effects."""
        self.account.advance(now)
        effects: list[Effect] = []
        for due, biz_id, number in self.carrier.due(now):
            record = self.records.get(biz_id, number)
            if record is not None and record.status == 1:
                effects += self._carrier_verdict(due, record)
        self.records.prune(now)
        return effects

    def _carrier_verdict(self, now: int, record: SendRecord) -> list[Effect]:
        failure = self.carrier.verdict(record.phone_number)
        code, message = (DELIVERED_CODE, DELIVERED_MESSAGE) if failure is None else (
            failure.code, failure.message)
        self.records.conclude(record, now, code, message, failure is None)
        effects = []
        if failure is None:
            self.carrier.deliver(record.phone_number, HandsetMessage(
                now, record.content, record.sign_name, record.template_code, record.biz_id,
                record.extend_code or "",
            ))
            if self._wanted(SEND_SUCCESSFULLY, now):
                effects.append(Effect("event", success_event(
                    record.message_id, record.phone_number, record.biz_id, record.template_code,
                    record.sms_size, now), SEND_SUCCESSFULLY))
        elif self._wanted(SEND_FAILED, now):
            effects.append(Effect("event", failure_event(
                record.message_id, record.phone_number, code, message), SEND_FAILED))
        if "SmsReport" in self.subscribed:
            effects.append(Effect("report", report_body(
                record.phone_number, failure is None, record.biz_id, record.out_id,
                record.send_time, now, code, message, record.sms_size)))
        return effects

    def reply(self, now: int, number: str, content: str, extend_code: str | None = None) -> list[Effect]:
        """A handset answers (上行短信): SmsUp and the ReplyMessage event. The reply
        goes to the signature and extend code of the last message the number got."""
        if not (isinstance(number, str) and number and isinstance(content, str) and content
                and _is_text(number) and _is_text(content)):
            raise SmsError("InvalidArgument", "a reply needs a number and content (valid text)")
        last = self.carrier.last_received(number)
        sign_name = last.sign_name if last else ""
        dest_code = extend_code if extend_code is not None else (last.extend_code if last else "")
        self._sequence += 1
        self.replies.append(Reply(now, number, content, sign_name, dest_code, self._sequence))
        sender = number[2:] if number.startswith("00") else f"86{number}"
        effects = []
        if self._wanted(EVENT_REPLY, now):
            effects.append(Effect("event", reply_event(sender, content, now, dest_code), EVENT_REPLY))
        if "SmsUp" in self.subscribed:
            effects.append(Effect("up", up_body(number, content, sign_name, now, dest_code,
                                                self._sequence)))
        return effects

    def _wanted(self, event_type: str, now: int) -> bool:
        """Whether a live rule takes events of this type (else none is built)."""
        return bool(self.rules.rules) and bool(self.rules.matching(now, event_type))

    def subscribe(self, message_type: str) -> None:
        if message_type not in MESSAGE_TYPES:
            raise SmsError("InvalidArgument", f"the message type must be one of {MESSAGE_TYPES}")
        self.subscribed.add(message_type)

    def add_rule(self, rule: EventRule) -> None:
        self.rules.add(rule)

    # -- snapshot ------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "account": self.account.export(),
            "windows": self.windows.export(),
            "thresholds": self.thresholds.export(),
            "carrier": self.carrier.export(),
            "records": self.records.export(),
            "rules": self.rules.export(),
            "blacklist": list(self.blacklist),
            "balance": self.balance,
            "subscribed": sorted(self.subscribed),
            "replies": [list(asdict(r).values()) for r in self.replies],
            "biz": self._biz,
            "sequence": self._sequence,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> SmsService:
        service = cls(
            data["region"],
            account=SmsAccount.restore(data["account"]),
            thresholds=SendThresholds.restore(data["thresholds"]),
            carrier=Carrier.restore(data["carrier"]),
            blacklist=data["blacklist"],
            rules=EventRules.restore(data["rules"]),
        )
        service.windows = FrequencyWindows.restore(data["windows"])
        service.records = SendRecords.restore(data["records"])
        service.subscribed = set(data["subscribed"])
        service.balance = data.get("balance")
        service.replies.extend(Reply(*r) for r in data["replies"])
        service._biz = data["biz"]
        service._sequence = data["sequence"]
        return service
