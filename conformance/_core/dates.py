"""Calendar helpers for choosing periods relative to today (UTC)."""

from __future__ import annotations

import datetime as dt
import re

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, with fullmatch


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date(value: str) -> dt.date | None:
    """The date a YYYY-MM-DD value spells (our overlay's reading of `period_start`), or None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def add_months(month: dt.date, count: int) -> dt.date:
    """The first day of the month `count` months after `month`'s (negative: before)."""
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def month_start(offset: int = 0, today: dt.date | None = None) -> dt.date:
    """The first day of the month `offset` months from today's (negative: the past)."""
    return add_months(today or utc_today(), offset)


#: A period that ended long ago: its buckets are all closed, so it must read the same every time.
CLOSED_PERIOD_OFFSET = -3
