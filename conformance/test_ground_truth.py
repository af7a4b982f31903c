"""Ground truth: an org known to have no usage, two orgs kept apart, and a canary org whose
usage is known in advance (the `--expect` file). The embedded mock provides all three."""

import functools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance._contract import readings
from conformance._core.dates import CLOSED_PERIOD_OFFSET, add_months, month_start, utc_today
from conformance.checks import auth, ground_truth
from conformance.checks.usage import STORAGE
from conformance.plugin import suite_canary, suite_contract

NEEDS_EXPECT = "needs --expect FILE (or DCS_EXPECT): the canary's expected usage"
NEEDS_EMPTY = "needs --empty-org-key KEY (or DCS_EMPTY_ORG_KEY): an org that never ran a machine"
NEEDS_OTHER = (
    "needs --empty-org-key or --second-api-key (or DCS_EMPTY_ORG_KEY, DCS_SECOND_API_KEY): "
    "a key of another org"
)
SCHEMES = [scheme.label for scheme in suite_contract().auth_schemes]
CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
CANARY = suite_canary()
CURRENT = month_start(0)


def needs_empty_org(dcs):
    """(key, org id or None) of the org that never ran a machine (skips the test if none)."""
    orgs = dcs.credentials.orgs
    if orgs.empty_org_key is None:
        pytest.skip(NEEDS_EMPTY)
    return orgs.empty_org_key, orgs.empty_org_id


def needs_other_org(dcs):
    """(key, org id or None) of another org than the main key's: the empty one, else the
    second (`--second-api-key`)."""
    orgs = dcs.credentials.orgs
    if orgs.empty_org_key is not None:
        return orgs.empty_org_key, orgs.empty_org_id
    if orgs.second_api_key is not None:
        return orgs.second_api_key, orgs.second_org_id
    pytest.skip(NEEDS_OTHER)


def needs_canary(dcs):
    if dcs.canary is None:
        pytest.skip(NEEDS_EXPECT)
    return dcs.canary


def unbilled_fields(dcs):
    return (*dcs.billed_fields, STORAGE)


# --- an org that never ran a machine ---------------------------------------------------------

EMPTY_OFFSETS = {"default": None, "current": 0, "previous": -1, "closed": CLOSED_PERIOD_OFFSET}
EMPTY_OFFSETS |= {"year_ago": -12, "years_ago": -25, "next": 1}


@pytest.mark.parametrize("offset", EMPTY_OFFSETS.values(), ids=EMPTY_OFFSETS.keys())
def test_empty_org_unbilled(dcs, offset):
    empty_org = needs_empty_org(dcs)
    key, _ = empty_org
    statuses: tuple[int, ...] = (200,)
    if offset is None:
        exchange = dcs.get_usage(key=key)
    else:
        day = month_start(offset)
        exchange = dcs.get_usage(key=key, period_start=day.isoformat())
        statuses = readings.period_statuses(day, utc_today())
    ground_truth.empty_org_unbilled(unbilled_fields(dcs), statuses, exchange)


#: A quarter of the profile's examples: each is one request, the fixed months above cover the
#: cases that differ, and a sum over the wrong machines shows in any month.
@settings(max_examples=max(10, settings().max_examples // 4))
@given(months_back=st.integers(-12, 12 * 30))
def test_generated_empty_org_unbilled(dcs, months_back):
    empty_org = needs_empty_org(dcs)
    day = month_start(-months_back)
    exchange = dcs.get_usage(key=empty_org[0], period_start=day.isoformat())
    statuses = readings.period_statuses(day, utc_today())
    ground_truth.empty_org_unbilled(unbilled_fields(dcs), statuses, exchange)


# --- two orgs, isolated ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_other_org_key_accepted(dcs, scheme):
    other_org = needs_other_org(dcs)
    auth.valid_key_accepted(dcs.get_usage(key=other_org[0], scheme=scheme))


def test_other_org_own_org_accepted(dcs):
    other_org = needs_other_org(dcs)
    key, org = other_org
    if org is None:
        pytest.skip("needs --empty-org-id or --second-org-id: the org of the other key")
    auth.valid_key_accepted(dcs.get_usage(key=key, org=org))


def main_org(dcs):
    """The main key's org: `--org-id`, else the one the canary's file names."""
    return dcs.credentials.org_id or (dcs.canary.org if dcs.canary is not None else None)


def test_main_key_refused_for_the_other_org(dcs):
    other_org = needs_other_org(dcs)
    org = other_org[1]
    if org is None:
        pytest.skip("needs --empty-org-id or --second-org-id: the org of the other key")
    auth.org_mismatch_forbidden(dcs.get_usage(org=org))


def test_other_key_refused_for_the_main_org(dcs):
    other_org = needs_other_org(dcs)
    org = main_org(dcs)
    if org is None:
        pytest.skip("needs --org-id (or an org in the --expect file): the org of the main key")
    auth.org_mismatch_forbidden(dcs.get_usage(key=other_org[0], org=org))


def test_orgs_no_carry_over(dcs):
    other_org = needs_other_org(dcs)
    keys = {"main org": dcs.credentials.api_key, "other org": other_org[0]}
    orgs = ["main org", "other org", "main org", "other org", "other org", "main org"]
    exchanges = [dcs.get_usage(period_start=CLOSED, key=keys[org]) for org in orgs]
    ground_truth.no_org_carry_over(dcs.billed_fields, orgs, exchanges)


def test_orgs_at_once_no_carry_over(dcs):
    """Each org's answer, read alone, then six requests of both orgs in flight at once: a
    server that keeps per-request state where requests share it answers one for the other."""
    other_org = needs_other_org(dcs)
    keys = {"main org": dcs.credentials.api_key, "other org": other_org[0]}
    alone = [dcs.get_usage(period_start=CLOSED, key=keys[org]) for org in keys]
    at_once = ["main org", "other org"] * 3
    calls = [functools.partial(dcs.get_usage, period_start=CLOSED, key=keys[o]) for o in at_once]
    exchanges = [*alone, *dcs.together(*calls)]
    ground_truth.no_org_carry_over(dcs.billed_fields, [*keys, *at_once], exchanges, len(alone))


# --- the canary: usage known in advance ------------------------------------------------------


def closed_months():
    """Closed months around the canary's machine lifetimes (see `months_of_interest`)."""
    if CANARY is None:
        return [pytest.param(None, id="no-expect")]
    months = CANARY.months_of_interest(CURRENT)
    return [pytest.param(month, id=month.strftime("%Y-%m")) for month in months]


def read(dcs, period):
    """One read of the canary (the main key), and our clock just before and just after it."""
    earliest = time.time()
    exchange = dcs.get_usage(period_start=None if period is None else period.isoformat())
    return exchange, earliest, time.time()


@pytest.mark.parametrize("month", closed_months())
def test_canary_closed_period(dcs, month):
    canary = needs_canary(dcs)
    exchange, earliest, latest = read(dcs, month)
    expected = canary.expected(month, earliest, latest)
    if expected.closed:
        ground_truth.canary_closed_period_exact(expected, exchange)
        ground_truth.canary_cpu_within_bounds(expected, exchange)
    else:  # its last hour may still be open on the target (the file's tolerances)
        ground_truth.canary_open_period_within_bounds(expected, exchange)


def months_back_to_creation():
    """Months back from the current one to the month before the canary's first machine."""
    first = CANARY.first_month() if CANARY is not None else None
    if first is None:
        return st.just(1)
    back = (CURRENT.year - first.year) * 12 + CURRENT.month - first.month + 1
    return st.integers(1, max(back, 1))


@given(months_back=months_back_to_creation())
def test_generated_canary_closed_periods(dcs, months_back):
    canary = needs_canary(dcs)
    month = add_months(CURRENT, -months_back)
    exchange, earliest, latest = read(dcs, month)
    expected = canary.expected(month, earliest, latest)
    if expected.closed:
        ground_truth.canary_closed_period_exact(expected, exchange)
        ground_truth.canary_cpu_within_bounds(expected, exchange)
    else:
        ground_truth.canary_open_period_within_bounds(expected, exchange)


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "default"])
def test_canary_open_period_within_bounds(dcs, explicit):
    canary = needs_canary(dcs)
    month = month_start(0)
    exchange, earliest, latest = read(dcs, month if explicit else None)
    if month_start(0) != month:
        pytest.skip("the UTC month turned over during the read")
    ground_truth.canary_open_period_within_bounds(
        canary.expected(month, earliest, latest), exchange
    )


def storage_periods():
    periods = {"default": None, "current": CURRENT, "closed": month_start(CLOSED_PERIOD_OFFSET)}
    first = CANARY.first_month() if CANARY is not None else None
    if first is not None:
        periods["first_machine_month"] = first
    return [pytest.param(period, id=name) for name, period in periods.items()]


@pytest.mark.parametrize("period", storage_periods())
def test_canary_storage_current(dcs, period):
    canary = needs_canary(dcs)
    exchange, earliest, latest = read(dcs, period)
    ground_truth.canary_storage_current(canary.storage(earliest, latest), exchange)
