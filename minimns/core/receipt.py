"""Message ids and receipt handles: minted from queue state, parsed back exactly.

Both use only ``[0-9A-F-]``, since the official SDK puts handles into the
query string unencoded. A handle names its queue (by token), its message (by
sequence number) and the receive it came from (by generation), so a queue can
tell a stale handle (MessageNotExist) from a foreign or garbled one
(ReceiptHandleError) without remembering old handles.

The hot path formats and parses with plain string operations against
per-queue prefixes; a parsed handle must re-mint to exactly the same text,
which rejects every non-canonical spelling (lower case, signs, padding).
"""

from __future__ import annotations

from ..errors import ReceiptHandleError

__all__ = ["handle_prefix", "id_prefix", "message_id", "parse_handle", "receipt_handle"]


def id_prefix(token: int) -> str:
    """Message ids are 32 upper-case hex characters, like MNS ids: this queue's
    16, then the message's sequence number as 16 more."""
    return f"{token:016X}"


def handle_prefix(token: int) -> str:
    """Handles read ``1-{token}-{seq}-{generation}`` in upper-case hex."""
    return f"1-{token:X}-"


def message_id(prefix: str, seq: int) -> str:
    """The id of message ``seq`` under its queue's (or topic's) ``id_prefix``."""
    return f"{prefix}{seq:016X}"


def receipt_handle(prefix: str, seq: int, generation: int) -> str:
    """The receipt handle of receive ``generation`` of message ``seq``, under its
    queue's ``handle_prefix``; ``parse_handle`` reads it back."""
    return f"{prefix}{seq:X}-{generation:X}"


def parse_handle(handle: object, prefix: str) -> tuple[int, int]:
    """(seq, generation) of a handle minted under ``prefix``, else ReceiptHandleError."""
    if type(handle) is not str or not handle.startswith(prefix) or len(handle) > 64:
        raise ReceiptHandleError()
    rest = handle[len(prefix) :]
    seq_text, _, gen_text = rest.partition("-")
    try:
        seq, gen = int(seq_text, 16), int(gen_text, 16)
    except ValueError:
        raise ReceiptHandleError() from None
    if f"{seq:X}-{gen:X}" != rest:
        raise ReceiptHandleError()
    return seq, gen
