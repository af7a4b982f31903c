"""schemathesis's own checks, all of them, against the mock served on loopback.

The schema is the vendored spec with our overlay, as the suite reads it; every generated
request carries the suite's key. Any failure of any check fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conformance._run.load import load_contract
from conformance.mock import MockServer, create_app, load_fixtures, serve

FX = load_fixtures()
KEY = FX.suite_credentials[0]
schema = schemathesis.openapi.from_dict(load_contract().raw)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with serve(create_app(FX)) as running:
        yield running


@schema.parametrize()
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_mock_passes_schemathesis(case, server: MockServer) -> None:
    case.call_and_validate(base_url=server.base_url, headers={"x-api-key": KEY}, timeout=10)
