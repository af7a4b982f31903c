"""The billing period: `period_start` parsing, the default month, and how counters evolve."""

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance import _readings as readings
from conformance._dates import CLOSED_PERIOD_OFFSET, month_start, utc_today
from conformance.checks import requests, usage

MALFORMED = [
    "2025-02-30",
    "2023-02-29",
    "2025-04-31",
    "2025-13-01",
    "2025-00-10",
    "2025-01-00",
    "0000-01-01",
    "2025-2-1",
    "20250201",
    "2025/02/01",
    "01-02-2025",
    "2025-02-01T00:00:00Z",
    " 2025-02-01",
    "2025-02-01 ",
    "+2025-02-01",
    "2025-W05-1",
    "\uff12\uff10\uff12\uff15-02-01",  # full-width digits
    "yesterday",
    "null",
    "2025-02-01' OR '1'='1",
    "9" * 300,
]


def is_valid_period(dcs, value: str) -> bool:
    """Whether the contract (published spec plus our overlay) calls `value` a valid period_start."""
    pointer = dcs.contract.parameter_pointer(dcs.usage, "period_start")
    return dcs.contract.validator(pointer).is_valid(value)


@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_malformed_period_rejected(dcs, value):
    assert not is_valid_period(dcs, value), f"{value!r} is a valid date: fix MALFORMED"
    requests.malformed_period_rejected(dcs.get_usage(period_start=value))


def near_miss_dates():
    """Real dates with one character replaced, dropped or doubled: what clients get wrong."""
    dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
    edits = st.tuples(st.integers(0, 9), st.sampled_from(["replace", "drop", "double"]))
    chars = st.sampled_from("0123456789-/ .T:Z+x\u0660\uff10")

    def edit(value, where, how, char):
        if how == "replace":
            return value[:where] + char + value[where + 1 :]
        if how == "drop":
            return value[:where] + value[where + 1 :]
        return value[:where] + value[where] + value[where:]

    return st.builds(lambda v, e, c: edit(v, e[0], e[1], c), dates, edits, chars)


@given(value=st.one_of(near_miss_dates(), st.text(max_size=24)))
def test_generated_malformed_period_rejected(dcs, value):
    if is_valid_period(dcs, value):
        return  # an edit that still spells a real date is not malformed
    requests.malformed_period_rejected(dcs.get_usage(period_start=value))


@pytest.mark.parametrize("offset", [0, -1, -12, -25])
def test_first_of_month_accepted(dcs, offset):
    requests.valid_period_accepted(dcs.get_usage(period_start=month_start(offset).isoformat()))


def test_leap_day_month_accepted(dcs):
    requests.valid_period_accepted(dcs.get_usage(period_start="2024-02-01"))


@pytest.mark.parametrize("value", ["2024-02-29", "2025-03-15", "2025-12-31"])
def test_mid_month_date_allowed_or_refused(dcs, value):
    requests.period_start_any_valid_date(dcs.get_usage(period_start=value))


def around_current_month(dcs, read):
    """Explicit reads of the current month before and after `read()`; retried once if the
    UTC month turns over in between (None if it turned twice)."""
    for _ in range(2):
        month = month_start(0)
        before = dcs.get_usage(period_start=month.isoformat())
        middle = read()
        after = dcs.get_usage(period_start=month.isoformat())
        if month_start(0) == month:
            return before, middle, after
    pytest.skip("the UTC month turned over twice during the test")


def test_default_period_is_current_month(dcs):
    reads = around_current_month(dcs, dcs.get_usage)
    usage.default_period_is_current_month(dcs.billed_fields, *reads)


def test_empty_period_refused_or_default(dcs):
    reads = around_current_month(dcs, lambda: dcs.get_usage(period_start=""))
    usage.empty_period_refused_or_default(dcs.billed_fields, *reads)


def test_open_period_monotonic(dcs):
    current = month_start(0).isoformat()
    reads = [dcs.get_usage(period_start=current) for _ in range(3)]
    for earlier, later in itertools.pairwise(reads):
        usage.open_period_monotonic(dcs.billed_fields, earlier, later)


def test_closed_period_stable(dcs):
    closed = month_start(CLOSED_PERIOD_OFFSET).isoformat()
    first = dcs.get_usage(period_start=closed)
    second = dcs.get_usage(period_start=closed)
    usage.closed_period_stable(dcs.billed_fields, first, second)


@pytest.mark.parametrize("offset", [1, 13, 120])
def test_future_period_unbilled(dcs, offset):
    start = month_start(offset)
    assert start > utc_today()
    usage.future_period_unbilled(dcs.billed_fields, dcs.get_usage(period_start=start.isoformat()))


@given(day=st.dates(dt.date(1970, 1, 1), dt.date(2200, 12, 31)))
def test_generated_valid_dates(dcs, day):
    exchange = dcs.get_usage(period_start=day.isoformat())
    if readings.period_statuses(day, utc_today()) == (200,):
        requests.valid_period_accepted(exchange)
    else:
        requests.period_start_any_valid_date(exchange)
    if day > utc_today() and exchange.status == 200:
        usage.future_period_unbilled(dcs.billed_fields, exchange)


@given(months_back=st.integers(-CLOSED_PERIOD_OFFSET, 12 * 30))
def test_generated_closed_periods_stable(dcs, months_back):
    closed = month_start(-months_back).isoformat()
    first = dcs.get_usage(period_start=closed)
    second = dcs.get_usage(period_start=closed)
    usage.closed_period_stable(dcs.billed_fields, first, second)
