"""The SMS API (dysmsapi 2017-05-25) and the receipt-queue token (dybaseapi), on the MNS port.

This is also the RPC edge of the port: it checks every RPC request's signature and
hands the management OpenAPI's version (2022-01-19) to ``open_api.OpenApi``.

The official SDKs (``alibabacloud-dysmsapi20170525``, ``alibabacloud-dybaseapi20170525``)
send RPC-style requests: ``POST /`` with the action in ``x-acs-action`` (or
``Action=`` in the query with the older signature), parameters in the query
and, for SendBatchSms, a form body. MNS requests never look like that, so one
port serves both.

Answers are JSON. As the service does it (and the SDK reads it):

- success: HTTP 200, ``{"Code": "OK", "Message": "OK", "RequestId": ..., <fields>}``;
- a business refusal (``isv.*``, the seeds' (docs/sms.md) tables in 002 / 004): HTTP 200 with that
  ``Code`` and its message; the SDK returns it in ``response.body.code``;
- a gateway refusal (signature, missing parameter, unknown action): HTTP 4xx with
  ``Code`` / ``Message`` / ``RequestId``; the SDK raises ``ClientException``.

Every send runs the SMS engine of ``broker.sms``, so review state, numbers,
parameters, frequency limits, thresholds, blacklist, balance and account type
apply exactly as on the SMS topic, and accepted messages go to the same
carrier, receipts, records and event rules.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl

from ...core.sms.account import ReviewState, SmsError
from ...core.sms.formats import wall_time
from ...core.sms.records import PAGE_SIZE_MAX
from ...core.sms.service import MESSAGE_TYPES, NUMBERS_MAX, queue_name
from .signature import AcsError, verify_acs
from ..params import small_int
from ..json_response import json_response
from .open_api import VERSION as OPEN_API_VERSION
from .tokens import TemporaryKeys

if TYPE_CHECKING:
    from ..app import Call, MNSApp
    from ..http import Request, Response

__all__ = ["BATCH_MAX", "SmsApi", "is_rpc"]

VERSION = "2017-05-25"
BATCH_MAX = 100  # 004: "上限为100个手机号码"
_EXTEND_CODE = re.compile(r"[0-9]{1,7}")
# The seeds' descriptions of the isv codes (002, 004), the Message of a refusal
# when the engine has no wording of its own.
ISV_MESSAGES = {
    "isv.OUT_OF_SERVICE": "业务停机",
    "isv.ACCOUNT_ABNORMAL": "账户异常",
    "isv.SMS_TEMPLATE_ILLEGAL": "短信模板不合法",
    "isv.SMS_SIGNATURE_ILLEGAL": "短信签名不合法",
    "isv.INVALID_PARAMETERS": "参数异常",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板缺少变量",
    "isv.BUSINESS_LIMIT_CONTROL": "业务限流",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.BLACK_KEY_CONTROL_LIMIT": "黑名单管控",
    "isv.PARAM_LENGTH_LIMIT": "参数超出长度限制",
    "isv.PARAM_NOT_SUPPORT_URL": "不支持URL",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
}
# Engine codes without an isv code of their own (management calls).
_MANAGEMENT_CODES = {"InvalidSignNumber.Malformed": "isv.SIGN_COUNT_OVER_LIMIT"}
TEMPLATE_TYPES = ["verification", "notification", "promotion", "international"]  # 0..3
_STATUS = {ReviewState.PENDING: 0, ReviewState.APPROVED: 1, ReviewState.REJECTED: 2}
_AUDIT = {ReviewState.PENDING: "AUDIT_STATE_INIT", ReviewState.APPROVED: "AUDIT_STATE_PASS",
          ReviewState.REJECTED: "AUDIT_STATE_NOT_PASS"}


def is_rpc(request: "Request") -> bool:
    """An Alibaba Cloud RPC request (SMS API), not an MNS one."""
    return request.path == "/" and ("x-acs-action" in request.headers or "action" in request.query)


class Refusal(Exception):
    """A business refusal: HTTP 200 with this Code and Message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _refusal(error: SmsError) -> Refusal:
    code = error.isv_code or _MANAGEMENT_CODES.get(error.code, "isv.INVALID_PARAMETERS")
    if error.isv_message:
        return Refusal(code, error.isv_message)
    if error.isv_code and code != "isv.INVALID_PARAMETERS":
        return Refusal(code, ISV_MESSAGES.get(code, error.message))
    return Refusal(code, error.message)  # the engine's own words say what is wrong


def _invalid(message: str) -> Refusal:
    return Refusal("isv.INVALID_PARAMETERS", message)


class Params:
    """The request's parameters, query and form body, decoded."""

    def __init__(self, request: "Request") -> None:
        self.query = parse_qsl(request.target.partition("?")[2], keep_blank_values=True)
        pairs = list(self.query)
        if request.body and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            pairs += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        self.values = dict(pairs)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise AcsError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        return value

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int:
        text = self.values.get(name) or (None if default is None else str(default))
        if text is None:
            raise AcsError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        value = small_int(text, low, high)
        if value is None:
            raise _invalid(f"{name} must be an integer from {low} to {high}")
        return value

    def json_list(self, name: str, required: bool = True) -> list | None:
        text = self.required(name) if required else self.get(name)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, list):
            raise Refusal("isv.INVALID_JSON_PARAM", f"{name} must be a JSON array")
        return value


class SmsApi:
    """The RPC edge; holds the temporary keys it issues for the MNS side."""

    def __init__(self, app: "MNSApp") -> None:
        self.app = app
        self.keys = TemporaryKeys()
        self._actions: dict[str, Callable[[Params], Any]] = {
            "SendSms": self.send_sms,
            "SendBatchSms": self.send_batch_sms,
            "QuerySendDetails": self.query_send_details,
            "AddSmsSign": self.add_sign,
            "QuerySmsSign": self.query_sign,
            "DeleteSmsSign": self.delete_sign,
            "QuerySmsSignList": self.query_sign_list,
            "AddSmsTemplate": self.add_template,
            "QuerySmsTemplate": self.query_template,
            "DeleteSmsTemplate": self.delete_template,
            "QuerySmsTemplateList": self.query_template_list,
            "QueryTokenForMnsQueue": self.query_token,
        }

    @property
    def sms(self) -> Any:
        return self.app.broker.sms

    async def handle(self, call: "Call") -> "Response":
        request = call.request
        try:
            params = Params(request)
            action = request.headers.get("x-acs-action") or params.get("Action") or ""
            version = request.headers.get("x-acs-version") or params.get("Version") or ""
            credentials = self.app.credentials
            if credentials is not None:
                verify_acs(request.method, request.target, request.headers, request.body,
                           lambda key: credentials.access_key_secret
                           if key == credentials.access_key_id else None,
                           int(self.app.wall_time() * 1000), params.query)
            if version == OPEN_API_VERSION:  # the management OpenAPI shares this edge
                return await self.app.open_api.handle(call, action, params)
            operation = self._actions.get(action)
            if operation is not None:
                call.operation = action  # for the metrics: only actions the server has
            if operation is None:
                raise AcsError(404, "InvalidAction.NotFound",
                               "Specified api is not found, please check your url and method.")
            if version != VERSION:
                raise AcsError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            fields = await operation(params)
            body = {"RequestId": call.request_id, "Code": "OK", "Message": "OK", **fields}
            return json_response(call, 200, body)
        except Refusal as refusal:
            return json_response(call, 200, {"RequestId": call.request_id, "Code": refusal.code,
                                          "Message": refusal.message})
        except SmsError as error:
            refusal = _refusal(error)
            return json_response(call, 200, {"RequestId": call.request_id, "Code": refusal.code,
                                          "Message": refusal.message})
        except AcsError as error:
            return json_response(call, error.status, {
                "RequestId": call.request_id, "HostId": request.headers.get("host", ""),
                "Code": error.code, "Message": error.message,
                "Recommend": "https://api.aliyun.com/troubleshoot",
            })

    # -- sending ---------------------------------------------------------------------------

    async def send_sms(self, params: Params) -> dict[str, Any]:
        numbers_text = params.required("PhoneNumbers")
        sign_name = params.required("SignName")
        template_code = params.required("TemplateCode")
        numbers = [n.strip() for n in numbers_text.split(",")]
        if len(numbers) > NUMBERS_MAX:
            raise Refusal("isv.MOBILE_COUNT_OVER_LIMIT", ISV_MESSAGES["isv.MOBILE_COUNT_OVER_LIMIT"])
        extend_code = _extend_code(params.get("SmsUpExtendCode"))
        outcome = await self.sms.send(
            sign_name, template_code, numbers, params.get("TemplateParam"),
            out_id=params.get("OutId"), extend_code=extend_code,
        )
        return {"BizId": outcome.biz_id}

    async def send_batch_sms(self, params: Params) -> dict[str, Any]:
        numbers = params.json_list("PhoneNumberJson")
        signs = params.json_list("SignNameJson")
        template_code = params.required("TemplateCode")
        template_params = params.json_list("TemplateParamJson", required=False)
        extend_codes = params.json_list("SmsUpExtendCodeJson", required=False)
        assert numbers is not None and signs is not None
        if len(numbers) > BATCH_MAX:
            raise Refusal("isv.MOBILE_COUNT_OVER_LIMIT", ISV_MESSAGES["isv.MOBILE_COUNT_OVER_LIMIT"])
        if not all(isinstance(x, str) for x in numbers + signs):
            raise Refusal("isv.INVALID_JSON_PARAM", "numbers and signatures must be strings")
        count = len(numbers)
        if len(signs) != count or any(
            lst is not None and len(lst) != count for lst in (template_params, extend_codes)
        ):
            raise _invalid("PhoneNumberJson, SignNameJson, TemplateParamJson and "
                           "SmsUpExtendCodeJson must have one entry per number")
        codes = [_extend_code(c) for c in extend_codes] if extend_codes is not None else None
        outcome = await self.sms.send_batch(
            template_code, numbers, signs, template_params, codes, out_id=params.get("OutId"),
        )
        return {"BizId": outcome.biz_id}

    async def query_send_details(self, params: Params) -> dict[str, Any]:
        number = params.required("PhoneNumber")
        send_date = params.required("SendDate")
        page_size = params.integer("PageSize", 1, PAGE_SIZE_MAX)
        current_page = params.integer("CurrentPage", 1, 10**9)
        total, records = self.sms.query_send_details(
            number, send_date, params.get("BizId"), page_size, current_page)
        return {
            "TotalCount": str(total),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": [
                {
                    "PhoneNum": r.phone_number,
                    "SendStatus": r.status,
                    "ErrCode": r.err_code,
                    "TemplateCode": r.template_code,
                    "Content": r.content,
                    "SendDate": wall_time(r.send_time),
                    "ReceiveDate": "" if r.receive_time is None else wall_time(r.receive_time),
                    "OutId": r.out_id or "",
                }
                for r in records
            ]},
        }

    # -- signatures and templates ---------------------------------------------------------

    async def add_sign(self, params: Params) -> dict[str, Any]:
        name = params.required("SignName")
        params.integer("SignSource", 0, 5)
        await self.sms.add_signature(name)
        return {"SignName": name}

    async def query_sign(self, params: Params) -> dict[str, Any]:
        signature = self.sms.service.account.signature(params.required("SignName"))
        return {
            "SignName": signature.name,
            "SignStatus": _STATUS[signature.state],
            "Reason": signature.reason or "",
            "CreateDate": wall_time(signature.created_at),
        }

    async def delete_sign(self, params: Params) -> dict[str, Any]:
        name = params.required("SignName")
        await self.sms.delete_signature(name)
        return {"SignName": name}

    async def query_sign_list(self, params: Params) -> dict[str, Any]:
        return _listing(params, self.sms.signatures(), "SmsSignList", lambda s: {
            "SignName": s.name, "BusinessType": s.sign_type,
        })

    async def add_template(self, params: Params) -> dict[str, Any]:
        kind = TEMPLATE_TYPES[params.integer("TemplateType", 0, 3)]
        template = await self.sms.add_template(
            params.required("TemplateName"), params.required("TemplateContent"), kind)
        return {"TemplateCode": template.code}

    async def query_template(self, params: Params) -> dict[str, Any]:
        template = self.sms.service.account.template(params.required("TemplateCode"))
        return {
            "TemplateCode": template.code,
            "TemplateName": template.name,
            "TemplateContent": template.content,
            "TemplateType": TEMPLATE_TYPES.index(template.kind.value),
            "TemplateStatus": _STATUS[template.state],
            "Reason": template.reason or "",
            "CreateDate": wall_time(template.created_at),
        }

    async def delete_template(self, params: Params) -> dict[str, Any]:
        code = params.required("TemplateCode")
        await self.sms.delete_template(code)
        return {"TemplateCode": code}

    async def query_template_list(self, params: Params) -> dict[str, Any]:
        return _listing(params, self.sms.templates(), "SmsTemplateList", lambda t: {
            "TemplateCode": t.code, "TemplateName": t.name, "TemplateContent": t.content,
            "TemplateType": TEMPLATE_TYPES.index(t.kind.value),
            "OuterTemplateType": TEMPLATE_TYPES.index(t.kind.value),
        })

    # -- the receipt-queue token ----------------------------------------------------------

    async def query_token(self, params: Params) -> dict[str, Any]:
        message_type = params.required("MessageType")
        name = params.required("QueueName")
        if message_type not in MESSAGE_TYPES:
            raise _invalid(f"MessageType must be one of {', '.join(MESSAGE_TYPES)}")
        broker = self.app.broker
        expected = queue_name(broker.account_id, message_type)
        if message_type not in self.sms.service.subscribed or name != expected:
            raise _invalid(f"{message_type} is not subscribed, or its queue is not {name}: "
                           f"subscribe first; the queue is {expected}")
        key = self.keys.issue(name, broker.now())
        return {"MessageTokenDTO": {
            "AccessKeyId": key.access_key_id,
            "AccessKeySecret": key.access_key_secret,
            "SecurityToken": key.security_token,
            "CreateTime": wall_time(key.created_at),
            "ExpireTime": wall_time(key.expires_at),
        }}


def _listing(params: Params, records: list[Any], key: str,
             fields: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """QuerySmsSignList / QuerySmsTemplateList: one page (PageIndex, PageSize <= 50) of
    signatures or templates with their review fields."""
    index = params.integer("PageIndex", 1, 10**9, default=1)
    size = params.integer("PageSize", 1, 50, default=10)
    page = records[(index - 1) * size:index * size]
    return {
        "CurrentPage": index, "PageSize": size, "TotalCount": len(records),
        key: [
            {**fields(r), "AuditStatus": _AUDIT[r.state], "CreateDate": wall_time(r.created_at),
             "OrderId": r.work_order,
             "Reason": {"RejectInfo": r.reason or "", "RejectDate":
                        wall_time(r.reviewed_at) if r.reason and r.reviewed_at else ""}}
            for r in page
        ],
    }


def _extend_code(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _EXTEND_CODE.fullmatch(value):
        raise _invalid("SmsUpExtendCode is at most 7 digits")
    return value
