"""The billing period: `period_start` parsing, the default month, and how counters evolve."""

import calendar
import datetime as dt
import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance._contract import readings
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start, utc_today
from conformance.checks import auth, requests, usage

CLOSED_MONTH = month_start(CLOSED_PERIOD_OFFSET).isoformat()
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


@pytest.mark.dcs_alone  # compares reads over time: nothing else in between
def test_default_period_is_current_month(dcs):
    reads = around_current_month(dcs, dcs.get_usage)
    usage.default_period_is_current_month(dcs.billed_fields, *reads)


@pytest.mark.dcs_alone  # compares reads over time: nothing else in between
def test_empty_period_refused_or_default(dcs):
    reads = around_current_month(dcs, lambda: dcs.get_usage(period_start=""))
    usage.empty_period_refused_or_default(dcs.billed_fields, *reads)


@pytest.mark.dcs_alone  # compares reads over time: nothing else in between
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


#: Years where date code breaks: the first, the Gregorian reform, 1900, the Unix epoch and
#: the year before it, 2000, the 32-bit time_t end, 2100, and the last two years there are.
EDGE_YEARS = (1, 2, 1582, 1899, 1900, 1969, 1970, 1999, 2000, 2037, 2038, 2039, 2100, 9998, 9999)


def edge_day(year: int, month: int, where: str) -> dt.date:
    """The first, 28th, 29th (or last), or last day of a month."""
    last = calendar.monthrange(year, month)[1]
    day = {"first": 1, "28th": 28, "29th": min(29, last), "last": last}[where]
    return dt.date(year, month, day)


def whole_calendar():
    """Dates from 0001-01-01 to 9999-12-31, weighted toward the edges: month ends, 29
    February, December and January, and the years in EDGE_YEARS."""
    edges = st.builds(
        edge_day,
        st.one_of(st.sampled_from(EDGE_YEARS), st.integers(1, 9999)),
        st.one_of(st.sampled_from([1, 2, 12]), st.integers(1, 12)),
        st.sampled_from(["first", "28th", "29th", "last"]),
    )
    return st.one_of(edges, st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))


@given(day=whole_calendar())
@example(day=dt.date(1, 1, 1))  # the first month there is,
@example(day=dt.date(9999, 12, 1))  # and the last: where a period's end overflows
@example(day=dt.date(9999, 12, 31))
def test_generated_whole_calendar(dcs, day):
    exchange = dcs.get_usage(period_start=day.isoformat())
    if readings.period_statuses(day, utc_today()) == (200,):
        requests.valid_period_accepted(exchange)
    else:
        requests.period_start_any_valid_date(exchange)
    if day > utc_today() and exchange.status == 200:
        usage.future_period_unbilled(dcs.billed_fields, exchange)


DIGITS = {
    "arabic_indic": "\u0660",
    "devanagari": "\u0966",
    "full_width": "\uff10",
    "bengali": "\u09e6",
}


def iso8601_lookalikes():
    """The same day in the ISO 8601 and RFC 3339 forms that lenient parsers accept, none of
    them the YYYY-MM-DD the spec asks for: basic, week and ordinal dates, date-times, time
    zones, expanded and two-digit years, and digits of other scripts."""
    forms = [
        lambda d: d.strftime("%Y%m%d"),
        lambda d: f"{d.isocalendar()[0]:04d}-W{d.isocalendar()[1]:02d}-{d.isocalendar()[2]}",
        lambda d: f"{d.isocalendar()[0]:04d}W{d.isocalendar()[1]:02d}{d.isocalendar()[2]}",
        lambda d: d.strftime("%Y-%j"),
        lambda d: d.strftime("%Y%j"),
        lambda d: f"{d.isoformat()}T00:00:00",
        lambda d: f"{d.isoformat()}T00:00:00Z",
        lambda d: f"{d.isoformat()}T00:00:00+00:00",
        lambda d: f"{d.isoformat()} 00:00",
        lambda d: f"{d.isoformat()}Z",
        lambda d: f"+00{d.isoformat()}",
        lambda d: d.strftime("%Y-%m"),
        lambda d: d.strftime("%y-%m-%d"),
        lambda d: d.strftime("%Y-%m-%d").replace("-", "/"),
        lambda d: d.strftime("%d.%m.%Y"),
        *(
            lambda d, zero=zero: "".join(
                chr(ord(zero) + int(c)) if c.isdigit() else c for c in d.isoformat()
            )
            for zero in DIGITS.values()
        ),
    ]
    days = st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31))
    return st.builds(lambda day, form: form(day), days, st.sampled_from(forms))


@given(value=iso8601_lookalikes())
def test_generated_iso8601_lookalikes_rejected(dcs, value):
    if is_valid_period(dcs, value):
        return  # cannot happen: every form differs from YYYY-MM-DD
    requests.malformed_period_rejected(dcs.get_usage(period_start=value))


def test_percent_encoded_period_same_answer(dcs):
    encoded = "".join(f"%{ord(c):02X}" if c == "-" else c for c in CLOSED_MONTH)
    reference = dcs.get_usage(period_start=CLOSED_MONTH)
    variant = dcs.probe_usage(f"{dcs.usage.path}?period_start={encoded}")
    auth.same_answer(dcs.billed_fields, reference, variant)


@pytest.mark.parametrize("other", [-1, 0, 1], ids=["previous_month", "current_month", "next_month"])
def test_figures_of_the_org_not_of_the_period(dcs, other):
    closed = dcs.get_usage(period_start=CLOSED_MONTH)
    second = dcs.get_usage(period_start=month_start(other).isoformat())
    if second.status != 200:
        pytest.skip(f"the server refuses that period ({second.status}), our reading allows it")
    usage.current_storage_same_for_every_period(closed, second)
    usage.plan_determines_included_storage(closed, second)


@given(months_back=st.integers(-CLOSED_PERIOD_OFFSET, 12 * 30))
def test_generated_closed_periods_stable(dcs, months_back):
    closed = month_start(-months_back).isoformat()
    first, second = dcs.together(*[lambda: dcs.get_usage(period_start=closed)] * 2)
    usage.closed_period_stable(dcs.billed_fields, first, second)
