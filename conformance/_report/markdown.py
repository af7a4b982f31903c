"""summary.md: the run as a GitHub job summary. A pure function of the summary dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance._report.causes import describe_cause
from conformance._report.common import (
    CAUSE_COLUMNS,
    MD_GROUPS,
    MD_TESTS,
    cause_cells,
    causes_title,
    check_rows,
    checks_tally,
    code_span,
    coverage_tables,
    drift_lines,
    failure_lines,
    fenced,
    history_lines,
    identity_text,
    md_table,
    md_text,
    operations_line,
    other_failures,
    plural,
    primary_line,
    seed_text,
    shared_note,
    shared_tests,
    summary_replay_command,
    triaged,
    unseen_lines,
    verdict,
    violation_lines,
    warning_lines,
    warnings_title,
)
from conformance._report.triage import notes, tags


def render_markdown(summary: Mapping[str, Any]) -> str:
    """summary.md: a GitHub job summary (verdict, root causes, checks, examples, coverage)."""
    spec = summary["spec"]
    out = [
        "# DCS conformance",
        "",
        f"**{verdict(summary)}**",
        "",
        f"- target: `{summary['target']}`{_identity(summary)}",
        f"- spec: {spec['version']} (sha256 `{spec['sha256'][:12]}`, {md_text(spec['source'])}); "
        f"{md_text(operations_line(spec['operations'], spec['writes_not_exercised']))}",
        f"- profile: {summary['profile']}; seed: {seed_text(summary['seed'])}",
        f"- started {summary['started']}, {summary['duration_s']:.1f} s",
        f"- exit {summary['exit']['status']}: {summary['exit']['meaning']}",
    ]
    if summary["unavailable"]:
        out += ["", "The target became unavailable:", *(f"- {r}" for r in summary["unavailable"])]
    groups, others = summary.get("groups") or [], other_failures(summary["failures"])
    unseen = unseen_lines(summary["coverage"])
    if unseen:
        out += ["", *(f"> ⚠️ {md_text(line)}" for line in unseen)]
    history = history_lines(summary, summary.get("confirm"), groups)
    if history:
        out += ["", "## Known, new and intermittent", ""]
        out += [f"- {md_text(line)}" for line in history]
    if summary["failures"]:
        out += ["", f"## {causes_title(groups, summary['failures'])}", ""]
        if groups:
            with_triage = triaged(groups)
            head = (*_CAUSE_HEAD, "triage") if with_triage else _CAUSE_HEAD
            out += md_table(head, [_md_cause_row(g, with_triage) for g in groups])
            if shared_tests(groups):
                out += ["", f"_Note: {md_text(shared_note(groups))}._"]
            replay = code_span(summary_replay_command(summary))
            out += ["", f"Once fixed, re-send the failing exchanges: {replay} (see the README's "
                    "\"Replay\")."]  # fmt: skip
        if others:
            out += ["", f"{plural(len(others), 'test')} failed without a contract violation "
                    "(see \"Other failures\")."]  # fmt: skip
    if summary.get("warnings"):
        out += ["", f"## {warnings_title(summary)}", ""]
        out += [f"- {md_text(line)}" for line in warning_lines(summary, MD_GROUPS)]
    out += ["", "## Checks", "", md_text(checks_tally(summary)), ""]
    out += md_table(("check", "outcome", "rule"), check_rows(summary))
    if groups:
        out += ["", "## The primary symptom of each root cause"]
        for number, group in enumerate(groups[:MD_GROUPS], 1):
            out += ["", *_md_example(number, group)]
        if len(groups) > MD_GROUPS:
            out += ["", f"... and {len(groups) - MD_GROUPS} more root causes in summary.json"]
    if others:
        out += ["", f"## Other failures ({len(others)})"]
        for failure in others[:MD_GROUPS]:
            out += ["", f"### {code_span(failure['test'])}", "",
                    *fenced("\n".join(failure_lines(failure)))]  # fmt: skip
    out += ["", "## What was exercised", ""]
    for title, headers, rows in coverage_tables(summary["coverage"]):
        out += [f"**{title}**", "", *md_table(headers, rows), ""]
    drift = summary.get("drift")
    if drift:
        out += ["## Spec drift", "", *fenced("\n".join(drift_lines(drift))), ""]
    return "\n".join(out).rstrip() + "\n"


_CAUSE_HEAD = (*CAUSE_COLUMNS, "primary symptom", "first test")


def _md_cause_row(group: Mapping[str, Any], with_triage: bool = False) -> tuple:
    cells = cause_cells(group)
    return (
        *(cells[column] for column in CAUSE_COLUMNS[:3]),
        code_span(cells["root cause"]),
        cells["statuses"],
        cells["checks"],
        primary_line(group, 120),
        code_span(group["first"]["test"]),
        *((f"**{cells['triage']}**",) if with_triage else ()),
    )


def _identity(summary: Mapping[str, Any]) -> str:
    """What the target said about itself, after its URL (nothing in an older summary)."""
    if "identity" not in summary:
        return ""
    return f" ({md_text(identity_text(summary['identity']))})"


def _md_example(number: int, group: Mapping[str, Any]) -> list[str]:
    tests = group["test_ids"]
    listed = "\n".join(f"- {code_span(test)}" for test in tests[:MD_TESTS])
    if len(tests) > MD_TESTS:
        listed += f"\n- ... and {len(tests) - MD_TESTS} more in summary.json"
    severity = group["severity"]["category"]
    primary = group["primary"]
    marked = f" **{md_text(', '.join(tags(group)))}**" if tags(group) else ""
    said = [f"- {md_text(note)}" for note in notes(group)]
    return [
        f"### {number}. [{severity}] {md_text(describe_cause(group))} "
        f"({plural(len(tests), 'test')}){marked}",
        "",
        *([*said, ""] if said else []),
        f"Primary symptom, first seen in {code_span(primary['test'])}; seen by "
        f"{md_text(cause_cells(group)['checks'])}:",
        "",
        *fenced("\n".join(violation_lines(group["example"]))),
        "",
        f"<details><summary>{plural(len(tests), 'test')} with this root cause</summary>",
        "",
        listed,
        "",
        "</details>",
    ]
