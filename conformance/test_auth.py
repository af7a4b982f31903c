"""Authentication and org scoping: the spec's security schemes and its 401/403 examples."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance._contract import readings
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._run.session import WRONG_KEY
from conformance.checks import auth
from conformance.plugin import suite_contract

#: The spec's security schemes (`x-api-key`, `bearer`), by label.
SCHEMES = [scheme.label for scheme in suite_contract().auth_schemes]


def test_missing_key_is_auth_required(dcs):
    auth.missing_key_is_auth_required(dcs.get_usage(scheme=None))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_key_is_auth_invalid(dcs, scheme):
    auth.wrong_key_is_auth_invalid(dcs.get_usage(scheme=scheme, key=WRONG_KEY))


def test_wrong_key_burst_refused(dcs):
    """A short burst of distinct wrong keys, one after another (a guesser's first tries, far
    from a load): every one refused, each answer judged on its own too."""
    keys = [f"{WRONG_KEY[:-4]}{n:04d}" for n in range(readings.BURST_SIZE)]
    burst = [dcs.get_usage(key=key, period_start=CLOSED) for key in keys]
    auth.wrong_key_burst_refused(burst)


def near_miss_keys(key: str) -> dict[str, str]:
    """Keys one edit away from the valid one: a server must compare the whole key."""
    other = "1" if key.endswith("0") else "0"
    return {"last_dropped": key[:-1], "appended": key + other, "last_changed": key[:-1] + other}


@pytest.mark.parametrize("edit", ["last_dropped", "appended", "last_changed"])
def test_near_miss_key_auth_invalid(dcs, edit):
    key = near_miss_keys(dcs.credentials.api_key)[edit]
    if not key:
        pytest.skip("the key is one character long")
    dcs.transport.masker.add(key)  # nearly the secret itself: never shown either
    auth.wrong_key_is_auth_invalid(dcs.get_usage(key=key))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_valid_key_accepted(dcs, scheme):
    auth.valid_key_accepted(dcs.get_usage(scheme=scheme))


def refuse_foreign_org(dcs, org, exchange):
    """403 AUTH_ORG_MISMATCH for an id shaped like the own one; else 400 may refuse it too."""
    statuses = readings.org_refusals(dcs.credentials.org_id, org)
    if statuses == (403,):
        auth.org_mismatch_forbidden(exchange)
    else:
        auth.foreign_org_refused(statuses, exchange)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_org_mismatch_forbidden(dcs, scheme):
    other = dcs.credentials.other_org_id
    refuse_foreign_org(dcs, other, dcs.get_usage(scheme=scheme, org=other))


def test_own_org_accepted(dcs):
    if dcs.credentials.org_id is None:
        pytest.skip("needs --org-id (or DCS_ORG_ID): the org that owns the key")
    auth.valid_key_accepted(dcs.get_usage(org=dcs.credentials.org_id))


CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
#: Undeclared ways to name an org that servers have been found to read: query parameters
#: (`?org_id=`) and header fields (`h:`), each sent with the id of an org the key does not own.
ORG_SELECTORS = [
    "org_id", "org", "organization_id", "organization", "orgId", "tenant", "tenant_id",
    "h:X-Org-Id", "h:X-Organization-Id", "h:X-Tenant-Id",
]  # fmt: skip


def other_existing_orgs(dcs):
    """The ids of orgs the key does not own that exist (the empty org's, the second org's)."""
    orgs = dcs.credentials.orgs
    own = dcs.credentials.org_id
    found = [org for org in (orgs.empty_org_id, orgs.second_org_id) if org and org != own]
    if not found:
        pytest.skip("needs --empty-org-id or --second-org-id: an org that exists, not the key's")
    return found


@pytest.mark.parametrize("selector", ORG_SELECTORS)
def test_no_undeclared_org_selector(dcs, selector):
    other = other_existing_orgs(dcs)[0]
    reference = dcs.plain(CLOSED)
    name = selector.removeprefix("h:")
    place = {"headers": {name: other}} if selector.startswith("h:") else {"params": {name: other}}
    exchange = dcs.send_usage(period_start=CLOSED, **place)
    dcs.judge(exchange, lambda: auth.no_undeclared_org_selector(reference, exchange))


def unknown_like(org_id: str) -> str:
    """An id of the same shape as `org_id` (its last character changed) that no org has."""
    last = org_id[-1]
    if last.isdigit():
        other = "1" if last == "0" else "0"
    elif last.isupper():
        other = "B" if last == "A" else "A"
    else:
        other = "b" if last == "a" else "a"
    return org_id[:-1] + other


def test_org_existence_not_revealed(dcs):
    existing = other_existing_orgs(dcs)[0]
    unknown = unknown_like(existing)
    one, two = dcs.together(
        lambda: dcs.send_usage(period_start=CLOSED, org=existing),
        lambda: dcs.send_usage(period_start=CLOSED, org=unknown),
    )
    dcs.judge(two, lambda: auth.org_existence_not_revealed(one, two, (existing, unknown)))
    dcs.judge(one)


TOKEN = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True)


@given(key=TOKEN, scheme=st.sampled_from(SCHEMES))
def test_generated_wrong_keys_auth_invalid(dcs, key, scheme):
    assume(key != dcs.credentials.api_key)
    auth.wrong_key_is_auth_invalid(dcs.get_usage(scheme=scheme, key=key))


def foreign_orgs(own):
    """Org ids of other orgs: shaped like the own one (a UUID, or its prefix and case) when it
    is known, and ids of any shape."""
    anything = st.from_regex(r"[A-Za-z0-9_\-]{1,40}", fullmatch=True)
    if own is None:
        return anything
    if readings.UUID.fullmatch(own):
        alike = st.uuids().map(str)
    else:
        prefix = own.split("_", 1)[0] + "_" if "_" in own else ""
        alike = st.from_regex(r"[a-z0-9]{1,30}", fullmatch=True).map(lambda rest: prefix + rest)
    return st.one_of(alike, anything)


@given(data=st.data())
def test_generated_foreign_orgs_forbidden(dcs, data):
    own = dcs.credentials.org_id
    org = data.draw(foreign_orgs(own), label="org")
    assume(own is None or not readings.same_org_id(own, org))
    refuse_foreign_org(dcs, org, dcs.get_usage(org=org))
