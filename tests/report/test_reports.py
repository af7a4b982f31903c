"""Run reports: the pure builders on hand-made results, then real runs of the suite."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance._core.errors import ExitCode
from conformance._report import common as render_common
from conformance._report import groups, terminal
from conformance._report import summary as reports
from conformance.checks import CATALOGUE, usage
from conformance.checks import requests as request_checks
from tests._support import output, run_suite

RULES = {name: invariant.rule for name, invariant in CATALOGUE.items()}
FAST = ("--max-examples", "2", "-q")


def exchange(status=200, *, auth="x-api-key", org=False, query="", code=None, retries=0, **kw):
    return {
        "method": kw.get("method", "GET"),
        "path": "/v1/usage",
        "query": query,
        "auth": auth,
        "org_header": org,
        "status": status,
        "error_code": code,
        "error": kw.get("error", ""),
        "retries": retries,
        "elapsed_s": 0.01,
    }


VIOLATION = {
    "check": "plan_slug_non_empty",
    "message": "plan_slug is empty",
    "expected": "a plan slug",
    "actual": "''",
    "location": "$.plan_slug",
    "exchanges": [
        {
            "request": {"method": "GET", "url": "http://127.0.0.1:9/v1/usage", "headers": {}},
            "response": {
                "status": 200,
                "headers": {"content-type": "application/json"},
                "body_excerpt": '{"plan_slug": "<script>```|"}',
                "error": "",
            },
            "elapsed_s": 0.01,
            "retries": 0,
            "curl": "curl -sS -X GET -H 'x-api-key: ***' http://127.0.0.1:9/v1/usage",
        }
    ],
    "related": [{"check": "st.response_schema_conformance", "message": "m", "related": []}],
}


def report(nodeid, when="call", outcome="passed", properties=(), text="", longrepr=None):
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


def sample_results() -> reports.Results:
    results = reports.Results()
    results.record(report("t::ok", "setup"))
    results.record(
        report(
            "t::ok",
            properties=[
                ("dcs_exchanges", json.dumps([exchange(), exchange(401, auth="none")])),
                ("dcs_checks", json.dumps(["complete_response", "missing_key_is_auth_required"])),
            ],
        )
    )
    results.record(
        report(
            "t::bad",
            outcome="failed",
            text="[plan_slug_non_empty] plan_slug is empty",
            properties=[
                ("dcs_violation", json.dumps(VIOLATION)),
                ("dcs_checks", json.dumps(["plan_slug_non_empty"])),
                ("dcs_exchanges", json.dumps([exchange(query="period_start=2025-02-01")])),
            ],
        )
    )
    results.record(report("t::skip", "setup", "skipped", longrepr=("f.py", 3, "Skipped: no org")))
    results.record(report("t::crash", "setup", "failed", text="RuntimeError: boom"))
    return results


def summarise(results: reports.Results, status: int, **run) -> dict:
    """The summary of ``results`` from a run of the shipped spec against a loopback target;
    ``run``: the rest of that run's description."""
    described = reports.Run(
        target="http://127.0.0.1:9",
        spec_version="v1",
        spec_sha256="ab" * 32,
        spec_source="specs/dcs-openapi-usage.yaml",
        exit_status=status,
        **run,
    )
    return reports.build_summary(described, results, RULES)


def sample_summary(status=1, drift=None) -> dict:
    return summarise(
        sample_results(),
        status,
        spec_operations=3,
        writes_not_exercised=("POST /v1/machines",),
        profile="gate",
        seed=None,
        drift=drift,
    )


@pytest.mark.parametrize(
    "value, bucket",
    [
        (None, "none"),
        ("2025-02-01", "first_of_month"),
        ("2024-02-29", "other_valid"),
        ("2025-02-30", "malformed"),
        ("20250201", "malformed"),
        ("", "malformed"),
        ("\uff12\uff10\uff12\uff15-02-01", "malformed"),
    ],
)
def test_period_buckets(value, bucket):
    assert reports.period_bucket(value) == bucket


def test_coverage_counts_statuses_auth_periods_methods():
    cov = reports.coverage(
        [
            exchange(200, query="period_start=2025-03-01", retries=2),
            exchange(200, query="period_start=2025-03-01"),
            exchange(400, query="period_start=2025-03-15", code="INVALID_PERIOD_START"),
            exchange(400, query="period_start=nope&period_start=", code="INVALID_PERIOD_START"),
            exchange(401, auth="none", code="AUTH_REQUIRED"),
            exchange(403, auth="bearer", org=True, code="AUTH_ORG_MISMATCH"),
            exchange(None, error="no complete response", method="POST"),
        ]
    )
    assert cov["requests"] == 7 and cov["retries"] == 2 and cov["transport_errors"] == 1
    assert cov["statuses"] == {"200": 2, "400": 2, "401": 1, "403": 1, "none": 1}
    assert cov["error_codes"]["INVALID_PERIOD_START"] == 2
    assert cov["auth"]["bearer"] == {"with_org_header": 1, "without_org_header": 0}
    assert cov["auth"]["x-api-key"]["without_org_header"] == 5
    assert cov["periods"]["first_of_month"] == {
        "requests": 2,
        "distinct": 1,
        "examples": ["2025-03-01"],
    }
    assert cov["periods"]["other_valid"]["distinct"] == 1
    assert cov["periods"]["malformed"]["distinct"] == 2
    assert cov["periods"]["none"]["requests"] == 3
    assert cov["methods"] == {"GET": 6, "POST": 1}


def test_summary_counts_checks_and_failures():
    summary = sample_summary()
    assert summary["counts"] == {"tests": 4, "passed": 1, "failed": 1, "error": 1, "skipped": 1}
    assert summary["exit"] == {"status": 1, "meaning": ExitCode.VIOLATIONS.meaning}
    assert summary["target"] == "http://127.0.0.1:9" and summary["seed"] is None
    checks = summary["checks"]
    assert set(RULES) <= set(checks)
    assert checks["plan_slug_non_empty"]["outcome"] == "failed 1 time"
    assert checks["complete_response"]["outcome"] == "passed"
    assert checks["closed_period_stable"]["outcome"] == "not exercised"
    assert checks["st.response_schema_conformance"]["failed_tests"] == 1
    assert "schemathesis" in checks["st.response_schema_conformance"]["rule"]
    failures = {f["test"]: f for f in summary["failures"]}
    assert failures["t::bad"]["checks"] == ["plan_slug_non_empty", "st.response_schema_conformance"]
    assert failures["t::bad"]["violation"]["check"] == "plan_slug_non_empty"
    assert failures["t::crash"] == {
        "test": "t::crash",
        "outcome": "error",
        "checks": [],
        "violation": None,
        "message": "RuntimeError: boom",
    }
    assert summary["coverage"]["requests"] == 3
    started = dt.datetime.fromisoformat(summary["started"].replace("Z", "+00:00"))
    assert started.tzinfo is not None and summary["duration_s"] >= 0
    json.loads(reports.render_json(summary))


def test_markdown_has_verdict_checks_failures_and_coverage():
    text = reports.render_markdown(sample_summary())
    assert "**❌ Violations: 2 of 4 tests failed, 2 root causes**" in text
    assert "| plan_slug_non_empty |" in text and "| failed 1 time |" in text
    assert "| closed_period_stable |" in text and "not exercised" in text
    assert "curl -sS -X GET -H 'x-api-key: ***'" in text
    assert "````text" in text  # the excerpt holds ``` so the fence is longer
    assert "**Auth paths tried**" in text and "| none | 0 | 1 |" in text
    assert "**period_start values tried**" in text


@pytest.mark.parametrize(
    "status, words", [(0, "✅ Conformant"), (75, "Target unavailable"), (4, "Exit 4")]
)
def test_verdict_per_exit_status(status, words):
    assert words in reports.verdict(sample_summary(status))


def test_html_is_escaped_and_self_contained():
    page = reports.render_html(sample_summary())
    assert page.startswith("<!DOCTYPE html>") and "<script>" not in page
    assert "&lt;script&gt;" in page and "http" not in page.split("<body>")[0]


def test_markdown_cells_cannot_break_the_table():
    assert render_common.md_text("a | b\nc <i>`<x>`") == "a \\| b c &lt;i&gt;`<x>`"


def test_drift_in_markdown_and_lines():
    drift = {
        "old": "a.yaml",
        "new": "b.yaml",
        "identical": False,
        "counts": {"added": 1, "removed": 0, "changed": 0},
        "changes": [
            {"kind": "added", "where": f"GET /v{i}", "detail": "operation"} for i in range(3)
        ],
    }
    assert "## Spec drift" in reports.render_markdown(sample_summary(drift=drift))
    lines = reports.drift_lines(drift, limit=2)
    assert "have not vendored" in lines[0] and lines[-1] == "  ... and 1 more in the reports"


def test_junit_path_respects_an_explicit_junitxml(tmp_path):
    chosen = SimpleNamespace(xmlpath="mine.xml")
    reports.junit_path(chosen, tmp_path)
    assert chosen.xmlpath == "mine.xml"
    unset = SimpleNamespace(xmlpath=None)
    reports.junit_path(unset, tmp_path)
    assert unset.xmlpath == str(tmp_path / "junit.xml")


def test_write_reports_creates_the_dir_and_masks(tmp_path):
    from conformance._core.exchange import Masker

    summary = sample_summary()
    summary["target"] = "http://127.0.0.1:9/?k=sekrit_value_123"
    written = reports.write_reports(tmp_path / "a" / "b", summary, Masker(["sekrit_value_123"]))
    assert [p.name for p in written] == ["summary.json", "summary.md", "summary.html"]
    assert all("sekrit_value_123" not in p.read_text(encoding="utf-8") for p in written)


# --- root causes and masked checks ---------------------------------------------------------


def evidence(status=200, body="{}"):
    return {
        "request": {"method": "GET", "url": "http://127.0.0.1:9/v1/usage", "headers": {}},
        "response": {
            "status": status,
            "headers": {"content-type": "application/json"},
            "body_excerpt": body,
            "error": "" if status else "no answer",
        },
        "elapsed_s": 0.01,
        "retries": 0,
        "curl": "curl -sS -X GET -H 'x-api-key: ***' http://127.0.0.1:9/v1/usage",
    }


def broken(check, actual="", *, location="", expected="", statuses=(200,), message="m", related=()):
    """A violation dict as `ContractViolation.as_dict()` makes it."""
    return {
        "check": check,
        "message": message,
        "expected": expected,
        "actual": actual,
        "location": location,
        "exchanges": [evidence(status) for status in statuses],
        "related": list(related),
    }


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
        (broken("body_matches_schema", "True", location="$.retryable"), "boolean"),
        (broken("body_matches_schema", "[1, 2]", location="$.details"), "array"),
        (broken("body_matches_schema", "{'plan_slug': 'pro', 'billed_aw", location="$",
                expected="schema keyword 'required': ['billed_memory_mib_seconds']"), "missing"),
        (broken("body_matches_schema", "{'currency': 'EUR', 'plan_slug': 'pro'}", location="$",
                expected="schema keyword 'additionalProperties': False"), "extra field"),
        (broken("body_matches_schema", "{'plan_slug': 'pro', 'billed_aw", location="$"), "object"),
        (broken("error_code_format", "auth_invalid", location="$.error_code"), "text"),
        (broken("content_type_documented", "text/plain; charset=utf-8",
                location="header Content-Type"), "text"),
        (broken("undeclared_method_refused", "(missing)", location="header Allow"), "missing"),
        (broken("wrong_key_is_auth_invalid", "403 AUTH_INVALID", location="status",
                statuses=(403,)), "status"),
        (broken("st.not_a_server_error", "500", statuses=(500,)), "status"),
        (broken("complete_response", "read timed out", statuses=(None,)), "text"),
        (broken("auth_errors_not_retryable", "retryable: True", location="$.retryable"), "text"),
        (broken("malformed_period_rejected", "9" * 5000, location="$.x"), "text"),
    ],
)  # fmt: skip
def test_value_kinds(violation, kind):
    assert groups.value_kind(violation) == kind


@pytest.mark.parametrize(
    "statuses, status",
    [((200,), 200), ((200, 200, 200), 200), ((200, 401), 401), ((None,), None), ((), None)],
)
def test_the_status_of_a_violation_is_the_one_that_stands_out(statuses, status):
    assert groups.response_status(broken("same_answer", statuses=statuses)) == status


def test_failures_are_grouped_by_root_cause():
    negative = dict(location="$.included_storage_gib")
    found = groups.group_failures(
        [
            ("t::a", broken("usage_counters_in_range", "-1", message="first", **negative)),
            (
                "t::b",
                broken(
                    "usage_counters_in_range",
                    "-5",
                    **negative,
                    related=[broken("plan_slug_non_empty", "''", location="$.plan_slug")],
                ),
            ),
            (
                "t::c",
                broken("error_code_format", "auth_x", location="$.error_code", statuses=(401,)),
            ),
            ("t::d", broken("usage_counters_in_range", "'1'", **negative)),
            (
                "t::e",  # hypothesis found the same root cause twice: one test, counted once
                broken(
                    "usage_counters_in_range",
                    "-1",
                    **negative,
                    related=[broken("usage_counters_in_range", "-2", **negative)],
                ),
            ),
            ("t::f", None),  # a crash: no violation, no group
        ]
    )
    keys = [(g["check"], g["status"], g["location"], g["value_kind"], g["tests"]) for g in found]
    assert keys == [
        ("usage_counters_in_range", 200, "$.included_storage_gib", "negative integer", 3),
        ("error_code_format", 401, "$.error_code", "text", 1),
        ("plan_slug_non_empty", 200, "$.plan_slug", "empty string", 1),
        ("usage_counters_in_range", 200, "$.included_storage_gib", "string", 1),
    ]
    top = found[0]
    assert top["test_ids"] == ["t::a", "t::b", "t::e"]  # t::b is in two groups
    assert found[2]["test_ids"] == ["t::b"]
    assert top["example"]["message"] == "first" and "related" not in top["example"]
    assert top["example"]["exchanges"][0]["curl"].startswith("curl ")
    json.dumps(found)


def test_masked_checks_count_tests_per_masking_check():
    masked = groups.masked_checks(
        [
            (["a", "x", "y"], ["a"], ["a"]),  # x, y never ran: masked by a
            (["b", "x"], ["b", "c"], ["b", "c"]),  # x masked by b and c
            (["x"], [], []),  # no violation (a crash): nothing masked
        ]
    )
    assert masked == {
        "x": {"tests": 2, "by": {"a": 1, "b": 1, "c": 1}},
        "y": {"tests": 1, "by": {"a": 1}},
    }
    assert groups.masked_outcome(masked["x"]) == "masked by a, b, c in 2 tests"
    assert groups.masked_outcome(masked["y"]) == "masked by a in 1 test"


def call(nodeid, outcome="failed", *, violation=None, checks=(), intended=()):
    properties = [
        ("dcs_checks", json.dumps(list(checks))),
        ("dcs_intended", json.dumps(list(intended))),
    ]
    if violation is not None:
        properties.append(("dcs_violation", json.dumps(violation)))
    return report(nodeid, outcome=outcome, properties=properties, text="failed")


def masked_results() -> reports.Results:
    response_checks = ["complete_response", "body_matches_schema", "usage_counters_in_range"]
    counter = broken("usage_counters_in_range", "-1", location="$.included_storage_gib")
    results = reports.Results()
    for record in [
        call("t::monotonic", violation=counter, checks=response_checks,
             intended=[*response_checks, "open_period_monotonic"]),
        call("t::default", violation=counter, checks=response_checks,
             intended=[*response_checks, "default_period_is_current_month", "same_answer"]),
        call("t::auth", checks=["body_matches_schema", "plan_slug_non_empty"],
             violation=broken("body_matches_schema", "{}", location="$", related=[
                 broken("plan_slug_non_empty", "''", location="$.plan_slug")]),
             intended=["body_matches_schema", "valid_key_accepted"]),
        call("t::same", "passed", checks=["same_answer"], intended=["same_answer"]),
        call("t::closed", "skipped", intended=["closed_period_stable"]),
    ]:  # fmt: skip
        results.record(record)
    return results


def masked_summary(status=1, results=None) -> dict:
    return summarise(
        results or masked_results(),
        status,
        spec_operations=1,
        writes_not_exercised=(),
        profile="quick",
        seed=1,
    )


def test_masked_is_told_from_not_exercised():
    checks = masked_summary()["checks"]
    monotonic = checks["open_period_monotonic"]
    assert monotonic["outcome"] == "masked by usage_counters_in_range in 1 test"
    assert monotonic["masked_tests"] == 1
    assert monotonic["masked_by"] == {"usage_counters_in_range": 1}
    assert checks["default_period_is_current_month"]["outcome"].startswith("masked by")
    assert checks["valid_key_accepted"]["outcome"] == (
        "masked by body_matches_schema, plan_slug_non_empty in 1 test"
    )
    assert checks["same_answer"]["outcome"] == "passed"  # masked once, but run elsewhere
    assert checks["same_answer"]["masked_tests"] == 1
    assert checks["closed_period_stable"]["outcome"] == "not exercised"  # its test was skipped
    assert checks["closed_period_stable"]["masked_tests"] == 0
    assert checks["usage_counters_in_range"]["failed_tests"] == 2  # the kill matrix reads it
    assert checks["plan_slug_non_empty"]["outcome"] == "failed 1 time"


def test_summary_groups_and_keeps_failures():
    summary = masked_summary()
    assert [(g["check"], g["tests"], g["test_ids"]) for g in summary["groups"]] == [
        ("usage_counters_in_range", 2, ["t::monotonic", "t::default"]),
        ("body_matches_schema", 1, ["t::auth"]),
        ("plan_slug_non_empty", 1, ["t::auth"]),
    ]
    assert [f["test"] for f in summary["failures"]] == ["t::monotonic", "t::default", "t::auth"]
    assert reports.verdict(summary) == "❌ Violations: 3 of 5 tests failed, 3 root causes"


def test_terminal_lines_list_root_causes_then_masked_checks():
    summary = masked_summary()
    lines = terminal.terminal_lines(summary["checks"], summary["groups"], summary["failures"])
    assert lines[0] == "dcs-conformance: 3 failures, 3 root causes"
    assert lines[1].split() == ["#", "tests", "check", "status", "where", "value"]
    assert lines[2].split() == [
        "1", "2", "usage_counters_in_range", "200", "$.included_storage_gib", "negative", "integer"
    ]  # fmt: skip
    assert lines[3].strip() == "first: t::monotonic" and lines[4].strip() == "m"
    text = "\n".join(lines)
    assert "1 test (t::auth) broke several checks at once" in text
    assert "dcs-conformance: 3 checks masked (never run" in text
    assert "open_period_monotonic            masked by usage_counters_in_range in 1 test" in text
    assert "closed_period_stable" not in text
    assert terminal.terminal_lines(summary["checks"], [], []) == []


def test_a_crash_is_listed_apart_from_the_root_causes():
    results = masked_results()
    results.record(report("t::crash", "setup", "failed", text="RuntimeError: boom\nmore"))
    summary = masked_summary(results=results)
    lines = terminal.terminal_lines(summary["checks"], summary["groups"], summary["failures"])
    assert lines[0] == "dcs-conformance: 4 failures, 3 root causes"
    assert lines[-2:] == [
        "dcs-conformance: 1 failure without a contract violation:",
        "  t::crash: RuntimeError: boom",
    ]
    assert "## Other failures (1)" in reports.render_markdown(summary)
    assert 'id="other-failures"' in reports.render_html(summary)


def test_repeated_failure_line_names_the_root_cause_and_the_first_test():
    cause = {"check": "c", "status": 200, "location": "$.x", "value_kind": "null"}
    other = {"check": "d", "status": None, "location": "", "value_kind": "text"}
    assert terminal.repeated_failure_line([(cause, "t::a", "x is null\nmore")]) == (
        "[c] x is null (200 $.x null): same root cause as t::a (evidence there)"
    )
    assert terminal.repeated_failure_line([(cause, "t::a", "m1"), (other, "t::b", "m2")]) == (
        "[c] m1 (200 $.x null); [d] m2 (no response - text): same root causes as t::a, t::b "
        "(evidence there)"
    )


def test_reports_put_root_causes_first_and_coverage_last():
    summary = masked_summary()
    md = reports.render_markdown(summary)
    order = ["## Root causes (3 for 3 failed tests)", "## Checks", "## One example per root cause",
             "## Coverage"]  # fmt: skip
    assert [md.index(title) for title in order] == sorted(md.index(title) for title in order)
    assert (
        "| 1 | 2 | `usage_counters_in_range` | 200 | `$.included_storage_gib` | negative integer"
        in md
    )
    untouched = len(CATALOGUE) - 3 - 3 - 2
    assert f"3 failed, 3 masked, {untouched} not exercised, 2 passed; masked (never run" in md
    assert (
        "### 1. usage_counters_in_range: 200 at $.included_storage_gib, negative integer (2 tests)"
        in md
    )
    assert "<details><summary>2 tests with this root cause</summary>" in md
    page = reports.render_html(summary)
    order = ["Root causes (3", "<h2>Checks", "One example per root cause", "<h2>Coverage"]
    assert [page.index(title) for title in order] == sorted(page.index(t) for t in order)
    assert '<td class="outcome masked">masked by usage_counters_in_range in 1 test</td>' in page
    assert page.count('<div class="example"') == 3 and "<details><summary>evidence" in page
    assert "<script" not in page and "src=" not in page and 'href="http' not in page


def test_a_secret_in_a_root_cause_example_is_masked_when_written(tmp_path):
    from conformance._core.exchange import Masker

    secret = "dcs_k_canary_0123456789"
    results = masked_results()
    leak = broken("error_code_format", secret, location="$.error_code", message=f"got {secret}")
    leak["exchanges"][0]["response"]["body_excerpt"] = f'{{"error_code": "{secret}"}}'
    results.record(call("t::leak", violation=leak, checks=["error_code_format"]))
    summary = masked_summary(results=results)
    assert any(g["example"]["actual"] == secret for g in summary["groups"])
    written = reports.write_reports(tmp_path, summary, Masker([secret]))
    assert all(secret not in path.read_text(encoding="utf-8") for path in written)
    lines = terminal.terminal_lines(summary["checks"], summary["groups"], summary["failures"])
    assert secret not in Masker([secret]).text("\n".join(lines))


def sample_test(dcs):
    reads = [dcs.get_usage() for _ in range(2)]
    usage.open_period_monotonic(dcs.billed_fields, *reads)


def sample_lambda(dcs):
    return lambda: request_checks.valid_period_accepted(dcs.get_usage())


def helper(dcs):
    usage.future_period_unbilled(dcs.billed_fields, dcs.get_usage())


def sample_helper(dcs):
    helper(dcs)


@given(months=st.integers())
def sample_given(dcs, months):
    usage.closed_period_stable(dcs.billed_fields, dcs.get_usage(), dcs.get_usage())


def test_intended_checks_are_read_from_the_test_code():
    from conformance._run.state import intended_checks
    from conformance.checks import OPERATION_CHECKS, RESPONSE_CHECKS

    response = {check.__name__ for check in RESPONSE_CHECKS}
    response |= {check.__name__ for check in OPERATION_CHECKS["GET /v1/usage"]}
    response.add("key_never_echoed")
    assert intended_checks(sample_test, uses_dcs=False) == ["open_period_monotonic"]
    assert set(intended_checks(sample_test, uses_dcs=True)) == {"open_period_monotonic", *response}
    assert intended_checks(sample_lambda, uses_dcs=False) == ["valid_period_accepted"]
    assert intended_checks(sample_helper, uses_dcs=False) == []  # helpers are not followed
    assert intended_checks(sample_given, uses_dcs=False) == ["closed_period_stable"]


def test_intended_checks_of_the_suite_name_its_invariants():
    from conformance import test_periods
    from conformance._run.state import intended_checks

    assert "open_period_monotonic" in intended_checks(test_periods.test_open_period_monotonic, True)
    assert {
        "valid_period_accepted",
        "period_start_any_valid_date",
        "future_period_unbilled",
    } <= set(intended_checks(test_periods.test_generated_whole_calendar, True))


# --- real runs of the suite -------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.hooks
def test_a_run_against_the_mock_writes_every_report(tmp_path):
    result = run_suite(*FAST, "--reports-dir", str(tmp_path / "out"))
    assert result.returncode == 0, output(result)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "summary.html",
        "summary.json",
        "summary.md",
    ]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) == {
        "format",
        "target",
        "spec",
        "profile",
        "seed",
        "started",
        "finished",
        "duration_s",
        "exit",
        "counts",
        "checks",
        "groups",
        "failures",
        "unavailable",
        "coverage",
        "drift",
    }
    assert summary["exit"]["status"] == 0 and summary["target"].startswith("embedded mock")
    assert summary["groups"] == [] and summary["failures"] == []
    assert summary["counts"]["passed"] == summary["counts"]["tests"] > 0
    assert summary["spec"]["sha256"] and summary["profile"] == "quick"
    assert all(check["outcome"] == "passed" for check in summary["checks"].values())
    cov = summary["coverage"]
    assert {"200", "400", "401", "403"} <= set(cov["statuses"])
    assert {"AUTH_REQUIRED", "AUTH_INVALID", "AUTH_ORG_MISMATCH"} <= set(cov["error_codes"])
    assert all(sum(row.values()) > 0 for row in cov["auth"].values())
    assert all(bucket["requests"] > 0 for bucket in cov["periods"].values())
    assert "POST" in cov["methods"] and cov["requests"] > 50
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.find("testsuite").get("tests")) == summary["counts"]["tests"]
    assert (out / "summary.md").read_text(encoding="utf-8").count("| passed |") >= len(CATALOGUE)
    assert f"dcs-conformance: reports in {out}/" in result.stdout


@pytest.mark.e2e
@pytest.mark.hooks
def test_no_reports_writes_nothing_but_keeps_an_explicit_junitxml(tmp_path):
    xml = tmp_path / "mine.xml"
    result = run_suite(*FAST, "--reports-dir", str(tmp_path / "out"), "--no-reports",
                       f"--junitxml={xml}", "-k", "auth")  # fmt: skip
    assert result.returncode == 0, output(result)
    assert not (tmp_path / "out").exists() and xml.is_file()
    assert "reports in" not in result.stdout


@pytest.mark.e2e
@pytest.mark.hooks
def test_an_unavailable_target_still_gets_a_summary(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_suite(
        "--base-url", f"http://127.0.0.1:{port}", "--api-key", "k" * 20,
        "--reports-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 75, output(result)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit"] == {"status": 75, "meaning": ExitCode.TARGET_UNAVAILABLE.meaning}
    assert "Target unavailable" in (tmp_path / "summary.md").read_text(encoding="utf-8")


@pytest.mark.e2e
@pytest.mark.hooks
@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_one_systemic_fault_is_one_root_cause_and_masks_the_invariants(tmp_path, workers):
    from conformance._contract.expect import DEFAULT_EXPECT
    from conformance.mock import faulty_app, load_fixtures, serve

    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    empty_key, empty_org = fixtures.suite_empty_org
    app = faulty_app(fixtures, ["usage_counter_negative"])
    with serve(app, host="127.0.0.1", port=0) as server:
        result = run_suite(
            "--base-url", server.base_url, "--api-key", key, "--org-id", org,
            "--empty-org-key", empty_key, "--empty-org-id", empty_org,
            "--expect", str(DEFAULT_EXPECT),  # every check runs (ground truth too)
            "--max-examples", "5", "--reports-dir", str(tmp_path), *workers,
        )  # fmt: skip
    assert result.returncode == 1, output(result)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    failed = summary["counts"]["failed"]
    assert failed >= 20 and summary["counts"]["error"] == 0
    [group] = summary["groups"]
    assert (group["check"], group["status"], group["location"], group["value_kind"]) == (
        "usage_counters_in_range",
        200,
        "$.included_storage_gib",
        "negative integer",
    )
    assert group["tests"] == len(group["test_ids"]) == failed
    assert sorted(group["test_ids"]) == sorted(f["test"] for f in summary["failures"])
    assert group["example"]["actual"] == "-1" and group["example"]["exchanges"][0]["curl"]
    checks = summary["checks"]
    assert checks["open_period_monotonic"]["outcome"] == (
        "masked by usage_counters_in_range in 1 test"
    )
    masked = {name for name, check in checks.items() if check["outcome"].startswith("masked")}
    assert {
        "open_period_monotonic",
        "closed_period_stable",
        "future_period_unbilled",
        "default_period_is_current_month",
        "valid_key_accepted",
        "valid_period_accepted",
    } <= masked
    assert "not exercised" not in {check["outcome"] for check in checks.values()}
    assert checks["usage_counters_in_range"]["failed_tests"] == failed
    # the terminal: the root cause once, the 2nd and later tests in one line (per process)
    assert f"dcs-conformance: {failed} failures, 1 root cause" in result.stdout
    assert f"dcs-conformance: {len(masked)} checks masked (never run" in result.stdout
    assert "  open_period_monotonic" in result.stdout
    # the failures section: pytest's short summary repeats each failure's text (in full
    # where the CI environment variable is set)
    failures = result.stdout.split(" short test summary info ")[0]
    in_full = re.findall(r"  rerun:     pytest (\S+)", failures)
    assert 1 <= len(in_full) <= (2 if workers else 1), (in_full, failures[-20000:])
    assert failures.count("same root cause as") == failed - len(in_full)
    for name in ("summary.md", "summary.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "masked by usage_counters_in_range" in text and key not in text
