"""Helpers for tests that drive a broker in process (trio, the virtual clock)."""

from __future__ import annotations

from typing import Any

from minimns import errors

__all__ = ["drain"]


async def drain(queue: Any, field: str | None = "message_body", *, delete: bool = True) -> list:
    """Every receivable message of a ``minimns.Queue``, in the order receives hand them
    out: each one's ``field`` (the message itself with None), deleted unless told not."""
    out: list = []
    while True:
        try:
            got = await queue.batch_receive_message(16, wait_seconds=0)
        except errors.MessageNotExist:
            return out
        out += [m if field is None else getattr(m, field) for m in got]
        if delete:
            await queue.batch_delete_message([m.receipt_handle for m in got])
