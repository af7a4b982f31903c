"""The official Python SDK (dedalus-sdk 0.4.0) against the mock over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from conformance.mock import Fixtures, Ledger, MockServer, create_app, load_fixtures, serve
from conformance.mock._periods import epoch_seconds

dedalus_sdk = pytest.importorskip("dedalus_sdk")

NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads DEDALUS_* variables; keep them from changing what is sent."""
    for name in ("API_KEY", "X_API_KEY", "ORG_ID", "BASE_URL", "CUSTOM_HEADERS"):
        monkeypatch.delenv(f"DEDALUS_{name}", raising=False)


@pytest.fixture(scope="module")
def fx() -> Fixtures:
    return load_fixtures()


@pytest.fixture(scope="module")
def server(fx: Fixtures) -> Iterator[MockServer]:
    with serve(create_app(fx, clock=lambda: NOW), host="127.0.0.1", port=0) as running:
        yield running


def client(server: MockServer, **options: Any) -> Any:
    """An SDK client on the mock: no retries, no proxies from the environment."""
    return dedalus_sdk.Dedalus(
        base_url=server.base_url,
        max_retries=0,
        timeout=5,
        http_client=httpx.Client(trust_env=False),
        **options,
    )


def expected(fx: Fixtures, org_id: str, start: date) -> dict[str, Any]:
    return Ledger(fx).usage(fx.orgs[org_id], start, epoch_seconds(NOW))._asdict()


def test_retrieve_current_period_with_bearer(server: MockServer, fx: Fixtures) -> None:
    key, org = fx.suite_credentials
    usage = client(server, api_key=key).usage.retrieve()
    assert isinstance(usage, dedalus_sdk.types.OrgUsage)
    assert usage.model_dump() == expected(fx, org, date(2026, 11, 1))
    assert isinstance(usage.billed_awake_seconds, int) and usage.billed_awake_seconds > 0


def test_retrieve_given_period_with_x_api_key_and_org(server: MockServer, fx: Fixtures) -> None:
    key, org = fx.suite_credentials
    sdk = client(server, x_api_key=key, dedalus_org_id=org)
    usage = sdk.usage.retrieve(period_start="2025-02-01")
    assert usage.model_dump() == expected(fx, org, date(2025, 2, 1))
    assert usage.plan_slug == fx.orgs[org].plan.slug


def test_x_api_key_wins_over_a_bad_bearer(server: MockServer, fx: Fixtures) -> None:
    key, _ = fx.suite_credentials
    assert client(server, api_key="dcs_test_wrong", x_api_key=key).usage.retrieve()


def test_wrong_key_is_authentication_error(server: MockServer) -> None:
    with pytest.raises(dedalus_sdk.AuthenticationError) as info:
        client(server, api_key="dcs_test_wrong").usage.retrieve()
    assert info.value.status_code == 401
    assert info.value.body["error_code"] == "AUTH_INVALID"


def test_other_org_is_permission_denied(server: MockServer, fx: Fixtures) -> None:
    key, org = fx.suite_credentials
    other = next(org_id for org_id in fx.orgs if org_id != org)
    with pytest.raises(dedalus_sdk.PermissionDeniedError) as info:
        client(server, api_key=key, dedalus_org_id=other).usage.retrieve()
    assert info.value.status_code == 403
    assert info.value.body["error_code"] == "AUTH_ORG_MISMATCH"
    with pytest.raises(dedalus_sdk.PermissionDeniedError):
        client(server, api_key=key).usage.retrieve(extra_headers={"X-Dedalus-Org-Id": other})


def test_bad_period_is_bad_request(server: MockServer, fx: Fixtures) -> None:
    key, _ = fx.suite_credentials
    with pytest.raises(dedalus_sdk.BadRequestError) as info:
        client(server, api_key=key).usage.retrieve(period_start="2025-02-30")
    assert info.value.body["details"] == {"parameter": "period_start"}


def test_ledger_outage_is_internal_server_error(fx: Fixtures) -> None:
    key, _ = fx.suite_credentials
    app = create_app(fx, clock=lambda: NOW, ledger_unavailable=True)
    with serve(app) as outage, pytest.raises(dedalus_sdk.InternalServerError) as info:
        client(outage, api_key=key).usage.retrieve()
    assert info.value.status_code == 502
    assert info.value.body["retryable"] is True
