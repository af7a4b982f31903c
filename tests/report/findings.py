"""Violation dicts as the plugin records them (`_run.session.violation_record`), for the report
tests: one finding with its evidence, test reports that carry them, and the findings of the
five-fault run of issue 17 (a float counter, lower-case error codes, the Bearer prefix kept as
part of the key, an empty plan slug, retryable auth errors)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from conformance._report import summary as reports
from conformance.checks import CATALOGUE

RULES = {name: invariant.rule for name, invariant in CATALOGUE.items()}
KEY = "${DCS_API_KEY}"
HEADERS = {
    "x-api-key": ("x-api-key", "***"),
    "bearer": ("Authorization", "Bearer ***"),
    "other": ("Authorization", "***"),  # the key alone, no scheme
}


def evidence(status=200, body="{}", *, sent=("x-api-key", "valid key"), url=None):
    """An exchange as `Exchange.as_dict()` writes it, with the credentials the run noted."""
    scheme, state = sent
    headers, template = {}, None
    if scheme in HEADERS:
        name, masked = HEADERS[scheme]
        headers = {name: masked}
        if state == "valid key" or scheme == "other":
            template = {
                "url": url or "http://127.0.0.1:9/v1/usage",
                "headers": {name: masked.replace("***", KEY)},
            }
    request = {"method": "GET", "url": url or "http://127.0.0.1:9/v1/usage", "headers": headers}
    if template is not None:
        request["template"] = template
    return {
        "request": request,
        "response": {
            "status": status,
            "headers": {"content-type": "application/json"},
            "body_excerpt": body,
            "error": "" if status else "no answer",
        },
        "elapsed_s": 0.01,
        "retries": 0,
        "started": "2026-01-05T10:00:00.000Z",
        "curl": "curl -sS -X GET -H 'x-api-key: ***' http://127.0.0.1:9/v1/usage",
        "credentials": {"scheme": scheme, "state": state},
    }


def broken(
    check,
    actual="",
    *,
    location="",
    expected="",
    statuses=(200,),
    message="m",
    related=(),
    sent=("x-api-key", "valid key"),
    exchanges=None,
    subject=None,
    arguments=None,
):
    """A violation dict as `ContractViolation.as_dict()` makes it (credentials noted)."""
    found = {
        "check": check,
        "message": message,
        "expected": expected,
        "actual": actual,
        "location": location,
        "exchanges": exchanges or [evidence(status, sent=sent) for status in statuses],
        "related": list(related),
    }
    if arguments is not None:
        found["arguments"] = arguments
    if subject is not None:
        found["subject"] = subject
    return found


def report(nodeid, when="call", outcome="passed", properties=(), text="", longrepr=None):
    """A pytest TestReport, as much of it as `Results.record` reads."""
    return SimpleNamespace(
        nodeid=nodeid,
        when=when,
        outcome=outcome,
        failed=outcome == "failed",
        skipped=outcome == "skipped",
        passed=outcome == "passed",
        user_properties=list(properties),
        longreprtext=text,
        longrepr=longrepr,
    )


def call(nodeid, outcome="failed", *, violation=None, checks=(), exchanges=()):
    """The call report of a test: the checks it ran, its violation and exchanges."""
    properties = [("dcs_checks", json.dumps(list(checks)))]
    if exchanges:
        properties.append(("dcs_exchanges", json.dumps(list(exchanges))))
    if violation is not None:
        properties.append(("dcs_violation", json.dumps(violation)))
    return report(nodeid, outcome=outcome, properties=properties, text="failed")


def with_related(first, *rest):
    return {**first, "related": list(rest)}


OTHER = ("other", "other value")
RESPONSE = {"$contract": "ab"}, {"$operation": "GET /v1/usage"}, {"$exchange": 0}


def lower_code(status, code, check="error_code_format", sent=("none", "none")):
    actual, arguments = {
        "error_code_format": (code, list(RESPONSE)),
        "malformed_credentials_refused": (repr(code), [[401], {"$exchange": 0}]),
        "missing_key_is_auth_required": (f"{status} {code}", [{"$exchange": 0}]),
    }[check]
    return broken(check, actual, location="$.error_code", statuses=(status,), sent=sent,
                  message=f"error_code {code!r} ...", arguments=arguments)  # fmt: skip


def retryable(status, sent=("none", "none")):
    return broken("auth_errors_not_retryable", "True", location="$.retryable",
                  statuses=(status,), sent=sent, message=f"{status} says retryable=True",
                  arguments=list(RESPONSE))  # fmt: skip


def bearer_refused():
    return broken("valid_key_accepted", "401 auth_invalid", location="status", expected="200",
                  statuses=(401,), sent=("bearer", "valid key"),
                  message="a valid request answered 401 auth_invalid",
                  arguments=[{"$exchange": 0}])  # fmt: skip


def float_counter():
    return broken("usage_counters_in_range", "2520.0", expected="integer in [0, ...]",
                  location="$.billed_cpu_millicore_seconds", message="billed_cpu = 2520.0",
                  arguments=list(RESPONSE))  # fmt: skip


def empty_slug():
    return broken("plan_slug_non_empty", "''", location="$.plan_slug", message="plan_slug is empty",
                  arguments=list(RESPONSE))  # fmt: skip


def five_fault_results() -> reports.Results:
    """Test reports of a run against the mock with the five faults of issue 17."""
    bearer = ("bearer", "valid key")
    tests = {
        "t::missing_key": with_related(
            lower_code(401, "auth_required"), retryable(401),
            lower_code(401, "auth_required", "missing_key_is_auth_required"),
        ),
        "t::valid_x_api_key": with_related(float_counter(), empty_slug()),
        "t::valid_bearer": with_related(
            lower_code(401, "auth_invalid", sent=bearer), retryable(401, bearer), bearer_refused()
        ),
        "t::schemes_agree": with_related(
            float_counter(),
            broken("same_answer", "401 auth_invalid", location="status", statuses=(200, 401),
                   expected="200 for both (first got 200)", subject=1,
                   exchanges=[evidence(200), evidence(401, sent=bearer)],
                   message="equivalent requests answered 200 and 401 auth_invalid",
                   arguments=[["billed_awake_seconds"], {"$exchange": 0}, {"$exchange": 1}]),
        ),
        "t::org_bearer": with_related(
            lower_code(401, "auth_invalid", sent=bearer), retryable(401, bearer),
            broken("org_mismatch_forbidden", "401 auth_invalid", location="status",
                   expected="403 AUTH_ORG_MISMATCH", statuses=(401,), sent=bearer,
                   message="expected 403 AUTH_ORG_MISMATCH, got 401 auth_invalid"),
        ),
        "t::org_x_api_key": with_related(
            lower_code(403, "auth_org_mismatch", sent=("x-api-key", "valid key")),
            retryable(403, ("x-api-key", "valid key")),
        ),
        "t::malformed": with_related(
            lower_code(401, "auth_invalid", "malformed_credentials_refused", OTHER),
            retryable(401, OTHER),
        ),
        "t::key_alone": with_related(
            broken("malformed_credentials_refused", "200", location="status", expected="401",
                   sent=OTHER, message="a malformed credential answered 200",
                   arguments=[[401], {"$exchange": 0}]),
            float_counter(), empty_slug(),
        ),
        "t::period": lower_code(400, "invalid_period_start", sent=("x-api-key", "valid key")),
    }  # fmt: skip
    results = reports.Results()
    for nodeid, violation in tests.items():
        results.record(call(nodeid, violation=violation, checks=[violation["check"]]))
    results.record(call("t::passing", "passed", checks=["complete_response"]))
    return results


def summarise(results: reports.Results, status: int = 1, **run) -> dict:
    """The summary of `results` from a run of the shipped spec against a loopback target;
    `run`: the rest of that run's description."""
    described = reports.Run(
        target="http://127.0.0.1:9",
        spec_version="v1",
        spec_sha256="ab" * 32,
        spec_source="specs/dcs-openapi-usage.yaml",
        exit_status=status,
        **{
            "spec_operations": 1,
            "writes_not_exercised": (),
            "profile": "quick",
            "seed": 1,
            "base_url": "http://127.0.0.1:9",
            "documented": {"GET /v1/usage": ["200", "400", "401", "403", "500", "502", "default"]},
            **run,
        },
    )
    return reports.build_summary(described, results, RULES)
