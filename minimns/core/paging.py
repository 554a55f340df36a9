"""List paging as MNS does it: name prefix, a page size, an opaque marker."""

from __future__ import annotations

from typing import TypeVar

from sortedcontainers import SortedDict

from ..errors import InvalidArgument

__all__ = ["RET_NUMBER_MAX", "page"]

RET_NUMBER_MAX = 1000
V = TypeVar("V")


def page(
    items: "SortedDict[str, V]", prefix: str = "", ret_number: int = RET_NUMBER_MAX, marker: str = ""
) -> tuple[list[V], str]:
    """Up to ``ret_number`` values whose names start with ``prefix``, in name
    order, from ``marker`` on; and the marker of the next page ("" when done).

    The marker is the name the next page starts at: opaque to clients, stable
    while names are added or removed between pages.
    """
    if isinstance(ret_number, bool) or not isinstance(ret_number, int) or not (
        1 <= ret_number <= RET_NUMBER_MAX
    ):
        raise InvalidArgument(f"The value of RetNumber should between 1 and {RET_NUMBER_MAX}.")
    out: list[V] = []
    for name in items.irange(minimum=max(prefix, marker)):
        if not name.startswith(prefix):
            break
        if len(out) == ret_number:
            return out, name
        out.append(items[name])
    return out, ""
