"""Checks on how the target treats the request itself: dates, unknown parameters, methods."""

from __future__ import annotations

from conformance import _readings as readings
from conformance._exchange import Exchange
from conformance.checks._invariant import Broken, expect_status, invariant


@invariant
def malformed_period_rejected(exchange: Exchange) -> None:
    """A `period_start` that is not a real YYYY-MM-DD date is refused with 400 and the error body,
    never accepted (200) and never a crash (5xx) ("Billing period start (YYYY-MM-DD)")."""
    expect_status(exchange, (400,), "malformed period_start")


@invariant
def valid_period_accepted(exchange: Exchange) -> None:
    """A `period_start` that is the first day of the current or a past month, in YYYY-MM-DD
    form, is a billing period start and gets 200."""
    expect_status(exchange, (200,), "valid period_start")


@invariant
def period_start_any_valid_date(exchange: Exchange) -> None:
    """A real date that is not the first of a month, or a month that has not started, is a
    matter of policy (our reading): 200 or 400 with the error body, never a crash (5xx)."""
    expect_status(exchange, (200, 400), "a period_start of policy")


@invariant
def unknown_params_harmless(exchange: Exchange) -> None:
    """Query parameters the spec does not declare are ignored (200) or refused (400), our
    reading: never a crash (5xx) and never another answer."""
    expect_status(exchange, readings.UNKNOWN_PARAMETER, "an undeclared query parameter")


@invariant
def undeclared_method_refused(declared: set[str], exchange: Exchange) -> None:
    """A method the spec does not declare for the path is refused with 405 and an `Allow`
    header listing the methods the resource supports (RFC 9110 15.5.6, 10.2.1): the declared
    ones, perhaps HEAD and OPTIONS too (our reading), never the refused one. A method HTTP
    does not define may get 501 instead (15.6.2). Never a 2xx, never a 5xx."""
    method = exchange.method.upper()
    expect_status(exchange, readings.refusals(method), method)
    if exchange.status != 405:
        return
    raw = exchange.headers.get("allow", "")
    listed = {m.strip().upper() for m in raw.split(",") if m.strip()}
    may_list = declared | readings.MAY_ANSWER
    if not listed or method in listed or not declared - {"HEAD"} <= listed <= may_list:
        raise Broken(
            f"405 with Allow: {raw or '(missing)'}",
            expected=f"Allow listing {', '.join(sorted(declared - {'HEAD'}))}, perhaps also "
            f"{', '.join(sorted(may_list - declared))}; not {method}",
            actual=raw or "(missing)",
            location="header Allow",
        )
