"""Run reports: the pure builders on hand-made results, then real runs of the suite."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from conformance._core.errors import ExitCode
from conformance._report import common as render_common
from conformance._report import summary as reports
from conformance._report import terminal
from conformance._report.har import render_har
from conformance._report.junit import mark_junit
from conformance.checks import CATALOGUE
from tests._support import output, run_suite
from tests.report import findings

RULES = {name: invariant.rule for name, invariant in CATALOGUE.items()}
FAST = ("--max-examples", "2", "-q")

#: Checks that compare answers by their ETags: the mock sends none, so they judge nothing.
WITHOUT_ETAGS = {"strong_etag_names_one_content"}


def exchange(status=200, *, auth="x-api-key", org=False, query="", code=None, retries=0, **kw):
    """A coverage record (`_run.session.coverage_record`) of one exchange."""
    return {
        "operation": kw.get("operation", "GET /v1/usage"),
        "resource": kw.get("resource", "/v1/usage"),
        "credential_state": kw.get("state", "valid key" if auth != "none" else "none"),
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


report = findings.report


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
    assert summary["counts"] == {
        "tests": 4, "passed": 1, "failed": 1, "error": 1, "skipped": 1, "known": 0
    }  # fmt: skip
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
    assert [p.name for p in written] == [
        "summary.json", "summary.md", "summary.html", "failures.har"
    ]  # fmt: skip
    assert all("sekrit_value_123" not in p.read_text(encoding="utf-8") for p in written)


# --- root causes in every rendering ------------------------------------------------------


def five_fault_summary(status=1, results=None) -> dict:
    return findings.summarise(results or findings.five_fault_results(), status)


def test_a_check_is_passed_failed_or_not_exercised():
    summary = five_fault_summary()
    checks = summary["checks"]
    assert all(set(check) == {"rule", "failed_tests", "outcome"} for check in checks.values())
    kinds = {render_common.outcome_kind(check["outcome"]) for check in checks.values()}
    assert kinds == {"failed", "passed", "not exercised"}
    assert checks["valid_key_accepted"]["outcome"] == "failed 1 time"
    assert checks["error_code_format"]["failed_tests"] == 5  # the kill matrix reads it
    assert checks["complete_response"]["outcome"] == "passed"
    assert checks["closed_period_stable"]["outcome"] == "not exercised"
    assert reports.verdict(summary) == "❌ Violations: 9 of 10 tests failed, 6 root causes"
    for text in (reports.render_markdown(summary), reports.render_html(summary)):
        assert "masked" not in text.lower()


def test_terminal_lines_rank_root_causes_and_name_their_primary_symptom():
    summary = five_fault_summary()
    lines = terminal.terminal_lines(summary["groups"], summary["failures"], summary["coverage"])
    assert lines[0] == "dcs-conformance: 9 failures, 6 root causes, most serious first"
    assert lines[1].split() == ["#", "severity", "tests", "root", "cause", "statuses"]
    assert lines[2].split() == [
        "1", "access", "control", "and", "tenancy", "3", "valid", "key", "answered", "401",
        "(sent", "as", "bearer)", "401",
    ]  # fmt: skip
    assert lines[3].strip() == (
        "checks: org_mismatch_forbidden (1), same_answer (1), valid_key_accepted (1)"
    )
    assert lines[4].strip() == "first:  t::valid_bearer"
    assert lines[5].strip() == "[valid_key_accepted] a valid request answered 401 auth_invalid"
    text = "\n".join(lines)
    assert "  6  wording" in text and "$.error_code not UPPER_SNAKE_CASE" in text
    assert "tests each show several root causes" in text
    assert lines[-1] == (
        "dcs-conformance: warning: GET /v1/usage: documented statuses 200, 400, 401, 403, 500, "
        "502, default never seen in this run (not exercised, not judged)"
    )
    assert terminal.terminal_lines([], [], None) == []


def test_every_rendering_lists_the_root_causes_in_the_same_order():
    summary = five_fault_summary()
    ids = [cause["id"] for cause in summary["groups"]]
    terminal_text = "\n".join(
        terminal.terminal_lines(summary["groups"], summary["failures"], summary["coverage"])
    )
    md, page = reports.render_markdown(summary), reports.render_html(summary)
    for text in (terminal_text, md, page):
        where = [text.index(key) for key in ids]
        assert where == sorted(where), text[:3000]
        for category in {cause["severity"]["category"] for cause in summary["groups"]}:
            assert category in text
    assert (
        "| 1 | access control and tenancy | 3 | `valid key answered 401 (sent as bearer)` |" in md
    )
    assert (
        "### 1. [access control and tenancy] valid key answered 401 (sent as bearer) (3 tests)"
        in md
    )
    assert "python -m conformance.replay reports/failures.har" in md
    assert '<span class="sev sev1">access control and tenancy</span>' in page
    assert "python -m conformance.replay reports/failures.har" in page
    assert page.count('<div class="example"') == 6 and "<details><summary>evidence" in page


def test_reports_put_root_causes_first_and_what_was_exercised_last():
    summary = five_fault_summary()
    md = reports.render_markdown(summary)
    order = ["## Root causes (6 for 9 failed tests, most serious first)", "## Checks",
             "## The primary symptom of each root cause", "## What was exercised"]  # fmt: skip
    assert [md.index(title) for title in order] == sorted(md.index(title) for title in order)
    assert md.index("> ⚠️ GET /v1/usage: documented statuses") < md.index("## Root causes")
    page = reports.render_html(summary)
    order = ["Root causes (6", "<h2>Checks", "primary symptom of each", "<h2>What was exercised"]
    assert [page.index(title) for title in order] == sorted(page.index(t) for t in order)
    assert '<p class="warning">Warning: GET /v1/usage: documented statuses' in page
    assert "<script" not in page and "src=" not in page and 'href="http' not in page


def test_a_crash_is_listed_apart_from_the_root_causes():
    results = findings.five_fault_results()
    results.record(report("t::crash", "setup", "failed", text="RuntimeError: boom\nmore"))
    summary = five_fault_summary(results=results)
    lines = terminal.terminal_lines(summary["groups"], summary["failures"])
    assert lines[0] == "dcs-conformance: 10 failures, 6 root causes, most serious first"
    assert lines[-2:] == [
        "dcs-conformance: 1 failure without a contract violation:",
        "  t::crash: RuntimeError: boom",
    ]
    assert "## Other failures (1)" in reports.render_markdown(summary)
    assert 'id="other-failures"' in reports.render_html(summary)


def test_repeated_failure_line_names_the_root_cause_and_the_first_test():
    assert (
        terminal.repeated_failure_line([("$.x null", "c", "t::a", "x is null\nmore")])
        == "[c] x is null ($.x null): same root cause as t::a (evidence there)"
    )
    assert terminal.repeated_failure_line(
        [("$.x null", "c", "t::a", "m1"), ("no complete response", "d", "t::b", "m2")]
    ) == (
        "[c] m1 ($.x null); [d] m2 (no complete response): same root causes as t::a, t::b "
        "(evidence there)"
    )


def test_a_secret_in_a_root_cause_example_is_masked_when_written(tmp_path):
    from conformance._core.exchange import Masker

    secret = "dcs_k_canary_0123456789"
    results = findings.five_fault_results()
    leak = findings.broken("content_type_documented", secret, location="header Content-Type",
                           message=f"got {secret}")  # fmt: skip
    leak["exchanges"][0]["response"]["body_excerpt"] = f'{{"error_code": "{secret}"}}'
    results.record(findings.call("t::leak", violation=leak, checks=["content_type_documented"]))
    summary = five_fault_summary(results=results)
    assert any(g["example"]["actual"] == secret for g in summary["groups"])
    written = reports.write_reports(tmp_path, summary, Masker([secret]))
    assert [path.name for path in written][-1] == "failures.har"
    assert all(secret not in path.read_text(encoding="utf-8") for path in written)
    lines = terminal.terminal_lines(summary["groups"], summary["failures"])
    assert secret not in Masker([secret]).text("\n".join(lines))


def test_failures_har_is_written_with_violations_only(tmp_path):
    from conformance._core.exchange import Masker

    written = reports.write_reports(tmp_path, five_fault_summary(), Masker())
    assert (tmp_path / "failures.har").is_file() and len(written) == 4
    clean = sample_summary(status=0)
    clean["failures"], clean["groups"], clean["replay"] = [], [], None
    written = reports.write_reports(tmp_path, clean, Masker())
    assert not (tmp_path / "failures.har").exists()  # no stale replay of another run
    assert [path.name for path in written] == ["summary.json", "summary.md", "summary.html"]


def test_coverage_tells_documented_statuses_seen_from_those_never_seen():
    requests = [
        exchange(200, operation="GET /v1/usage", state="valid key"),
        exchange(401, auth="bearer", operation="GET /v1/usage", state="other value"),
        exchange(401, auth="none", operation="GET /v1/usage", state="none"),
        exchange(405, method="POST", operation=None),
        exchange(404, operation=None, resource=None),
        exchange(418, operation="GET /v1/usage", state="valid key"),
    ]
    documented = {"GET /v1/usage": ["200", "400", "401", "4XX", "default"]}
    [op] = reports.coverage(requests, documented)["operations"]
    assert op["statuses"] == {"200": 1, "400": 0, "401": 2, "4XX": 1, "default": 0}
    assert op["not_seen"] == ["400", "default"] and op["requests"] == 4
    assert op["credentials"] == {
        "bearer": {"other value": 1},
        "x-api-key": {"valid key": 2},
        "none": {"none": 1},
    }
    assert op["methods"] == {"GET": 4, "POST": 1}
    assert render_common.unseen_lines({"operations": [op]}) == [
        "GET /v1/usage: documented statuses 400, default never seen in this run "
        "(not exercised, not judged)"
    ]
    tables = [title for title, _, _ in render_common.coverage_tables(
        reports.coverage(requests, documented))]  # fmt: skip
    assert tables[:3] == [
        "GET /v1/usage: documented statuses",
        "GET /v1/usage: credentials sent",
        "GET /v1/usage: methods sent",
    ]


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
        "identity",
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
        "warnings",
        "unavailable",
        "coverage",
        "drift",
        "replay",
        "baseline",
        "previous",
        "confirm",
    }
    assert summary["format"] == "dcs-conformance/summary/3"
    assert summary["exit"]["status"] == 0 and summary["target"].startswith("embedded mock")
    assert summary["identity"] == {"server": None, "headers": {}}  # the mock names no build
    assert summary["baseline"] is None and summary["previous"] is None
    assert summary["confirm"] is None  # nothing to confirm
    assert summary["groups"] == [] and summary["failures"] == [] and summary["replay"] is None
    assert summary["warnings"] == []  # the correct mock draws no lint warning either
    assert summary["counts"]["passed"] == summary["counts"]["tests"] > 0
    assert summary["spec"]["sha256"] and summary["profile"] == "quick"
    outcomes = {name: check["outcome"] for name, check in summary["checks"].items()}
    assert all(outcomes[name] == "passed" for name in set(outcomes) - WITHOUT_ETAGS)
    assert all(outcomes[name] == "not exercised" for name in WITHOUT_ETAGS)
    cov = summary["coverage"]
    assert {"200", "400", "401", "403"} <= set(cov["statuses"])
    assert {"AUTH_REQUIRED", "AUTH_INVALID", "AUTH_ORG_MISMATCH"} <= set(cov["error_codes"])
    assert all(sum(row.values()) > 0 for row in cov["auth"].values())
    assert all(bucket["requests"] > 0 for bucket in cov["periods"].values())
    assert "POST" in cov["methods"] and cov["requests"] > 50
    [usage] = cov["operations"]
    assert usage["operation"] == "GET /v1/usage" and usage["not_seen"] == ["500", "502", "default"]
    assert {"valid key", "other value"} <= set(usage["credentials"]["bearer"])
    assert usage["credentials"]["none"] == {"none": usage["credentials"]["none"]["none"]}
    assert {"GET", "POST", "DELETE"} <= set(usage["methods"])
    assert "dcs-conformance: warning: GET /v1/usage: documented statuses 500, 502, default " in (
        result.stdout
    )
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.find("testsuite").get("tests")) == summary["counts"]["tests"]
    passed = len(CATALOGUE) - len(WITHOUT_ETAGS)
    assert (out / "summary.md").read_text(encoding="utf-8").count("| passed |") >= passed
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
@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial", marks=pytest.mark.hooks), pytest.param(("-n", "2"), id="xdist")],
)
def test_one_systemic_fault_is_one_root_cause_and_every_check_runs(tmp_path, workers):
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
            "--max-examples", "5", "--no-shrink", "--reports-dir", str(tmp_path), *workers,
        )  # fmt: skip
    assert result.returncode == 1, output(result)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    failed = summary["counts"]["failed"]
    assert failed >= 20 and summary["counts"]["error"] == 0
    [group] = summary["groups"]
    assert group["id"] == "$.included_storage_gib negative integer"
    assert (group["rank"], group["severity"]) == (1, {"rank": 2, "category": "wrong figures"})
    assert group["primary"]["check"] == "usage_counters_in_range"
    assert group["statuses"] == [200]
    assert group["tests"] == len(group["test_ids"]) == failed
    assert sorted(group["test_ids"]) == sorted(f["test"] for f in summary["failures"])
    assert group["example"]["actual"] == "-1" and group["example"]["exchanges"][0]["curl"]
    checks = summary["checks"]
    # every check ran on every answer: the invariants after a failing read ran too
    failed_checks = {name for name, check in checks.items() if check["failed_tests"]}
    assert failed_checks == {"usage_counters_in_range"}, failed_checks
    judged = set(checks) - failed_checks - WITHOUT_ETAGS
    others = {check["outcome"] for name, check in checks.items() if name in judged}
    assert others == {"passed"}, others
    assert checks["open_period_monotonic"]["outcome"] == "passed"
    assert checks["usage_counters_in_range"]["failed_tests"] == failed
    # the terminal: the root cause once, the 2nd and later tests in one line (per process)
    assert f"dcs-conformance: {failed} failures, 1 root cause" in result.stdout
    assert "masked" not in result.stdout
    # the failures section: pytest's short summary repeats each failure's text (in full
    # where the CI environment variable is set)
    failures = result.stdout.split(" short test summary info ")[0]
    in_full = re.findall(r"  rerun:     pytest (\S+)", failures)
    assert 1 <= len(in_full) <= (2 if workers else 1), (in_full, failures[-20000:])
    assert failures.count("same root cause as") == failed - len(in_full)
    har = json.loads((tmp_path / "failures.har").read_text(encoding="utf-8"))
    [page] = har["log"]["pages"]
    assert page["_dcs"]["cause"] == group["id"] and len(har["log"]["entries"]) == 1
    for name in ("summary.md", "summary.html", "failures.har"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "$.included_storage_gib negative integer" in text and key not in text


WARNED = {
    "check": "http_message_lint",
    "note": "CC_DUP",
    "message": "The max-age cache directive appears more than once.",
    "location": "header cache-control",
    "request": "GET http://127.0.0.1:9/v1/usage",
    "status": 200,
}


def warned_summary(status=0) -> dict:
    """A run whose two tests passed, both with the same lint warning, one with another."""
    results = reports.Results()
    other = {**WARNED, "note": "DATE_CLOCKLESS", "location": "message", "status": 400}
    for nodeid, warned in (("t::one", [WARNED]), ("t::two", [WARNED, other])):
        properties = [("dcs_checks", json.dumps(["http_message_lint"]))]
        properties.append(("dcs_warnings", json.dumps(warned)))
        results.record(report(nodeid, properties=properties))
    return summarise(
        results, status, spec_operations=1, writes_not_exercised=(), profile="quick", seed=1
    )


def test_warnings_are_grouped_by_note_and_change_nothing_else():
    summary = warned_summary()
    assert summary["counts"]["passed"] == 2 and summary["failures"] == []
    assert summary["exit"]["status"] == 0 and summary["groups"] == []
    assert summary["checks"]["http_message_lint"]["outcome"] == "passed"
    first, second = summary["warnings"]
    assert (first["id"], first["tests"], first["test_ids"]) == (
        "http_message_lint: CC_DUP", 2, ["t::one", "t::two"]
    )  # fmt: skip
    assert first["statuses"] == [200] and first["example"]["test"] == "t::one"
    assert (second["note"], second["tests"], second["statuses"]) == ("DATE_CLOCKLESS", 1, [400])


def test_every_format_shows_the_warnings(tmp_path):
    summary = warned_summary()
    assert "CC_DUP" in reports.render_markdown(summary)
    assert "Warnings (2)" in reports.render_markdown(summary)
    assert "CC_DUP" in reports.render_html(summary)
    lines = terminal.terminal_lines([], [], warnings=summary["warnings"])
    assert lines[0].startswith("dcs-conformance: warning: http_message_lint: CC_DUP (2 tests")
    assert json.loads(reports.render_json(summary))["warnings"] == summary["warnings"]
    har = json.loads(render_har({**summary, "groups": []}))
    assert har["log"]["_dcs"]["warnings"] == summary["warnings"] and har["log"]["entries"] == []
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="one" /></testsuite></testsuites>',
        encoding="utf-8",
    )
    lines = render_common.warning_lines(summary)
    assert mark_junit(path, {}, warnings=lines) == 0
    found = [p.get("value") for p in ET.parse(path).getroot().iter("property")]
    assert found == lines and ET.parse(path).getroot().find(".//failure") is None
