"""The SMS API through the official SDKs only: alibabacloud-dysmsapi20170525 (SendSms,
SendBatchSms, QuerySendDetails, signatures and templates), alibabacloud-dybaseapi20170525
(QueryTokenForMnsQueue) and the MNS SDK reading the Alicom queues with the token."""

from __future__ import annotations

import json
from functools import partial

import pytest
from alibabacloud_dybaseapi20170525 import models as base_models
from alibabacloud_dybaseapi20170525.client import Client as BaseClient
from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message

from minimns.core.sms.formats import day_text
from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

from ..server_helpers import wait_until

AK, SK = "test-ak", "test-sk"
NUMBER = "13800000000"
REPORT_QUEUE = "Alicom-Queue-1234567890-SmsReport"
UP_QUEUE = "Alicom-Queue-1234567890-SmsUp"
CONFIG = {
    "queue": [{"name": "other"}],
    "sms": {
        "account_type": "enterprise",
        "subscribe": ["SmsReport", "SmsUp"],
        "blacklist": ["赌"],
        "carrier": {"latency_ms": 1000},
        "signatures": [{"name": "阿里云"}, {"name": "云通信"}],
        "templates": [
            {"code": "SMS_1", "name": "code", "content": "您的验证码为${code}，请勿泄露",
             "type": "verification"},
            {"code": "SMS_2", "name": "notice", "content": "您的订单${order}已发货",
             "type": "notification"},
        ],
    },
}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The SDK honours HTTP_PROXY but ignores NO_PROXY: loopback must not go to a proxy."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with ServerThread(ServerOptions(port=0, access_key_id=AK, access_key_secret=SK),
                      config=CONFIG) as running:
        yield running


def client(server, secret=SK, key=AK, **config):
    host = server.endpoint.partition("//")[2]
    return Client(Config(endpoint=host, protocol="http", access_key_id=key,
                         access_key_secret=secret, **config))


def base_client(server):
    host = server.endpoint.partition("//")[2]
    return BaseClient(Config(endpoint=host, protocol="http", access_key_id=AK, access_key_secret=SK))


def send(server, numbers=NUMBER, template="SMS_1", params='{"code": "1234"}', sign="阿里云", **extra):
    return client(server).send_sms(models.SendSmsRequest(
        phone_numbers=numbers, sign_name=sign, template_code=template, template_param=params, **extra))


def today(server) -> str:
    return day_text(server.call(_now, server))


async def _now(server):
    return server.broker.now()


def token(server, message_type="SmsReport", queue=REPORT_QUEUE):
    return base_client(server).query_token_for_mns_queue(base_models.QueryTokenForMnsQueueRequest(
        message_type=message_type, queue_name=queue)).body


def token_queue(server, dto, name=REPORT_QUEUE):
    account = Account(server.endpoint, dto.access_key_id, dto.access_key_secret, dto.security_token)
    queue = account.get_queue(name)
    queue.set_encoding(False)
    return queue


# ---------------------------------------------------------------- sending


def test_send_sms_returns_a_biz_id_and_the_message_is_delivered(server):
    response = send(server, out_id="order-7", sms_up_extend_code="123")
    assert response.status_code == 200
    body = response.body
    assert (body.code, body.message) == ("OK", "OK") and body.request_id
    assert body.biz_id.endswith("^0")
    server.advance(1)
    details = client(server).query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date=today(server), page_size=10, current_page=1)).body
    assert details.code == "OK" and details.total_count == "1"
    [record] = details.sms_send_detail_dtos.sms_send_detail_dto
    assert (record.phone_num, record.send_status, record.err_code, record.template_code,
            record.content, record.out_id) == (
        NUMBER, 3, "DELIVERED", "SMS_1", "【阿里云】您的验证码为1234，请勿泄露", "order-7")
    assert len(record.send_date) == 19 and len(record.receive_date) == 19


def test_the_older_hmac_sha1_signature_works_too(server):
    v2 = client(server, signature_algorithm="v2")
    body = v2.send_sms(models.SendSmsRequest(phone_numbers=NUMBER, sign_name="阿里云",
                                             template_code="SMS_1", template_param='{"code":"1"}')).body
    assert body.code == "OK"
    batch = v2.send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json='["13900000000"]', sign_name_json='["云通信"]', template_code="SMS_2",
        template_param_json='[{"order": "7"}]')).body
    assert batch.code == "OK"


def test_send_batch_sms_gives_each_number_its_signature_and_parameters(server):
    body = client(server).send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json=json.dumps([NUMBER, "13900000000"]),
        sign_name_json=json.dumps(["阿里云", "云通信"]), template_code="SMS_2",
        template_param_json=json.dumps([{"order": "A1"}, {"order": "B2"}]),
        sms_up_extend_code_json=json.dumps(["90999", "90998"]))).body
    assert body.code == "OK"
    server.advance(1)
    inboxes = server.call(_inboxes, server)
    assert inboxes == {NUMBER: ["【阿里云】您的订单A1已发货"], "13900000000": ["【云通信】您的订单B2已发货"]}


async def _inboxes(server):
    return {n: [m.text for m in ms] for n, ms in server.broker.sms.inboxes().items()}


# ---------------------------------------------------------------- every isv code


async def _configure(server, **changes):
    sms = server.broker.sms
    if "status" in changes or "account_type" in changes:
        await sms.set_account(changes.get("account_type"), changes.get("status"))
    if "balance" in changes:
        await sms.set_balance(changes["balance"])


REFUSALS = [
    # (what, SendSms arguments, setup, code, message)
    ("unknown signature", {"sign": "别的"}, {}, "isv.SMS_SIGNATURE_ILLEGAL", "短信签名不合法"),
    ("unknown template", {"template": "SMS_9"}, {}, "isv.SMS_TEMPLATE_ILLEGAL", "短信模板不合法"),
    ("bad number", {"numbers": "123"}, {}, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    ("1001 numbers", {"numbers": ",".join(str(13000000000 + i) for i in range(1001))}, {},
     "isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制"),
    ("missing variable", {"params": '{"other": "1"}'}, {}, "isv.TEMPLATE_MISSING_PARAMETERS",
     "模板缺少变量"),
    ("not JSON", {"params": "{code"}, {}, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"),
    ("not strings", {"params": '{"code": 1234}'}, {}, "isv.INVALID_JSON_PARAM",
     "JSON参数不合法，只接受字符串值"),
    ("blacklisted word", {"params": '{"code": "赌"}'}, {}, "isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控"),
    ("personal length", {"params": '{"code": "1234567890123456"}'}, {"account_type": "personal"},
     "isv.PARAM_LENGTH_LIMIT", "参数超出长度限制"),
    ("URL", {"params": '{"code": "https://a.cn"}'}, {}, "isv.PARAM_NOT_SUPPORT_URL", "不支持URL"),
    ("balance", {}, {"balance": 0}, "isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
    ("out of service", {}, {"status": "out_of_service"}, "isv.OUT_OF_SERVICE", "业务停机"),
    ("frozen", {}, {"status": "frozen"}, "isv.ACCOUNT_ABNORMAL", "账户异常"),
]


@pytest.mark.parametrize("what, arguments, setup, code, message", REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_each_refusal_has_its_isv_code(server, what, arguments, setup, code, message):
    if setup:
        server.call(partial(_configure, server, **setup))
    response = send(server, **arguments)
    assert response.status_code == 200
    assert (response.body.code, response.body.message, response.body.biz_id) == (code, message, None)
    assert server.call(_records, server) == 0


async def _records(server):
    return len(server.broker.sms.service.records)


def test_frequency_limits_name_their_window(server):
    assert send(server).body.code == "OK"
    body = send(server).body
    assert (body.code, body.message) == ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
    for _ in range(4):
        server.advance(60)
        assert send(server).body.code == "OK"
    server.advance(60)
    assert send(server).body.message == "触发小时级流控Permits:5"


def test_thresholds_refuse_with_business_limit_control(server):
    server.call(_threshold, server)
    assert send(server, template="SMS_2", params='{"order": "1"}').body.code == "OK"
    body = send(server, template="SMS_2", params='{"order": "2"}').body
    assert body.code == "isv.BUSINESS_LIMIT_CONTROL"


async def _threshold(server):
    await server.broker.sms.set_threshold("day", 1)


def test_invalid_parameters(server):
    body = send(server, sms_up_extend_code="12345678").body
    assert body.code == "isv.INVALID_PARAMETERS"
    batch = client(server).send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json='["13800000000", "13900000000"]', sign_name_json='["阿里云"]',
        template_code="SMS_2", template_param_json='[{"order": "1"}, {"order": "2"}]')).body
    assert batch.code == "isv.INVALID_PARAMETERS"
    old = client(server).query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date="20000101", page_size=10, current_page=1)).body
    assert old.code == "isv.INVALID_PARAMETERS"
    big_page = client(server).query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date=today(server), page_size=51, current_page=1)).body
    assert big_page.code == "isv.INVALID_PARAMETERS"


def test_odd_numbers_and_deep_json_are_refused_not_crashed_on(server):
    sdk = client(server)
    odd = sdk.query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date=today(server), page_size="²", current_page=1)).body
    assert odd.code == "isv.INVALID_PARAMETERS"
    huge = sdk.query_sms_sign_list(models.QuerySmsSignListRequest(page_index="9" * 5000)).body
    assert huge.code == "isv.INVALID_PARAMETERS"
    deep = sdk.send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json="[" * 100_000, sign_name_json="[]", template_code="SMS_2")).body
    assert deep.code == "isv.INVALID_JSON_PARAM"
    surrogate = send(server, params='{"code": "\\ud800"}').body
    assert surrogate.code == "isv.INVALID_JSON_PARAM"


def test_batch_limits(server):
    numbers = [str(13000000000 + i) for i in range(101)]
    body = client(server).send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json=json.dumps(numbers), sign_name_json=json.dumps(["阿里云"] * 101),
        template_code="SMS_2", template_param_json=json.dumps([{"order": "1"}] * 101))).body
    assert body.code == "isv.MOBILE_COUNT_OVER_LIMIT"
    body = client(server).send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json=json.dumps(numbers[:100]), sign_name_json=json.dumps(["阿里云"] * 100),
        template_code="SMS_2", template_param_json=json.dumps([{"order": "1"}] * 100))).body
    assert body.code == "OK"
    body = client(server).send_batch_sms(models.SendBatchSmsRequest(
        phone_number_json="not json", sign_name_json="[]", template_code="SMS_2")).body
    assert body.code == "isv.INVALID_JSON_PARAM"


# ---------------------------------------------------------------- gateway errors


def test_a_wrong_secret_is_a_signature_mismatch(server):
    for config in ({}, {"signature_algorithm": "v2"}):
        with pytest.raises(ClientException) as caught:
            client(server, secret="wrong", **config).send_sms(models.SendSmsRequest(
                phone_numbers=NUMBER, sign_name="阿里云", template_code="SMS_1"))
        assert caught.value.code == "SignatureDoesNotMatch"
        assert caught.value.status_code == 400
    with pytest.raises(ClientException) as caught:
        client(server, key="nobody").send_sms(models.SendSmsRequest(
            phone_numbers=NUMBER, sign_name="阿里云", template_code="SMS_1"))
    assert (caught.value.code, caught.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert server.call(_records, server) == 0


def test_a_missing_parameter_is_a_client_error(server):
    with pytest.raises(ClientException) as caught:
        client(server).send_sms(models.SendSmsRequest(sign_name="阿里云", template_code="SMS_1"))
    assert caught.value.code == "MissingPhoneNumbers"
    assert caught.value.data["Message"] == "PhoneNumbers is mandatory for this action."


def test_without_keys_any_signature_is_accepted():
    with ServerThread(config=CONFIG) as running:
        assert send(running).body.code == "OK"
        body = client(running, secret="anything").send_sms(models.SendSmsRequest(
            phone_numbers="13900000000", sign_name="阿里云", template_code="SMS_1",
            template_param='{"code": "1"}')).body
        assert body.code == "OK"


# ---------------------------------------------------------------- paging


def test_query_send_details_pages_and_filters_by_biz_id(server):
    biz_ids = [send(server, template="SMS_2", params=json.dumps({"order": str(i)})).body.biz_id
               for i in range(5)]
    pages = [client(server).query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date=today(server), page_size=2, current_page=page)).body
        for page in (1, 2, 3, 4)]
    assert [p.total_count for p in pages] == ["5"] * 4
    contents = [[d.content for d in p.sms_send_detail_dtos.sms_send_detail_dto] for p in pages]
    assert contents == [["【阿里云】您的订单0已发货", "【阿里云】您的订单1已发货"],
                        ["【阿里云】您的订单2已发货", "【阿里云】您的订单3已发货"],
                        ["【阿里云】您的订单4已发货"], []]
    assert pages[0].sms_send_detail_dtos.sms_send_detail_dto[0].send_status == 1  # waiting
    one = client(server).query_send_details(models.QuerySendDetailsRequest(
        phone_number=NUMBER, send_date=today(server), page_size=10, current_page=1,
        biz_id=biz_ids[3])).body
    assert one.total_count == "1"


# ---------------------------------------------------------------- the token flow


def test_the_token_reads_receipts_until_it_expires(server):
    send(server, out_id="x1")
    server.advance(1)
    dto = token(server).message_token_dto
    assert dto.access_key_id.startswith("STS.") and dto.security_token
    assert len(dto.expire_time) == 19
    queue = token_queue(server, dto)
    message = queue.receive_message(3)
    report = json.loads(message.message_body)
    assert (report["phone_number"], report["success"], report["out_id"]) == (NUMBER, True, "x1")
    queue.delete_message(message.receipt_handle)  # the seeds' consumer: delete when handled
    # reading only, this queue only
    error = _mns_error(queue.send_message, Message("forged"))
    assert error.type == "AccessDenied"
    other = Account(server.endpoint, dto.access_key_id, dto.access_key_secret,
                    dto.security_token).get_queue("other")
    assert _mns_error(other.receive_message, 1).type == "AccessDenied"
    wrong_token = Account(server.endpoint, dto.access_key_id, dto.access_key_secret, "CAISwrong")
    assert _mns_error(wrong_token.get_queue(REPORT_QUEUE).receive_message, 1).type == "InvalidAccessKeyId"
    server.advance(3599)
    send(server, numbers="13900000000")
    server.advance(1)
    assert _mns_error(queue.receive_message, 1).type == "SecurityTokenExpired"
    fresh = token_queue(server, token(server).message_token_dto)
    assert json.loads(fresh.receive_message(3).message_body)["phone_number"] == "13900000000"


def test_a_kept_message_comes_back_as_the_seeds_consumer_expects(server):
    send(server)
    server.advance(1)
    queue = token_queue(server, token(server).message_token_dto)
    first = queue.receive_message(3)  # handling failed: not deleted
    server.advance(31)  # the queue's visibility timeout
    again = queue.receive_message(3)
    assert again.message_id == first.message_id and again.dequeue_count == 2


def test_replies_reach_sms_up_read_with_the_token(server):
    send(server, sms_up_extend_code="90999")
    server.advance(1)
    server.call(_reply, server)
    queue = token_queue(server, token(server, "SmsUp", UP_QUEUE).message_token_dto, UP_QUEUE)
    up = json.loads(queue.receive_message(3).message_body)
    assert (up["phone_number"], up["content"], up["sign_name"], up["dest_code"]) == (
        NUMBER, "好的", "阿里云", "90999")


async def _reply(server):
    await server.broker.sms.reply(NUMBER, "好的")


def test_a_token_for_an_unsubscribed_type_or_another_queue_is_refused(server):
    assert token(server, queue="Alicom-Queue-1-SmsReport").code == "isv.INVALID_PARAMETERS"
    assert token(server, message_type="Nope").code == "isv.INVALID_PARAMETERS"


def _mns_error(call, *args):
    with pytest.raises(MNSServerException) as caught:
        call(*args)
    return caught.value


# ---------------------------------------------------------------- signatures and templates


def test_signatures_and_templates_through_the_sdk(server):
    server.call(_review_delay, server)
    sdk = client(server)
    assert sdk.add_sms_sign(models.AddSmsSignRequest(
        sign_name="短信测试", sign_source=0, remark="test")).body.code == "OK"
    assert sdk.query_sms_sign(models.QuerySmsSignRequest(sign_name="短信测试")).body.sign_status == 0
    added = sdk.add_sms_template(models.AddSmsTemplateRequest(
        template_type=1, template_name="ship", template_content="订单${order}已发货",
        remark="test")).body
    assert added.code == "OK" and added.template_code.startswith("SMS_")
    bad = sdk.add_sms_template(models.AddSmsTemplateRequest(
        template_type=1, template_name="bad", template_content="${a}${b}", remark="test")).body
    server.advance(60)
    assert wait_until(lambda: sdk.query_sms_sign(
        models.QuerySmsSignRequest(sign_name="短信测试")).body.sign_status == 1)
    template = sdk.query_sms_template(models.QuerySmsTemplateRequest(
        template_code=added.template_code)).body
    assert (template.template_status, template.template_type, template.template_content) == (
        1, 1, "订单${order}已发货")
    rejected = sdk.query_sms_template(models.QuerySmsTemplateRequest(
        template_code=bad.template_code)).body
    assert rejected.template_status == 2 and "不支持全变量" in rejected.reason
    listed = sdk.query_sms_template_list(models.QuerySmsTemplateListRequest(
        page_index=1, page_size=10)).body
    assert listed.total_count == 4
    assert [t.audit_status for t in listed.sms_template_list][-1] == "AUDIT_STATE_NOT_PASS"
    signs = sdk.query_sms_sign_list(models.QuerySmsSignListRequest(page_index=1, page_size=10)).body
    assert [s.sign_name for s in signs.sms_sign_list] == ["阿里云", "云通信", "短信测试"]
    assert sdk.delete_sms_template(models.DeleteSmsTemplateRequest(
        template_code=bad.template_code)).body.code == "OK"
    assert sdk.delete_sms_sign(models.DeleteSmsSignRequest(sign_name="短信测试")).body.code == "OK"
    gone = sdk.query_sms_sign(models.QuerySmsSignRequest(sign_name="短信测试")).body
    assert gone.code == "isv.SMS_SIGNATURE_ILLEGAL"


async def _review_delay(server):
    await server.broker.sms.configure(review_delay_ms=60_000)


def test_the_signature_count_limit(server):
    server.call(partial(_configure, server, account_type="personal"))
    body = client(server).add_sms_sign(models.AddSmsSignRequest(
        sign_name="第三个", sign_source=0, remark="x")).body
    assert body.code == "isv.SIGN_COUNT_OVER_LIMIT"
