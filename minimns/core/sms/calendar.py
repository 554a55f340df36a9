"""Time for the SMS rules: window lengths in ms, and the Beijing calendar (UTC+8)
that the console's days and months, records and thresholds count in."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["BEIJING_OFFSET_MS", "DAY_MS", "HOUR_MS", "MINUTE_MS", "beijing_day", "beijing_month"]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BEIJING_OFFSET_MS = 8 * HOUR_MS

def beijing_day(now: int) -> int:
    """Days since 1970-01-01 in Beijing time: the day a send counts in."""
    return (now + BEIJING_OFFSET_MS) // DAY_MS


def beijing_month(now: int) -> int:
    """``year * 12 + month - 1`` of the Beijing calendar month of ``now``."""
    return _month_of_day(beijing_day(now))


@lru_cache(maxsize=64)
def _month_of_day(days: int) -> int:
    day = date(1970, 1, 1) + timedelta(days=days)
    return day.year * 12 + day.month - 1
