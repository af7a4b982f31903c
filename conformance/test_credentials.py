"""Credentials as an attacker presents them: malformed values, near-miss keys and org ids, keys
in places the spec does not name, and credentials interleaved on one connection."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance._contract import readings
from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance._run.session import WRONG_KEY
from conformance.checks import auth
from conformance.plugin import share_of_examples, suite_contract

CLOSED = month_start(CLOSED_PERIOD_OFFSET).isoformat()
BEARER = next((s for s in suite_contract().auth_schemes if s.label == "bearer"), None)
needs_bearer = pytest.mark.skipif(BEARER is None, reason="the spec has no bearer scheme")


def malformed_authorization(key: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Authorization values that carry no Dedalus key as the bearer scheme describes one, and
    the statuses a correct server may give each (see `_readings`)."""
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return {
        "bearer_alone": ("Bearer", readings.MALFORMED_CREDENTIAL),
        "bearer_no_space": (f"Bearer{key}", readings.MALFORMED_CREDENTIAL),
        "basic_scheme": (f"Basic {basic}", readings.MALFORMED_CREDENTIAL),
        "token_scheme": (f"Token {key}", readings.MALFORMED_CREDENTIAL),
        "apikey_scheme": (f"ApiKey {key}", readings.MALFORMED_CREDENTIAL),
        "key_alone": (key, readings.MALFORMED_CREDENTIAL),
        "space_in_token": (f"Bearer {key[: len(key) // 2]} {key[len(key) // 2 :]}", (401,)),
        "token_then_more": (f"Bearer {key} extra", readings.MALFORMED_CREDENTIAL),
        "non_ascii_token": (f"Bearer {key}\u00e9\u00df", readings.NON_ASCII_CREDENTIAL),
        "thousands_of_characters": (f"Bearer {key * 200}"[:4100], readings.OVERSIZED_CREDENTIAL),
    }


@needs_bearer
@pytest.mark.parametrize("case", list(malformed_authorization("k")))
def test_malformed_authorization_refused(dcs, case):
    value, statuses = malformed_authorization(dcs.credentials.api_key)[case]
    exchange = dcs.probe_usage(
        dcs.usage.path, scheme=None, headers={"Authorization": value}, period_start=CLOSED
    )
    auth.malformed_credentials_refused(statuses, exchange)


TOKEN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters=",;\x7f")


@needs_bearer
@given(
    scheme=st.sampled_from(["Basic", "Token", "Digest", "Bearer:", "Bearer\t", "OAuth", "Key"]),
    token=st.text(TOKEN_CHARS, min_size=0, max_size=40),
)
def test_generated_malformed_authorization_refused(dcs, scheme, token):
    exchange = dcs.probe_usage(
        dcs.usage.path, scheme=None, headers={"Authorization": f"{scheme} {token}".rstrip()}
    )
    statuses = readings.MALFORMED_CREDENTIAL if token.isascii() else readings.NON_ASCII_CREDENTIAL
    auth.malformed_credentials_refused(statuses, exchange)


def key_edits(key: str) -> dict[str, str]:
    """The key compared loosely: another letter case, cut short, extended."""
    return {
        "swapped_case": key.swapcase(),
        "upper_case": key.upper(),
        "first_half": key[: max(1, len(key) // 2)],
        "extended": key + key[-4:],
        "doubled": key + key,
    }


@pytest.mark.parametrize("edit", list(key_edits("k")))
def test_key_compared_exactly(dcs, edit):
    key = key_edits(dcs.credentials.api_key)[edit]
    if key == dcs.credentials.api_key:
        pytest.skip(f"{edit} leaves this key unchanged")
    dcs.transport.masker.add(key)  # nearly the secret itself: never shown either
    auth.wrong_key_is_auth_invalid(dcs.get_usage(key=key))


def org_edits(org: str) -> dict[str, str]:
    """The own org id compared loosely: something appended, cut short, another case."""
    return {
        "appended": org + "x",
        "cut_short": org[:-1],
        "other_case": org.swapcase(),
        "upper_case": org.upper(),
        "with_space": f"{org} x",
    }


@pytest.mark.parametrize("edit", list(org_edits("o")))
def test_org_id_compared_exactly(dcs, edit):
    own = dcs.credentials.org_id
    if own is None:
        pytest.skip("needs --org-id (or DCS_ORG_ID): the org that owns the key")
    other = org_edits(own)[edit]
    if not other or readings.same_org_id(own, other):
        pytest.skip(f"{edit} names the own org: {own!r} compares case-insensitively (a UUID)")
    statuses = readings.org_refusals(own, other)
    auth.foreign_org_refused(statuses, dcs.get_usage(org=other))


Place = tuple[dict[str, str], dict[str, str], tuple[int, ...]]


def misplaced_keys(key: str) -> dict[str, Place]:
    """The valid key where the spec does not put it: (query params, headers, statuses)."""
    in_query: tuple[int, ...] = readings.KEY_IN_QUERY
    elsewhere: tuple[int, ...] = (401,)
    places: dict[str, Place] = {
        f"query_{name}": ({name: key}, {}, in_query)
        for name in ("api_key", "apikey", "access_token", "token", "key", "x-api-key")
    }
    places |= {
        f"cookie_{name}": ({}, {"Cookie": f"{name}={key}"}, elsewhere)
        for name in ("api_key", "session", "x-api-key")
    }
    places |= {
        f"header_{name.lower()}": ({}, {name: key}, elsewhere)
        for name in ("X-Dedalus-Api-Key", "Api-Key", "X-Auth-Token", "X-Access-Token", "Token")
    }
    return places


@pytest.mark.parametrize("place", list(misplaced_keys("k")))
def test_key_counts_only_where_declared(dcs, place):
    params, headers, statuses = misplaced_keys(dcs.credentials.api_key)[place]
    exchange = dcs.get_usage(scheme=None, params=params, headers=headers)
    auth.key_only_where_declared(statuses, exchange)


KINDS = list(auth.EXPECTED_FOR)


def interleaved(dcs, kinds, scheme):
    """The same URL, one keep-alive connection, credentials as `kinds` says, in order."""
    keys = {"valid": dcs.credentials.api_key, "wrong": WRONG_KEY}
    exchanges = []
    with dcs.transport.one_connection():
        for kind in kinds:
            if kind == "missing":
                exchanges.append(dcs.get_usage(period_start=CLOSED, scheme=None))
            else:
                key = keys[kind]
                exchanges.append(dcs.get_usage(period_start=CLOSED, scheme=scheme, key=key))
    return exchanges


@pytest.mark.parametrize("scheme", [s.label for s in suite_contract().auth_schemes])
def test_no_credential_carry_over(dcs, scheme):
    kinds = ["valid", "missing", "valid", "wrong", "missing", "wrong", "valid"]
    auth.no_credential_carry_over(kinds, interleaved(dcs, kinds, scheme))


@settings(max_examples=share_of_examples(0.2))  # each example is a chain of 3 to 6 requests
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=3, max_size=6),
    scheme=st.sampled_from([s.label for s in suite_contract().auth_schemes]),
)
def test_generated_credential_sequences(dcs, kinds, scheme):
    auth.no_credential_carry_over(kinds, interleaved(dcs, kinds, scheme))
