"""Checks on how the target treats the request itself: dates, unknown parameters, methods."""

from __future__ import annotations

from conformance._http import Exchange
from conformance.checks._invariant import Broken, expect_status, invariant


@invariant
def malformed_period_rejected(exchange: Exchange) -> None:
    """A `period_start` that is not a real YYYY-MM-DD date is refused with 400 and the error body,
    never accepted (200) and never a crash (5xx) ("Billing period start (YYYY-MM-DD)")."""
    expect_status(exchange, (400,), "malformed period_start")


@invariant
def valid_period_accepted(exchange: Exchange) -> None:
    """A `period_start` that is the first day of a month, in YYYY-MM-DD form, is a billing period
    start and gets 200."""
    expect_status(exchange, (200,), "valid period_start")


@invariant
def period_start_any_valid_date(exchange: Exchange) -> None:
    """A real date that is not the first of a month is a matter of policy: 200 or 400 with the
    error body, never a crash (5xx) or another status."""
    expect_status(exchange, (200, 400), "mid-month period_start")


@invariant
def unknown_params_harmless(exchange: Exchange) -> None:
    """Query parameters the spec does not declare are ignored (200) or refused (400): never a
    crash (5xx) and never another answer."""
    expect_status(exchange, (200, 400), "an undeclared query parameter")


@invariant
def undeclared_method_refused(allowed: set[str], exchange: Exchange) -> None:
    """A method the spec does not declare for the path is refused with 405 and an `Allow` header
    listing the declared methods (RFC 9110 15.5.6); never a 2xx, never a 5xx."""
    expect_status(exchange, (405,), exchange.method)
    listed = {m.strip().upper() for m in exchange.headers.get("allow", "").split(",") if m.strip()}
    if not listed or not listed <= allowed or "GET" not in listed:
        raise Broken(
            f"405 with Allow: {exchange.headers.get('allow', '(missing)')}",
            expected=f"Allow listing {', '.join(sorted(allowed))}",
            actual=exchange.headers.get("allow", "(missing)"),
            location="header Allow",
        )
