"""The suite's checks: pure functions, one invariant each, registered in `CATALOGUE`.

`validate_response` runs every response-level check on one exchange; the multi-request
invariants (auth, periods, methods) are called by the tests in `conformance/test_*.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance._contract.spec import Contract, Operation
from conformance._core import trace
from conformance._core.errors import ContractViolation
from conformance._core.exchange import Exchange

# Imported for their checks: CATALOGUE must be complete even in a process that imports no
# test module (the xdist controller, which writes the reports).
from conformance.checks import auth, ground_truth, requests, space, wire  # noqa: F401
from conformance.checks._invariant import CATALOGUE, Invariant
from conformance.checks.http import (
    credentialed_answer_not_shared_cacheable,
    strong_etag_names_one_content,
)
from conformance.checks.lint import http_message_lint
from conformance.checks.messages import (
    auth_challenge_sent,
    connection_close_honoured,
    cors_allow_origin_one_value,
    cors_credentials_not_any_origin,
    cors_echo_varies_on_origin,
    cors_fields_well_formed,
    date_present,
    errors_reveal_no_internals,
    no_content_length_in_204,
    not_modified_has_no_content,
    preflight_answer_ok,
)
from conformance.checks.responses import (
    about_blank_title_is_status_phrase,
    auth_errors_not_retryable,
    body_matches_schema,
    complete_response,
    content_type_documented,
    error_code_format,
    framing_fits_the_request,
    generated_uris_well_formed,
    json_wire_format,
    key_never_echoed,
    problem_status_matches,
    request_errors_not_retryable,
    retry_hint_non_negative,
)
from conformance.checks.usage import (
    counters_consistent,
    plan_slug_non_empty,
    usage_counters_in_range,
)
from conformance.checks.wire import (
    close_announced,
    close_echoed,
    no_interim_to_http10,
    no_transfer_encoding_in_204,
)

__all__ = [
    "CATALOGUE",
    "OPERATION_CHECKS",
    "RESPONSE_CHECKS",
    "Invariant",
    "response_level",
    "validate_response",
]

#: Run on every response, in this order; the first (transport) failure makes the rest moot.
RESPONSE_CHECKS = (
    complete_response,
    framing_fits_the_request,
    content_type_documented,
    json_wire_format,
    body_matches_schema,
    error_code_format,
    auth_errors_not_retryable,
    request_errors_not_retryable,
    retry_hint_non_negative,
    problem_status_matches,
    about_blank_title_is_status_phrase,
    generated_uris_well_formed,
    credentialed_answer_not_shared_cacheable,
    date_present,
    not_modified_has_no_content,
    no_content_length_in_204,
    auth_challenge_sent,
    connection_close_honoured,
    cors_credentials_not_any_origin,
    cors_allow_origin_one_value,
    cors_fields_well_formed,
    cors_echo_varies_on_origin,
    preflight_answer_ok,
    errors_reveal_no_internals,
    http_message_lint,
    close_echoed,
    close_announced,
    no_transfer_encoding_in_204,
    no_interim_to_http10,
)
#: Run on the answers that were retried before the one a request ended with (a 429, 502 or
#: 503 whose hint the client followed): what a client acts on before it retries.
RETRIED_CHECKS = (retry_hint_non_negative, errors_reveal_no_internals)
#: Run on every response of one operation, by its label.
OPERATION_CHECKS = {
    "GET /v1/usage": (usage_counters_in_range, plan_slug_non_empty, counters_consistent),
}


def validate_response(
    contract: Contract,
    operation: Operation,
    exchange: Exchange,
    keys: Sequence[str] = (),
    same_tag: Exchange | None = None,
) -> list[ContractViolation]:
    """Every violation that one response shows on its own (empty when it conforms); `keys`
    are the caller's keys, which no answer may echo; `same_tag`, an earlier answer to the same
    target with the same strong ETag (`http.strong_tag`), whose content it must have. Returned,
    never raised."""
    found: list[ContractViolation] = []
    with trace.raising():
        for check in (*RESPONSE_CHECKS, *OPERATION_CHECKS.get(operation.label, ())):
            try:
                check(contract, operation, exchange)
            except ContractViolation as violation:
                found.append(violation)
                if check is complete_response:
                    return found
        for earlier in exchange.retried:  # answers the client acted on, then retried
            for check in RETRIED_CHECKS:
                try:
                    check(contract, operation, earlier)
                except ContractViolation as violation:
                    found.append(violation)
        try:
            key_never_echoed(keys, exchange)
        except ContractViolation as violation:
            found.append(violation)
        if same_tag is not None:
            try:
                strong_etag_names_one_content(same_tag, exchange)
            except ContractViolation as violation:
                found.append(violation)
    return found


def response_level(name: str) -> bool:
    """Whether a check judges one answer on its own (run on every answer by `validate_response`)."""
    checks = (*RESPONSE_CHECKS, *(c for cs in OPERATION_CHECKS.values() for c in cs))
    every_answer = (key_never_echoed.__name__, strong_etag_names_one_content.__name__)
    return name in every_answer or any(c.__name__ == name for c in checks)
