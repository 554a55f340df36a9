"""The SMS account: its type and status, its signatures and templates and their review.

Pure: every time-dependent method takes ``now`` in epoch milliseconds from the
broker clock; nothing here reads a clock, so the broker drives the review timer
with ``next_due`` / ``advance`` and a test can run a day of reviews at once.

What the seeds (docs/sms.md) fix (000, "阿里云个人认证和企业认证权益区别";
001, "个人认证和企业认证的权益区别"):

- "个人用户最多可以创建1个自定义短信签名；企业用户最多可以创建5个自定义短信签名", table row
  "自定义短信签名 1个 5个"; beyond it "InvalidSignNumber.Malformed  The amount of sign
  exceeds the limit  个人认证不支持创建多个签名". Every held signature counts (pending,
  approved or rejected) until it is deleted (a choice: the console lists them all).
- "短信模板个数：企业&个人用户模板个数不限".
- "短信模板中变量长度 15个字符 无限制", with "InvalidDayuParamString.Malformed  The specified
  paramString is too long  当前的变量值过长，个人认证变量支持15个字符，企业认证无限制"
  (``check_param_values``, for the send path).
- "推广短信 不支持 支持" / "推广短信暂不为个人用户提供服务" and "国际/港澳台消息 不支持 支持".
  The seeds give no error code for this, so a personal account gets
  ``InvalidArgument`` (a choice) when adding such a template, and when sending
  with one after a downgrade (``check_template``).
- Status (000, "用户当前状态"): "正常：可正常使用发送短信。" / "冻结：因某种违规行为而导致账号冻结。"
  A frozen account keeps managing signatures and templates (the console still
  lists and deletes them; a choice where the seeds are silent) but may not send:
  ``check_can_send`` raises "InvalidDayuStatus.Malformed  The specified dayu status
  is wrongly formed.  账户短信开通状态不正确" (isv path: "isv.ACCOUNT_ABNORMAL 账户异常").

Records (000, "管理签名" / "管理模板"): "签名名称 工单号 创建时间 签名类型 状态 失败原因" with a
row "测试 5670038 2017-02-24 08:41:21 验证码或短信通知 审批通过"; "每一个签名都有一个唯一的工单号"
and "每一个模板都有一个唯一的工单号"; "模板CODE：该模板的code，具有唯一性"; states "审核中、审核通过、
审核未通过" with a "失败原因". Work orders are 7 digits like the console's, from one
counter shared by signatures and templates (so unique across both), starting at
``FIRST_WORK_ORDER``; template codes are ``SMS_`` plus a counter from
``FIRST_TEMPLATE_NUMBER`` (the seeds show SMS_71175823, SMS_1000000). Neither is
reused after a delete.

Review uses review.py's rules with the account's forbidden words, evaluated when
the review completes: ``review_delay_ms`` after submission (default 0: at once,
inside ``add_*``). The seeds' "1-2个工作日" becomes a configurable delay.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from .review import TemplateType, review_signature, review_template, template_variables

__all__ = [
    "DEFAULT_SIGN_TYPE",
    "FIRST_TEMPLATE_NUMBER",
    "FIRST_WORK_ORDER",
    "PERSONAL_PARAM_LENGTH",
    "SIGNATURE_LIMITS",
    "AccountStatus",
    "AccountType",
    "ReviewState",
    "Signature",
    "SmsAccount",
    "SmsError",
    "Template",
]

FIRST_WORK_ORDER = 1_000_001
FIRST_TEMPLATE_NUMBER = 100_000_001
PERSONAL_PARAM_LENGTH = 15
DEFAULT_SIGN_TYPE = "验证码或短信通知"  # the console's 签名类型 column (000)
_TEMPLATE_CODE = re.compile(r"SMS_[0-9]{1,18}")


class SmsError(Exception):
    """An SMS error with the seeds' code and message; ``isv_code`` for the SendSms API path.

    Not an ``MNSError``: those register by class name as MNS codes, and these
    codes (``InvalidSignNumber.Malformed``) are SMS ones.
    """

    def __init__(self, code: str, message: str, isv_code: str | None = None,
                 isv_message: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.isv_code = isv_code
        self.isv_message = isv_message  # the SendSms API's wording, when it differs


class AccountType(Enum):
    """个人认证 / 企业认证."""

    PERSONAL = "personal"
    ENTERPRISE = "enterprise"


class AccountStatus(Enum):
    """正常 / 冻结, and 业务停机 (isv.OUT_OF_SERVICE: the service stopped, e.g. in arrears)."""

    NORMAL = "normal"
    FROZEN = "frozen"
    OUT_OF_SERVICE = "out_of_service"


class ReviewState(Enum):
    """审核中 / 审核通过 / 审核未通过."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """The console's wording of the state."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    ReviewState.PENDING: "审核中",
    ReviewState.APPROVED: "审核通过",
    ReviewState.REJECTED: "审核未通过",
}

SIGNATURE_LIMITS = {AccountType.PERSONAL: 1, AccountType.ENTERPRISE: 5}
_ENTERPRISE_ONLY = {
    TemplateType.PROMOTION: "promotion templates are for enterprise accounts only "
    "(推广短信暂不为个人用户提供服务)",
    TemplateType.INTERNATIONAL: "international templates are for enterprise accounts only "
    "(国际/港澳台消息 个人认证不支持)",
}


@dataclass(frozen=True)
class Signature:
    """One row of the console's signature list."""

    name: str
    work_order: str
    created_at: int
    sign_type: str = DEFAULT_SIGN_TYPE
    state: ReviewState = ReviewState.PENDING
    reason: str | None = None  # 失败原因, only when rejected
    due_at: int | None = None  # when a pending review completes
    reviewed_at: int | None = None


@dataclass(frozen=True)
class Template:
    """One row of the console's template list."""

    code: str
    name: str
    content: str
    kind: TemplateType
    work_order: str
    created_at: int
    state: ReviewState = ReviewState.PENDING
    reason: str | None = None
    due_at: int | None = None
    reviewed_at: int | None = None

    @property
    def variables(self) -> list[str]:
        """The ``${name}`` variables, each once, in order."""
        return template_variables(self.content)


def _record_data(record: Signature | Template) -> dict[str, Any]:
    data = dict(record.__dict__)
    data["state"] = record.state.value
    if isinstance(record, Template):
        data["kind"] = record.kind.value
    return data


class SmsAccount:
    """One account's SMS identity: type, status, signatures, templates and pending reviews."""

    def __init__(
        self,
        account_type: AccountType | str = AccountType.PERSONAL,
        status: AccountStatus | str = AccountStatus.NORMAL,
        *,
        forbidden_words: Iterable[str] = (),
        review_delay_ms: int = 0,
    ) -> None:
        if review_delay_ms < 0:
            raise ValueError("review_delay_ms must not be negative")
        self.account_type = AccountType(account_type)
        self.status = AccountStatus(status)
        self.forbidden_words: tuple[str, ...] = tuple(forbidden_words)
        self.review_delay_ms = review_delay_ms
        self._signatures: dict[str, Signature] = {}  # by name, in creation order
        self._templates: dict[str, Template] = {}  # by code, in creation order
        self._next_work_order = FIRST_WORK_ORDER
        self._next_template = FIRST_TEMPLATE_NUMBER
        # (due_at, int(work_order), "signature" | "template", key); stale entries are skipped.
        self._due: list[tuple[int, int, str, str]] = []

    # ------------------------------------------------------------ type and status

    @property
    def signature_limit(self) -> int:
        """Custom signatures this account may hold (1 personal, 5 enterprise)."""
        return SIGNATURE_LIMITS[self.account_type]

    @property
    def max_param_length(self) -> int | None:
        """Longest template variable value in characters (15 personal, None unlimited)."""
        return PERSONAL_PARAM_LENGTH if self.account_type is AccountType.PERSONAL else None

    def allows(self, kind: TemplateType | str) -> bool:
        """Whether this account type may use templates of ``kind``."""
        kind = TemplateType(kind)
        return self.account_type is AccountType.ENTERPRISE or kind not in _ENTERPRISE_ONLY

    def set_account_type(self, account_type: AccountType | str) -> None:
        """Upgrade or downgrade; held signatures and templates stay (new ones obey the limits)."""
        self.account_type = AccountType(account_type)

    def freeze(self) -> None:
        """冻结: sending is refused until ``unfreeze``; management still works."""
        self.status = AccountStatus.FROZEN

    def unfreeze(self) -> None:
        """Back to 正常."""
        self.status = AccountStatus.NORMAL

    def check_can_send(self) -> None:
        """Raise InvalidDayuStatus.Malformed when the account is frozen."""
        if self.status is not AccountStatus.NORMAL:
            raise SmsError(
                "InvalidDayuStatus.Malformed",
                "The specified dayu status is wrongly formed.",
                "isv.ACCOUNT_ABNORMAL" if self.status is AccountStatus.FROZEN else "isv.OUT_OF_SERVICE",
            )

    def check_param_values(self, params: Mapping[str, object]) -> None:
        """Raise InvalidDayuParamString.Malformed when a value is too long for the account."""
        limit = self.max_param_length
        if limit is None:
            return
        for value in params.values():
            text = value if isinstance(value, str) else str(value)
            if len(text) > limit:
                raise SmsError(
                    "InvalidDayuParamString.Malformed",
                    "The specified paramString is too long",
                    "isv.PARAM_LENGTH_LIMIT",
                )

    # ------------------------------------------------------------ signatures

    def add_signature(
        self, now: int, name: str, *, sign_type: str = DEFAULT_SIGN_TYPE
    ) -> Signature:
        """Submit a signature for review; refused beyond the account type's limit."""
        if name in self._signatures:
            raise SmsError("InvalidArgument", f"signature {name!r} already exists")
        if len(self._signatures) >= self.signature_limit:
            raise SmsError(
                "InvalidSignNumber.Malformed",
                "The amount of sign exceeds the limit",
            )
        signature = Signature(name, self._work_order(), now, sign_type)
        self._signatures[name] = signature
        self._submit(now, "signature", name, signature.work_order)
        return self._signatures[name]

    def signature(self, name: str) -> Signature:
        """The signature named ``name`` (InvalidSignName.Malformed if none)."""
        try:
            return self._signatures[name]
        except KeyError:
            raise _no_signature() from None

    def signatures(self) -> list[Signature]:
        """All held signatures, oldest first."""
        return list(self._signatures.values())

    def delete_signature(self, name: str) -> Signature:
        """Remove a signature (a pending review is dropped); returns what was removed."""
        signature = self.signature(name)
        del self._signatures[name]
        return signature

    def check_signature(self, name: str) -> Signature:
        """The signature if it may be sent with: it exists and is approved."""
        signature = self._signatures.get(name)
        if signature is None or signature.state is not ReviewState.APPROVED:
            raise _no_signature()
        return signature

    # ------------------------------------------------------------ templates

    def add_template(
        self,
        now: int,
        name: str,
        content: str,
        kind: TemplateType | str,
        *,
        code: str | None = None,
    ) -> Template:
        """Submit a template for review; promotion / international need an enterprise account.

        ``code`` pins the template code (``SMS_`` and digits, unused), so a test
        suite's configuration can name the codes its code sends with; by default
        the next ``SMS_`` number is drawn."""
        kind = TemplateType(kind)
        if not self.allows(kind):
            raise SmsError("InvalidArgument", _ENTERPRISE_ONLY[kind])
        if code is None:
            code = f"SMS_{self._next_template}"
            self._next_template += 1
        elif not _TEMPLATE_CODE.fullmatch(code) or code in self._templates:
            raise SmsError(
                "InvalidArgument", f"template code {code!r} is taken or not SMS_ and digits"
            )
        template = Template(code, name, content, kind, self._work_order(), now)
        self._templates[code] = template
        self._submit(now, "template", code, template.work_order)
        return self._templates[code]

    def template(self, code: str) -> Template:
        """The template with ``code`` (InvalidTemplateCode.Malformed if none)."""
        try:
            return self._templates[code]
        except KeyError:
            raise _no_template() from None

    def templates(self) -> list[Template]:
        """All held templates, oldest first."""
        return list(self._templates.values())

    def delete_template(self, code: str) -> Template:
        """Remove a template (a pending review is dropped); returns what was removed."""
        template = self.template(code)
        del self._templates[code]
        return template

    def check_template(self, code: str) -> Template:
        """The template if it may be sent with: exists, approved, and allowed for the type."""
        template = self._templates.get(code)
        if template is None or template.state is not ReviewState.APPROVED:
            raise _no_template()
        if not self.allows(template.kind):
            raise SmsError("InvalidArgument", _ENTERPRISE_ONLY[template.kind])
        return template

    # ------------------------------------------------------------ review timer

    def next_due(self) -> int | None:
        """When the earliest pending review completes, or None (for the broker's timer)."""
        while self._due and self._stale(self._due[0]):
            heapq.heappop(self._due)
        return self._due[0][0] if self._due else None

    def advance(self, now: int) -> list[Signature | Template]:
        """Complete every review due at or before ``now``, in due order; returns them.

        ``reviewed_at`` is the due time, not ``now``: the outcome must not depend on
        how late the broker's timer fires."""
        done: list[Signature | Template] = []
        while self._due and self._due[0][0] <= now:
            entry = heapq.heappop(self._due)
            if not self._stale(entry):
                done.append(self._complete(entry[0], entry[2], entry[3]))
        return done

    def _work_order(self) -> str:
        number = self._next_work_order
        self._next_work_order += 1
        return str(number)

    def _submit(self, now: int, what: str, key: str, work_order: str) -> None:
        if self.review_delay_ms == 0:
            self._complete(now, what, key)
            return
        due = now + self.review_delay_ms
        self._set(what, key, due_at=due)
        heapq.heappush(self._due, (due, int(work_order), what, key))

    def _stale(self, entry: tuple[int, int, str, str]) -> bool:
        due, work_order, what, key = entry
        table: Mapping[str, Signature | Template]
        table = self._signatures if what == "signature" else self._templates
        record = table.get(key)
        return (
            record is None
            or record.work_order != str(work_order)
            or record.state is not ReviewState.PENDING
            or record.due_at != due
        )

    def _complete(self, now: int, what: str, key: str) -> Signature | Template:
        if what == "signature":
            reason = review_signature(key, forbidden_words=self.forbidden_words)
        else:
            template = self._templates[key]
            reason = review_template(
                template.content, template.kind, forbidden_words=self.forbidden_words
            )
        state = ReviewState.APPROVED if reason is None else ReviewState.REJECTED
        return self._set(what, key, state=state, reason=reason, due_at=None, reviewed_at=now)

    def _set(self, what: str, key: str, **changes: Any) -> Signature | Template:
        if what == "signature":
            signature = self._signatures[key] = replace(self._signatures[key], **changes)
            return signature
        template = self._templates[key] = replace(self._templates[key], **changes)
        return template

    # ------------------------------------------------------------ snapshot

    def export(self) -> dict[str, Any]:
        """Plain (msgpack-able) data for a snapshot."""
        return {
            "account_type": self.account_type.value,
            "status": self.status.value,
            "forbidden_words": list(self.forbidden_words),
            "review_delay_ms": self.review_delay_ms,
            "next_work_order": self._next_work_order,
            "next_template": self._next_template,
            "signatures": [_record_data(s) for s in self._signatures.values()],
            "templates": [_record_data(t) for t in self._templates.values()],
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> SmsAccount:
        """The inverse of ``export``; pending reviews keep their due times."""
        account = cls(
            data["account_type"],
            data["status"],
            forbidden_words=data["forbidden_words"],
            review_delay_ms=data["review_delay_ms"],
        )
        account._next_work_order = data["next_work_order"]
        account._next_template = data["next_template"]
        for item in data["signatures"]:
            signature = Signature(**{**item, "state": ReviewState(item["state"])})
            account._signatures[signature.name] = signature
            if signature.due_at is not None:
                entry = (signature.due_at, int(signature.work_order), "signature", signature.name)
                heapq.heappush(account._due, entry)
        for item in data["templates"]:
            template = Template(
                **{**item, "state": ReviewState(item["state"]), "kind": TemplateType(item["kind"])}
            )
            account._templates[template.code] = template
            if template.due_at is not None:
                entry = (template.due_at, int(template.work_order), "template", template.code)
                heapq.heappush(account._due, entry)
        return account


def _no_signature() -> SmsError:
    """Unknown or not approved: the seeds' one code and exact message for both."""
    return SmsError(
        "InvalidSignName.Malformed",
        "The specified sign name is wrongly formed.",
        "isv.SMS_SIGNATURE_ILLEGAL",
    )


def _no_template() -> SmsError:
    """Unknown or not approved: the seeds' one code and exact message for both."""
    return SmsError(
        "InvalidTemplateCode.Malformed",
        "The specified templateCode is wrongly formed.",
        "isv.SMS_TEMPLATE_ILLEGAL",
    )
