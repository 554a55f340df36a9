"""Message ids and receipt handles: minted from queue state, parsed back exactly.

Both use only ``[0-9A-F-]``, since the official SDK puts handles into the
query string unencoded. A handle names its queue (by token), its message (by
sequence number) and the receive it came from (by generation), so a queue can
tell a stale handle (MessageNotExist) from a foreign or garbled one
(ReceiptHandleError) without remembering old handles.
"""

from __future__ import annotations

import re

from ..errors import ReceiptHandleError

__all__ = ["message_id", "mint_handle", "parse_handle"]

_VERSION = "1"
_HANDLE_RE = re.compile(r"1-([0-9A-F]{1,16})-([0-9A-F]{1,16})-([0-9A-F]{1,16})\Z")


def message_id(token: int, seq: int) -> str:
    """32 upper-case hex characters, like MNS ids: queue token then sequence."""
    return f"{token:016X}{seq:016X}"


def mint_handle(token: int, seq: int, gen: int) -> str:
    return f"{_VERSION}-{token:X}-{seq:X}-{gen:X}"


def parse_handle(handle: object, token: int) -> tuple[int, int]:
    """(seq, gen) of a handle minted for the queue with ``token``."""
    match = _HANDLE_RE.match(handle) if isinstance(handle, str) else None
    if match is None or int(match[1], 16) != token:
        raise ReceiptHandleError()
    return int(match[2], 16), int(match[3], 16)
