"""Push delivery to HTTP endpoints: the MNS push signature and an h11 push client."""

from .client import HttpPusher, PushFailed
from .signing import PushSigner, string_to_sign, verify_notification

__all__ = ["HttpPusher", "PushFailed", "PushSigner", "string_to_sign", "verify_notification"]
