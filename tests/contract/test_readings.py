"""Our readings of the open points (conformance/_contract/readings.py), and how the judging of
schemathesis's checks follows them (conformance/_run/generated.py): one reading, never two."""

from __future__ import annotations

import datetime as dt

import pytest

from conformance._contract import readings
from conformance._core.exchange import Exchange
from conformance._run.generated import _policy_room

TODAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize(
    "day, statuses",
    [
        (dt.date(2026, 11, 1), (200,)),  # the current month
        (dt.date(2025, 2, 1), (200,)),  # a past month
        (dt.date(1970, 1, 1), (200,)),  # the epoch
        (dt.date(1969, 12, 1), (200, 400)),  # before it: policy
        (dt.date(1, 1, 1), (200, 400)),
        (dt.date(2026, 12, 1), (200, 400)),  # not started: policy
        (dt.date(2026, 11, 25), (200, 400)),  # not the 1st: policy
        (dt.date(9999, 12, 31), (200, 400)),
    ],
)
def test_which_dates_must_be_answered(day, statuses):
    assert readings.period_statuses(day, TODAY) == statuses


def test_methods_http_does_not_define_may_get_501():
    assert readings.refusals("POST") == (405,)
    assert readings.refusals("QUERY") == (405, 501)
    assert {"HEAD", "OPTIONS"} == readings.MAY_ANSWER


@pytest.mark.parametrize(
    "own, other, statuses",
    [
        ("org_acme", "org_acmex", (403,)),
        ("org_acme", "org_acm", (403,)),
        ("org_acme", "ORG_ACME", (400, 403)),  # another shape: may be refused as malformed
        ("org_acme", "0b6f1c2e-0a52-4c1b-9d1e-2f3a4b5c6d7e", (400, 403)),
        ("0b6f1c2e-0a52-4c1b-9d1e-2f3a4b5c6d7e", "1b6f1c2e-0a52-4c1b-9d1e-2f3a4b5c6d7e", (403,)),
        (None, "org_other", (400, 403)),
    ],
)
def test_how_another_orgs_id_is_refused(own, other, statuses):
    assert readings.org_refusals(own, other) == statuses


def test_a_uuid_org_id_is_the_same_in_any_case():
    own = "0b6f1c2e-0a52-4c1b-9d1e-2f3a4b5c6d7e"
    assert readings.same_org_id(own, own.upper())
    assert not readings.same_org_id("org_acme", "ORG_ACME")


def failure(*checks: str) -> object:
    """A stand-in for a schemathesis failure of `checks`."""
    return type("Failure", (), {"checks": checks})()


def answer(status: int, method: str = "GET", query: str = "") -> Exchange:
    url = "http://127.0.0.1:9/v1/usage" + (f"?{query}" if query else "")
    return Exchange(method, url, {}, status, {}, b"", 0.0)


@pytest.mark.parametrize(
    "exchange, checks, allowed",
    [
        (answer(501, "QUERY"), ("unsupported_method",), True),
        (answer(501, "QUERY"), ("not_a_server_error",), True),
        (answer(501, "POST"), ("not_a_server_error",), False),  # POST is HTTP's: 405
        (answer(204, "OPTIONS"), ("unsupported_method",), True),
        (answer(200, "HEAD"), ("unsupported_method",), True),
        (answer(200, "POST"), ("unsupported_method",), False),
        (answer(400, query="period_start=2099-01-01"), ("positive_data_acceptance",), True),
        (answer(400, query="period_start=2024-03-15"), ("positive_data_acceptance",), True),
        (answer(400, query="period_start=2024-03-01"), ("positive_data_acceptance",), False),
        (answer(200, query="period_start="), ("negative_data_rejection",), True),
        (
            answer(200, query="period_start=2024-03-01&period_start=2024-04-01"),
            ("negative_data_rejection",),
            True,
        ),
        (answer(200, query="period_start=20240301"), ("negative_data_rejection",), False),
        (answer(500), ("not_a_server_error",), False),
    ],
)
def test_schemathesis_failures_a_reading_allows(exchange, checks, allowed):
    assert _policy_room(None, exchange, failure(*checks)) is allowed


def request(
    method: str = "GET", headers: dict[str, str] | None = None, query: str = ""
) -> Exchange:
    url = "http://127.0.0.1:9/v1/usage" + (f"?{query}" if query else "")
    return Exchange(method, url, {"x-api-key": "k", **(headers or {})}, 400, {}, b"", 0.0)


@pytest.mark.parametrize(
    "exchange, outside",
    [
        (request(), False),
        (request(headers={"Accept": "application/json", "If-None-Match": '"a"'}), False),
        (request(query="period_start=2024-03-01"), False),
        (request("TRACE"), True),
        (request("get"), True),  # another method: names are case-sensitive
        (request(query="x=" + "a" * readings.LONG_TARGET), True),
        (request(headers={f"X-Pad-{i}": "v" for i in range(readings.MANY_FIELDS)}), True),
        (request(headers={"X-Pad": "v" * readings.LONG_FIELD_LINE}), True),
        (request(headers={"X-Dcs": "caf\u00e9"}), True),
        (request(headers={"X-Dcs": "a\x01b"}), True),
        (request(headers={"If-None-Match": "*", "if-none-match": '"a"'}), True),
        (request(headers={"Expect": "100-continue"}), True),
        (request(headers={"Content-Length": "0"}), True),
        (request(headers={"Range": "bytes=1000000-"}), True),
    ],
)
def test_which_requests_lie_outside_the_api(exchange, outside):
    assert (readings.outside_the_api("get", exchange) is not None) is outside


def test_schemathesis_judges_no_http_layer_refusal_by_the_api_schema():
    case = type("Case", (), {"operation": type("Operation", (), {"method": "get"})()})()
    checks = ("content_type_conformance", "response_schema_conformance")
    assert _policy_room(case, request("TRACE"), failure(*checks))
    assert not _policy_room(case, request(), failure(*checks))
    assert not _policy_room(case, request("TRACE"), failure("unsupported_method"))
