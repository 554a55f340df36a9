"""The SMS account: type and status rules, signatures and templates, review timing, snapshots.

Codes and messages are the seeds' own, spelled out: a changed one is a changed contract.
"""

from __future__ import annotations

import re

import msgpack
import pytest

from minimns.core.sms import TemplateType, review_signature, review_template
from minimns.core.sms.account import (
    AccountStatus,
    AccountType,
    ReviewState,
    SmsAccount,
    SmsError,
)

V, N, P, INTL = (
    TemplateType.VERIFICATION,
    TemplateType.NOTIFICATION,
    TemplateType.PROMOTION,
    TemplateType.INTERNATIONAL,
)
T0 = 1_700_000_000_000
CODE_TEXT = "您的验证码为${code}，请勿泄露"
NOTICE_TEXT = "您的订单${order}已发货"


def test_personal_account_holds_one_signature():
    account = SmsAccount()
    assert account.account_type is AccountType.PERSONAL
    assert account.signature_limit == 1
    account.add_signature(T0, "阿里云")
    with pytest.raises(SmsError) as caught:
        account.add_signature(T0, "云通信")
    assert caught.value.code == "InvalidSignNumber.Malformed"
    assert caught.value.message == "The amount of sign exceeds the limit"
    account.delete_signature("阿里云")
    assert account.add_signature(T0, "云通信").state is ReviewState.APPROVED


def test_enterprise_account_holds_five_signatures_rejected_ones_included():
    account = SmsAccount("enterprise")
    assert account.signature_limit == 5
    for name in ("阿里云", "云通信", "消息服务", "短信A", "x"):
        account.add_signature(T0, name)
    assert account.signature("x").state is ReviewState.REJECTED
    with pytest.raises(SmsError) as caught:
        account.add_signature(T0, "第六个")
    assert caught.value.code == "InvalidSignNumber.Malformed"


def test_duplicate_signature_name_is_refused():
    account = SmsAccount("enterprise")
    account.add_signature(T0, "阿里云")
    with pytest.raises(SmsError) as caught:
        account.add_signature(T0, "阿里云")
    assert caught.value.code == "InvalidArgument"


@pytest.mark.parametrize("kind", [P, INTL, "promotion", "international"])
def test_promotion_and_international_templates_are_enterprise_only(kind):
    personal = SmsAccount(AccountType.PERSONAL)
    assert not personal.allows(kind)
    with pytest.raises(SmsError) as caught:
        personal.add_template(T0, "t", "新品上市，欢迎选购", kind)
    assert caught.value.code == "InvalidArgument"
    assert personal.templates() == []
    enterprise = SmsAccount(AccountType.ENTERPRISE)
    assert enterprise.allows(kind)
    template = enterprise.add_template(T0, "t", "新品上市，欢迎选购", kind)
    assert template.state is ReviewState.APPROVED


def test_templates_are_unlimited_for_personal_accounts():
    account = SmsAccount()
    codes = {account.add_template(T0, f"t{i}", NOTICE_TEXT, N).code for i in range(50)}
    assert len(codes) == 50


def test_personal_variable_values_at_most_15_characters():
    personal = SmsAccount()
    assert personal.max_param_length == 15
    personal.check_param_values({"code": "x" * 15, "n": 123456789012345})
    with pytest.raises(SmsError) as caught:
        personal.check_param_values({"code": "x" * 16})
    assert caught.value.code == "InvalidDayuParamString.Malformed"
    assert caught.value.message == "The specified paramString is too long"
    enterprise = SmsAccount("enterprise")
    assert enterprise.max_param_length is None
    enterprise.check_param_values({"code": "x" * 1000})


def test_frozen_account_manages_but_cannot_send():
    account = SmsAccount(status="frozen")
    assert account.status is AccountStatus.FROZEN
    account.add_signature(T0, "阿里云")
    template = account.add_template(T0, "t", NOTICE_TEXT, N)
    assert account.check_signature("阿里云").name == "阿里云"
    assert account.check_template(template.code) == template
    with pytest.raises(SmsError) as caught:
        account.check_can_send()
    assert caught.value.code == "InvalidDayuStatus.Malformed"
    assert caught.value.message == "The specified dayu status is wrongly formed."
    assert caught.value.isv_code == "isv.ACCOUNT_ABNORMAL"
    account.delete_template(template.code)
    account.unfreeze()
    account.check_can_send()
    account.freeze()
    with pytest.raises(SmsError):
        account.check_can_send()


def test_review_at_once_uses_review_rules_verbatim():
    account = SmsAccount("enterprise")
    good = account.add_signature(T0, "阿里云")
    assert (good.state, good.reason, good.reviewed_at) == (ReviewState.APPROVED, None, T0)
    bad = account.add_signature(T0, "12345")
    assert bad.state is ReviewState.REJECTED
    assert bad.reason == "signature must not be only digits (不能为纯数字)"
    assert bad.reason == review_signature("12345")
    assert bad.state.label == "审核未通过"
    template = account.add_template(T0, "t", "您的订单已发货，验证码${code}", N)
    assert template.state is ReviewState.REJECTED
    assert template.reason == (
        "templates about verification codes must be of the verification code type "
        "(模板内容含验证码，注册码，校验证请选择验证码模板类型)"
    )
    assert account.next_due() is None


def test_forbidden_words_reach_review():
    account = SmsAccount("enterprise", forbidden_words=["抽奖"])
    signature = account.add_signature(T0, "抽奖中心")
    assert signature.reason == "signature contains the forbidden word '抽奖' (不含违禁关键词)"
    template = account.add_template(T0, "t", "参加抽奖活动", P)
    assert template.reason == review_template("参加抽奖活动", P, forbidden_words=["抽奖"])
    assert template.state is ReviewState.REJECTED


def test_review_after_a_delay():
    account = SmsAccount("enterprise", review_delay_ms=5_000)
    signature = account.add_signature(T0, "阿里云")
    assert (signature.state, signature.due_at) == (ReviewState.PENDING, T0 + 5_000)
    assert signature.state.label == "审核中"
    template = account.add_template(T0 + 1_000, "t", CODE_TEXT, V)
    bad = account.add_template(T0 + 2_000, "b", "【阿里云】${a}", N)
    assert account.next_due() == T0 + 5_000
    with pytest.raises(SmsError) as caught:
        account.check_signature("阿里云")
    assert caught.value.code == "InvalidSignName.Malformed"
    with pytest.raises(SmsError) as caught:
        account.check_template(template.code)
    assert caught.value.code == "InvalidTemplateCode.Malformed"
    assert account.advance(T0 + 4_999) == []
    done = account.advance(T0 + 6_000)
    assert [r.work_order for r in done] == [signature.work_order, template.work_order]
    assert account.signature("阿里云").state is ReviewState.APPROVED
    # stamped with the due time, not the (late) time advance ran
    assert account.signature("阿里云").reviewed_at == T0 + 5_000
    assert account.template(template.code).state is ReviewState.APPROVED
    assert account.check_template(template.code).code == template.code
    assert account.next_due() == T0 + 7_000
    (finished,) = account.advance(T0 + 7_000)
    assert finished.code == bad.code
    assert finished.reason == (
        "template must not contain 【】 anywhere (【】符号在模板内容中任意位置都不能使用)"
    )
    assert account.next_due() is None
    assert account.advance(T0 + 100_000) == []


def test_deleting_a_pending_item_drops_its_review():
    account = SmsAccount("enterprise", review_delay_ms=1_000)
    account.add_signature(T0, "阿里云")
    template = account.add_template(T0 + 500, "t", NOTICE_TEXT, N)
    account.delete_signature("阿里云")
    assert account.next_due() == T0 + 1_500
    # re-adding the same name gets a new work order and a new due time
    again = account.add_signature(T0 + 800, "阿里云")
    assert account.next_due() == T0 + 1_500
    account.delete_template(template.code)
    assert account.next_due() == T0 + 1_800
    assert [r.work_order for r in account.advance(T0 + 2_000)] == [again.work_order]


def test_unique_codes_and_work_orders():
    account = SmsAccount("enterprise")
    first = account.add_template(T0, "a", NOTICE_TEXT, N)
    account.add_signature(T0, "阿里云")
    second = account.add_template(T0, "b", CODE_TEXT, V)
    account.delete_template(second.code)
    third = account.add_template(T0, "c", NOTICE_TEXT, N)
    assert [first.code, second.code, third.code] == [
        "SMS_100000001",
        "SMS_100000002",
        "SMS_100000003",
    ]
    orders = [
        first.work_order,
        account.signature("阿里云").work_order,
        second.work_order,
        third.work_order,
    ]
    assert orders == ["1000001", "1000002", "1000003", "1000004"]
    assert all(re.fullmatch(r"\d{7}", order) for order in orders)
    assert all(re.fullmatch(r"SMS_\d+", t.code) for t in account.templates())


def test_two_accounts_number_the_same_way():
    a, b = SmsAccount(), SmsAccount()
    assert a.add_template(T0, "t", NOTICE_TEXT, N) == b.add_template(T0, "t", NOTICE_TEXT, N)


def test_query_list_delete():
    account = SmsAccount("enterprise")
    account.add_signature(T0, "阿里云")
    account.add_signature(T0 + 1, "云通信")
    t1 = account.add_template(T0, "one", NOTICE_TEXT, N)
    t2 = account.add_template(T0 + 1, "two", CODE_TEXT, V)
    assert [s.name for s in account.signatures()] == ["阿里云", "云通信"]
    assert account.signature("云通信").created_at == T0 + 1
    assert account.signature("云通信").sign_type == "验证码或短信通知"
    assert account.templates() == [t1, t2]
    assert t2.kind is V and t2.variables == ["code"] and t2.name == "two"
    assert account.delete_template(t1.code) == t1
    assert account.templates() == [t2]
    with pytest.raises(SmsError) as caught:
        account.template(t1.code)
    assert caught.value.code == "InvalidTemplateCode.Malformed"
    assert caught.value.message == "The specified templateCode is wrongly formed."
    account.delete_signature("阿里云")
    with pytest.raises(SmsError) as caught:
        account.delete_signature("阿里云")
    assert caught.value.code == "InvalidSignName.Malformed"
    assert caught.value.message == "The specified sign name is wrongly formed."


def test_downgrade_keeps_records_but_refuses_enterprise_kinds_at_send():
    account = SmsAccount("enterprise")
    promo = account.add_template(T0, "p", "新品上市，欢迎选购", P)
    for name in ("阿里云", "云通信"):
        account.add_signature(T0, name)
    account.set_account_type("personal")
    assert len(account.signatures()) == 2
    with pytest.raises(SmsError) as caught:
        account.check_template(promo.code)
    assert caught.value.code == "InvalidArgument"
    with pytest.raises(SmsError):
        account.add_signature(T0, "第三个")


def test_export_restore_round_trip_with_pending_reviews():
    account = SmsAccount("enterprise", forbidden_words=["抽奖"], review_delay_ms=1_000)
    account.add_signature(T0, "阿里云")
    account.add_signature(T0, "抽奖中心")
    done = account.add_template(T0, "t", CODE_TEXT, V)
    account.advance(T0 + 1_000)
    pending = account.add_template(T0 + 2_000, "n", NOTICE_TEXT, N)
    account.freeze()
    data = account.export()
    data = msgpack.unpackb(msgpack.packb(data), raw=False)
    restored = SmsAccount.restore(data)
    assert restored.export() == account.export()
    assert restored.signatures() == account.signatures()
    assert restored.templates() == account.templates()
    assert restored.template(done.code).state is ReviewState.APPROVED
    assert restored.signature("抽奖中心").state is ReviewState.REJECTED
    assert restored.status is AccountStatus.FROZEN
    assert restored.next_due() == T0 + 3_000
    (finished,) = restored.advance(T0 + 3_000)
    assert finished.code == pending.code and finished.state is ReviewState.APPROVED
    # counters continue, never reusing a code or a work order
    later = restored.add_template(T0 + 4_000, "z", NOTICE_TEXT, N)
    assert later.code == "SMS_100000003"
    assert later.work_order == "1000005"


def test_negative_delay_is_refused():
    with pytest.raises(ValueError):
        SmsAccount(review_delay_ms=-1)
