"""Create-or-match, the rule MNS applies to every create (queues, topics,
subscriptions): a new name is made (within the quota); an existing one is found as
it is when the request asks for the same, and refused with the kind's
AlreadyExist error when it asks for anything else."""

from __future__ import annotations

from typing import Callable, MutableMapping, TypeVar

from ..errors import MNSError

__all__ = ["create_or_match"]

T = TypeVar("T")


def create_or_match(
    catalog: MutableMapping[str, T],
    name: str,
    same: Callable[[T], bool],
    conflict: type[MNSError],
    make: Callable[[], T],
    check_quota: Callable[[], None],
) -> tuple[T, bool]:
    """(item, created). ``same(existing)`` says whether the request matches what is
    there; ``check_quota`` raises the kind's NumExceeded before ``make`` runs."""
    existing = catalog.get(name)
    if existing is not None:
        if not same(existing):
            raise conflict()
        return existing, False
    check_quota()
    item = make()
    catalog[name] = item
    return item, True
