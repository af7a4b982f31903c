"""Root causes (conformance/_report/causes.py): one per thing observed, across statuses and
checks, ranked by severity; pure functions on hand-made violation dicts."""

from __future__ import annotations

import json

import pytest

from conformance._report import causes
from conformance._report.causes import ACCESS, FIGURES, WIRE, WORDING
from conformance.checks import CATALOGUE
from tests.report.findings import (
    broken,
    evidence,
    five_fault_results,
    float_counter,
    lower_code,
    summarise,
)


def test_every_check_of_the_catalogue_has_a_severity_category():
    assert set(CATALOGUE) <= set(causes.CATEGORY), set(CATALOGUE) - set(causes.CATEGORY)
    assert set(causes.CATEGORY.values()) <= set(causes.CATEGORIES)
    assert causes.CATEGORIES == (ACCESS, FIGURES, WIRE, WORDING)  # most serious first


@pytest.mark.parametrize(
    "violation, kind",
    [
        (broken("usage_counters_in_range", "-1", location="$.included"), "negative integer"),
        (broken("usage_counters_in_range", "'3600'", location="$.billed_awake_seconds"), "string"),
        (broken("body_matches_schema", "None", location="$.provisioned_storage_gib"), "null"),
        (broken("usage_counters_in_range", "2520.0", location="$.billed_cpu"), "float"),
        (broken("usage_counters_in_range", str(2**64 - 1), location="$.b"), "integer over int64"),
        (broken("future_period_unbilled", "3124800", location="$.billed_awake_seconds"), "integer"),
        (broken("plan_slug_non_empty", "''", location="$.plan_slug"), "empty string"),
        (broken("body_matches_schema", "True", location="$.retryable"), "true"),
        (broken("auth_errors_not_retryable", "None", location="$.retryable"), "null"),
        (broken("body_matches_schema", "[1, 2]", location="$.details"), "array"),
        (broken("body_matches_schema", "{'plan_slug': 'pro', 'billed_aw", location="$",
                expected="schema keyword 'required': ['billed_memory_mib_seconds']"), "missing"),
        (broken("body_matches_schema", "{'currency': 'EUR', 'plan_slug': 'pro'}", location="$",
                expected="schema keyword 'additionalProperties': False"), "extra field"),
        (broken("body_matches_schema", "{'plan_slug': 'pro', 'billed_aw", location="$"), "object"),
        (broken("error_code_format", "auth_invalid", location="$.error_code"),
         "not UPPER_SNAKE_CASE"),
        (broken("malformed_credentials_refused", "'auth_invalid'", location="$.error_code"),
         "not UPPER_SNAKE_CASE"),
        (broken("wrong_key_is_auth_invalid", "401 auth_invalid", location="$.error_code"),
         "not UPPER_SNAKE_CASE"),
        (broken("wrong_key_is_auth_invalid", "401 AUTH_REQUIRED", location="$.error_code"),
         "another code"),
        (broken("missing_key_is_auth_required", "401", location="$.error_code"), "missing"),
        (broken("content_type_documented", "text/plain; charset=utf-8",
                location="header Content-Type"), "text"),
        (broken("undeclared_method_refused", "(missing)", location="header Allow"), "missing"),
        (broken("wrong_key_is_auth_invalid", "403 AUTH_INVALID", location="status",
                statuses=(403,)), "status"),
        (broken("st.not_a_server_error", "500", statuses=(500,)), "status"),
        (broken("complete_response", "read timed out", statuses=(None,)), "text"),
        (broken("malformed_period_rejected", "9" * 5000, location="$.x"), "text"),
    ],
)  # fmt: skip
def test_value_kinds(violation, kind):
    assert causes.value_kind(violation) == kind


def test_a_lint_finding_is_one_root_cause_per_note_and_field():
    def lint(note, location="header date"):
        return broken("http_message_lint", f"{note}: summary", location=location, statuses=(200,))

    keys = [causes.cause_key(lint(n)) for n in ("DATE_OBSOLETE", "DATE_OBSOLETE", "LM_FUTURE")]
    assert keys == ["header date httplint DATE_OBSOLETE"] * 2 + ["header date httplint LM_FUTURE"]
    assert causes.cause_key(lint("DATE_OBSOLETE", "header expires")) != keys[0]


@pytest.mark.parametrize(
    "statuses, status",
    [((200,), 200), ((200, 200, 200), 200), ((200, 401), 401), ((None,), None), ((), None)],
)
def test_the_status_of_a_violation_is_the_one_that_stands_out(statuses, status):
    assert causes.response_status(broken("same_answer", statuses=statuses)) == status


def test_a_lower_case_code_is_one_root_cause_whatever_the_status_and_the_check():
    keys = {
        causes.cause_key(lower_code(400, "invalid_period_start")),
        causes.cause_key(lower_code(401, "auth_invalid", "malformed_credentials_refused")),
        causes.cause_key(lower_code(401, "auth_required", "missing_key_is_auth_required")),
        causes.cause_key(lower_code(403, "auth_org_mismatch")),
    }
    assert keys == {"$.error_code not UPPER_SNAKE_CASE"}


VALID_BEARER = ("bearer", "valid key")
NONE = ("none", "none")


@pytest.mark.parametrize(
    "violation, key",
    [
        (broken("valid_key_accepted", "401 auth_invalid", location="status", expected="200",
                statuses=(401,), sent=VALID_BEARER), "valid key answered 401"),
        (broken("same_answer", "401", location="status", expected="200 for both (first got 200)",
                exchanges=[evidence(200), evidence(401, sent=VALID_BEARER)], subject=1),
         "valid key answered 401"),
        (broken("no_credential_carry_over", "401 AUTH_INVALID", location="status",
                expected="200", subject=1,
                exchanges=[evidence(401, sent=("none", "none")), evidence(401, sent=VALID_BEARER)]),
         "valid key answered 401"),
        (broken("org_mismatch_forbidden", "401 auth_invalid", location="status",
                expected="403 AUTH_ORG_MISMATCH", statuses=(401,), sent=VALID_BEARER),
         "valid key answered 401"),
        (broken("valid_key_accepted", "403", location="status", expected="200", statuses=(403,),
                sent=("x-api-key", "another org's key")), "valid key answered 403"),
        (broken("missing_key_is_auth_required", "200", location="status",
                expected="401 AUTH_REQUIRED", sent=NONE), "no credentials answered 200"),
        (broken("path_variant_guarded", "200", location="status",
                expected="3xx or 4xx (404, a redirect, or 401 like the declared path)",
                sent=("none", "none")), "no credentials answered 200"),
        (broken("malformed_credentials_refused", "200", location="status", expected="401",
                sent=("other", "other value")), "a wrong or malformed key answered 200"),
        (broken("malformed_period_rejected", "200", location="status", expected="400"),
         "status 200 where 400 was due"),
        (broken("period_start_any_valid_date", "500", location="status", expected="200 or 400",
                statuses=(500,)), "status 500 where 200 or 400 was due"),
        (broken("key_only_where_declared", "401", location="status", expected="400 or 401",
                statuses=(401,), sent=("none", "none")), "status 401 where 400 or 401 was due"),
        (broken("st.not_a_server_error", "500", statuses=(500,)),
         "st.not_a_server_error: status 500"),
        (broken("complete_response", "read timed out", statuses=(None,)), "no complete response"),
        (broken("valid_key_accepted", "read timed out", location="status", expected="200",
                statuses=(None,)), "no complete response"),
    ],
)  # fmt: skip
def test_status_findings_say_who_was_kept_out_or_let_in(violation, key):
    assert causes.cause_key(violation) == key


def test_a_value_that_only_one_check_can_judge_keeps_the_check_in_its_key():
    canary = broken("canary_closed_period_exact", "3600", location="$.billed_awake_seconds")
    future = broken("future_period_unbilled", "3600", location="$.billed_awake_seconds")
    assert causes.cause_key(canary) == "canary_closed_period_exact: $.billed_awake_seconds integer"
    assert causes.cause_key(future) != causes.cause_key(canary)
    negative = [broken(check, "-1", location="$.billed_awake_seconds")
                for check in ("usage_counters_in_range", "future_period_unbilled")]  # fmt: skip
    assert {causes.cause_key(v) for v in negative} == {"$.billed_awake_seconds negative integer"}
    required = broken("body_matches_schema", "{}", location="$",
                      message="200 body does not match: 'plan_slug' is a required property",
                      expected="schema keyword 'required': ['plan_slug']")  # fmt: skip
    assert causes.cause_key(required) == "$.plan_slug missing"


@pytest.mark.parametrize(
    "violation, category",
    [
        (broken("valid_key_accepted", "401", location="status", expected="200",
                statuses=(401,), sent=VALID_BEARER), ACCESS),
        (broken("same_answer", "401", location="status", expected="200 for both",
                exchanges=[evidence(200), evidence(401, sent=VALID_BEARER)], subject=1), ACCESS),
        (broken("org_mismatch_forbidden", "200", location="status", expected="403"), ACCESS),
        (broken("org_mismatch_forbidden", "500", location="status", expected="403",
                statuses=(500,)), WIRE),
        (lower_code(401, "auth_invalid", "malformed_credentials_refused"), WORDING),
        (broken("no_org_carry_over", "5", location="$.billed_awake_seconds"), ACCESS),
        (broken("malformed_period_rejected", "200", location="status", expected="400"), WIRE),
        (float_counter(), FIGURES),
        (broken("auth_errors_not_retryable", "True", location="$.retryable"), WIRE),
        (lower_code(400, "invalid_period_start"), WORDING),
        (broken("st.response_schema_conformance", "200"), WIRE),
    ],
)  # fmt: skip
def test_a_findings_severity_reads_its_check_with_what_was_observed(violation, category):
    assert causes.finding_category(violation) == category


def test_the_five_fault_run_has_one_root_cause_per_fault_the_lock_out_first():
    found = summarise(five_fault_results())["groups"]
    assert [(c["rank"], c["id"], c["severity"]["category"]) for c in found] == [
        (1, "valid key answered 401", ACCESS),
        (2, "a wrong or malformed key answered 200", ACCESS),
        (3, "$.billed_cpu_millicore_seconds float", FIGURES),
        (4, "$.plan_slug empty string", FIGURES),
        (5, "$.retryable true", WIRE),
        (6, "$.error_code not UPPER_SNAKE_CASE", WORDING),
    ]
    bearer, _, _, _, retry, code = found
    assert bearer["severity"] == {"rank": 1, "category": ACCESS}
    assert bearer["primary"] == {
        "check": "valid_key_accepted",
        "message": "a valid request answered 401 auth_invalid",
        "test": "t::valid_bearer",
    }
    assert bearer["checks"] == {"org_mismatch_forbidden": 1, "same_answer": 1,
                                "valid_key_accepted": 1}  # fmt: skip
    assert bearer["credentials"] == ["bearer"] and bearer["statuses"] == [401]
    assert bearer["test_ids"] == ["t::valid_bearer", "t::schemes_agree", "t::org_bearer"]
    assert bearer["first"]["test"] == "t::valid_bearer"
    assert [f["check"] for f in bearer["first"]["violations"]] == ["valid_key_accepted"]
    assert (
        retry["statuses"] == [401, 403] and retry["primary"]["check"] == "auth_errors_not_retryable"
    )
    assert code["statuses"] == [400, 401, 403]
    assert code["primary"]["check"] == "error_code_format"
    assert set(code["checks"]) == {"error_code_format", "malformed_credentials_refused",
                                   "missing_key_is_auth_required"}  # fmt: skip
    assert [f["check"] for f in code["first"]["violations"]] == [
        "error_code_format", "missing_key_is_auth_required"
    ]  # fmt: skip
    assert code["example"]["check"] == "error_code_format" and "related" not in code["example"]
    json.dumps(found)


def test_root_cause_keys_are_stable_across_runs():
    once = [c["id"] for c in summarise(five_fault_results())["groups"]]
    again = [c["id"] for c in summarise(five_fault_results())["groups"]]
    assert once == again


def test_a_test_is_counted_once_per_root_cause():
    from conformance._report.causes import group_failures

    twice = broken(
        "usage_counters_in_range", "-1", location="$.x",
        related=[broken("usage_counters_in_range", "-2", location="$.x")],
    )  # fmt: skip
    [cause] = group_failures([("t::a", twice), ("t::b", None)])
    assert cause["tests"] == 1 and cause["test_ids"] == ["t::a"]
    assert cause["checks"] == {"usage_counters_in_range": 1}
    assert len(cause["first"]["violations"]) == 2
