"""The MNS management OpenAPI (``Mns-open`` 2022-01-19), on the MNS port.

The console, Terraform and the new-generation SDKs (``alibabacloud-mns-open20220119``)
create and configure queues, topics and subscriptions with RPC-style requests:
``POST /`` with ``x-acs-action`` and ``x-acs-version: 2022-01-19`` (or ``Action`` /
``Version`` in the query with the older signature), parameters in the query and a
form body. The SMS API shares the edge (``rpc.sms.SmsApi`` checks the signature and
hands this version here).

Everything acts on the same broker as the MNS REST API: a queue this API creates is
used with the data-plane SDKs at once, and the other way round.

Answers, as the service gives them and the SDK reads them:

- success: HTTP 200, ``{"RequestId", "Code": 200, "Status": "Success", "Success": true,
  "Message": "operation success", "Data": ...}``;
- an MNS refusal (``QueueNotExist``, ``InvalidArgument`` ...): its MNS status and code in
  the POP error document (``RequestId``, ``HostId``, ``Code``, ``Message``, ``Recommend``),
  which the SDK raises as ``ClientException``/``TeaException`` with that code;
- what MNS has and minimns does not (server-side encryption, throttling policies,
  subscription dead-letter policies, event rules, endpoint ACLs, FIFO types): 400
  ``UnsupportedOperation`` naming the parameter, never a silent success.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import trio

from ...broker.changes import SetAccountSettings
from ...core.attributes import check_range, parse_bool
from ...core.endpoint import parse_endpoint
from ...core.subscription import SubscriptionMeta
from ...errors import InvalidArgument, MNSError
from .signature import AcsError
from ..json_response import json_response
from ..params import integer

if TYPE_CHECKING:
    from ..app import Call, MNSApp
    from ..http import Response
    from .sms import Params

__all__ = ["VERSION", "OpenApi"]

log = logging.getLogger("minimns.server")

VERSION = "2022-01-19"
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 50
_TAG_RE = re.compile(r"Tag\.(\d{1,3})\.(Key|Value)\Z")
_SUCCESS = {"Code": 200, "Message": "operation success", "Success": True}
_QUEUE_INTS = {"DelaySeconds": "delay_seconds", "MaximumMessageSize": "maximum_message_size",
               "MessageRetentionPeriod": "message_retention_period",
               "VisibilityTimeout": "visibility_timeout",
               "PollingWaitSeconds": "polling_wait_seconds"}
# Parameters naming features minimns does not have: refused when they ask for them.
_UNSUPPORTED_VALUES = ("KmsKeyId", "SseType", "SseAlgorithm", "StsRoleArn")
_UNSUPPORTED_POLICIES = ("TenantRateLimitPolicy", "DmAttributes", "KafkaAttributes",
                         "DysmsAttributes")
_PUSH_TYPES = {"http": "http", "queue": "queue", "email": "mail", "mail": "mail", "sms": "sms"}


def unsupported(what: str) -> AcsError:
    return AcsError(400, "UnsupportedOperation",
                    f"{what} is an MNS feature minimns does not have; leave it out.")


class OpenApi:
    """The management actions, each a small function of the request's parameters
    returning the answer's ``Data`` (or None)."""

    def __init__(self, app: "MNSApp") -> None:
        self.app = app
        self._actions: dict[str, Callable[["Call", "Params"], Awaitable[Any]]] = {
            "CreateQueue": self.create_queue,
            "SetQueueAttributes": self.set_queue_attributes,
            "GetQueueAttributes": self.get_queue_attributes,
            "DeleteQueue": self.delete_queue,
            "ListQueue": self.list_queue,
            "CreateTopic": self.create_topic,
            "SetTopicAttributes": self.set_topic_attributes,
            "GetTopicAttributes": self.get_topic_attributes,
            "DeleteTopic": self.delete_topic,
            "ListTopic": self.list_topic,
            "Subscribe": self.subscribe,
            "Unsubscribe": self.unsubscribe,
            "GetSubscriptionAttributes": self.get_subscription_attributes,
            "SetSubscriptionAttributes": self.set_subscription_attributes,
            "ListSubscriptionByTopic": self.list_subscription_by_topic,
            "GetAccountAttributes": self.get_account_attributes,
            "SetAccountAttributes": self.set_account_attributes,
            "EnableEndpoint": self.enable_endpoint,
            "DisableEndpoint": self.disable_endpoint,
            "GetEndpointAttribute": self.get_endpoint_attribute,
        }
        # Documented actions for features minimns does not have: a clear refusal.
        self._unsupported = {"AuthorizeEndpointAcl": "An endpoint ACL",
                             "RevokeEndpointAcl": "An endpoint ACL",
                             "CreateEventRule": "An event rule", "DeleteEventRule": "An event rule",
                             "GetEventRule": "An event rule", "ListEventRules": "An event rule"}

    async def handle(self, call: "Call", action: str, params: "Params") -> "Response":
        """Answer one signature-checked request of this API version."""
        try:
            operation = self._actions.get(action)
            if operation is None:
                if action in self._unsupported:
                    call.operation = action
                    raise unsupported(self._unsupported[action])
                raise AcsError(404, "InvalidAction.NotFound",
                               "Specified api is not found, please check your url and method.")
            call.operation = action
            data = await operation(call, params)
            body: dict[str, Any] = {"RequestId": call.request_id, "Status": "Success", **_SUCCESS}
            if data is not None:
                body["Data"] = data
            return json_response(call, 200, body)
        except MNSError as error:
            return _error(call, error.status, error.code, error.message)
        except AcsError as error:
            return _error(call, error.status, error.code, error.message)
        except trio.Cancelled:
            raise
        except Exception:  # a defect: logged, and answered as the gateway would
            log.exception("internal error on OpenAPI %s", action)
            return _error(call, 500, "InternalError", "The request processing has failed "
                          "due to some unknown error.")

    @property
    def broker(self) -> Any:
        return self.app.broker

    # -- queues ----------------------------------------------------------------------------

    def _queue_attributes(self, params: "Params") -> dict[str, object]:
        _refuse_unsupported(params)
        attributes: dict[str, object] = {
            snake: _int(params, name) for name, snake in _QUEUE_INTS.items()}
        attributes["logging_enabled"] = _bool(params, "EnableLogging")
        policy = _json(params, "DlqPolicy")
        if policy is not None:
            attributes["dlq_policy"] = policy
        return {k: v for k, v in attributes.items() if v is not None}

    async def create_queue(self, call: "Call", params: "Params") -> Any:
        name = params.required("QueueName")
        attributes = _with_tags(self._queue_attributes(params), params)
        queue_type = params.get("QueueType")
        if queue_type is not None:
            if queue_type == "fifo":
                raise unsupported("A FIFO queue (QueueType=fifo)")
            attributes["queue_type"] = queue_type
        await self.broker.create_queue(name, **attributes)
        return dict(_SUCCESS)

    async def set_queue_attributes(self, call: "Call", params: "Params") -> Any:
        queue = self.broker.get_queue(params.required("QueueName"))
        await queue.set_attributes(**self._queue_attributes(params))
        return dict(_SUCCESS)

    async def get_queue_attributes(self, call: "Call", params: "Params") -> Any:
        meta = await self.broker.get_queue(params.required("QueueName")).get_attributes()
        return _queue_data(meta)

    async def delete_queue(self, call: "Call", params: "Params") -> Any:
        await self.broker.get_queue(params.required("QueueName")).delete()
        return dict(_SUCCESS)

    async def list_queue(self, call: "Call", params: "Params") -> Any:
        prefix = params.get("QueueName") or ""
        tags = {tuple(tag) for tag in _tags(params)}
        queue_type = params.get("QueueType")
        now = self.broker.now()
        metas = [state.meta(now) for name, state in self.broker.account.queues.items()
                 if name.startswith(prefix)]
        metas = [m for m in metas if tags <= set(m.tags)
                 and (queue_type is None or m.queue_type == queue_type)]
        return _page(params, metas, _queue_data)

    # -- topics ----------------------------------------------------------------------------

    def _topic_attributes(self, params: "Params") -> dict[str, object]:
        _refuse_unsupported(params)
        attributes = {"maximum_message_size": _int(params, "MaxMessageSize"),
                      "logging_enabled": _bool(params, "EnableLogging")}
        return {k: v for k, v in attributes.items() if v is not None}

    async def create_topic(self, call: "Call", params: "Params") -> Any:
        name = params.required("TopicName")
        attributes = _with_tags(self._topic_attributes(params), params)
        topic_type = params.get("TopicType")
        if topic_type not in (None, "normal"):
            raise unsupported(f"A topic of TopicType={topic_type}")
        await self.broker.create_topic(name, **attributes)
        return dict(_SUCCESS)

    async def set_topic_attributes(self, call: "Call", params: "Params") -> Any:
        topic = self.broker.get_topic(params.required("TopicName"))
        await topic.set_attributes(**self._topic_attributes(params))
        return dict(_SUCCESS)

    async def get_topic_attributes(self, call: "Call", params: "Params") -> Any:
        meta = await self.broker.get_topic(params.required("TopicName")).get_attributes()
        return self._topic_data(call, meta)

    async def delete_topic(self, call: "Call", params: "Params") -> Any:
        await self.broker.get_topic(params.required("TopicName")).delete()
        return {}

    async def list_topic(self, call: "Call", params: "Params") -> Any:
        prefix = params.get("TopicName") or ""
        tags = {tuple(tag) for tag in _tags(params)}
        metas = [t.meta() for name, t in self.broker.account.topics.items()
                 if name.startswith(prefix) and tags <= set(t.attributes.tags)]
        page = _page(params, metas, lambda m: self._topic_data(call, m))
        del page["Pages"], page["Size"]  # ListTopic's Data has neither
        return page

    def _topic_data(self, call: "Call", meta: Any) -> dict[str, Any]:
        url = f"{call.base_url}/topics/{meta.topic_name}"
        return {
            "TopicName": meta.topic_name, "CreateTime": meta.create_time,
            "LastModifyTime": meta.last_modify_time, "MaxMessageSize": meta.maximum_message_size,
            "MessageRetentionPeriod": meta.message_retention_period,
            "MessageCount": meta.message_count, "LoggingEnabled": meta.logging_enabled,
            "TopicUrl": url, "TopicInnerUrl": url, "TopicType": "normal",
            "Tags": _tag_list(meta.tags), "EnableSSE": False, "EncryptionEnabled": False,
        }

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(self, call: "Call", params: "Params") -> Any:
        topic = params.required("TopicName")
        name = params.required("SubscriptionName")
        _refuse_unsupported(params)
        _refuse_subscription_dlq(params)
        endpoint = self._endpoint(params.required("PushType"), params.required("Endpoint"))
        subscription = self.broker.get_topic(topic).get_subscription(name)
        await subscription.subscribe(
            endpoint,
            notify_strategy=params.get("NotifyStrategy"),
            notify_content_format=params.get("NotifyContentFormat"),
            filter_tag=params.get("MessageTag"),
        )
        return f"{call.base_url}/topics/{topic}/subscriptions/{name}"

    def _endpoint(self, push_type: str, endpoint: str) -> str:
        """The data plane's endpoint text for a PushType and an Endpoint, which may be the
        full text already or, for a queue or a mail address, only its name."""
        kind = _PUSH_TYPES.get(push_type.lower())
        if kind is None:
            raise unsupported(f"PushType={push_type}")
        broker = self.broker
        if kind == "queue" and not endpoint.startswith("acs:mns:"):
            endpoint = f"acs:mns:{broker.region}:{broker.account_id}:queues/{endpoint}"
        elif kind == "mail" and not endpoint.startswith("mail:"):
            endpoint = f"mail:directmail:{endpoint}"
        elif kind == "sms" and not endpoint.startswith("sms:"):
            endpoint = f"sms:directsms:{endpoint}"
        parsed = parse_endpoint(endpoint)
        if parsed.kind != kind:
            raise InvalidArgument(f"The Endpoint {endpoint} is not of PushType {push_type}.")
        return endpoint

    async def unsubscribe(self, call: "Call", params: "Params") -> Any:
        topic = self.broker.get_topic(params.required("TopicName"))
        await topic.get_subscription(params.required("SubscriptionName")).unsubscribe()
        return dict(_SUCCESS)

    async def get_subscription_attributes(self, call: "Call", params: "Params") -> Any:
        topic = self.broker.get_topic(params.required("TopicName"))
        meta = await topic.get_subscription(params.required("SubscriptionName")).get_attributes()
        return _subscription_data(meta)

    async def set_subscription_attributes(self, call: "Call", params: "Params") -> Any:
        topic = self.broker.get_topic(params.required("TopicName"))
        _refuse_unsupported(params)
        _refuse_subscription_dlq(params)
        subscription = topic.get_subscription(params.required("SubscriptionName"))
        await subscription.set_attributes(notify_strategy=params.get("NotifyStrategy"))
        return dict(_SUCCESS)

    async def list_subscription_by_topic(self, call: "Call", params: "Params") -> Any:
        account = self.broker.account
        topic = account.topic(params.required("TopicName"))
        prefix = params.get("SubscriptionName") or ""
        kind = params.get("EndpointType")
        value = params.get("EndpointValue")
        metas = [s.meta(self.broker.account_id) for name, s in sorted(topic.subscriptions.items())
                 if name.startswith(prefix)
                 and (kind is None or s.attributes.endpoint.kind == _PUSH_TYPES.get(kind.lower()))
                 and (value is None or value in s.attributes.endpoint.text)]
        return _page(params, metas, _subscription_data)

    # -- the account and its endpoint ---------------------------------------------------------

    async def get_account_attributes(self, call: "Call", params: "Params") -> Any:
        settings = self.broker.settings
        return {key: settings[key] for key in
                ("LogEnabled", "ProjectName", "LogStoreName", "MessageTraceEnabled")}

    async def set_account_attributes(self, call: "Call", params: "Params") -> Any:
        changes: dict[str, object] = {}
        for key in ("LogEnabled", "MessageTraceEnabled"):
            value = _bool(params, key)
            if value is not None:
                changes[key] = value
        for key in ("ProjectName", "LogStoreName"):
            text = params.values.get(key)
            if text is not None:
                if len(text) > 128:
                    raise InvalidArgument(f"The {key} is at most 128 characters.")
                changes[key] = text
        await self._set_account(changes)
        return None

    def _endpoint_type(self, params: "Params") -> None:
        kind = params.required("EndpointType")
        if kind != "public":
            raise unsupported(f"The {kind} endpoint (minimns has one, the public endpoint)")

    async def enable_endpoint(self, call: "Call", params: "Params") -> Any:
        self._endpoint_type(params)
        await self._set_account({"PublicEndpointEnabled": True})
        return None

    async def disable_endpoint(self, call: "Call", params: "Params") -> Any:
        self._endpoint_type(params)
        await self._set_account({"PublicEndpointEnabled": False})
        return None

    async def get_endpoint_attribute(self, call: "Call", params: "Params") -> Any:
        self._endpoint_type(params)
        return {"EndpointEnabled": self.broker.settings["PublicEndpointEnabled"], "CidrList": []}

    async def _set_account(self, changes: dict[str, object]) -> None:
        broker = self.broker
        if changes:
            broker.commit(SetAccountSettings(broker.now(), changes))
        await broker.acknowledge()


# -- parameters ----------------------------------------------------------------------------


def _int(params: "Params", name: str) -> int | None:
    text = params.values.get(name)
    return None if text is None or text == "" else integer(text, name)


def _bool(params: "Params", name: str) -> bool | None:
    text = params.values.get(name)
    return None if text is None or text == "" else parse_bool(name, text)


def _json(params: "Params", name: str) -> dict | None:
    text = params.values.get(name)
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise InvalidArgument(f"The {name} should be a JSON object.")
    return value


def _tags(params: "Params") -> list[list[str]]:
    """``Tag.N.Key`` / ``Tag.N.Value`` (as the SDK flattens its Tag list), in N order."""
    found: dict[int, dict[str, str]] = {}
    for key, value in params.values.items():
        match = _TAG_RE.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    tags = []
    for index in sorted(found):
        entry = found[index]
        if not entry.get("Key"):
            raise InvalidArgument(f"Tag.{index}.Key is missing.")
        tags.append([entry["Key"], entry.get("Value", "")])
    return tags


def _with_tags(attributes: dict[str, object], params: "Params") -> dict[str, object]:
    """A create's attributes with the request's tags, if it has any."""
    tags = _tags(params)
    if tags:
        attributes["tags"] = tags
    return attributes


def _refuse_unsupported(params: "Params") -> None:
    for name in _UNSUPPORTED_VALUES:
        if params.values.get(name):
            raise unsupported(name)
    if _bool(params, "EnableSSE"):
        raise unsupported("Server-side encryption (EnableSSE)")
    for name in _UNSUPPORTED_POLICIES:
        policy = _json(params, name)
        if policy and (name != "TenantRateLimitPolicy" or policy.get("Enabled") in (True, "true")):
            raise unsupported(name)


def _refuse_subscription_dlq(params: "Params") -> None:
    policy = _json(params, "DlqPolicy")
    if policy and parse_bool("DlqPolicy.Enabled", policy.get("Enabled", False)):
        raise unsupported("A subscription's dead-letter policy")


def _page(params: "Params", items: list, render: Callable[[Any], dict]) -> dict[str, Any]:
    number = _int(params, "PageNum")
    size = _int(params, "PageSize")
    number = 1 if number is None else check_range("PageNum", number, 1, 10**9, "")
    size = PAGE_SIZE_DEFAULT if size is None else check_range("PageSize", size, 1,
                                                               PAGE_SIZE_MAX, "")
    page = items[(number - 1) * size:number * size]
    return {"PageNum": number, "PageSize": size, "Pages": math.ceil(len(items) / size),
            "Size": len(page), "Total": len(items), "PageData": [render(i) for i in page]}


# -- answers -------------------------------------------------------------------------------


def _tag_list(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"TagKey": key, "TagValue": value} for key, value in tags]


def _queue_data(meta: Any) -> dict[str, Any]:
    policy = meta.dlq_policy
    return {
        "QueueName": meta.queue_name, "CreateTime": meta.create_time,
        "LastModifyTime": meta.last_modify_time, "DelaySeconds": meta.delay_seconds,
        "MaximumMessageSize": meta.maximum_message_size,
        "MessageRetentionPeriod": meta.message_retention_period,
        "VisibilityTimeout": meta.visibility_timeout,
        "PollingWaitSeconds": meta.polling_wait_seconds,
        "ActiveMessages": meta.active_messages, "InactiveMessages": meta.inactive_messages,
        "DelayMessages": meta.delay_messages, "LoggingEnabled": meta.logging_enabled,
        "QueueType": meta.queue_type, "Tags": _tag_list(meta.tags),
        "DlqPolicy": ({"Enabled": True, "DeadLetterTargetQueue": policy.dead_letter_target_queue,
                       "MaxReceiveCount": str(policy.max_receive_count)}
                      if policy.enabled else {"Enabled": False}),
        "EnableSSE": False, "EncryptionEnabled": False,
        "TenantRateLimitPolicy": {"Enabled": False},
    }


def _subscription_data(meta: SubscriptionMeta) -> dict[str, Any]:
    return {
        "SubscriptionName": meta.subscription_name, "TopicName": meta.topic_name,
        "TopicOwner": meta.topic_owner, "Endpoint": meta.endpoint,
        "NotifyStrategy": meta.notify_strategy, "NotifyContentFormat": meta.notify_content_format,
        "FilterTag": meta.filter_tag or "", "CreateTime": meta.create_time,
        "LastModifyTime": meta.last_modify_time, "DlqPolicy": {"Enabled": False},
    }


def _error(call: "Call", status: int, code: str, message: str) -> "Response":
    return json_response(call, status, {
        "RequestId": call.request_id, "HostId": call.request.headers.get("host", ""),
        "Code": code, "Message": message, "Recommend": "https://api.aliyun.com/troubleshoot",
    })
