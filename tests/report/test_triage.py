"""How root causes stand against a baseline, the previous run and their confirmation
(conformance/_report/triage.py), in every rendering: the five-fault findings of issue 17, one
root cause known, one expired, the rest new."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
import yaml
from _pytest.junitxml import mangle_test_address

from conformance._report import summary as reports
from conformance._report import terminal, triage
from conformance._report.junit import junit_address, mark_junit
from conformance._run.history import parse_baseline
from tests.report import findings

TODAY = dt.date(2026, 1, 5)
LOCK_OUT = "valid key answered 401"
CODES = "$.error_code not UPPER_SNAKE_CASE"
SLUG = "$.plan_slug empty string"
GONE = "$.retryable null"  # in the baseline, not in the run
BASELINE = triage.Baseline(
    "ci/baseline.yaml",
    (
        triage.Entry(CODES, "gateway rewrites codes (sprint 42)", dt.date(2026, 2, 1),
                     issue="https://tracker.example/DCS-123"),
        triage.Entry(SLUG, "plan join fixed in 2.4", dt.date(2026, 1, 4)),  # expired yesterday
        triage.Entry(GONE, "TODO: fill in", dt.date(2026, 3, 1)),
    ),
)  # fmt: skip
PREVIOUS = triage.Previous(
    "last/summary.json",
    "2026-01-04T03:40:00Z",
    1,
    {CODES: {"severity": "wording"}, "no complete response": {"severity": "wire and schema"}},
)
CONFIRMED = {
    LOCK_OUT: triage.confirmation(2, 2),
    CODES: triage.confirmation(2, 1),
    SLUG: triage.confirmation(0, 0, "the request budget (--max-requests) is used up"),
}


def summary(**run) -> dict:
    run = {"baseline": BASELINE, "today": TODAY, **run}
    return findings.summarise(findings.five_fault_results(), 1, **run)


def group(found: dict, cause: str) -> dict:
    return next(g for g in found["groups"] if g["id"] == cause)


def test_a_root_cause_is_known_until_its_expiry_new_without_an_entry():
    found = summary()
    assert group(found, CODES)["baseline"] == {
        "status": "known",
        "reason": "gateway rewrites codes (sprint 42)",
        "expires": "2026-02-01",
        "issue": "https://tracker.example/DCS-123",
    }
    assert group(found, SLUG)["baseline"]["status"] == "expired"
    assert group(found, LOCK_OUT)["baseline"] == {"status": "new"}
    baseline = found["baseline"]
    assert baseline["file"] == "ci/baseline.yaml"
    assert [e["id"] for e in baseline["known"]] == [CODES]
    assert [e["id"] for e in baseline["expired"]] == [SLUG]
    assert [e["id"] for e in baseline["new"]] == [
        LOCK_OUT, "a wrong or malformed key answered 200",
        "$.billed_cpu_millicore_seconds float", "$.retryable true",
    ]  # fmt: skip
    assert [e["id"] for e in baseline["not_seen"]] == [GONE]
    assert baseline["todo"] == []  # the TODO entry is not seen: nothing to fill in
    assert triage.Entry(CODES, "r", TODAY).standing(TODAY) == "known"  # its last day


def test_without_a_baseline_nothing_is_marked():
    found = findings.summarise(findings.five_fault_results(), 1)
    assert found["baseline"] is None and found["previous"] is None and found["confirm"] is None
    assert all(
        g["baseline"] is None and g["since_previous"] is None and g["reproduced"] is None
        for g in found["groups"]
    )
    assert not any(triage.tags(g) for g in found["groups"])
    text = "\n".join(terminal.terminal_lines(found["groups"], found["failures"]))
    assert "triage" not in text and "baseline" not in text


def test_a_test_is_known_only_when_every_root_cause_of_it_is():
    known = {CODES: ("known", BASELINE.entry(CODES))}
    reason = triage.known_reason(known)
    assert reason == (
        "known failure (baseline): $.error_code not UPPER_SNAKE_CASE (until 2026-02-01: "
        "gateway rewrites codes (sprint 42) (https://tracker.example/DCS-123))"
    )
    mixed = {**known, LOCK_OUT: ("new", None), SLUG: ("expired", BASELINE.entry(SLUG))}
    assert triage.known_reason(mixed) is None and triage.known_reason({}) is None
    assert triage.standing_lines(mixed, BASELINE) == [
        "  baseline:  new root cause `valid key answered 401` (not in ci/baseline.yaml)",
        "  baseline:  `$.plan_slug empty string` was known until 2026-01-04 (expired): plan "
        "join fixed in 2.4",
    ]


def test_since_the_previous_run_new_still_failing_and_fixed():
    found = summary(previous=PREVIOUS)
    assert group(found, CODES)["since_previous"] == "still failing"
    assert group(found, LOCK_OUT)["since_previous"] == "new"
    previous = found["previous"]
    assert previous["still_failing"] == [CODES] and len(previous["new"]) == 5
    assert previous["fixed"] == [{"id": "no complete response", "severity": "wire and schema"}]
    assert previous["finished"] == "2026-01-04T03:40:00Z" and previous["exit_status"] == 1


@pytest.mark.parametrize(
    ("tries", "failed", "verdict"),
    [(2, 2, "reproduced"), (2, 1, "intermittent"), (3, 0, "intermittent"), (0, 0, "not confirmed")],
)
def test_a_root_cause_that_did_not_fail_every_try_is_intermittent(tries, failed, verdict):
    assert triage.confirmation(tries, failed) == {
        "tries": tries, "failed": failed, "verdict": verdict
    }  # fmt: skip


def test_the_terminal_shows_known_new_and_intermittent():
    found = summary(previous=PREVIOUS, confirmed=CONFIRMED,
                    confirm={"tries": 2, "requests": 6, "budget_used_up": True})  # fmt: skip
    lines = terminal.terminal_lines(
        found["groups"], found["failures"], triaged=found, confirm=found["confirm"]
    )
    assert lines[0] == (
        "dcs-conformance: 9 failures, 6 root causes (4 new, 1 expired, 1 known), most serious first"
    )
    assert lines[1].split()[-1] == "triage"
    assert lines[2].endswith(" 401            NEW, reproduced 2/2, new since last run")
    text = "\n".join(lines)
    assert "known, intermittent 1/2, still failing" in text
    assert "EXPIRED, not confirmed, new since last run" in text
    assert "     baseline: known until 2026-02-01: gateway rewrites codes (sprint 42) " in text
    assert "     intermittent: failed 1 of 2 re-sends of its first failing exchanges" in text
    assert "     not confirmed (the request budget (--max-requests) is used up)" in text
    assert lines[-10:] == [
        "dcs-conformance: baseline ci/baseline.yaml: 4 new, 1 expired, 1 known (5 root causes "
        "fail the run)",
        "dcs-conformance: baseline ci/baseline.yaml: new, they fail the run: `valid key answered "
        "401`, `a wrong or malformed key answered 200`, `$.billed_cpu_millicore_seconds float`, "
        "`$.retryable true`",
        "dcs-conformance: baseline ci/baseline.yaml: known, they do not fail the run: "
        "`$.error_code not UPPER_SNAKE_CASE`",
        "dcs-conformance: baseline ci/baseline.yaml: expired, fix them or extend them: "
        "`$.plan_slug empty string`",
        "dcs-conformance: baseline ci/baseline.yaml: no longer seen, remove them: "
        "`$.retryable null`",
        "dcs-conformance: since the previous run (last/summary.json, finished "
        "2026-01-04T03:40:00Z): 5 new, 1 still failing, 1 fixed",
        "dcs-conformance: new since the previous run: `valid key answered 401`, `a wrong or "
        "malformed key answered 200`, `$.billed_cpu_millicore_seconds float`, `$.plan_slug "
        "empty string`, `$.retryable true`",
        "dcs-conformance: fixed since the previous run: `no complete response`",
        "dcs-conformance: confirmed by re-sending each root cause's first failing exchanges up "
        "to 2 times (6 requests): 1 reproduced, 1 intermittent, 1 not confirmed; the request "
        "budget (--max-requests) was used up before every root cause was confirmed",
        "dcs-conformance: intermittent (did not fail every re-send): "
        "`$.error_code not UPPER_SNAKE_CASE`",
    ]


def test_a_clean_run_still_lists_the_entries_no_longer_seen():
    results = reports.Results()
    results.record(findings.call("t::ok", "passed", checks=["complete_response"]))
    found = findings.summarise(results, 0, baseline=BASELINE, today=TODAY)
    assert reports.verdict(found) == "✅ Conformant: 1 passed, 0 skipped"
    lines = terminal.terminal_lines(found["groups"], found["failures"], triaged=found)
    assert lines == [
        "dcs-conformance: baseline ci/baseline.yaml: 0 new, 0 expired, 0 known (nothing new "
        "fails the run)",
        "dcs-conformance: baseline ci/baseline.yaml: no longer seen, remove them: "
        "`$.error_code not UPPER_SNAKE_CASE`, `$.plan_slug empty string`, `$.retryable null`",
    ]


def test_a_run_failing_only_on_known_root_causes_says_so():
    only_codes = triage.Baseline("b.yaml", (triage.Entry(CODES, "r", dt.date(2026, 2, 1)),))
    results = reports.Results()
    results.record(
        findings.call(
            "t::period", "failed", violation=findings.lower_code(400, "invalid_period_start")
        )
    )
    results.record(findings.call("t::ok", "passed"))  # fmt: skip
    found = findings.summarise(results, 0, baseline=only_codes, today=TODAY)
    assert reports.verdict(found) == (
        "✅ No new violation: 1 known root cause (baseline), 1 passed, 0 skipped"
    )
    assert found["exit"]["meaning"].startswith("conformant but for known failures")


def test_markdown_and_html_show_the_triage():
    found = summary(previous=PREVIOUS, confirmed=CONFIRMED,
                    confirm={"tries": 2, "requests": 6, "budget_used_up": False})  # fmt: skip
    md = reports.render_markdown(found)
    verdict = "**❌ Violations: 9 of 10 tests failed, 6 root causes (4 new, 1 expired, 1 known)**"
    assert verdict in md
    assert md.index("## Known, new and intermittent") < md.index("## Root causes")
    assert "- baseline ci/baseline.yaml: no longer seen, remove them: `$.retryable null`" in md
    assert "| triage |" in md and "| **known, intermittent 1/2, still failing** |" in md
    assert "(6 tests) **known, intermittent 1/2, still failing**" in md
    assert "- intermittent: failed 1 of 2 re-sends" in md
    page = reports.render_html(found)
    assert "<h2>Known, new and intermittent</h2>" in page and "<th>triage</th>" in page
    assert '<td class="triage">NEW, reproduced 2/2, new since last run</td>' in page


def test_the_written_baseline_keeps_what_is_still_seen_and_reads_back():
    found = summary()
    text = triage.render_baseline(found["groups"], BASELINE, TODAY, "a run against http://x")
    document = yaml.safe_load(text)
    assert document["format"] == triage.BASELINE_FORMAT
    entries = {entry["id"]: entry for entry in document["known"]}
    assert list(entries) == [g["id"] for g in found["groups"]]  # the run's, GONE dropped
    assert entries[CODES]["reason"] == "gateway rewrites codes (sprint 42)"
    assert entries[CODES]["expires"] == dt.date(2026, 2, 1)
    assert entries[CODES]["issue"] == "https://tracker.example/DCS-123"
    assert entries[SLUG]["expires"] == dt.date(2026, 1, 4)  # still expired: a person decides
    assert entries[LOCK_OUT]["reason"] == triage.TODO_REASON
    assert entries[LOCK_OUT]["expires"] == TODAY + dt.timedelta(days=30)
    assert entries[LOCK_OUT]["check"] == "valid_key_accepted" and "issue" not in entries[LOCK_OUT]
    assert entries[LOCK_OUT]["symptom"] == "a valid request answered 401 auth_invalid"
    again = parse_baseline(document, "b.yaml")
    assert [entry.id for entry in again.entries] == list(entries)
    assert "# Written from a run against http://x on 2026-01-05." in text
    assert triage.render_baseline([], None, TODAY, "x").endswith("known: []\n")


def test_junit_names_are_pytest_s():
    for nodeid in (
        "conformance/test_auth.py::test_valid_key_accepted[bearer]",
        "conformance/test_generated.py::test_generated_requests[GET /v1/usage][x-api-key]",
        "conformance/test_periods.py::test_open_period_monotonic",
        "tests/a/test_x.py::TestClass::test_m[a::b]",
    ):
        names = mangle_test_address(nodeid)
        assert junit_address(nodeid) == (".".join(names[:-1]), names[-1])
    assert junit_address("t.py::f", "pre") == ("pre.t", "f")


def test_junit_testcases_get_their_root_causes_marks(tmp_path):
    found = summary(confirmed=CONFIRMED)
    marks = triage.junit_marks(found["groups"])
    assert marks["t::valid_bearer"][0].startswith(
        "[NEW, reproduced 2/2] root cause `valid key answered 401`: baseline: new (no entry): "
        "it fails the run; reproduced: failed 2 of 2 re-sends"
    )
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="valid_bearer"><failure message="[valid_key_accepted] m">'
        "evidence</failure></testcase>"
        '<testcase classname="t" name="passing" />'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    assert mark_junit(path, marks) == 1
    failure = ET.parse(path).getroot().find(".//failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert message.startswith("[NEW, reproduced 2/2] root cause `valid key answered 401`")
    assert message.endswith("\n[valid_key_accepted] m")
    assert "[access" not in message and (failure.text or "").endswith("\n\nevidence")
