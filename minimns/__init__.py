"""minimns: Alibaba Cloud MNS queues and topics, in your process or on a local port.

The public names are curated here; anything else is internal.
"""

from . import errors
from .broker.broker import Broker
from .opening import open_broker
from .broker.outbox import LocalDelivery
from .broker.queue import Queue
from .broker.topic import Subscription, Topic
from .core.attributes import QueueAttributes, QueueMeta
from .core.message import ChangedVisibility, Message, PeekedMessage, ReceivedMessage, SentMessage
from .core.subscription import SubscriptionMeta, SubscriptionStats
from .core.topic import PublishedMessage, TopicMessage, TopicMeta
from .errors import *  # noqa: F403  (one class per MNS error code)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``mock_mns`` loads on first use: it brings the HTTP edge, which a program
    that only runs a broker in process never needs (PEP 562)."""
    if name == "mock_mns":
        from .testing import mock_mns

        return mock_mns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Broker",
    "ChangedVisibility",
    "LocalDelivery",
    "Message",
    "PeekedMessage",
    "PublishedMessage",
    "Queue",
    "QueueAttributes",
    "QueueMeta",
    "ReceivedMessage",
    "SentMessage",
    "Subscription",
    "SubscriptionMeta",
    "SubscriptionStats",
    "Topic",
    "TopicMessage",
    "TopicMeta",
    "errors",
    "open_broker",
    *errors.__all__,
    "mock_mns",
]
