"""Queue attributes: MNS names, defaults and ranges, validated in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from ..errors import InvalidArgument, InvalidQueueName, MNSError, QueueNameLengthError

__all__ = [
    "QUEUE_ATTRIBUTE_RANGES",
    "QueueAttributes",
    "QueueMeta",
    "check_name",
    "check_queue_name",
    "check_range",
    "parse_bool",
]

# snake_case name -> (MNS name, low, high, unit); defaults live on QueueAttributes.
QUEUE_ATTRIBUTE_RANGES: dict[str, tuple[str, int, int, str]] = {
    "delay_seconds": ("DelaySeconds", 0, 604800, "seconds"),
    "maximum_message_size": ("MaximumMessageSize", 1024, 65536, "bytes"),
    "message_retention_period": ("MessageRetentionPeriod", 60, 604800, "seconds"),
    "visibility_timeout": ("VisibilityTimeout", 1, 43200, "seconds"),
    "polling_wait_seconds": ("PollingWaitSeconds", 0, 30, "seconds"),
}

QUEUE_NAME_MAX = 120
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")


def check_range(mns_name: str, value: object, low: int, high: int, unit: str) -> int:
    """``value`` as an int within [low, high], or InvalidArgument as MNS words it."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        unit = f" {unit}" if unit else ""
        raise InvalidArgument(f"The value of {mns_name} should between {low} and {high}{unit}.")
    return value


def check_name(
    name: object, kind: str, high: int, length_error: type[MNSError], invalid: type[MNSError]
) -> str:
    """MNS resource names: 1 to ``high`` letters, digits and hyphens, not starting with a hyphen."""
    if not isinstance(name, str) or not 1 <= len(name) <= high:
        raise length_error(f"{kind} name length should between 1 and {high}.")
    if not _NAME_RE.match(name):
        raise invalid()
    return name


def check_queue_name(name: object) -> str:
    return check_name(name, "Queue", QUEUE_NAME_MAX, QueueNameLengthError, InvalidQueueName)


@dataclass(frozen=True, slots=True)
class QueueAttributes:
    """The settable attributes of a queue, always valid once constructed via ``with_changes``."""

    delay_seconds: int = 0
    maximum_message_size: int = 65536
    message_retention_period: int = 345600
    visibility_timeout: int = 30
    polling_wait_seconds: int = 0
    logging_enabled: bool = False

    def with_changes(self, **changes: object) -> "QueueAttributes":
        """A copy with ``changes`` applied; None values mean "leave as is".

        Raises InvalidArgument for an unknown name or an out-of-range value,
        before anything changes.
        """
        clean: dict[str, object] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key == "logging_enabled":
                clean[key] = parse_bool("LoggingEnabled", value)
            elif key in QUEUE_ATTRIBUTE_RANGES:
                mns_name, low, high, unit = QUEUE_ATTRIBUTE_RANGES[key]
                clean[key] = check_range(mns_name, value, low, high, unit)
            else:
                raise InvalidArgument(f"Unknown queue attribute {key!r}.")
        return replace(self, **clean) if clean else self

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_bool(mns_name: str, value: object) -> bool:
    """MNS booleans: a bool, or the strings true/false in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidArgument(f"The value of {mns_name} should be True or False.")


@dataclass(frozen=True, slots=True)
class QueueMeta:
    """GetQueueAttributes as MNS returns it; times in epoch seconds, as MNS sends them."""

    queue_name: str
    create_time: int
    last_modify_time: int
    delay_seconds: int
    maximum_message_size: int
    message_retention_period: int
    visibility_timeout: int
    polling_wait_seconds: int
    logging_enabled: bool
    active_messages: int
    inactive_messages: int
    delay_messages: int
