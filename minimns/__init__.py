"""minimns: Alibaba Cloud MNS queues, in your process or on a local port.

The public names are curated here; anything else is internal.
"""

from . import errors
from .broker.broker import Broker, open_broker
from .broker.queue import Queue
from .core.attributes import QueueAttributes, QueueMeta
from .core.message import ChangedVisibility, Message, PeekedMessage, ReceivedMessage, SentMessage
from .errors import *  # noqa: F403  (one class per MNS error code)
from .testing import mock_mns

__version__ = "0.1.0"

__all__ = [
    "Broker",
    "ChangedVisibility",
    "Message",
    "PeekedMessage",
    "Queue",
    "QueueAttributes",
    "QueueMeta",
    "ReceivedMessage",
    "SentMessage",
    "errors",
    "open_broker",
    *errors.__all__,
    "mock_mns",
]
