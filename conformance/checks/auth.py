"""Checks on authentication and org scoping (the spec's 401 and 403 responses)."""

from __future__ import annotations

from collections.abc import Sequence

from conformance._contract import readings
from conformance._core.exchange import Exchange
from conformance.checks._invariant import (
    Broken,
    both_answered,
    describe,
    error_body,
    expect_status,
    invariant,
    same_fields,
)

#: The error codes of the spec's 401 examples.
AUTH_CODES = ("AUTH_REQUIRED", "AUTH_INVALID")
#: What each kind of credentials must get, whatever was sent before on the connection.
EXPECTED_FOR = {
    "valid": (200, None),
    "missing": (401, "AUTH_REQUIRED"),
    "wrong": (401, "AUTH_INVALID"),
}


def _refused(
    exchange: Exchange, statuses: tuple[int, ...], what: str, status: int, codes: Sequence[str]
) -> None:
    """Raise unless the status is one of `statuses`, and a `status` answer says one of
    `codes`."""
    expect_status(exchange, statuses, what)
    code = error_body(exchange).get("error_code")
    if exchange.status == status and code not in codes:
        raise Broken(
            f"{status} with error_code {code!r}",
            expected=" or ".join(codes),
            actual=repr(code),
            location="$.error_code",
        )


def _expect_error(exchange: Exchange, status: int, code: str) -> None:
    got = (exchange.status, error_body(exchange).get("error_code"))
    if got != (status, code):
        raise Broken(
            f"expected {status} {code}, got {describe(exchange)}",
            expected=f"{status} {code}",
            actual=describe(exchange),
            location="$.error_code" if exchange.status == status else "status",
            subject=exchange,
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
def malformed_credentials_refused(statuses: tuple[int, ...], exchange: Exchange) -> None:
    """A credential that is no Dedalus key presented the way the spec's security schemes say
    (`Bearer` with no token or no space, another scheme such as `Basic` or `Token`, a token
    with a space inside, bytes that are not ASCII, thousands of characters) gets 401 with the
    spec's error body, `AUTH_REQUIRED` or `AUTH_INVALID` (the 401 examples); never a 2xx,
    never a 5xx."""
    _refused(exchange, statuses, "a malformed credential", 401, AUTH_CODES)


@invariant
def key_only_where_declared(statuses: tuple[int, ...], exchange: Exchange) -> None:
    """The key counts only where the spec's security schemes put it (`securitySchemes`: the
    `x-api-key` header, `Authorization: Bearer`): in the query string, a cookie or another
    header it authenticates nothing, 401 `AUTH_REQUIRED` (a query parameter may be refused
    first as undeclared, 400)."""
    _refused(exchange, statuses, "a key outside the declared places", 401, ("AUTH_REQUIRED",))


@invariant
def foreign_org_refused(statuses: tuple[int, ...], exchange: Exchange) -> None:
    """An `X-Dedalus-Org-Id` that is not exactly the key's own org (the own id with something
    appended, cut short, or in another case) names another org: 403 `AUTH_ORG_MISMATCH`, or
    400 for an id not shaped like an org id (our reading); never 200, never 5xx."""
    _refused(exchange, statuses, "another org's id", 403, ("AUTH_ORG_MISMATCH",))


@invariant
def no_credential_carry_over(kinds: Sequence[str], exchanges: Sequence[Exchange]) -> None:
    """Each request is judged on its own credentials (RFC 9110 11.6.2: credentials go with
    each request; RFC 9111 3.5: a shared cache must not reuse an authenticated answer): on one
    keep-alive connection and for one URL, valid, missing and wrong keys in any order get
    200, 401 `AUTH_REQUIRED` and 401 `AUTH_INVALID`."""
    for index, (kind, exchange) in enumerate(zip(kinds, exchanges, strict=True)):
        status, code = EXPECTED_FOR[kind]
        got = (exchange.status, error_body(exchange).get("error_code") if code else None)
        if got != (status, code):
            before = ", ".join(kinds[:index]) or "nothing"
            raise Broken(
                f"request {index + 1} ({kind} key, after {before}) answered {describe(exchange)}",
                expected=f"{status} {code or ''}".strip(),
                actual=describe(exchange),
                location="status" if exchange.status != status else "$.error_code",
                subject=exchange,
            )


@invariant
def same_answer(fields: tuple[str, ...], reference: Exchange, variant: Exchange) -> None:
    """Two equivalent requests (the other security scheme; header names in another case, which
    HTTP says are case-insensitive; a query value with unreserved characters percent-encoded,
    RFC 3986 6.2.2.2) get the same answer for a closed period."""
    one, two = both_answered(
        reference,
        variant,
        f"equivalent requests answered {describe(reference)} and {describe(variant)}",
        expected=f"200 for both (first got {describe(reference)})",
    )
    same_fields((*fields, "plan_slug"), one, two, "{name} differs between equivalent requests")


@invariant
def no_undeclared_org_selector(reference: Exchange, exchange: Exchange) -> None:
    """Only the key (and `X-Dedalus-Org-Id`, checked against it) says whose usage is read: an
    undeclared query parameter or header field naming another org (`org_id`, `tenant`, ...)
    gets the key's own org's usage, as without it, or a refusal (400 or 403); never the
    other org's (OWASP API1:2023, broken object level authorization)."""
    if reference.status != 200 or exchange.status in (400, 403):
        return
    one, two = both_answered(
        reference, exchange, "a request naming another org", "the own org's usage, or 400/403"
    )
    same_fields(
        sorted(set(one) | set(two)),
        one,
        two,
        "{name} differs from the own org's when a parameter names another org",
    )


@invariant
def org_existence_not_revealed(existing: Exchange, unknown: Exchange, ids: Sequence[str]) -> None:
    """A key cannot tell whether an org it does not own exists: `X-Dedalus-Org-Id` naming an
    existing other org and one naming no org get the same refusal (status, `error_code`, and
    `message` with the id itself left aside) (OWASP API1:2023: object ids of others are not
    to be probed)."""

    def seen(exchange: Exchange) -> tuple[object, object, object]:
        body = error_body(exchange)
        message = body.get("message")
        if isinstance(message, str):
            for org in ids:
                message = message.replace(org, "{org}")
        return exchange.status, body.get("error_code"), message

    first, second = seen(existing), seen(unknown)
    if first != second:
        raise Broken(
            "another org's id and an id no org has are refused differently: "
            f"{describe(existing)} and {describe(unknown)}",
            expected=f"the same refusal for both: {first}",
            actual=f"{second}",
            location="status" if first[0] != second[0] else "$.message",
            subject=unknown,
        )


@invariant
def wrong_key_burst_refused(exchanges: Sequence[Exchange]) -> None:
    """A short burst of wrong keys from one client (a guesser's first tries) is refused every
    time: 401, or a limit met (429, 503) or a block (403); never a 2xx, never a crash. A limit
    that lets a guess through, or falls over, breaks authentication (OWASP API2:2023). Whether
    guessing is slowed at all needs load, and is not judged."""
    for number, exchange in enumerate(exchanges, 1):
        if exchange.error or exchange.status not in readings.BURST_REFUSALS:
            raise Broken(
                f"wrong key {number} of a burst of {len(exchanges)} answered {describe(exchange)}",
                expected="401, 403, 429 or 503 for every wrong key",
                actual=describe(exchange),
                location="status",
            )
