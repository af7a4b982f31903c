"""What every rendering of a run's summary shares: the verdict, the operations line, the checks
table's order, the evidence lines, drift lines and small formatting helpers. Pure functions of
the summary dict built by `summary.build_summary`; summary.json is `render_json`."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conformance._core.errors import ExitCode
from conformance._report.causes import describe_cause, one_line, statuses_text
from conformance._report.triage import INTERMITTENT, NOT_CONFIRMED, REPRODUCED, tags

MD_GROUPS = 50  # root causes detailed in summary.md (a GitHub job summary holds 1 MiB)
MD_TESTS = 100  # test ids listed per root cause in summary.md
OUTCOME_ORDER = ("failed", "not exercised", "passed")


def operations_line(operations: int, writes: Sequence[str], *, names: bool = True) -> str:
    """How much of the spec a run exercises: its operations, less the declared writes."""
    line = f"{operations} operation{'s' if operations != 1 else ''}"
    if writes:
        plural = "s" if len(writes) > 1 else ""
        line += f", {len(writes)} write operation{plural} not exercised (the suite is read-only)"
        line += f": {', '.join(writes)}" if names else ""
    return line


def render_json(summary: Mapping[str, Any]) -> str:
    return json_text(summary)


def json_text(value: Any) -> str:
    """`value` as indented JSON, UTF-8 text as it is; a lone surrogate escape (a byte of a
    header value that is not UTF-8, in a request's template) as its JSON escape, so that the
    file can be written and read back to the same value."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def verdict(summary: Mapping[str, Any]) -> str:
    """One line: the outcome of the run as a person reads it."""
    return " ".join(verdict_parts(summary))


def verdict_parts(summary: Mapping[str, Any]) -> tuple[str, str]:
    """The verdict's symbol and its words."""
    status, counts = summary["exit"]["status"], summary["counts"]
    baseline = summary.get("baseline")
    if status == ExitCode.CONFORMANT:
        known = len((baseline or {}).get("known") or [])
        if known:
            return "✅", (
                f"No new violation: {plural(known, 'known root cause')} (baseline), "
                f"{counts['passed']} passed, {counts['skipped']} skipped"
            )
        return "✅", f"Conformant: {counts['passed']} passed, {counts['skipped']} skipped"
    if status == ExitCode.VIOLATIONS:
        bad = counts["failed"] + counts["error"]
        line = f"Violations: {bad} of {counts['tests']} tests failed"
        causes = len(summary.get("groups") or [])
        standing = f" ({triage_counts(summary)})" if baseline else ""
        return "❌", line + (f", {plural(causes, 'root cause')}{standing}" if causes else "")
    if status == ExitCode.TARGET_UNAVAILABLE:
        return "⚠️", "Target unavailable (exit 75): no verdict, try again later"
    return "⚠️", f"Exit {status}: {summary['exit']['meaning']}"


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


def other_failures(failures: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Failures that are no contract violation (a setup error, a crash of the suite)."""
    return [failure for failure in failures if not failure.get("violation")]


def shared_tests(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """The tests that are in more than one root cause (their answers showed several)."""
    seen: dict[str, int] = {}
    for group in groups:
        for test in group["test_ids"]:
            seen[test] = seen.get(test, 0) + 1
    return [test for test, count in seen.items() if count > 1]


def shared_note(groups: Sequence[Mapping[str, Any]]) -> str:
    shared = shared_tests(groups)
    named = f" ({', '.join(shared)})" if len(shared) <= 2 else ""
    verb = "shows" if len(shared) == 1 else "each show"
    return (
        f"{plural(len(shared), 'test')}{named} {verb} several root causes: counted in each; "
        "every check runs on every answer"
    )


def causes_title(groups: Sequence[Any], failures: Sequence[Any]) -> str:
    return (
        f"Root causes ({len(groups)} for {plural(len(failures), 'failed test')}, "
        "most serious first)"
    )


def causes_count(groups: Sequence[Mapping[str, Any]]) -> str:
    return plural(len(groups), "root cause")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def status_text(status: int | None) -> str:
    return "no response" if status is None else str(status)


def anchor(number: int) -> str:
    return f"cause-{number}"


def check_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The checks table: failed first, then not exercised, passed (catalogue order within
    each)."""
    rows = [(n, c["outcome"], c["rule"]) for n, c in summary["checks"].items()]
    return sorted(rows, key=lambda row: OUTCOME_ORDER.index(outcome_kind(row[1])))


def checks_tally(summary: Mapping[str, Any]) -> str:
    """'2 failed, 0 not exercised, 10 passed' (every check runs on every answer)."""
    kinds = [outcome_kind(check["outcome"]) for check in summary["checks"].values()]
    return ", ".join(f"{kinds.count(kind)} {kind}" for kind in OUTCOME_ORDER)


def cause_cells(cause: Mapping[str, Any]) -> dict[str, str]:
    """The cells of a root cause's row, the same in every rendering: rank, severity, tests,
    root cause (its key and how credentials were sent), statuses, checks that saw it."""
    checks = ", ".join(f"{name} ({tests})" for name, tests in cause["checks"].items())
    return {
        "#": str(cause["rank"]),
        "severity": cause["severity"]["category"],
        "tests": str(cause["tests"]),
        "root cause": describe_cause(cause),
        "statuses": statuses_text(cause["statuses"]),
        "checks": checks,
        "triage": ", ".join(tags(cause)),
    }


def triaged(groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any root cause has a triage to show (a baseline, a confirmation, a previous
    run): the renderings then add a column for it."""
    return any(tags(group) for group in groups)


CAUSE_COLUMNS = ("#", "severity", "tests", "root cause", "statuses", "checks")


def primary_line(cause: Mapping[str, Any], limit: int = 160) -> str:
    """The primary symptom: `[check] message`."""
    primary = cause["primary"]
    return one_line(f"[{primary['check']}] {primary['message']}", limit)


def unseen_lines(cov: Mapping[str, Any]) -> list[str]:
    """Per operation, the documented statuses the run never saw: a warning, not a failure."""
    lines = []
    for operation in cov.get("operations") or []:
        missing = operation["not_seen"]
        if missing:
            plural_s = "es" if len(missing) > 1 else ""
            lines.append(
                f"{operation['operation']}: documented status{plural_s} {', '.join(missing)} "
                "never seen in this run (not exercised, not judged)"
            )
    return lines


def outcome_kind(outcome: str) -> str:
    for kind in OUTCOME_ORDER:
        if outcome.startswith(kind):
            return kind
    return "passed"


def replay_command(reports_dir: str = "reports") -> str:
    return f"python -m conformance.replay {reports_dir.rstrip('/')}/failures.har"


def summary_replay_command(summary: Mapping[str, Any]) -> str:
    """The command that replays a run's failures, in its reports dir."""
    return (summary.get("replay") or {}).get("command") or replay_command()


def failure_lines(failure: Mapping[str, Any]) -> list[str]:
    """A failure as plain lines: each broken check, then each exchange and its curl."""
    violation = failure.get("violation")
    if not violation:
        return [f"{failure['outcome']}: {failure.get('message') or '(no message)'}"]
    return violation_lines(violation)


def violation_lines(violation: Mapping[str, Any], *, evidence: bool = True) -> list[str]:
    """One violation (and those found with it): what broke, then the exchanges and curl."""
    lines = []
    for item in [violation, *violation.get("related", [])]:
        lines.append(f"[{item['check']}] {item['message']}")
        lines += [f"  {k}: {item[k]}" for k in ("location", "expected", "actual") if item.get(k)]
    return lines + (evidence_lines(violation) if evidence else [])


def evidence_lines(violation: Mapping[str, Any]) -> list[str]:
    lines = []
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


def fenced(text: str) -> list[str]:
    """A Markdown code block that holds any text (fences included)."""
    fence = "```"
    while fence in text:
        fence += "`"
    return [f"{fence}text", text, fence]


def coverage_tables(cov: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...], list[tuple]]]:
    periods = cov["periods"]
    return [*operation_tables(cov), *_run_tables(cov, periods)]


def operation_tables(cov: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...], list[tuple]]]:
    """Per operation of the spec: its documented statuses (seen or not), the credentials
    sent (way, state) and the methods sent to its path."""
    tables = []
    for op in cov.get("operations") or []:
        name = op["operation"]
        statuses = [
            (key, count, "seen" if count else "NOT SEEN") for key, count in op["statuses"].items()
        ]
        credentials = [
            (scheme, state, count)
            for scheme, states in op["credentials"].items()
            for state, count in states.items()
        ]
        tables += [
            (f"{name}: documented statuses", ("status", "answers", "seen"), statuses),
            (f"{name}: credentials sent", ("sent as", "credential", "requests"), credentials),
            (f"{name}: methods sent", ("method", "requests"), list(op["methods"].items())),
        ]
    return tables


def _run_tables(
    cov: Mapping[str, Any], periods: Mapping[str, Any]
) -> list[tuple[str, tuple[str, ...], list[tuple]]]:
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


def md_table(headers: tuple[str, ...], rows: Iterable[tuple]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md_text(str(cell)) for cell in row) + " |" for row in rows]
    return lines


def code_span(text: str) -> str:
    """A Markdown code span that holds any text (backticks included)."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}" if longest else f"`{text}`"


def md_text(text: str) -> str:
    """Safe inside a Markdown table cell: one line, no pipes, no raw HTML outside code spans."""
    parts = " ".join(text.split()).split("`")
    parts[::2] = [html.escape(part, quote=False) for part in parts[::2]]
    return "`".join(parts).replace("|", "\\|")


def html_table(headers: tuple[str, ...], rows: Iterable[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def identity_text(identity: Mapping[str, Any] | None) -> str:
    """What the target says about itself, as a header reads it: `Server: nginx/1.25.3;
    X-Build: 4f2a9c1` (`none` for a field it does not send)."""
    if identity is None:
        return "identity unknown (no answer)"
    fields = {"Server": identity.get("server"), **(identity.get("headers") or {})}
    return "; ".join(f"{name}: {value if value is not None else 'none'}" for name, value in
                     fields.items())  # fmt: skip


def triage_counts(summary: Mapping[str, Any]) -> str:
    """How the root causes stand against the baseline: '1 new, 0 expired, 2 known' ('' when
    the run had no baseline)."""
    baseline = summary.get("baseline")
    if not baseline:
        return ""
    return (
        f"{len(baseline['new'])} new, {len(baseline['expired'])} expired, "
        f"{len(baseline['known'])} known"
    )


def history_lines(
    triaged: Mapping[str, Any],
    confirm: Mapping[str, Any] | None,
    groups: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Sentences on how the run's root causes stand: against the baseline (`triaged`'s
    `baseline`), since the previous run (`previous`) and once confirmed (`confirm`)."""
    lines = []
    if triaged.get("baseline") is not None:
        lines += baseline_lines(triaged["baseline"])
    if triaged.get("previous") is not None:
        lines += previous_lines(triaged["previous"])
    if confirm is not None and groups:
        lines.append(confirm_line(groups, confirm))
        intermittent = [
            g for g in groups if (g.get("reproduced") or {}).get("verdict") == INTERMITTENT
        ]
        if intermittent:
            lines.append(f"intermittent (did not fail every re-send): {_ids(intermittent)}")
    return lines


def baseline_lines(baseline: Mapping[str, Any]) -> list[str]:
    """How the run stood against its baseline: what fails the run, what does not, and the
    entries to remove or to finish."""
    where = f"baseline {baseline['file']}:"
    new, expired, known = baseline["new"], baseline["expired"], baseline["known"]
    failing = len(new) + len(expired)
    verdict = (
        f"{plural(failing, 'root cause')} fail{'s' if failing == 1 else ''} the run"
        if failing
        else "nothing new fails the run"
    )
    lines = [f"{where} {len(new)} new, {len(expired)} expired, {len(known)} known ({verdict})"]
    if new:
        lines.append(f"{where} new, they fail the run: {_ids(new)}")
    if known:
        lines.append(f"{where} known, they do not fail the run: {_ids(known)}")
    if expired:
        lines.append(f"{where} expired, fix them or extend them: {_ids(expired)}")
    if baseline["not_seen"]:
        lines.append(f"{where} no longer seen, remove them: {_ids(baseline['not_seen'])}")
    if baseline.get("todo"):
        lines.append(f"{where} reason still to fill in (TODO): {_ids(baseline['todo'])}")
    return lines


def previous_lines(previous: Mapping[str, Any]) -> list[str]:
    """How the run stands against an earlier one: new, still failing, fixed since."""
    when = f", finished {previous['finished']}" if previous.get("finished") else ""
    line = (
        f"since the previous run ({previous['file']}{when}): {len(previous['new'])} "
        f"new, {len(previous['still_failing'])} still failing, {len(previous['fixed'])} fixed"
    )
    if previous.get("exit_status") not in (0, 1):
        line += f" (that run had no verdict: exit {previous.get('exit_status')})"
    lines = [line]
    if previous["new"]:
        lines.append(f"new since the previous run: {_ids(previous['new'])}")
    if previous["fixed"]:
        lines.append(f"fixed since the previous run: {_ids(previous['fixed'])}")
    return lines


def confirm_line(groups: Sequence[Mapping[str, Any]], confirm: Mapping[str, Any]) -> str:
    """How the root causes fared when their first failing exchanges were sent again."""
    verdicts = [(group.get("reproduced") or {}).get("verdict") for group in groups]
    counts = ", ".join(
        f"{verdicts.count(verdict)} {verdict}"
        for verdict in (REPRODUCED, INTERMITTENT, NOT_CONFIRMED)
        if verdicts.count(verdict) or verdict != NOT_CONFIRMED
    )
    if confirm.get("budget_used_up") and not confirm["requests"]:
        return (
            "root causes not confirmed: the request budget (--max-requests) is used up "
            f"(--confirm {confirm['tries']})"
        )
    budget = (
        "; the request budget (--max-requests) was used up before every root cause was confirmed"
        if confirm.get("budget_used_up")
        else ""
    )
    return (
        f"confirmed by re-sending each root cause's first failing exchanges up to "
        f"{confirm['tries']} times ({plural(confirm['requests'], 'request')}): {counts}{budget}"
    )


def _ids(entries: Sequence[Any]) -> str:
    return ", ".join(f"`{e['id'] if isinstance(e, Mapping) else e}`" for e in entries)


def seed_text(seed: int | None) -> str:
    return "derandomized" if seed is None else str(seed)


def warning_lines(summary: Mapping[str, Any], limit: int | None = None) -> list[str]:
    """One line per group of warnings (never failures): the check and its note, how many
    tests, the statuses, the first message and where it was first seen. Not `[check]`, the
    form of a failure's text (the kill matrix reads failed checks from it)."""
    groups = summary.get("warnings") or []
    lines = []
    for group in groups[:limit]:
        example = group["example"]
        lines.append(
            f"{group['check']}: {group['note']} ({plural(group['tests'], 'test')}, "
            f"{statuses_text(group['statuses'])}): {one_line(group['message'] or '', 160)} "
            f"(first: {example.get('request')} -> {status_text(example.get('status'))} in "
            f"{example['test']})"
        )
    if limit is not None and len(groups) > limit:
        lines.append(f"... and {len(groups) - limit} more in summary.json")
    return lines


def warnings_title(summary: Mapping[str, Any]) -> str:
    """'Warnings (N): they fail nothing'."""
    count = len(summary.get("warnings") or [])
    return f"Warnings ({count}): reported, they fail nothing and leave the exit status alone"
