"""Run reports: JUnit XML (pytest's own writer), summary.json, summary.md and summary.html.

The plugin feeds test reports in (`Results.record`) and calls `write_reports` once, in the
controller process, at the end of the run. Everything else here is a pure builder: data in,
text out. Every text is passed through the run's `Masker` once more before it is written.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from conformance._dates import parse_date
from conformance._errors import ExitCode
from conformance._exchange import Masker

JUNIT = "junit.xml"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
SUMMARY_HTML = "summary.html"
FORMAT = "dcs-conformance/summary/1"

PERIOD_BUCKETS = ("none", "first_of_month", "other_valid", "malformed")
_MD_FAILURES = 50  # failures detailed in summary.md (a GitHub job summary holds 1 MiB)
_MESSAGE_CHARS = 2000


@dataclass
class TestRecord:
    """What one test did: its outcome, the violation it found, and the requests it sent."""

    nodeid: str
    outcome: str = "passed"  # passed | failed | error | skipped
    violation: dict[str, Any] | None = None
    message: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)
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
            elif name == "dcs_unavailable":
                test.unavailable = str(value)
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


def junit_path(option: Any, reports_dir: Path) -> None:
    """Point pytest's JUnit writer at the reports dir unless the user chose `--junitxml`."""
    if hasattr(option, "xmlpath") and not option.xmlpath:
        option.xmlpath = str(reports_dir / JUNIT)


def build_summary(run: Run, results: Results, rules: Mapping[str, str]) -> dict[str, Any]:
    """The JSON-ready summary of a run (the content of summary.json)."""
    tests = list(results.tests.values())
    counts = Counter(test.outcome for test in tests)
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
            "outcome": _outcome(failures, name in exercised),
        }
    return {
        "format": FORMAT,
        "target": run.target,
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
        "exit": {"status": run.exit_status, "meaning": exit_meaning(run.exit_status)},
        "counts": {
            "tests": len(tests),
            **{key: counts[key] for key in ("passed", "failed", "error", "skipped")},
        },
        "checks": checks,
        "failures": [_failure(test) for test in tests if test.outcome in ("failed", "error")],
        "unavailable": sorted({test.unavailable for test in tests if test.unavailable}),
        "coverage": coverage(exchange for test in tests for exchange in test.exchanges),
        "drift": run.drift,
    }


def operations_line(operations: int, writes: Sequence[str], *, names: bool = True) -> str:
    """How much of the spec a run exercises: its operations, less the declared writes."""
    line = f"{operations} operation{'s' if operations != 1 else ''}"
    if writes:
        plural = "s" if len(writes) > 1 else ""
        line += f", {len(writes)} write operation{plural} not exercised (the suite is read-only)"
        line += f": {', '.join(writes)}" if names else ""
    return line


def exit_meaning(status: int) -> str:
    return ExitCode.meaning_of(status)


def coverage(exchanges: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What the run tried, from `Exchange.summary()` records: statuses, auth paths, periods."""
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
    }


def period_bucket(value: str | None) -> str:
    """none, first_of_month, other_valid (a real date, not the 1st) or malformed."""
    if value is None:
        return "none"
    date = parse_date(value)
    if date is None:
        return "malformed"
    return "first_of_month" if date.day == 1 else "other_valid"


def render_json(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def verdict(summary: Mapping[str, Any]) -> str:
    """One line: the outcome of the run as a person reads it."""
    status, counts = summary["exit"]["status"], summary["counts"]
    if status == ExitCode.CONFORMANT:
        return f"✅ Conformant: {counts['passed']} passed, {counts['skipped']} skipped"
    if status == ExitCode.VIOLATIONS:
        bad = counts["failed"] + counts["error"]
        return f"❌ Violations: {bad} of {counts['tests']} tests failed"
    if status == ExitCode.TARGET_UNAVAILABLE:
        return "⚠️ Target unavailable (exit 75): no verdict, try again later"
    return f"⚠️ Exit {status}: {summary['exit']['meaning']}"


def render_markdown(summary: Mapping[str, Any]) -> str:
    """summary.md: a GitHub job summary (verdict, checks, failures, coverage)."""
    spec = summary["spec"]
    out = [
        "# DCS conformance",
        "",
        f"**{verdict(summary)}**",
        "",
        f"- target: `{summary['target']}`",
        f"- spec: {spec['version']} (sha256 `{spec['sha256'][:12]}`, {_md(spec['source'])}); "
        f"{_md(operations_line(spec['operations'], spec['writes_not_exercised']))}",
        f"- profile: {summary['profile']}; seed: {_seed(summary['seed'])}",
        f"- started {summary['started']}, {summary['duration_s']:.1f} s",
        f"- exit {summary['exit']['status']}: {summary['exit']['meaning']}",
    ]
    if summary["unavailable"]:
        out += ["", "The target became unavailable:", *(f"- {r}" for r in summary["unavailable"])]
    out += ["", "## Checks", "", *_md_table(("check", "rule", "outcome"), _check_rows(summary))]
    failures = summary["failures"]
    if failures:
        out += ["", f"## Failures ({len(failures)})"]
        for failure in failures[:_MD_FAILURES]:
            out += ["", *_md_failure(failure)]
        if len(failures) > _MD_FAILURES:
            out += ["", f"... and {len(failures) - _MD_FAILURES} more in summary.json"]
    out += ["", "## Coverage", ""]
    for title, headers, rows in _coverage_tables(summary["coverage"]):
        out += [f"**{title}**", "", *_md_table(headers, rows), ""]
    drift = summary.get("drift")
    if drift:
        out += ["## Spec drift", "", *_fenced("\n".join(drift_lines(drift))), ""]
    return "\n".join(out).rstrip() + "\n"


def render_html(summary: Mapping[str, Any]) -> str:
    """summary.html: the same content as summary.md, as one self-contained page."""
    esc = html.escape
    spec = summary["spec"]
    exercised = operations_line(spec["operations"], spec["writes_not_exercised"])
    body = [
        f"<h1>DCS conformance</h1><p><strong>{esc(verdict(summary))}</strong></p><ul>",
        f"<li>target: <code>{esc(summary['target'])}</code></li>",
        f"<li>spec: {esc(spec['version'])} (sha256 <code>{esc(spec['sha256'][:12])}</code>, "
        f"{esc(spec['source'])}); {esc(exercised)}</li>",
        f"<li>profile: {esc(summary['profile'])}; seed: {esc(_seed(summary['seed']))}</li>",
        f"<li>exit {summary['exit']['status']}: {esc(summary['exit']['meaning'])}</li></ul>",
        "<h2>Checks</h2>",
        _html_table(("check", "rule", "outcome"), _check_rows(summary)),
    ]
    if summary["failures"]:
        body.append(f"<h2>Failures ({len(summary['failures'])})</h2>")
        for failure in summary["failures"]:
            lines = _failure_lines(failure)
            body.append(f"<h3>{esc(failure['test'])}</h3><pre>{esc(chr(10).join(lines))}</pre>")
    body.append("<h2>Coverage</h2>")
    for title, headers, rows in _coverage_tables(summary["coverage"]):
        body.append(f"<h3>{esc(title)}</h3>{_html_table(headers, rows)}")
    if summary.get("drift"):
        lines = "\n".join(drift_lines(summary["drift"]))
        body.append(f"<h2>Spec drift</h2><pre>{esc(lines)}</pre>")
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
        "pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>DCS conformance</title><style>{style}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def drift_lines(drift: Mapping[str, Any], limit: int | None = None) -> list[str]:
    """The drift summary as text lines, at most `limit` changes (also for the terminal)."""
    if drift.get("error"):
        return [f"could not compare with {drift.get('new')}: {drift['error']}"]
    if drift.get("identical"):
        return [f"no drift: {drift.get('new')} matches {drift.get('old')}"]
    counts = drift.get("counts", {})
    head = (
        f"the target publishes a spec we have not vendored: {drift.get('new')} differs from "
        f"{drift.get('old')} ({counts.get('added', 0)} added, {counts.get('removed', 0)} removed, "
        f"{counts.get('changed', 0)} changed)"
    )
    changes = drift["changes"][:limit]
    lines = [head, *(f"  {c['kind']}: {c['where']} {c['detail']}".rstrip() for c in changes)]
    if len(changes) < len(drift["changes"]):
        lines.append(f"  ... and {len(drift['changes']) - len(changes)} more in the reports")
    return lines


def write_reports(directory: Path, summary: Mapping[str, Any], masker: Masker) -> list[Path]:
    """Write summary.json, summary.md and summary.html (creating the directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in (
        (SUMMARY_JSON, render_json),
        (SUMMARY_MD, render_markdown),
        (SUMMARY_HTML, render_html),
    ):
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


def _check_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(n, c["rule"], c["outcome"]) for n, c in summary["checks"].items()]


def _failure_lines(failure: Mapping[str, Any]) -> list[str]:
    """A failure as plain lines: each broken check, then each exchange and its curl."""
    violation = failure.get("violation")
    if not violation:
        return [f"{failure['outcome']}: {failure.get('message') or '(no message)'}"]
    lines = []
    for item in [violation, *violation.get("related", [])]:
        lines.append(f"[{item['check']}] {item['message']}")
        lines += [f"  {k}: {item[k]}" for k in ("location", "expected", "actual") if item.get(k)]
    for exchange in violation.get("exchanges", []):
        request, response = exchange["request"], exchange["response"]
        lines.append(f"request:  {request['method']} {request['url']}")
        if response.get("status") is None:
            lines.append(f"response: none ({response.get('error')})")
        else:
            media = response.get("headers", {}).get("content-type", "no content-type")
            lines.append(f"response: {response['status']} {media}")
            if response.get("body_excerpt"):
                lines.append(f"          {response['body_excerpt']}")
        lines.append(f"reproduce: {exchange['curl']}")
    return lines


def _md_failure(failure: Mapping[str, Any]) -> list[str]:
    return [f"### {_code(failure['test'])}", "", *_fenced("\n".join(_failure_lines(failure)))]


def _fenced(text: str) -> list[str]:
    """A Markdown code block that holds any text (fences included)."""
    fence = "```"
    while fence in text:
        fence += "`"
    return [f"{fence}text", text, fence]


def _coverage_tables(cov: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...], list[tuple]]]:
    periods = cov["periods"]
    return [
        (
            "Requests",
            ("requests", "retries", "transport errors"),
            [(cov["requests"], cov["retries"], cov["transport_errors"])],
        ),
        ("Status codes seen", ("status", "responses"), list(cov["statuses"].items())),
        ("error_code values seen", ("error_code", "responses"), list(cov["error_codes"].items())),
        (
            "Auth paths tried",
            ("credentials", "with org header", "without org header"),
            [(k, v["with_org_header"], v["without_org_header"]) for k, v in cov["auth"].items()],
        ),
        (
            "period_start values tried",
            ("kind", "requests", "distinct values", "examples"),
            [
                (k, v["requests"], v["distinct"], ", ".join(repr(e) for e in v["examples"]))
                for k, v in periods.items()
            ],
        ),
        ("Methods sent", ("method", "requests"), list(cov["methods"].items())),
    ]


def _md_table(headers: tuple[str, ...], rows: Iterable[tuple]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(str(cell)) for cell in row) + " |" for row in rows]
    return lines


def _code(text: str) -> str:
    """A Markdown code span that holds any text (backticks included)."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}" if longest else f"`{text}`"


def _md(text: str) -> str:
    """Safe inside a Markdown table cell: one line, no pipes, no raw HTML outside code spans."""
    parts = " ".join(text.split()).split("`")
    parts[::2] = [html.escape(part, quote=False) for part in parts[::2]]
    return "`".join(parts).replace("|", "\\|")


def _html_table(headers: tuple[str, ...], rows: Iterable[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _seed(seed: int | None) -> str:
    return "derandomized" if seed is None else str(seed)


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
