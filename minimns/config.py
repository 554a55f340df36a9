"""A test suite's declared world: queues, topics, subscriptions and SMS, from TOML.

``minimns serve --config FILE`` reads it at start; ``await apply_config(broker,
path_or_dict)`` does the same from Python. Everything goes through the broker's
public API, so it is validated (an error names the entry) and journaled like
any other change. Applying a file twice finds what exists and changes nothing
(queues and topics are created idempotently; signatures, templates with a
``code`` and event rules already present are left as they are).

An example, every key optional::

    [[queue]]
    name = "jobs"
    visibility_timeout = 60          # the attribute names of create_queue

    [[topic]]
    name = "orders"
    [[topic.subscription]]
    name = "to-jobs"
    endpoint = "acs:mns:cn-hangzhou:1234567890:queues/jobs"
    notify_content_format = "SIMPLIFIED"

    [sms]
    enabled = true                   # minimns serve: false starts without SMS
    test_template = true             # minimns serve: false leaves out the test
                                     # signature and template (see serve_defaults)
    account_type = "enterprise"      # personal (default) | enterprise
    status = "normal"                # normal | frozen | out_of_service
    balance = 1000                   # billable messages prepaid ("unlimited", the default)
    review_delay_ms = 0              # template / signature review time
    activation_ms = 600000           # event rules go live this long after creation
    forbidden_words = ["赌"]
    blacklist = ["13900000000"]
    subscribe = ["SmsReport", "SmsUp"]
    [sms.limits]                     # frequency limits; "unlimited" lifts one
    verification_per_minute = 1
    [sms.thresholds]                 # "unlimited", "closed" or a count
    day = 100
    month = 50000
    [sms.carrier]
    latency_ms = 1000
    [[sms.carrier.failures]]
    pattern = "1390000*"
    error = "unreachable"            # unreachable | blacklisted | error | a code of your own
    [[sms.signatures]]
    name = "阿里云"
    [[sms.templates]]
    code = "SMS_100001"
    name = "login code"
    content = "您的验证码为${code}，请勿泄露"
    type = "verification"            # verification | notification | promotion | international
    [[sms.event_rules]]
    name = "failures"
    event_type = "SMSRequest:SendFailed"
    endpoints = ["jobs"]             # queue names, queue endpoints or http(s) URLs; or topic = "..."
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .broker.broker import Broker
from .core.sms.frequency import FrequencyLimits

__all__ = ["ConfigError", "apply_config", "load_config"]

_THRESHOLD_WORDS = {"unlimited": None, "closed": 0}
_SECTIONS = {"queue", "topic", "sms"}
_SMS_KEYS = {
    "account_type", "status", "review_delay_ms", "activation_ms", "forbidden_words", "blacklist",
    "subscribe", "limits", "thresholds", "carrier", "signatures", "templates", "event_rules",
    "balance",
}
_SERVE_KEYS = {"enabled", "test_template"}  # read by serve_defaults, not by apply_config

# The signature and template Alibaba Cloud gives every SMS account for trying it
# out (短信服务 "测试专用签名模板"), approved from the start.
TEST_SIGNATURE = "阿里云短信测试"
TEST_TEMPLATE = {
    "code": "SMS_154950909",
    "name": "阿里云短信测试",
    "content": "您正在使用阿里云短信测试服务，体验验证码是：${code}，如非本人操作，请忽略本短信！",
    "type": "verification",
}


class ConfigError(ValueError):
    """A configuration that cannot be applied, naming the entry and why."""


def load_config(path: str | Path) -> dict[str, Any]:
    """The file's TOML as a dict (ConfigError if it is not TOML)."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None


async def apply_config(broker: Broker, config: str | Path | Mapping[str, Any]) -> None:
    """Create what ``config`` (a TOML path or its dict) declares, in file order:
    queues, topics with their subscriptions, then SMS."""
    data = load_config(config) if isinstance(config, (str, Path)) else config
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ConfigError(f"unknown sections {sorted(unknown)}: use queue, topic and sms")
    for entry in data.get("queue", []):
        attributes = dict(entry)
        name = _name(attributes, "queue")
        await _step(f"queue {name}", broker.create_queue(name, **attributes))
    for entry in data.get("topic", []):
        attributes = dict(entry)
        name = _name(attributes, "topic")
        subscriptions = attributes.pop("subscription", [])
        topic = await _step(f"topic {name}", broker.create_topic(name, **attributes))
        for sub in subscriptions:
            options = dict(sub)
            sub_name = _name(options, f"subscription of topic {name}")
            endpoint = options.pop("endpoint", None)
            await _step(f"subscription {name}/{sub_name}", topic.subscribe(sub_name, endpoint, **options))
    if "sms" in data:
        await _apply_sms(broker, data["sms"])


async def serve_defaults(broker: Broker, config: str | Path | Mapping[str, Any] | None) -> None:
    """What ``minimns serve`` starts with before its config: the region's SMS
    topic and subscription (the seeds (docs/sms.md): each region gives an SMS user one, so
    a learner's first DirectSMS publish finds it) and the test signature and
    template. Only in an account where SMS was never activated, so a data
    directory keeps what its user changed. ``[sms] enabled = false`` leaves
    SMS out, ``test_template = false`` the test signature and template."""
    data = load_config(config) if isinstance(config, (str, Path)) else (config or {})
    sms_config = data.get("sms", {})
    enabled = sms_config.get("enabled", True)
    test_template = sms_config.get("test_template", True)
    for key, value in (("enabled", enabled), ("test_template", test_template)):
        if not isinstance(value, bool):
            raise ConfigError(f"sms.{key}: true or false")
    if not enabled:
        others = set(sms_config) - _SERVE_KEYS
        if others:
            raise ConfigError(f"sms.enabled = false, yet sms keys {sorted(others)} are set")
        return
    sms = broker.sms
    if sms.active:
        return
    await _step("sms", sms.activate())
    if test_template:
        await _step(f"signature {TEST_SIGNATURE}", sms.add_signature(TEST_SIGNATURE))
        await _step(f"template {TEST_TEMPLATE['code']}", sms.add_template(
            TEST_TEMPLATE["name"], TEST_TEMPLATE["content"], TEST_TEMPLATE["type"],
            code=TEST_TEMPLATE["code"]))


def _name(entry: dict[str, Any], what: str) -> str:
    name = entry.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"every {what} needs a name")
    return name


async def _step(what: str, awaitable: Any) -> Any:
    try:
        return await awaitable
    except ConfigError:
        raise
    except Exception as error:  # MNSError, SmsError, TypeError for an unknown key
        raise ConfigError(f"{what}: {getattr(error, 'message', None) or error}") from None


def _threshold(value: object, kind: str) -> int | None:
    if isinstance(value, str):
        if value not in _THRESHOLD_WORDS:
            raise ConfigError(f"sms.thresholds.{kind}: a count, \"unlimited\" or \"closed\"")
        return _THRESHOLD_WORDS[value]
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"sms.thresholds.{kind}: a count, \"unlimited\" or \"closed\"")
    return value


async def _apply_sms(broker: Broker, sms_config: Mapping[str, Any]) -> None:
    sms = broker.sms
    if sms_config.get("enabled", True) is False:
        return  # serve_defaults has checked that nothing else is set
    unknown = set(sms_config) - _SMS_KEYS - _SERVE_KEYS
    if unknown:
        raise ConfigError(f"unknown sms keys {sorted(unknown)}")
    await _step("sms", sms.activate())
    if "account_type" in sms_config or "status" in sms_config:
        await _step("sms account", sms.set_account(sms_config.get("account_type"), sms_config.get("status")))
    limits = sms_config.get("limits")
    if limits is not None:
        known = set(FrequencyLimits.__dataclass_fields__)
        if set(limits) - known:
            raise ConfigError(f"sms.limits: unknown {sorted(set(limits) - known)}; use {sorted(known)}")
        limits = {k: (None if v == "unlimited" else v) for k, v in limits.items()}
    carrier = dict(sms_config.get("carrier", {}))
    await _step("sms settings", sms.configure(
        limits=limits,
        latency_ms=carrier.pop("latency_ms", None),
        failures=carrier.pop("failures", None),
        blacklist=sms_config.get("blacklist"),
        forbidden_words=sms_config.get("forbidden_words"),
        review_delay_ms=sms_config.get("review_delay_ms"),
        activation_ms=sms_config.get("activation_ms"),
    ))
    if carrier:
        raise ConfigError(f"sms.carrier: unknown {sorted(carrier)}")
    if "balance" in sms_config:
        balance = sms_config["balance"]
        await _step("sms.balance", sms.set_balance(None if balance == "unlimited" else balance))
    for kind, value in dict(sms_config.get("thresholds", {})).items():
        await _step(f"sms.thresholds.{kind}", sms.set_threshold(kind, _threshold(value, kind)))
    for message_type in sms_config.get("subscribe", []):
        await _step(f"sms.subscribe {message_type}", sms.subscribe(message_type))
    held = {s.name for s in sms.signatures()}
    for entry in sms_config.get("signatures", []):
        if entry.get("name") not in held:
            await _step(f"signature {entry.get('name')}",
                        sms.add_signature(entry.get("name"), entry.get("sign_type")))
    codes = {t.code for t in sms.templates()}
    for entry in sms_config.get("templates", []):
        if entry.get("code") is None or entry["code"] not in codes:
            await _step(f"template {entry.get('name')}", sms.add_template(
                entry.get("name"), entry.get("content"), entry.get("type", "notification"),
                code=entry.get("code"),
            ))
    rules = {r.name for r in sms.event_rules()}
    for entry in sms_config.get("event_rules", []):
        if entry.get("name") not in rules:
            await _step(f"event rule {entry.get('name')}", sms.create_event_rule(
                entry.get("name"), entry.get("event_type"), topic=entry.get("topic"),
                endpoints=entry.get("endpoints", ()),
            ))
