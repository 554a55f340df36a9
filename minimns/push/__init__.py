"""Push delivery to HTTP endpoints: the MNS push signature and an h11 push client.

Names load on first use (PEP 562): the push client needs h11 only, and the
signature needs ``cryptography``, which a broker that never signs never loads.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["HttpPusher", "PushFailed", "PushSigner", "string_to_sign", "verify_notification"]

_HOMES = {"HttpPusher": "client", "PushFailed": "client", "PushSigner": "signing",
          "string_to_sign": "signing", "verify_notification": "signing"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{home}", __name__), name)
