"""The wire shapes of SMS results: receipt and reply JSON, event bodies, times.

Every shape is the seeds' (docs/sms.md) own:

- SmsReport (002, 003): ``phone_number, success, biz_id, out_id, send_time,
  report_time, err_code, err_msg, sms_size`` with ``success`` a JSON boolean,
  the times ``2017-06-01 10:00:00`` and ``sms_size`` a string ("1,2,3").
- SmsUp (002, 003): ``phone_number, content, sign_name, send_time, dest_code,
  sequence_id`` with ``send_time`` ``20150101120000``.
- Event messages (000, "短信推送异步通知消息"): ``key=value&...`` with the keys in the
  seeds' order and the values as they are (the seeds' examples carry a raw
  space in ``receive_time`` and raw Chinese in ``content``: nothing is
  URL-encoded). ``err_code`` is ``Code|Description``.

Times are Beijing time (UTC+8), the zone the SMS service reports in.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache

__all__ = [
    "BEIJING",
    "EVENT_REPLY",
    "EVENT_TYPES",
    "EVENT_VERSION",
    "SEND_FAILED",
    "SEND_SUCCESSFULLY",
    "compact_time",
    "day_text",
    "failure_event",
    "reply_event",
    "report_body",
    "success_event",
    "up_body",
    "wall_time",
]

BEIJING = timezone(timedelta(hours=8))
SEND_SUCCESSFULLY = "SMSRequest:SendSuccessfully"
SEND_FAILED = "SMSRequest:SendFailed"
EVENT_REPLY = "SMSExtend:ReplyMessage"
EVENT_TYPES = (SEND_SUCCESSFULLY, SEND_FAILED, EVENT_REPLY)
EVENT_VERSION = "1.0"
_JSON = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: json.dumps makes one per call


def _beijing(now: int) -> datetime:
    return datetime.fromtimestamp(now / 1000, BEIJING)


def wall_time(now: int) -> str:
    """``2017-06-01 10:00:00``: receipts, records and success events."""
    return _wall_second(now // 1000)


@lru_cache(maxsize=64)
def _wall_second(second: int) -> str:
    """Cached by the second: a receipt names the same few seconds again and again."""
    return _beijing(second * 1000).strftime("%Y-%m-%d %H:%M:%S")


def compact_time(now: int) -> str:
    """``20170331132401``: replies."""
    return _beijing(now).strftime("%Y%m%d%H%M%S")


def day_text(now: int) -> str:
    """``20170331``: the SendDate of QuerySendDetails, the statistics' day."""
    return _beijing(now).strftime("%Y%m%d")


def _join(pairs: list[tuple[str, object]]) -> str:
    return "&".join(f"{key}={value}" for key, value in pairs)


def success_event(message_id: str, number: str, biz_id: str, template_code: str,
                  sms_count: int, receive_time: int) -> str:
    """Event (1), 发送成功, one per number."""
    return _join([
        ("messageID", message_id), ("receiver", number), ("state", 1), ("biz_id", biz_id),
        ("template_code", template_code), ("sms_count", sms_count),
        ("receive_time", wall_time(receive_time)), ("ver", EVENT_VERSION),
        ("event", "SendSuccessfully"),
    ])


def failure_event(message_id: str, number: str | None, code: str, message: str) -> str:
    """Event (2.1) per number, or (2.2) without a receiver for an account-level error."""
    pairs: list[tuple[str, object]] = [("messageID", message_id)]
    if number is not None:
        pairs.append(("receiver", number))
    pairs += [("state", 2), ("err_code", f"{code}|{message}"), ("event", "SendFailed")]
    return _join(pairs)


def reply_event(sender: str, content: str, receive_time: int, extend_code: str) -> str:
    """Event (3), 回复消息; ``sender`` with the country code (8611234567890)."""
    return _join([
        ("sender", sender), ("content", content), ("receive_time", compact_time(receive_time)),
        ("extend_code", extend_code), ("ver", EVENT_VERSION), ("event", "ReplyMessage"),
    ])


def report_body(number: str, success: bool, biz_id: str, out_id: str | None, send_time: int,
                report_time: int, err_code: str, err_msg: str, sms_size: int) -> str:
    """The SmsReport message, as JSON (keys in the seeds' table order)."""
    return _JSON({
        "phone_number": number,
        "success": success,
        "biz_id": biz_id,
        "out_id": out_id or "",
        "send_time": wall_time(send_time),
        "report_time": wall_time(report_time),
        "err_code": err_code,
        "err_msg": err_msg,
        "sms_size": str(sms_size),
    })


def up_body(number: str, content: str, sign_name: str, send_time: int, dest_code: str,
            sequence_id: int) -> str:
    """The SmsUp message, as JSON (``sequence_id`` a number: 002 types it Double)."""
    return _JSON({
        "phone_number": number,
        "content": content,
        "sign_name": sign_name,
        "send_time": compact_time(send_time),
        "dest_code": dest_code,
        "sequence_id": sequence_id,
    })
