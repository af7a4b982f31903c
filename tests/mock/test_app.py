"""The mock's HTTP behaviour, in process: every status, body and header it documents."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

from conformance.mock import (
    Fixtures,
    Ledger,
    create_app,
    load_fixtures,
    mock_state,
    set_ledger_unavailable,
)
from conformance.mock._periods import epoch_seconds

with warnings.catch_warnings():  # "use httpx2": TestClient still works with httpx
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")

REPO = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((REPO / "specs" / "dcs-openapi-usage.yaml").read_text(encoding="utf-8"))
REGISTRY = Registry().with_resource("spec", Resource.from_contents(SPEC, DRAFT202012))
RESPONSES = SPEC["paths"]["/v1/usage"]["get"]["responses"]
NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
USAGE_FIELDS = set(SPEC["components"]["schemas"]["UsageBody"]["required"])

AUTH_REQUIRED = {
    "error_code": "AUTH_REQUIRED",
    "message": "missing Dedalus API key",
    "retryable": False,
}
AUTH_INVALID = {
    "error_code": "AUTH_INVALID",
    "message": "invalid Dedalus API key",
    "retryable": False,
}
AUTH_ORG_MISMATCH = {
    "error_code": "AUTH_ORG_MISMATCH",
    "message": "org scope does not match API key ownership",
    "retryable": False,
}
INVALID_PERIOD_START = {
    "error_code": "INVALID_PERIOD_START",
    "message": "period_start must be a calendar date in YYYY-MM-DD form",
    "retryable": False,
    "details": {"parameter": "period_start"},
}
LEDGER_UNAVAILABLE = {
    "error_code": "BILLING_LEDGER_UNAVAILABLE",
    "message": "billing ledger unavailable",
    "retryable": True,
    "retry_after_ms": 1000,
}
INTERNAL = {"error_code": "INTERNAL", "message": "internal server error", "retryable": True}


def documented(response: httpx.Response) -> Any:
    """Assert media type and body match the spec for this status; return the body."""
    status = str(response.status_code)
    entry = RESPONSES[status] if status in RESPONSES else RESPONSES["default"]
    key = "default" if status not in RESPONSES else status
    (media_type,) = entry["content"]
    assert response.headers["content-type"] == media_type
    if response.request.method == "HEAD":
        assert response.content == b""
        return None
    pointer = f"spec#/paths/~1v1~1usage/get/responses/{key}/content/{media_type.replace('/', '~1')}"
    validator = Draft202012Validator({"$ref": f"{pointer}/schema"}, registry=REGISTRY)
    body = response.json()
    validator.validate(body)
    return body


@pytest.fixture(scope="module")
def fx() -> Fixtures:
    return load_fixtures()


@pytest.fixture
def app(fx: Fixtures) -> Starlette:
    return create_app(fx, clock=lambda: NOW)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def key(fx: Fixtures) -> str:
    return fx.suite_credentials[0]


@pytest.fixture(scope="module")
def org(fx: Fixtures) -> str:
    return fx.suite_credentials[1]


@pytest.fixture(scope="module")
def other_org(fx: Fixtures, org: str) -> str:
    return next(org_id for org_id in fx.orgs if org_id != org)


def expected(fx: Fixtures, org: str, start: date) -> dict[str, Any]:
    return Ledger(fx).usage(fx.orgs[org], start, epoch_seconds(NOW))._asdict()


def test_success_has_exactly_the_usage_fields(client: TestClient, fx: Fixtures, key: str, org: str):
    response = client.get("/v1/usage", headers={"x-api-key": key})
    assert response.status_code == 200
    body = documented(response)
    assert set(body) == USAGE_FIELDS
    assert body == expected(fx, org, date(2026, 11, 1))
    assert body["billed_awake_seconds"] > 0
    assert set(response.headers) == {"content-type", "content-length"}  # no server header


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "{key}"},
        {"X-API-KEY": "{key}"},
        {"X-Api-Key": " {key} "},
        {"Authorization": "Bearer {key}"},
        {"authorization": "bearer {key}"},
        {"AUTHORIZATION": "BEARER   {key}"},
        {"x-api-key": "", "Authorization": "Bearer {key}"},
    ],
)
def test_both_auth_schemes_any_header_case(client: TestClient, key: str, headers: dict[str, str]):
    response = client.get("/v1/usage", headers={k: v.format(key=key) for k, v in headers.items()})
    assert response.status_code == 200
    documented(response)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic ZGNzOnNlY3JldA=="},
        {"Authorization": "Token {key}"},
        {"Authorization": "{key}"},
        {"api-key": "{key}"},
    ],
)
def test_no_credential_is_auth_required(client: TestClient, key: str, headers: dict[str, str]):
    response = client.get("/v1/usage", headers={k: v.format(key=key) for k, v in headers.items()})
    assert response.status_code == 401
    assert documented(response) == AUTH_REQUIRED


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "dcs_test_not_a_known_key"},
        {"Authorization": "Bearer dcs_test_not_a_known_key"},
        {"x-api-key": "{key}x"},
        {"x-api-key": "{key_upper}"},
        {"Authorization": "Bearer {key} extra"},
        {"x-api-key": "dcs_test_nope", "Authorization": "Bearer {key}"},  # x-api-key wins
        {"x-api-key": "k" * 12_000},
    ],
)
def test_unknown_key_is_auth_invalid(client: TestClient, key: str, headers: dict[str, str]):
    values = {k: v.format(key=key, key_upper=key.upper()) for k, v in headers.items()}
    response = client.get("/v1/usage", headers=values)
    assert response.status_code == 401
    assert documented(response) == AUTH_INVALID


def test_x_api_key_wins_over_a_bad_bearer(client: TestClient, key: str):
    headers = {"x-api-key": key, "Authorization": "Bearer dcs_test_nope"}
    assert client.get("/v1/usage", headers=headers).status_code == 200


def test_repeated_or_non_ascii_credentials_are_invalid(client: TestClient, key: str):
    repeated = client.get("/v1/usage", headers=[("x-api-key", key), ("x-api-key", key)])
    assert repeated.status_code == 401 and documented(repeated) == AUTH_INVALID
    latin = client.get("/v1/usage", headers=[(b"x-api-key", b"dcs_test_\xff\xfe")])
    assert latin.status_code == 401 and documented(latin) == AUTH_INVALID


def test_org_header_must_match_the_key(client: TestClient, key: str, org: str, other_org: str):
    same = client.get("/v1/usage", headers={"x-api-key": key, "X-Dedalus-Org-Id": org})
    assert same.status_code == 200
    for value in (other_org, "", org.upper(), "o" * 10_000):
        for name in ("X-Dedalus-Org-Id", "x-dedalus-org-id"):
            response = client.get("/v1/usage", headers={"x-api-key": key, name: value})
            assert response.status_code == 403
            assert documented(response) == AUTH_ORG_MISMATCH


def test_each_key_sees_its_own_org(client: TestClient, fx: Fixtures):
    for org_id, org_obj in fx.orgs.items():
        for api_key in org_obj.api_keys:
            response = client.get("/v1/usage", headers={"Authorization": f"Bearer {api_key}"})
            assert documented(response) == expected(fx, org_id, date(2026, 11, 1))


def test_checks_run_in_order_auth_org_period(client: TestClient, key: str, other_org: str):
    bad = {"x-api-key": "dcs_test_nope", "X-Dedalus-Org-Id": other_org}
    assert client.get("/v1/usage?period_start=x", headers=bad).status_code == 401
    bad["x-api-key"] = key
    assert client.get("/v1/usage?period_start=x", headers=bad).status_code == 403
    del bad["X-Dedalus-Org-Id"]
    assert client.get("/v1/usage?period_start=x", headers=bad).status_code == 400


@pytest.mark.parametrize(
    ("query", "start"),
    [
        ("", date(2026, 11, 1)),
        ("period_start=2025-02-01", date(2025, 2, 1)),
        ("period_start=2026-11-01", date(2026, 11, 1)),
        ("period_start=2026-10-15", date(2026, 10, 15)),
        ("period_start=2024-02-29", date(2024, 2, 29)),
        ("period_start=0001-01-01", date(1, 1, 1)),
        ("period_start=9999-12-31", date(9999, 12, 31)),
        ("period_start=2027-01-01", date(2027, 1, 1)),
        ("period%5Fstart=2025-%30%32-01", date(2025, 2, 1)),
        ("foo=bar&PERIOD_START=1999-01-01&period_start=2025-03-01&x", date(2025, 3, 1)),
        ("&&period_start=2025-03-01&", date(2025, 3, 1)),
    ],
)
def test_valid_periods(client: TestClient, fx: Fixtures, key: str, org: str, query: str, start):
    response = client.get(f"/v1/usage?{query}", headers={"x-api-key": key})
    assert response.status_code == 200
    assert documented(response) == expected(fx, org, start)


@pytest.mark.parametrize(
    "query",
    [
        "period_start=2025-02-30",
        "period_start=2025-2-1",
        "period_start=20250201",
        "period_start=%202025-02-01",
        "period_start=+2025-02-01",
        "period_start=2025-02-01%20",
        "period_start=2025-02-01%0A",
        "period_start=",
        "period_start",
        "period_start=2025-02-01&period_start=2025-02-01",
        "period_start=2025-02-01&period_start=2025-03-01",
        "period_start=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%95-02-01",  # fullwidth digits
        "period_start=%D9%A2%D9%A0%D9%A2%D9%A5-02-01",  # Arabic-Indic digits
        "period_start=0000-01-01",
        "period_start=2025-13-01",
        "period_start=2025-00-10",
        "period_start=2025-02-01T00:00:00Z",
        "period_start=2025/02/01",
        "period_start=-2025-02-01",
        "period_start=99999-01-01",
        "period_start=%ZZ",
        "period_start=2025-02-0%",
        "period_start=%FF%FE",
        "period_start=" + "9" * 5000,
    ],
)
def test_invalid_periods(client: TestClient, key: str, query: str):
    response = client.get(f"/v1/usage?{query}", headers={"x-api-key": key})
    assert response.status_code == 400
    assert documented(response) == INVALID_PERIOD_START


def test_period_with_unicode_digits_as_text(client: TestClient, key: str):
    params = {"period_start": "\uff12\uff10\uff12\uff15-02-01"}  # fullwidth 2025
    response = client.get("/v1/usage", params=params, headers={"x-api-key": key})
    assert response.status_code == 400 and documented(response) == INVALID_PERIOD_START


@pytest.mark.parametrize("query", ["foo=%ZZ", "x=%C3%28", "%E0%80=1", "a=%"])
def test_malformed_query_elsewhere_is_a_400_not_a_500(client: TestClient, key: str, query: str):
    response = client.get(f"/v1/usage?{query}&period_start=2025-02-01", headers={"x-api-key": key})
    assert response.status_code == 400
    body = documented(response)
    assert body["error_code"] == "INVALID_QUERY" and body["retryable"] is False


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW"])
def test_other_methods_are_405_with_allow(client: TestClient, key: str, method: str):
    for headers in ({}, {"x-api-key": key}):
        response = client.request(method, "/v1/usage", headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        body = documented(response)
        assert body["status"] == 405 and set(body) == {"type", "title", "status", "detail"}


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/usage/", "/v1/usages", "/v2/usage", "/V1/USAGE"])
def test_unknown_paths_are_404_problems(client: TestClient, key: str, path: str):
    response = client.get(path, headers={"x-api-key": key})
    assert response.status_code == 404
    body = documented(response)
    assert body["status"] == 404 and set(body) == {"type", "title", "status", "detail"}


def test_ledger_unavailable_mode(fx: Fixtures, key: str, other_org: str):
    app = create_app(fx, clock=lambda: NOW, ledger_unavailable=True)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.get("/v1/usage", headers={"x-api-key": key})
        assert response.status_code == 502
        assert documented(response) == LEDGER_UNAVAILABLE
        assert response.headers["retry-after"] == "1"
        assert client.get("/v1/usage").status_code == 401
        mismatch = {"x-api-key": key, "X-Dedalus-Org-Id": other_org}
        assert client.get("/v1/usage", headers=mismatch).status_code == 403
        set_ledger_unavailable(app, False)
        assert client.get("/v1/usage", headers={"x-api-key": key}).status_code == 200
        set_ledger_unavailable(app)
        assert client.get("/v1/usage", headers={"x-api-key": key}).status_code == 502


def test_unexpected_errors_are_500_without_traceback(app: Starlette, client: TestClient, key: str):
    def broken(*args: object) -> None:
        raise RuntimeError("boom: secret detail")

    state = mock_state(app)
    state.pipeline = dataclasses.replace(state.pipeline, compute_usage=broken)
    response = client.get("/v1/usage", headers={"x-api-key": key})
    assert response.status_code == 500
    assert documented(response) == INTERNAL
    assert "boom" not in response.text and "Traceback" not in response.text


def test_head_is_get_without_body(client: TestClient, key: str):
    get = client.get("/v1/usage", headers={"x-api-key": key})
    head = client.head("/v1/usage", headers={"x-api-key": key})
    assert head.status_code == 200 and head.content == b""
    assert head.headers == get.headers
    documented(head)
    unauthenticated = client.head("/v1/usage")
    assert unauthenticated.status_code == 401 and unauthenticated.content == b""


def test_counters_follow_the_clock(app: Starlette, client: TestClient, key: str):
    state = mock_state(app)
    seen = []
    for hour in (9, 10, 10, 11):
        state.clock = lambda hour=hour: datetime(2026, 11, 25, hour, 59, tzinfo=UTC)
        seen.append(client.get("/v1/usage", headers={"x-api-key": key}).json())
    assert seen[1] == seen[2]
    for field in ("billed_awake_seconds", "billed_logical_storage_mib_seconds"):
        assert seen[0][field] < seen[1][field] < seen[3][field]
