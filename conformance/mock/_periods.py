"""Billing periods, the ``period_start`` date format and epoch-second arithmetic (UTC)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

HOUR = 3_600
DAY = 86_400

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECOND = timedelta(seconds=1)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, used with fullmatch


def utc_now() -> datetime:
    """The real clock: an aware UTC datetime."""
    return datetime.now(UTC)


def epoch_seconds(instant: datetime) -> int:
    """Whole seconds since the Unix epoch, floored; a naive datetime counts as UTC."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - _EPOCH) // _SECOND


def parse_period_start(text: str) -> date | None:
    """The date for an exact ``YYYY-MM-DD`` calendar date, else None."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:  # 2025-02-30, year 0000, month 13, ...
        return None


def current_period_start(now: datetime) -> date:
    """First day of the UTC month containing ``now``."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    return date(now.year, now.month, 1)


def period_bounds(start: date) -> tuple[int, int]:
    """Epoch seconds ``[start, first day of the following month)``; valid up to 9999-12-31."""
    days_left = calendar.monthrange(start.year, start.month)[1] - start.day + 1
    begin = (start.toordinal() - _EPOCH_ORDINAL) * DAY
    return begin, begin + days_left * DAY


def closed_until(now_epoch: int) -> int:
    """End of the last closed hourly bucket: buckets ``[h, h+1)`` with ``h+1 <= now``."""
    return now_epoch - now_epoch % HOUR
