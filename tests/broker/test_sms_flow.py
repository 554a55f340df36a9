"""SMS end to end inside the broker, on the virtual clock: the SMS topic, every check of a
send with its code, the carrier, receipts and replies in the Alicom queues, event rules and
their bodies, records and statistics, billing. Values are exact: they are the seeds'."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import minimns
from tests.broker_helpers import drain
from minimns.config import TEST_SIGNATURE, TEST_TEMPLATE, serve_defaults
from minimns.core.sms import SmsError
from minimns.core.sms.formats import compact_time, day_text, wall_time
from minimns.core.topic import TopicMessage

T0 = 1_700_000_000_000  # 2023-11-15 06:13:20 Beijing
NUMBER = "13800000000"
SIGN = "阿里云"
CODE_TEXT = "您的验证码为${code}，请勿泄露"
NOTICE_TEXT = "您的订单${order}已发货"
REPORT_QUEUE = "Alicom-Queue-1234567890-SmsReport"
UP_QUEUE = "Alicom-Queue-1234567890-SmsUp"


async def drain_queue(broker, name: str) -> list[str]:
    """The bodies in a broker's queue, removed ([] if the queue is gone)."""
    try:
        return await drain(broker.get_queue(name))
    except minimns.QueueNotExist:
        return []


@asynccontextmanager
async def sms_broker(**configure):
    """A broker with an enterprise account, an approved signature, a verification and a
    notification template, receipts subscribed, and event rules live at once."""
    async with minimns.open_broker(epoch_ms=T0, seed=3) as broker:
        sms = broker.sms
        await sms.set_account("enterprise")
        await sms.add_signature(SIGN)
        await sms.add_template("code", CODE_TEXT, "verification", code="SMS_1")
        await sms.add_template("notice", NOTICE_TEXT, "notification", code="SMS_2")
        await sms.subscribe("SmsReport")
        await sms.subscribe("SmsUp")
        await sms.configure(activation_ms=0, latency_ms=1000, **configure)
        await broker.create_queue("events")
        for name, event in [("ok", "SMSRequest:SendSuccessfully"), ("bad", "SMSRequest:SendFailed"),
                            ("up", "SMSExtend:ReplyMessage")]:
            await sms.create_event_rule(name, event, endpoints=["events"])
        yield broker


async def wait(seconds):
    """Let ``seconds`` of virtual time pass, and whatever fell due at the end run."""
    await trio.sleep(seconds)
    await trio.testing.wait_all_tasks_blocked()


def direct(template="SMS_1", receivers=(NUMBER,), params=None, sign=SIGN, multi=None):
    """The DirectSMS attribute as the official SDK's DirectSMSInfo writes it."""
    if multi is not None:
        return {"FreeSignName": sign, "TemplateCode": template, "Type": "multiContent",
                "Receiver": "", "SmsParams": json.dumps(multi)}
    return {"FreeSignName": sign, "TemplateCode": template, "Type": "singleContent",
            "Receiver": ",".join(receivers), "SmsParams": json.dumps(params or {"code": "1234"})}


async def publish(broker, info, body="sms-message"):
    topic = broker.get_topic(broker.sms.topic_name)
    return await topic.publish_message(TopicMessage(body, direct_sms=info))


def fields(event: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in event.split("&"))


# ---------------------------------------------------------------- the SMS topic


async def test_the_sms_topic_appears_when_sms_is_first_used():
    async with minimns.open_broker(epoch_ms=T0) as broker:
        assert await broker.list_topic() == ([], "")
        assert await broker.sms.activate() == "sms.topic-cn-hangzhou"
        assert await broker.list_topic() == (["sms.topic-cn-hangzhou"], "")
        subscriptions = await broker.get_topic("sms.topic-cn-hangzhou").list_subscription()
        assert subscriptions == (["sms-subscription"], "")
        meta = await broker.get_topic("sms.topic-cn-hangzhou").get_subscription(
            "sms-subscription").get_attributes()
        assert meta.endpoint == "sms:directsms:anonymous"
        # free: it does not count against the 1000-topic quota
        for i in range(3):
            await broker.create_topic(f"t{i}")


async def test_region_names_the_sms_topic():
    async with minimns.open_broker(epoch_ms=T0, region="cn-beijing") as broker:
        assert await broker.sms.activate() == "sms.topic-cn-beijing"


# ---------------------------------------------------------------- a delivered message


async def test_a_message_is_delivered_after_the_carrier_latency_with_receipt_and_event():
    async with sms_broker() as broker:
        published = await publish(broker, direct())
        [record] = broker.sms.records(NUMBER)
        assert (record.status, record.template_code, record.content) == (
            1, "SMS_1", "【阿里云】您的验证码为1234，请勿泄露")
        assert broker.sms.inbox(NUMBER) == []
        assert await drain_queue(broker, REPORT_QUEUE) == []
        await wait(0.999)
        assert broker.sms.records(NUMBER)[0].status == 1
        await wait(0.001)
        assert broker.sms.records(NUMBER)[0].status == 3
        [got] = broker.sms.inbox(NUMBER)
        assert got.text == "【阿里云】您的验证码为1234，请勿泄露" and got.time == T0 + 1000
        [report] = await drain_queue(broker, REPORT_QUEUE)
        assert json.loads(report) == {
            "phone_number": NUMBER, "success": True, "biz_id": record.biz_id, "out_id": "",
            "send_time": wall_time(T0), "report_time": wall_time(T0 + 1000),
            "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
        }
        [event] = await drain_queue(broker, "events")
        assert event == (
            f"messageID={published.message_id}&receiver={NUMBER}&state=1&biz_id={record.biz_id}"
            f"&template_code=SMS_1&sms_count=1&receive_time={wall_time(T0 + 1000)}&ver=1.0"
            "&event=SendSuccessfully"
        )
        assert wall_time(T0) == "2023-11-15 06:13:20"


async def test_multi_content_sends_each_number_its_own_parameters():
    async with sms_broker() as broker:
        await publish(broker, direct(multi={NUMBER: {"code": "1111"}, "13900000000": {"code": "2222"}}))
        await wait(1)
        assert broker.sms.inbox(NUMBER)[0].text.endswith("1111，请勿泄露")
        assert broker.sms.inbox("13900000000")[0].text.endswith("2222，请勿泄露")
        assert broker.sms.records(NUMBER)[0].biz_id == broker.sms.records("13900000000")[0].biz_id


async def test_a_phone_endpoint_sends_to_its_number_only():
    async with sms_broker() as broker:
        topic = await broker.create_topic("alerts")
        await topic.subscribe("phone", "sms:directsms:13700000000")
        await topic.publish_message(TopicMessage("x", direct_sms=direct(receivers=(NUMBER,))))
        await wait(1)
        assert [m.text for m in broker.sms.inbox("13700000000")] == ["【阿里云】您的验证码为1234，请勿泄露"]
        assert broker.sms.inbox(NUMBER) == []


# ---------------------------------------------------------------- every check, with its code


CHECKS = [
    # (what, DirectSMS, MNS code, message)
    ("unknown signature", direct(sign="别的"), "InvalidSignName.Malformed",
     "The specified sign name is wrongly formed."),
    ("unknown template", direct(template="SMS_9"), "InvalidTemplateCode.Malformed",
     "The specified templateCode is wrongly formed."),
    ("bad number", direct(receivers=("12345",)), "InvalidRecNum.Malformed",
     "The specified recNum is wrongly formed."),
    ("international number, mainland template", direct(receivers=("0085212345678",)),
     "InvalidRecNum.Malformed", "The specified recNum is wrongly formed."),
    ("params not JSON", {**direct(), "SmsParams": "{code"}, "InvalidParamString.Malformed",
     "The specified paramString is wrongly formed."),
    ("params not strings", direct(params={"code": 1234}), "InvalidParamString.Malformed",
     "The specified paramString is wrongly formed."),
    ("missing variable", direct(params={"other": "1"}), "InvalidParamStringTemplate.Malformed",
     "The specified paramString and template is wrongly formed."),
    ("URL in a variable", direct(params={"code": "http://x.cn"}), "InvalidDayu.Malformed", "null"),
    ("domain in a variable", direct(params={"code": "www.evil"}), "InvalidDayu.Malformed", "null"),
]


@pytest.mark.parametrize("what, info, code, message", CHECKS, ids=[c[0] for c in CHECKS])
async def test_each_check_fails_the_number_with_its_code(what, info, code, message):
    async with sms_broker() as broker:
        published = await publish(broker, info)
        [event] = await drain_queue(broker, "events")
        receiver = info["Receiver"]
        assert event == (f"messageID={published.message_id}&receiver={receiver}&state=2"
                         f"&err_code={code}|{message}&event=SendFailed")
        assert broker.sms.inboxes() == {} and broker.sms.records(receiver) == []
        await wait(5)
        assert await drain_queue(broker, REPORT_QUEUE) == []


async def test_signature_errors_give_one_event_per_number():
    async with sms_broker() as broker:
        await publish(broker, direct(sign="别的", receivers=(NUMBER, "13900000000")))
        events = [fields(e) for e in await drain_queue(broker, "events")]
        assert [e["receiver"] for e in events] == [NUMBER, "13900000000"]
        assert {e["err_code"] for e in events} == {
            "InvalidSignName.Malformed|The specified sign name is wrongly formed."}


async def test_a_frozen_account_gives_one_event_without_receiver():
    async with sms_broker() as broker:
        await broker.sms.set_account(status="frozen")
        published = await publish(broker, direct(receivers=(NUMBER, "13900000000")))
        assert await drain_queue(broker, "events") == [
            f"messageID={published.message_id}&state=2&err_code=InvalidDayuStatus.Malformed"
            "|The specified dayu status is wrongly formed.&event=SendFailed"
        ]


async def test_a_pending_or_rejected_template_cannot_send():
    async with sms_broker(review_delay_ms=60_000) as broker:
        template = await broker.sms.add_template("later", NOTICE_TEXT, "notification")
        await publish(broker, direct(template=template.code, params={"order": "1"}))
        assert fields((await drain_queue(broker, "events"))[0])["err_code"].startswith(
            "InvalidTemplateCode.Malformed")
        await wait(60)
        await publish(broker, direct(template=template.code, params={"order": "1"}))
        await wait(1)
        assert len(broker.sms.inbox(NUMBER)) == 1
        rejected = await broker.sms.add_template("bad", "全是${a}${b}", "notification")
        await wait(60)
        assert broker.sms.service.account.template(rejected.code).state.value == "rejected"


async def test_personal_accounts_limit_variable_values_to_15_characters():
    async with sms_broker() as broker:
        await broker.sms.set_account("personal")
        await publish(broker, direct(params={"code": "1" * 16}))
        await publish(broker, direct(params={"code": "1" * 15}))
        [event] = await drain_queue(broker, "events")
        assert fields(event)["err_code"] == (
            "InvalidDayuParamString.Malformed|The specified paramString is too long")
        await wait(1)
        assert len(broker.sms.inbox(NUMBER)) == 1


async def test_the_blacklist_refuses_numbers_and_words():
    async with sms_broker(blacklist=["13900000000", "赌"]) as broker:
        await publish(broker, direct(receivers=(NUMBER, "13900000000")))
        await publish(broker, direct(template="SMS_2", params={"order": "赌场"}))
        events = [fields(e) for e in await drain_queue(broker, "events")]
        assert [(e.get("receiver"), e["err_code"]) for e in events] == [
            ("13900000000", "isv.BLACK_KEY_CONTROL_LIMIT|黑名单管控"),
            (NUMBER, "isv.BLACK_KEY_CONTROL_LIMIT|黑名单管控"),
        ]
        await wait(1)
        assert len(broker.sms.inbox(NUMBER)) == 1


async def test_no_receiver_is_an_error():
    async with sms_broker() as broker:
        await publish(broker, direct(receivers=()))
        [event] = await drain_queue(broker, "events")
        assert "receiver" not in fields(event)
        assert fields(event)["err_code"].startswith("InvalidRecNum.Malformed")


async def test_a_message_without_direct_sms_is_a_missing_parameter():
    async with sms_broker() as broker:
        await broker.get_topic(broker.sms.topic_name).publish_message("no attribute")
        [event] = await drain_queue(broker, "events")
        assert fields(event)["err_code"].startswith("MissingParameter|The input parameter DirectSMS")


async def test_international_numbers_need_an_international_template():
    async with sms_broker() as broker:
        await broker.sms.add_template("intl", "Your order ${order} shipped", "international",
                                      code="SMS_3")
        await publish(broker, direct(template="SMS_3", params={"order": "7"},
                                     receivers=("0085212345678", NUMBER)))
        [event] = await drain_queue(broker, "events")
        assert fields(event)["receiver"] == NUMBER
        await wait(1)
        assert [m.text for m in broker.sms.inbox("0085212345678")] == [
            "【阿里云】Your order 7 shipped"]


async def test_mainland_number_prefixes_are_normalised():
    async with sms_broker() as broker:
        await publish(broker, direct(receivers=("+8613800000000",)))
        await wait(1)
        assert len(broker.sms.inbox(NUMBER)) == 1


# ---------------------------------------------------------------- frequency limits, thresholds


async def test_verification_codes_are_limited_per_minute_hour_and_day():
    async with sms_broker() as broker:
        accepted = []
        for _ in range(24 * 60):  # one send a minute for a day
            await publish(broker, direct())
            accepted.append(len(broker.sms.records(NUMBER)))
            await wait(60)
        counts = [b - a for a, b in zip([0] + accepted, accepted)]
        # 1 per minute, 5 per hour: the first five minutes of each hour, 10 per 24 hours
        assert sum(counts) == 10
        assert [i for i, c in enumerate(counts) if c] == [0, 1, 2, 3, 4, 60, 61, 62, 63, 64]
        refused = [fields(e) for e in await drain_queue(broker, "events") if "SendFailed" in e]
        assert {e["err_code"] for e in refused} == {"InvalidSendSms|Frequency limit reaches."}


async def test_a_second_code_within_the_minute_is_refused_and_accepted_at_exactly_60_s():
    async with sms_broker() as broker:
        await publish(broker, direct())
        await wait(59.999)
        await publish(broker, direct())
        await wait(0.001)
        await publish(broker, direct())
        assert len(broker.sms.records(NUMBER)) == 2


async def test_notifications_are_limited_to_50_a_day_and_numbers_to_40():
    async with sms_broker(limits={"template_per_day": 50, "number_per_day": 100}) as broker:
        for i in range(60):
            await publish(broker, direct(template="SMS_2", params={"order": str(i)}))
        assert len(broker.sms.records(NUMBER)) == 50
    async with sms_broker() as broker:
        for i in range(45):
            await publish(broker, direct(template="SMS_2", params={"order": str(i)}))
        assert len(broker.sms.records(NUMBER)) == 40
        await wait(24 * 3600)
        await publish(broker, direct(template="SMS_2", params={"order": "x"}))
        assert len(broker.sms.records(NUMBER)) == 41


async def test_a_daily_threshold_stops_sending_until_lifted_and_alerts_at_most_20_times():
    async with sms_broker(limits={"number_per_day": None, "template_per_day": None}) as broker:
        await broker.sms.set_threshold("day", 3)
        for i in range(30):
            await publish(broker, direct(template="SMS_2", params={"order": str(i)}))
        assert len(broker.sms.records(NUMBER)) == 3
        thresholds = broker.sms.service.thresholds
        assert thresholds.stopped("day") and len(thresholds.alerts) == 20
        refused = [fields(e)["err_code"] for e in await drain_queue(broker, "events") if "SendFailed" in e]
        assert set(refused) == {"InvalidQuota|Quota exceeds the limit."} and len(refused) == 27
        await wait(86400)  # stopped stays stopped across midnight ...
        await publish(broker, direct(template="SMS_2", params={"order": "next day"}))
        assert len(broker.sms.records(NUMBER)) == 3
        await broker.sms.lift_threshold("day")  # ... until lifted
        await publish(broker, direct(template="SMS_2", params={"order": "after"}))
        assert len(broker.sms.records(NUMBER)) == 4
        await broker.sms.set_threshold("month", 0)  # 关闭发送
        await publish(broker, direct(template="SMS_2", params={"order": "closed"}))
        assert len(broker.sms.records(NUMBER)) == 4


# ---------------------------------------------------------------- billing


@pytest.mark.parametrize("length, count", [(70, 1), (71, 2), (134, 2), (135, 3)])
async def test_billing_counts_at_70_71_134_135_characters(length, count):
    async with sms_broker() as broker:
        await broker.sms.add_template("long", "通知：${text}。", "notification", code="SMS_7")
        filler = "字" * (length - len("【阿里云】通知：。"))
        await publish(broker, direct(template="SMS_7", params={"text": filler}))
        await wait(1)
        [record] = broker.sms.records(NUMBER)
        assert len(record.content) == length and record.sms_size == count
        [report] = await drain_queue(broker, REPORT_QUEUE)
        assert json.loads(report)["sms_size"] == str(count)
        assert fields((await drain_queue(broker, "events"))[0])["sms_count"] == str(count)


# ---------------------------------------------------------------- the carrier and replies


async def test_carrier_failures_give_failed_records_receipts_and_events():
    async with sms_broker(failures=[("1390000*", "unreachable"), ("13700000000", "E42", "boom")]) as broker:
        await publish(broker, direct(receivers=(NUMBER, "13900000001", "13700000000")))
        await wait(1)
        assert [broker.sms.records(n)[0].status for n in (NUMBER, "13900000001", "13700000000")] == [3, 2, 2]
        reports = {json.loads(r)["phone_number"]: json.loads(r) for r in await drain_queue(broker, REPORT_QUEUE)}
        assert (reports["13900000001"]["success"], reports["13900000001"]["err_code"],
                reports["13900000001"]["err_msg"]) == (False, "MOBILE_NOT_ON_SERVICE",
                                                       "停机、空号、暂停服务、关机、不在服务区")
        assert (reports["13700000000"]["err_code"], reports["13700000000"]["err_msg"]) == ("E42", "boom")
        failed = [fields(e) for e in await drain_queue(broker, "events") if "SendFailed" in e]
        assert [f["err_code"] for f in failed] == [
            "MOBILE_NOT_ON_SERVICE|停机、空号、暂停服务、关机、不在服务区", "E42|boom"]
        assert broker.sms.inbox("13900000001") == []


async def test_a_reply_reaches_sms_up_and_the_reply_event():
    async with sms_broker() as broker:
        await broker.sms.send(SIGN, "SMS_1", [NUMBER], {"code": "1"}, extend_code="111")
        await wait(1)
        await drain_queue(broker, "events")
        await broker.sms.reply(NUMBER, "刚才没开回信")
        [up] = await drain_queue(broker, UP_QUEUE)
        assert json.loads(up) == {
            "phone_number": NUMBER, "content": "刚才没开回信", "sign_name": SIGN,
            "send_time": compact_time(T0 + 1000), "dest_code": "111", "sequence_id": 1,
        }
        assert await drain_queue(broker, "events") == [
            f"sender=86{NUMBER}&content=刚才没开回信&receive_time={compact_time(T0 + 1000)}"
            "&extend_code=111&ver=1.0&event=ReplyMessage"
        ]


async def test_without_subscriptions_no_alicom_queue_is_made_or_fed():
    async with minimns.open_broker(epoch_ms=T0) as broker:
        await broker.sms.add_signature(SIGN)
        await broker.sms.add_template("c", CODE_TEXT, "verification", code="SMS_1")
        await publish(broker, direct())
        await wait(2)
        assert (await broker.list_queue())[0] == []
        assert len(broker.sms.inbox(NUMBER)) == 1


async def test_receipts_go_nowhere_once_the_queue_is_deleted():
    async with sms_broker() as broker:
        await broker.get_queue(REPORT_QUEUE).delete()
        await publish(broker, direct())
        await wait(1)
        assert broker.sms.records(NUMBER)[0].status == 3


# ---------------------------------------------------------------- the SendSms-like API


async def test_send_is_atomic_and_returns_the_biz_id():
    async with sms_broker() as broker:
        with pytest.raises(SmsError) as caught:
            await broker.sms.send(SIGN, "SMS_1", [NUMBER, "123"], {"code": "1"})
        assert (caught.value.code, caught.value.isv_code) == (
            "InvalidRecNum.Malformed", "isv.MOBILE_NUMBER_ILLEGAL")
        assert broker.sms.records(NUMBER) == []
        outcome = await broker.sms.send(SIGN, "SMS_1", [NUMBER], {"code": "1"}, out_id="o1")
        assert outcome.accepted == [NUMBER] and outcome.biz_id.endswith("^0")
        with pytest.raises(SmsError) as caught:
            await broker.sms.send(SIGN, "SMS_1", [str(13000000000 + i) for i in range(1001)], {})
        assert caught.value.isv_code == "isv.MOBILE_COUNT_OVER_LIMIT"


# ---------------------------------------------------------------- records and statistics


async def test_records_are_queried_by_number_and_day_with_paging_for_30_days():
    async with sms_broker(limits={"number_per_day": None, "template_per_day": None}) as broker:
        for i in range(12):
            await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": str(i)}, out_id=f"o{i}")
        today = day_text(T0)
        total, page = broker.sms.query_send_details(NUMBER, today, page_size=5, current_page=3)
        assert total == 12 and [r.out_id for r in page] == ["o10", "o11"]
        biz = broker.sms.records(NUMBER)[4].biz_id
        assert broker.sms.query_send_details(NUMBER, today, biz_id=biz)[0] == 1
        with pytest.raises(SmsError):
            broker.sms.query_send_details(NUMBER, today, page_size=51)
        await wait(1)
        stats = broker.sms.statistics()
        assert stats == {today: {"requests": 12, "delivered": 12, "failed": 0, "rejected": 0}}
        await wait(29 * 86400)
        assert broker.sms.query_send_details(NUMBER, today)[0] == 12
        await wait(86400)
        with pytest.raises(SmsError):
            broker.sms.query_send_details(NUMBER, today)


# ---------------------------------------------------------------- event rules


async def test_event_rule_constraints():
    async with sms_broker() as broker:
        sms = broker.sms
        await broker.create_topic("mine")
        bad = [
            dict(name="x", event_type="SMSRequest:Nope", topic="mine"),
            dict(name="x", event_type="SMSRequest:SendFailed", topic="mine", endpoints=["events"]),
            dict(name="x", event_type="SMSRequest:SendFailed"),
            dict(name="x", event_type="SMSRequest:SendFailed", topic=sms.topic_name),
            dict(name="x", event_type="SMSRequest:SendFailed", endpoints=["events", "events"]),
            dict(name="x", event_type="SMSRequest:SendFailed", endpoints=["mail:directmail:a@b.cn"]),
            dict(name="ok", event_type="SMSRequest:SendFailed", topic="mine"),  # name taken
            dict(name="x", event_type="SMSRequest:SendFailed", endpoints=["events"]),  # overlaps "bad"
            dict(name="bad name", event_type="SMSRequest:SendFailed", topic="mine"),
        ]
        for args in bad:
            with pytest.raises(SmsError) as caught:
                await sms.create_event_rule(**args)
            assert caught.value.code == "InvalidArgument", args
        with pytest.raises(minimns.MNSError) as caught:
            await sms.create_event_rule("x", "SMSRequest:SendFailed", topic="missing")
        assert caught.value.code == "TopicNotExist"
        assert [r.name for r in sms.event_rules()] == ["ok", "bad", "up"]
        for i in range(7):
            await sms.create_event_rule(f"r{i}", "SMSRequest:SendFailed", endpoints=[f"http://h{i}.cn/"])
        with pytest.raises(SmsError):
            await sms.create_event_rule("r10", "SMSRequest:SendFailed", topic="mine")
        await sms.delete_event_rule("r0")
        assert "sms-event-r0" not in (await broker.list_topic())[0]
        await sms.create_event_rule("r10", "SMSRequest:SendFailed", topic="mine")


async def test_a_rule_takes_effect_ten_minutes_after_creation():
    async with minimns.open_broker(epoch_ms=T0) as broker:
        sms = broker.sms
        await sms.add_signature(SIGN)
        await sms.add_template("c", NOTICE_TEXT, "notification", code="SMS_2")
        await broker.create_queue("events")
        topic = await broker.create_topic("mine")
        await topic.subscribe("q", "acs:mns:cn-hangzhou:1234567890:queues/events",
                              notify_content_format="SIMPLIFIED")
        await sms.create_event_rule("ok", "SMSRequest:SendSuccessfully", topic="mine")
        await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": "1"})
        await wait(598.999)
        await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": "2"})  # delivered at 599.999 s
        await wait(0.001)
        await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": "3"})  # delivered at 600 s: live
        await wait(1)
        events = [fields(e) for e in await drain_queue(broker, "events")]
        assert [e["receive_time"] for e in events] == [wall_time(T0 + 600_000)]


# ---------------------------------------------------------------- durable


async def _durable_setup(path, compact):
    async with minimns.open_broker(data_dir=str(path), fsync="never", epoch_ms=T0, seed=3) as broker:
        sms = broker.sms
        await sms.set_account("enterprise")
        await sms.configure(activation_ms=0, latency_ms=5000, failures=[("139*", "blacklisted")],
                            review_delay_ms=60_000, blacklist=["赌"])
        await sms.add_signature(SIGN)
        await wait(60)
        await sms.add_template("code", CODE_TEXT, "verification", code="SMS_1")
        await wait(60)
        await sms.subscribe("SmsReport")
        await sms.set_threshold("month", 100)
        await broker.create_queue("events")
        await sms.create_event_rule("ok", "SMSRequest:SendSuccessfully", endpoints=["events"])
        await publish(broker, direct(receivers=(NUMBER, "13900000000")))
        await wait(5)  # delivered
        await publish(broker, direct(receivers=("13700000000",)))  # in the carrier at the crash
        await broker.sms.reply(NUMBER, "好")
        if compact:
            broker.journal.compact()
        before = broker.sms.service.export()
        return before, broker.now()


@pytest.mark.parametrize("compact", [False, True], ids=["journal", "snapshot"])
async def test_sms_state_survives_a_restart(tmp_path, compact):
    before, then = await _durable_setup(tmp_path, compact)
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never", epoch_ms=then) as broker:
        assert broker.sms.service.export() == before
        assert broker.sms.topic_name in (await broker.list_topic())[0]
        assert broker.sms.records("13700000000")[0].status == 1
        await wait(5)  # the pending delivery goes on after the restart
        assert broker.sms.records("13700000000")[0].status == 3
        assert [m.text for m in broker.sms.inbox("13700000000")] == ["【阿里云】您的验证码为1234，请勿泄露"]
        assert broker.sms.records("13900000000")[0].err_code == "MOBILE_IN_BLACK"
        assert len(await drain_queue(broker, REPORT_QUEUE)) == 3
        assert len(await drain_queue(broker, "events")) == 2
        # frequency windows came back: a second code within the minute is refused
        await publish(broker, direct(receivers=("13700000000",)))
        assert len(broker.sms.records("13700000000")) == 1


# ---------------------------------------------------------------- a refusal changes nothing


async def test_a_refused_sms_change_leaves_no_sms_topic_behind():
    async with minimns.open_broker(epoch_ms=T0) as broker:
        with pytest.raises(SmsError):
            await broker.sms.delete_signature("nope")
        assert await broker.list_topic() == ([], "")


async def test_a_rule_never_adopts_an_existing_topic(tmp_path):
    async with sms_broker() as broker:
        await broker.create_topic("sms-event-r1")
        await broker.create_queue("q2")
        with pytest.raises(SmsError) as caught:
            await broker.sms.create_event_rule("r1", "SMSRequest:SendFailed", endpoints=["events", "q2"])
        assert caught.value.code == "InvalidArgument"
        assert await broker.get_topic("sms-event-r1").list_subscription() == ([], "")
        with pytest.raises(SmsError):
            await broker.sms.create_event_rule(
                "r2", "SMSRequest:SendFailed", endpoints=[f"http://h{i}.cn/" for i in range(11)])


async def test_an_atomic_refusal_records_its_threshold_alert(tmp_path):
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never", epoch_ms=T0) as broker:
        await broker.sms.add_signature(SIGN)
        await broker.sms.add_template("n", NOTICE_TEXT, "notification", code="SMS_2")
        await broker.sms.set_threshold("day", 1)
        await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": "1"})
        for i in range(2):
            with pytest.raises(SmsError) as caught:
                await broker.sms.send(SIGN, "SMS_2", [NUMBER], {"order": str(i)})
            assert caught.value.code == "InvalidQuota"
        alerts = list(broker.sms.service.thresholds.alerts)
        assert len(alerts) == 3  # reached, then one per refused request
        then = broker.now()
    async with minimns.open_broker(data_dir=str(tmp_path), fsync="never", epoch_ms=then) as broker:
        assert list(broker.sms.service.thresholds.alerts) == alerts


async def test_parameters_with_lone_surrogates_or_deep_nesting_are_not_json_params():
    async with sms_broker() as broker:
        for params in ('{"code": "\\ud800"}', "[" * 50_000):
            with pytest.raises(SmsError) as caught:
                await broker.sms.send(SIGN, "SMS_1", [NUMBER], params)
            assert caught.value.isv_code == "isv.INVALID_JSON_PARAM"
        with pytest.raises(SmsError):
            await broker.sms.reply(NUMBER, "\ud800")


async def test_serve_defaults_activate_sms_once_and_leave_a_changed_account_alone():
    async with minimns.open_broker(epoch_ms=T0) as broker:
        await serve_defaults(broker, None)
        assert await broker.list_topic() == (["sms.topic-cn-hangzhou"], "")
        assert [s.name for s in broker.sms.signatures()] == [TEST_SIGNATURE]
        assert [t.code for t in broker.sms.templates()] == [TEST_TEMPLATE["code"]]
        await broker.sms.delete_template(TEST_TEMPLATE["code"])
        await serve_defaults(broker, None)  # a restart on the same data: nothing comes back
        assert broker.sms.templates() == []
