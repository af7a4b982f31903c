"""Embedded mock DCS server: an independent reference implementation of ``GET /v1/usage``.

    fx = load_fixtures()                       # fixtures/dcs-mock.yaml; FixturesError if bad
    api_key, org_id = fx.suite_credentials
    fx = fx.add_key("dcs_test_extra", org_id)  # Fixtures are immutable: use the result
    app = create_app(fx, clock=fixed_clock)    # Starlette app; clock() -> aware UTC datetime
    set_ledger_unavailable(app, True)          # 502 mode, switchable at runtime
    mock_state(app).clock = other_clock        # state: fixtures, clock, pipeline, ledger
    with serve(app, host="127.0.0.1", port=0) as server:
        server.base_url, server.request_count

Request handling is a ``Pipeline`` of plain step functions (method, authenticate,
authorize org, parse period, compute usage, render) on ``mock_state(app).pipeline``;
a fault layer can replace one with ``dataclasses.replace``. Run standalone with
``python -m conformance.mock --help``.

Broken servers for proving the suite: ``faulty_app(fx, ["usage_counter_negative"])`` or
``apply_fault(app, name)`` (serve the app returned); ``FAULTS`` and ``KNOWN_LIMITS``.
Correct servers that differ where the contract allows (the suite must pass them):
``variant_app(fx, ["chunked_bodies"])`` or ``apply_variant(app, name)``; ``VARIANTS``.
"""

from conformance.mock._app import create_app, mock_state, set_ledger_unavailable
from conformance.mock._faults.catalogue import (
    FAULTS,
    KNOWN_LIMITS,
    Fault,
    KnownLimit,
    apply_fault,
    faulty_app,
)
from conformance.mock._fixtures import DEFAULT_FIXTURES, FixturesError, load_fixtures
from conformance.mock._http.server import MockServer, serve
from conformance.mock._ledger import Ledger, Usage
from conformance.mock._model import Fixtures
from conformance.mock._state import MockState
from conformance.mock._steps import Pipeline
from conformance.mock._variants.catalogue import (
    VARIANTS,
    Variant,
    apply_variant,
    get_variant,
    variant_app,
)

__all__ = [
    "DEFAULT_FIXTURES",
    "FAULTS",
    "KNOWN_LIMITS",
    "VARIANTS",
    "Fault",
    "Fixtures",
    "FixturesError",
    "KnownLimit",
    "Ledger",
    "MockServer",
    "MockState",
    "Pipeline",
    "Usage",
    "Variant",
    "apply_fault",
    "apply_variant",
    "create_app",
    "faulty_app",
    "get_variant",
    "load_fixtures",
    "mock_state",
    "serve",
    "set_ledger_unavailable",
    "variant_app",
]
