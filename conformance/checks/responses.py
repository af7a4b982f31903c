"""Checks that hold for every response of every operation: transport, media type, schema."""

from __future__ import annotations

import re

from jsonschema.exceptions import best_match

from conformance._exchange import Exchange
from conformance._spec import Contract, Operation
from conformance.checks._invariant import Broken, error_body, invariant

BODYLESS_STATUSES = frozenset({204, 304})
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def _has_body(exchange: Exchange) -> bool:
    """Whether the response has a body, and so a media type (HEAD, 204 and 304 have none)."""
    return exchange.method != "HEAD" and exchange.status not in BODYLESS_STATUSES


@invariant
def complete_response(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """Every request gets a complete, well-formed HTTP response within the deadline (HTTP itself;
    without it nothing else can be judged)."""
    if exchange.error:
        raise Broken(exchange.error, expected="a complete HTTP response", actual=exchange.error)


@invariant
def content_type_documented(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The response's Content-Type is the media type documented for its status (`content:
    application/json` for 200/400/401/403/500/502, `application/problem+json` for `default`)."""
    documented = contract.documented_response(operation, exchange.status or 0)
    if documented is None or not documented.media_types or not _has_body(exchange):
        return
    if exchange.media_type not in documented.media_types:
        raise Broken(
            f"{exchange.status} served as {exchange.media_type or 'no Content-Type'}",
            expected=" or ".join(documented.media_types),
            actual=exchange.headers.get("content-type", "(none)"),
            location="header Content-Type",
        )


@invariant
def body_matches_schema(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """The body is JSON that validates against the schema documented for its status
    (`additionalProperties: false` and `format: int64` enforced)."""
    documented = contract.documented_response(operation, exchange.status or 0)
    if documented is None or not documented.schema_pointers or not _has_body(exchange):
        return
    if exchange.streamed:
        return  # a stream (event stream, switched protocol): its status and headers are judged
    pointer = documented.schema_pointers.get(exchange.media_type) or next(
        iter(documented.schema_pointers.values())
    )
    ok, body = exchange.parsed
    if not ok:
        raise Broken(
            f"{exchange.status} body is not JSON: {body}",
            expected=f"JSON matching responses.{documented.status_key}",
            actual=exchange.excerpt(120),
            location="$",
        )
    error = best_match(contract.validator(pointer).iter_errors(body))
    if error is not None:
        raise Broken(
            f"{exchange.status} body does not match responses.{documented.status_key}: "
            f"{error.message}",
            expected=f"schema keyword {error.validator!r}: {error.validator_value!r}"[:200],
            actual=repr(error.instance)[:200],
            location=error.json_path,
        )


@invariant
def error_code_format(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """An error body's `error_code` is an UPPER_SNAKE_CASE identifier, as every code the spec
    shows (`AUTH_REQUIRED`, `AUTH_INVALID`, `AUTH_ORG_MISMATCH`, `AUTH_SCOPE_FORBIDDEN`)."""
    code = error_body(exchange).get("error_code") if (exchange.status or 0) >= 400 else None
    if isinstance(code, str) and not ERROR_CODE.fullmatch(code):
        raise Broken(
            f"error_code {code!r} is not UPPER_SNAKE_CASE",
            expected="e.g. AUTH_INVALID",
            actual=code,
            location="$.error_code",
        )


@invariant
def auth_errors_not_retryable(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """401 and 403 answers say `retryable: false`: retrying with the same credentials cannot
    succeed (every 401/403 example in the spec)."""
    if exchange.status in (401, 403):
        retryable = error_body(exchange).get("retryable")
        if retryable is not False:
            raise Broken(
                f"{exchange.status} says retryable={retryable!r}",
                expected="retryable: false",
                actual=f"retryable: {retryable!r}",
                location="$.retryable",
            )
