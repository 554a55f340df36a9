"""JSON answers (developer endpoints, the SMS API): UTF-8 text, Chinese as it is."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Call
    from .http import Response

__all__ = ["json_response"]


def json_response(call: "Call", status: int, value: Any) -> "Response":
    """``value`` as JSON; dataclasses become objects and enums their values."""
    body = json.dumps(value, ensure_ascii=False, default=_plain).encode()
    return call.respond(status, body, content_type="application/json;charset=utf-8")


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")
