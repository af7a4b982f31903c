"""Checks on how the target treats the request itself: dates, unknown parameters, methods."""

from __future__ import annotations

from conformance._contract import readings
from conformance._core.exchange import Exchange
from conformance.checks._invariant import (
    Broken,
    at_field,
    both_answered,
    describe,
    error_body,
    expect_status,
    invariant,
    same_fields,
)


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


@invariant
def path_variant_guarded(exchange: Exchange) -> None:
    """The declared path spelled another way (a trailing slash, doubled slashes, dot segments,
    percent-encoded letters, another case) never answers without credentials: a 404, a
    redirect or another refusal (our reading: any 3xx or 4xx), never a 2xx, never a 5xx."""
    if exchange.error or exchange.status not in readings.PATH_VARIANT_WITHOUT_KEY:
        raise Broken(
            f"{exchange.request_line()} without credentials answered {describe(exchange)}",
            expected="3xx or 4xx (404, a redirect, or 401 like the declared path)",
            actual=describe(exchange),
            location="status",
        )


@invariant
def sibling_path_gives_no_usage(fields: tuple[str, ...], exchange: Exchange) -> None:
    """Another version or mount of the usage path (/v0/usage, /v2/usage, /api/v1/usage, ...)
    asked without credentials never answers with usage: a 2xx whose JSON object has two or
    more of the usage document's properties is the usage served to anyone (OWASP API9:2023,
    improper inventory management). Whether such a path exists, and how it refuses, is the
    server's."""
    status = exchange.status or 0
    body = error_body(exchange) if 200 <= status < 300 else {}
    shown = [name for name in fields if name in body]
    if len(shown) >= 2:
        raise Broken(
            f"{exchange.request_line()} without credentials answered {status} with usage",
            expected="no usage without a key (a 404, or 401 like the declared path)",
            actual=f"{status} with {', '.join(shown[:4])}",
            location="status",
        )


@invariant
def path_variant_same_contract(reference: Exchange, variant: Exchange) -> None:
    """With the key, the declared path spelled another way is refused or redirected (3xx or
    4xx), or it is the same resource (RFC 3986 6: equivalent spellings) and answers exactly
    what the declared path answers for a closed period; never a 5xx, never another body."""
    if variant.status is not None and 300 <= variant.status < 500:
        return
    one, two = both_answered(
        reference,
        variant,
        f"{variant.request_line()} answered {describe(variant)}",
        expected=f"3xx/4xx, or 200 like the declared path ({describe(reference)})",
    )
    same_fields(
        sorted({*one, *two}), one, two, f"{variant.request_line()} answers another {{name}}"
    )


@invariant
def problem_title_stable(first: Exchange, second: Exchange) -> None:
    """A problem document's `title` "should not change between occurrences of the error"
    (`ErrorModel.title`, RFC 9457 3.1.3): the same refused request, sent twice, gets the same
    status, `type` and `title`."""
    one, two = error_body(first), error_body(second)
    if first.media_type != "application/problem+json" or not one:
        return
    for name in ("status", "type", "title"):
        if (first.status, one.get(name)) != (second.status, two.get(name)):
            raise at_field(
                name,
                f"the same request refused twice, with another {name}",
                expected=repr(one.get(name)),
                actual=repr(two.get(name)),
            )
