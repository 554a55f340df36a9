"""Integers from request text (query values, headers, XML fields, RPC parameters):
one set of rules for every surface, and MNS's wording when a value is refused."""

from __future__ import annotations

import re

from ..errors import InvalidArgument

__all__ = ["DIGITS_MAX", "count", "integer", "small_int"]

DIGITS_MAX = 12  # longer digit strings are refused before int() sees them
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def small_int(text: str, low: int, high: int) -> int | None:
    """``text`` as an int in [low, high] if it is one (ASCII digits, not too long), else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= DIGITS_MAX):
        return None
    value = int(text)
    return value if low <= value <= high else None


def count(text: str, name: str) -> int:
    """A non-negative integer (a query value or an x-mns header); its range is the
    caller's to check. InvalidArgument naming ``name`` otherwise."""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidArgument(f"The value of {name} should be a non-negative integer.")
    return int(text)


def integer(text: str, name: str) -> int:
    """An integer, sign allowed, blanks around it ignored (an XML field, an RPC
    parameter). InvalidArgument naming ``name`` otherwise."""
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidArgument(f"The value of {name} should be an integer, not {text!r}.")
    return int(text)
