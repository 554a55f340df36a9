"""Queue attributes: MNS names, defaults and ranges, validated in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from ..errors import InvalidArgument, InvalidQueueName, MNSError, QueueNameLengthError

__all__ = [
    "NO_DLQ",
    "QUEUE_ATTRIBUTE_RANGES",
    "DlqPolicy",
    "QueueAttributes",
    "QueueMeta",
    "check_name",
    "check_queue_name",
    "check_range",
    "make_tags",
    "parse_bool",
    "plain_attributes",
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
MAX_RECEIVE_COUNT_MAX = 1000  # DlqPolicy.MaxReceiveCount: 1 to 1000 receives
TAGS_MAX = 20  # resource tags per queue, as Alibaba Cloud resources allow
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 128
QUEUE_TYPES = ("normal",)  # "fifo" is an MNS type minimns does not order by; refused
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
class DlqPolicy:
    """A queue's dead-letter policy (the OpenAPI's ``DlqPolicy``): once a message has been
    received ``max_receive_count`` times, its next return to visibility moves it to
    ``dead_letter_target_queue`` instead."""

    enabled: bool = False
    dead_letter_target_queue: str = ""
    max_receive_count: int = 0

    @classmethod
    def make(cls, value: object, queue_name: str | None = None) -> "DlqPolicy":
        """From a DlqPolicy, a mapping with the OpenAPI's or snake_case keys, or the
        plain list a journal holds; InvalidArgument as MNS words it."""
        if isinstance(value, DlqPolicy):
            policy = value
        elif isinstance(value, (list, tuple)) and len(value) == 3:
            policy = cls(*value)
        elif isinstance(value, dict):
            def pick(*names: str) -> object:
                return next((value[n] for n in names if n in value), None)
            unknown = set(value) - {"Enabled", "enabled", "DeadLetterTargetQueue",
                                    "dead_letter_target_queue", "MaxReceiveCount",
                                    "max_receive_count"}
            if unknown:
                raise InvalidArgument(f"Unknown DlqPolicy field {sorted(unknown)[0]!r}.")
            enabled = pick("Enabled", "enabled")
            count = pick("MaxReceiveCount", "max_receive_count")
            if isinstance(count, str) and count.strip().isdigit():
                count = int(count)
            policy = cls(
                False if enabled is None else parse_bool("DlqPolicy.Enabled", enabled),
                pick("DeadLetterTargetQueue", "dead_letter_target_queue") or "",  # type: ignore[arg-type]
                0 if count is None else count,  # type: ignore[arg-type]
            )
        else:
            raise InvalidArgument("The DlqPolicy should be an object with Enabled, "
                                  "DeadLetterTargetQueue and MaxReceiveCount.")
        if not policy.enabled:
            return NO_DLQ
        check_queue_name(policy.dead_letter_target_queue)
        if policy.dead_letter_target_queue == queue_name:
            raise InvalidArgument("A queue cannot be its own dead-letter queue.")
        check_range("DlqPolicy.MaxReceiveCount", policy.max_receive_count, 1,
                    MAX_RECEIVE_COUNT_MAX, "")
        return policy

    def as_list(self) -> list:
        return [self.enabled, self.dead_letter_target_queue, self.max_receive_count]


NO_DLQ = DlqPolicy()


def make_tags(value: object) -> tuple[tuple[str, str], ...]:
    """Resource tags as sorted (key, value) pairs, from a mapping or pairs."""
    items = list(value.items()) if isinstance(value, dict) else list(value or ())  # type: ignore[call-overload]
    tags: dict[str, str] = {}
    for item in items:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(part, str) for part in item)):
            raise InvalidArgument("A tag should be a Key and a Value, both strings.")
        key, text = item
        if not 1 <= len(key) <= TAG_KEY_MAX or len(text) > TAG_VALUE_MAX:
            raise InvalidArgument(f"A tag key is 1 to {TAG_KEY_MAX} characters and its value "
                                  f"at most {TAG_VALUE_MAX}.")
        tags[key] = text
    if len(tags) > TAGS_MAX:
        raise InvalidArgument(f"A queue has at most {TAGS_MAX} tags.")
    return tuple(sorted(tags.items()))


@dataclass(frozen=True, slots=True)
class QueueAttributes:
    """The settable attributes of a queue, always valid once constructed via ``with_changes``."""

    delay_seconds: int = 0
    maximum_message_size: int = 65536
    message_retention_period: int = 345600
    visibility_timeout: int = 30
    polling_wait_seconds: int = 0
    logging_enabled: bool = False
    dlq_policy: DlqPolicy = NO_DLQ
    tags: tuple[tuple[str, str], ...] = ()
    queue_type: str = "normal"

    def with_changes(self, queue_name: str | None = None, **changes: object) -> "QueueAttributes":
        """A copy with ``changes`` applied; None values mean "leave as is".

        Raises InvalidArgument for an unknown name or an out-of-range value,
        before anything changes. ``queue_name`` (the queue's own) lets a
        DlqPolicy refuse to name its own queue.
        """
        clean: dict[str, object] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key == "logging_enabled":
                clean[key] = parse_bool("LoggingEnabled", value)
            elif key == "dlq_policy":
                clean[key] = DlqPolicy.make(value, queue_name)
            elif key == "tags":
                clean[key] = make_tags(value)
            elif key == "queue_type":
                if value not in QUEUE_TYPES:
                    raise InvalidArgument(f"The QueueType {value!r} is not supported: minimns "
                                          "has standard queues (normal) only.")
                clean[key] = value
            elif key in QUEUE_ATTRIBUTE_RANGES:
                mns_name, low, high, unit = QUEUE_ATTRIBUTE_RANGES[key]
                clean[key] = check_range(mns_name, value, low, high, unit)
            else:
                raise InvalidArgument(f"Unknown queue attribute {key!r}.")
        return replace(self, **clean) if clean else self

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def as_record(self) -> dict[str, object]:
        """Plain values (for journals and snapshots); ``from_record`` reads them back.
        The newer fields are left out at their defaults, so old data stays as it was."""
        record = self.as_dict()
        record["dlq_policy"] = self.dlq_policy.as_list()
        record["tags"] = [list(tag) for tag in self.tags]
        for name in ("dlq_policy", "tags", "queue_type"):
            if getattr(self, name) == getattr(_DEFAULT, name):
                del record[name]
        return record

    @classmethod
    def from_record(cls, record: dict) -> "QueueAttributes":
        record = dict(record)
        if "dlq_policy" in record:
            record["dlq_policy"] = DlqPolicy(*record["dlq_policy"])
        if "tags" in record:
            record["tags"] = tuple(tuple(tag) for tag in record["tags"])
        return cls(**record)


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
    dlq_policy: DlqPolicy = NO_DLQ
    tags: tuple[tuple[str, str], ...] = ()
    queue_type: str = "normal"


_DEFAULT = QueueAttributes()


def plain_attributes(attributes: dict[str, object]) -> dict[str, object]:
    """Attributes as a change record carries them: a DlqPolicy as its list, tags as
    pairs (``with_changes`` takes either form, so replay reads what was written)."""
    plain = dict(attributes)
    policy = plain.get("dlq_policy")
    if isinstance(policy, DlqPolicy):
        plain["dlq_policy"] = policy.as_list()
    tags = plain.get("tags")
    if isinstance(tags, dict):
        plain["tags"] = [[k, v] for k, v in tags.items()]
    elif isinstance(tags, tuple):
        plain["tags"] = [list(tag) for tag in tags]
    return plain
