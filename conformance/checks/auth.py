"""Checks on authentication and org scoping (the spec's 401 and 403 responses)."""

from __future__ import annotations

from conformance._exchange import Exchange
from conformance.checks._invariant import Broken, describe, error_body, expect_status, invariant
from conformance.checks.usage import usage_body


def _expect_error(exchange: Exchange, status: int, code: str) -> None:
    got = (exchange.status, error_body(exchange).get("error_code"))
    if got != (status, code):
        raise Broken(
            f"expected {status} {code}, got {describe(exchange)}",
            expected=f"{status} {code}",
            actual=describe(exchange),
            location="$.error_code" if exchange.status == status else "status",
        )


@invariant
def missing_key_is_auth_required(exchange: Exchange) -> None:
    """A request with no credentials gets 401 `AUTH_REQUIRED` ("missing Dedalus API key",
    the spec's 401 example `missing_key`)."""
    _expect_error(exchange, 401, "AUTH_REQUIRED")


@invariant
def wrong_key_is_auth_invalid(exchange: Exchange) -> None:
    """A key the target does not know gets 401 `AUTH_INVALID` ("invalid Dedalus API key",
    the spec's 401 example `invalid_key`)."""
    _expect_error(exchange, 401, "AUTH_INVALID")


@invariant
def org_mismatch_forbidden(exchange: Exchange) -> None:
    """A key used for another org gets 403 `AUTH_ORG_MISMATCH` ("org scope does not match API
    key ownership", the spec's 403 example `org_mismatch`)."""
    _expect_error(exchange, 403, "AUTH_ORG_MISMATCH")


@invariant
def valid_key_accepted(exchange: Exchange) -> None:
    """The valid key, sent as the spec's security schemes say (`x-api-key` header, or
    `Authorization: Bearer <key>`), and scoped to its own org, gets 200."""
    expect_status(exchange, (200,), "a valid request")


@invariant
def same_answer(fields: tuple[str, ...], reference: Exchange, variant: Exchange) -> None:
    """Two equivalent requests (the other security scheme; header names in another case, which
    HTTP says are case-insensitive) get the same answer for a closed period."""
    one, two = usage_body(reference), usage_body(variant)
    if one is None or two is None:
        raise Broken(
            f"equivalent requests answered {describe(reference)} and {describe(variant)}",
            expected=f"200 for both (first got {describe(reference)})",
            actual=describe(variant),
            location="status",
        )
    for name in (*fields, "plan_slug"):
        if one.get(name) != two.get(name):
            raise Broken(
                f"{name} differs between equivalent requests",
                expected=repr(one.get(name)),
                actual=repr(two.get(name)),
                location=f"$.{name}",
            )
