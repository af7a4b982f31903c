"""Shared ground of the fault and variant tests: the fixed clock, the mock's own fixtures and
suite key, Starlette's TestClient, and the pair of tests run over a table of in-process checks."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx
import pytest

from conformance.mock import load_fixtures

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
FX = load_fixtures()
KEY, ORG = FX.suite_credentials
AUTH = {"x-api-key": KEY}

__all__ = ["AUTH", "FX", "KEY", "NOW", "ORG", "TestClient", "in_process_pair", "usage"]


def usage(c: TestClient, period: str | None = None, **headers: str) -> httpx.Response:
    """GET /v1/usage (of ``period``, else the current one) with ``headers``, else the suite key."""
    params = {} if period is None else {"period_start": period}
    return c.get("/v1/usage", params=params, headers=headers or AUTH)


def in_process_pair(
    checks: Mapping[str, Callable[[TestClient], None]],
    client: Callable[[str], TestClient],
    good: Callable[[], TestClient],
    errors: tuple[type[BaseException], ...],
) -> tuple[Callable[[str], None], Callable[[str], None]]:
    """Two tests parametrized by the names of ``checks``: each check passes against
    ``client(name)``, and fails with one of ``errors`` against ``good()``, the correct mock."""

    @pytest.mark.parametrize("name", sorted(checks))
    def differs(name: str) -> None:
        checks[name](client(name))

    @pytest.mark.parametrize("name", sorted(checks))
    def correct_does_not(name: str) -> None:
        with pytest.raises(errors):
            checks[name](good())

    return differs, correct_does_not
