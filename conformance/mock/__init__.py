"""Embedded mock DCS server: an independent reference implementation of ``GET /v1/usage``.

    fx = load_fixtures()                       # fixtures/dcs-mock.yaml; FixturesError if bad
    api_key, org_id = fx.suite_credentials
    fx = fx.add_key("dcs_test_extra", org_id)  # Fixtures are immutable: use the result
"""

from conformance.mock._fixtures import DEFAULT_FIXTURES, FixturesError, load_fixtures
from conformance.mock._ledger import Ledger, Usage
from conformance.mock._model import Fixtures

__all__ = ["DEFAULT_FIXTURES", "Fixtures", "FixturesError", "Ledger", "Usage", "load_fixtures"]
