"""Run reports: JUnit XML (pytest's own writer), summary.json, summary.md, summary.html and,
when the run found violations, failures.har.

The plugin feeds test reports in (`Results.record`) and calls `write_reports` once, in the
controller process, at the end of the run. `build_summary` is pure: data in, the summary (the
content of summary.json) out; failures are grouped by root cause in `causes`, the texts are
rendered by `markdown` and `page` (`common` holds what they share) and the replay file by
`har`. Every text is passed through the run's `Masker` once more before it is written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from conformance._core.dates import parse_date
from conformance._core.errors import ExitCode
from conformance._core.exchange import Masker
from conformance._report.causes import group_failures, group_warnings
from conformance._report.common import (
    drift_lines,
    operations_line,
    render_json,
    replay_command,
    verdict,
)
from conformance._report.har import render_har
from conformance._report.markdown import render_markdown
from conformance._report.page import render_html
from conformance._report.triage import Baseline, Previous, triage

__all__ = [
    "Results",
    "Run",
    "TestRecord",
    "build_summary",
    "coverage",
    "drift_lines",
    "exit_meaning",
    "junit_path",
    "operations_line",
    "period_bucket",
    "render_html",
    "render_json",
    "render_markdown",
    "verdict",
    "write_reports",
]

JUNIT = "junit.xml"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
SUMMARY_HTML = "summary.html"
FAILURES_HAR = "failures.har"
FORMAT = "dcs-conformance/summary/3"

PERIOD_BUCKETS = ("none", "first_of_month", "other_valid", "malformed")
_MESSAGE_CHARS = 2000


@dataclass
class TestRecord:
    """What one test did: its outcome, the violation it found, and the requests it sent."""

    nodeid: str
    #: passed | failed | error | skipped | known (it failed, every root cause of it a known
    #: one of the baseline: it does not fail the run)
    outcome: str = "passed"
    violation: dict[str, Any] | None = None
    message: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)  # the checks it ran
    #: what its checks reported without failing it (`ContractWarning.as_dict()`)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str = ""


class Results:
    """Collects test reports (controller and xdist workers alike) by test id."""

    def __init__(self) -> None:
        self.tests: dict[str, TestRecord] = {}
        self.started = _now()

    def record_violation(
        self, nodeid: str, violation: dict[str, Any], exchanges: list[dict[str, Any]]
    ) -> None:
        """A failure found outside any test (the preflight): the violation as a dict and the
        summaries of the requests it made."""
        test = self.tests.setdefault(nodeid, TestRecord(nodeid))
        test.outcome, test.violation = "failed", violation
        test.exchanges.extend(exchanges)
        test.checks.update(_violated(violation))

    def record(self, report: Any) -> None:
        """Take one pytest `TestReport` (any phase) into account; duck-typed, no pytest import."""
        test = self.tests.setdefault(report.nodeid, TestRecord(report.nodeid))
        for name, value in report.user_properties:
            if name == "dcs_violation":  # several when hypothesis found distinct failures
                found = json.loads(value)
                if test.violation is None:
                    test.violation = found
                else:
                    test.violation.setdefault("related", []).append(found)
            elif name == "dcs_exchanges":
                test.exchanges.extend(json.loads(value))
            elif name == "dcs_checks":
                test.checks.update(json.loads(value))
            elif name == "dcs_warnings":
                test.warnings.extend(json.loads(value))
            elif name == "dcs_unavailable":
                test.unavailable = str(value)
            elif name == "dcs_known" and report.skipped:
                test.outcome, test.message = "known", str(value)
        if report.failed:
            test.outcome = "failed" if report.when == "call" else "error"
            test.message = test.message or _text(report.longreprtext)
        elif report.skipped and test.outcome == "passed":
            test.outcome = "skipped"
            test.message = _skip_reason(report)


@dataclass(frozen=True)
class Run:
    """The facts of the run that are not test results."""

    target: str
    spec_version: str
    spec_sha256: str
    spec_source: str
    spec_operations: int
    writes_not_exercised: tuple[str, ...]  # declared writes: the suite is read-only
    profile: str
    seed: int | None
    exit_status: int
    drift: dict[str, Any] | None = None
    finished: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: Per operation of the spec (`GET /v1/usage`), the status keys it documents.
    documented: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: The base URL the requests went to (the embedded mock's too): where a replay re-sends.
    base_url: str | None = None
    reports_dir: str = "reports"  # as the operator gave it, for the replay command
    #: What the target says about itself (`server`, `headers`: the --identity-header fields).
    identity: Mapping[str, Any] | None = None
    baseline: Baseline | None = None  # --baseline
    previous: Previous | None = None  # --previous
    #: The confirmation of the root causes (--confirm): per id, its `reproduced` record, and
    #: how it went (`tries`, `requests`, `budget_used_up`); None: not confirmed.
    confirmed: Mapping[str, Mapping[str, Any]] | None = None
    confirm: Mapping[str, Any] | None = None
    today: dt.date | None = None  # the day the baseline's expiries are judged on (UTC)


def junit_path(option: Any, reports_dir: Path) -> None:
    """Point pytest's JUnit writer at the reports dir unless the user chose `--junitxml`."""
    if hasattr(option, "xmlpath") and not option.xmlpath:
        option.xmlpath = str(reports_dir / JUNIT)


def build_summary(run: Run, results: Results, rules: Mapping[str, str]) -> dict[str, Any]:
    """The JSON-ready summary of a run (the content of summary.json)."""
    tests = list(results.tests.values())
    counts = Counter(test.outcome for test in tests)
    found = findings(results, rules)
    triaged = triage(
        found["groups"],
        baseline=run.baseline,
        today=run.today,
        previous=run.previous,
        confirmed=run.confirmed,
    )
    return {
        "format": FORMAT,
        "target": run.target,
        "identity": dict(run.identity) if run.identity is not None else None,
        "spec": {
            "version": run.spec_version,
            "sha256": run.spec_sha256,
            "source": run.spec_source,
            "operations": run.spec_operations,
            "writes_not_exercised": list(run.writes_not_exercised),
        },
        "profile": run.profile,
        "seed": run.seed,
        "started": _stamp(results.started),
        "finished": _stamp(run.finished),
        "duration_s": round((run.finished - results.started).total_seconds(), 3),
        "exit": {
            "status": run.exit_status,
            "meaning": exit_meaning(run.exit_status, known=bool(found["groups"])),
        },
        "counts": {
            "tests": len(tests),
            **{key: counts[key] for key in ("passed", "failed", "error", "skipped", "known")},
        },
        **found,
        **triaged,
        "confirm": dict(run.confirm) if run.confirm is not None else None,
        "unavailable": sorted({test.unavailable for test in tests if test.unavailable}),
        "coverage": coverage(
            (exchange for test in tests for exchange in test.exchanges), run.documented
        ),
        "drift": run.drift,
        "replay": _replay(run, bool(tests) and any(t.violation for t in tests)),
    }


def findings(results: Results, rules: Mapping[str, str]) -> dict[str, Any]:
    """What the tests found: `checks` (per check: rule, failed tests, outcome), `groups` (the
    failures by root cause, most serious first), `failures` (per test) and `warnings` (what
    checks reported without failing anything, grouped by root cause; never a failure)."""
    tests = list(results.tests.values())
    failed = [test for test in tests if test.outcome in ("failed", "error", "known")]
    failed_checks: Counter[str] = Counter()
    for test in tests:
        failed_checks.update(set(_violated(test.violation)))
    exercised = set().union(*(test.checks for test in tests)) if tests else set()
    checks = {}
    for name in [*rules, *sorted(set(failed_checks) - set(rules))]:
        failures = failed_checks[name]
        checks[name] = {
            "rule": rules.get(name) or _foreign_rule(name),
            "failed_tests": failures,
            "outcome": _outcome(failures, name in exercised or failures > 0),
        }
    return {
        "checks": checks,
        "groups": group_failures((test.nodeid, test.violation) for test in failed),
        "failures": [_failure(test) for test in failed],
        "warnings": group_warnings((test.nodeid, test.warnings) for test in tests),
    }


def _replay(run: Run, violations: bool) -> dict[str, Any] | None:
    """Where the failing exchanges are, and the command that re-sends them."""
    if not violations:
        return None
    return {
        "har": FAILURES_HAR,
        "base_url": run.base_url,
        "command": replay_command(run.reports_dir),
    }


def exit_meaning(status: int, *, known: bool = False) -> str:
    """What an exit status means; `known`: the run found violations (so a 0 says that every
    one of them is a known one of the baseline)."""
    if status == ExitCode.CONFORMANT and known:
        return "conformant but for known failures: every violation found is in the baseline"
    return ExitCode.meaning_of(status)


def coverage(
    exchanges: Iterable[Mapping[str, Any]], documented: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """What the run tried, from `Exchange.summary()` records: statuses, auth paths, periods,
    and per operation of the spec (`documented`: the status keys each documents) what it
    exercised (see `operation_coverage`)."""
    exchanges = list(exchanges)
    statuses: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    auth: dict[str, dict[str, int]] = {"none": {"with_org_header": 0, "without_org_header": 0}}
    # labels of the spec's security schemes as seen, "none" last
    periods: dict[str, set[str]] = {bucket: set() for bucket in PERIOD_BUCKETS}
    period_requests: Counter[str] = Counter()
    requests = retries = errors = 0
    for exchange in exchanges:
        requests += 1
        retries += int(exchange.get("retries") or 0)
        errors += bool(exchange.get("error"))
        statuses[str(exchange.get("status") or "none")] += 1
        if exchange.get("error_code"):
            codes[str(exchange["error_code"])] += 1
        methods[str(exchange.get("method"))] += 1
        org = "with_org_header" if exchange.get("org_header") else "without_org_header"
        path = str(exchange.get("auth") or "none")
        auth.setdefault(path, {"with_org_header": 0, "without_org_header": 0})[org] += 1
        values = [v for k, v in parse_qsl(exchange.get("query") or "", True) if k == "period_start"]
        for value in values or [None]:
            bucket = period_bucket(value)
            period_requests[bucket] += 1
            if value is not None:
                periods[bucket].add(value)
    return {
        "requests": requests,
        "retries": retries,
        "transport_errors": errors,
        "statuses": dict(sorted(statuses.items())),
        "error_codes": dict(sorted(codes.items())),
        "auth": {label: auth[label] for label in sorted(auth, key=lambda k: (k == "none", k))},
        "periods": {
            bucket: {
                "requests": period_requests[bucket],
                "distinct": len(periods[bucket]),
                "examples": sorted(periods[bucket])[:5],
            }
            for bucket in PERIOD_BUCKETS
        },
        "methods": dict(sorted(methods.items())),
        "operations": operation_coverage(exchanges, documented or {}),
    }


def operation_coverage(
    exchanges: Sequence[Mapping[str, Any]], documented: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """Per operation: `operation`, `requests` (of its method to its path), `statuses` (per
    documented status key, how many answers it covered: the exact status, else its range
    `4XX`, else `default`), `not_seen` (the documented statuses no answer had), `credentials`
    (per way of carrying them, `x-api-key`, `bearer`, `other`, `none`: requests per credential
    state, `valid key`, `another org's key`, `other value`, `none`) and `methods` (requests per
    method to its path, the undeclared methods probed included)."""
    found = []
    for label, keys in documented.items():
        mine = [e for e in exchanges if e.get("operation") == label]
        seen: Counter[str] = Counter()
        credentials: dict[str, Counter[str]] = {}
        for exchange in mine:
            key = _status_key(exchange.get("status"), keys)
            if key is not None:
                seen[key] += 1
            scheme = str(exchange.get("auth") or "none")
            state = str(exchange.get("credential_state") or "none")
            credentials.setdefault(scheme, Counter())[state] += 1
        path = label.split(" ", 1)[1]
        methods = Counter(str(e.get("method")) for e in exchanges if e.get("resource") == path)
        found.append(
            {
                "operation": label,
                "requests": len(mine),
                "statuses": {key: seen[key] for key in keys},
                "not_seen": [key for key in keys if not seen[key]],
                "credentials": {
                    scheme: dict(sorted(credentials[scheme].items()))
                    for scheme in sorted(credentials, key=lambda k: (k == "none", k))
                },
                "methods": dict(sorted(methods.items())),
            }
        )
    return found


def _status_key(status: Any, keys: Sequence[str]) -> str | None:
    """The documented status key that covers an answer's status (None: no answer, or none)."""
    if not isinstance(status, int):
        return None
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in keys:
            return key
    return None


def period_bucket(value: str | None) -> str:
    """none, first_of_month, other_valid (a real date, not the 1st) or malformed."""
    if value is None:
        return "none"
    date = parse_date(value)
    if date is None:
        return "malformed"
    return "first_of_month" if date.day == 1 else "other_valid"


def write_reports(directory: Path, summary: Mapping[str, Any], masker: Masker) -> list[Path]:
    """Write summary.json, summary.md and summary.html (creating the directory), and
    failures.har when the run found violations (else an old one is removed: it would replay
    another run's failures)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    renderers = [(SUMMARY_JSON, render_json), (SUMMARY_MD, render_markdown)]
    renderers.append((SUMMARY_HTML, render_html))
    har = directory / FAILURES_HAR
    if summary.get("replay"):
        renderers.append((FAILURES_HAR, render_har))
    else:
        har.unlink(missing_ok=True)
    for name, render in renderers:
        path = directory / name
        path.write_text(masker.text(render(summary)), encoding="utf-8")
        written.append(path)
    return written


def _violated(violation: Mapping[str, Any] | None) -> list[str]:
    if not violation:
        return []
    names = [violation["check"]]
    for related in violation.get("related", []):
        names += _violated(related)
    return names


def _foreign_rule(name: str) -> str:
    if name.startswith("st."):
        return f"schemathesis built-in check `{name[3:]}`"
    return "(not in the catalogue)"


def _outcome(failures: int, exercised: bool) -> str:
    """failed N times; passed; not exercised (no test ran it, e.g. its tests were skipped)."""
    if failures:
        return f"failed {failures} time{'s' if failures > 1 else ''}"
    return "passed" if exercised else "not exercised"


def _failure(test: TestRecord) -> dict[str, Any]:
    return {
        "test": test.nodeid,
        "outcome": test.outcome,
        "checks": _violated(test.violation),
        "violation": test.violation,
        "message": "" if test.violation else test.message,
    }


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return _text(str(longrepr[2]))
    return _text(str(longrepr or ""))


def _text(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + " ..."


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
