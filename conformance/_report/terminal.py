"""The dcs-conformance lines of the terminal summary, and the one-line failure text of a test
whose root causes were shown before. Pure functions of the summary's data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance._report.causes import one_line
from conformance._report.common import (
    cause_cells,
    causes_count,
    history_lines,
    identity_text,
    other_failures,
    plural,
    primary_line,
    shared_note,
    shared_tests,
    triage_counts,
    unseen_lines,
    warning_lines,
)
from conformance._report.common import triaged as any_triage
from conformance._report.triage import notes

PREFIX = "dcs-conformance:"
_COLUMNS: tuple[str, ...] = ("#", "severity", "tests", "root cause", "statuses")


def terminal_lines(
    groups: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
    coverage: Mapping[str, Any] | None = None,
    *,
    triaged: Mapping[str, Any] | None = None,
    confirm: Mapping[str, Any] | None = None,
    warnings: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """The `dcs-conformance: N failures, K root causes` section of the terminal summary: each
        root cause, most serious first (rank, severity, tests, root cause, statuses, and its
        triage when there is one: NEW, known or EXPIRED, reproduced or intermittent, new since the
        previous run or still failing; then the checks that saw it, the first test, the primary
        symptom and the triage in words), failures that are no contract violation, a warning per
        operation whose documented statuses the run never saw, then the baseline (`triaged`'s
        `baseline`: new, expired, known, the entries no longer seen), the previous run (`previous`:
        fixed since), how the root causes were confirmed (`confirm`) and the `warnings` (grouped,
    they fail nothing). Empty: nothing to say."""
    lines = []
    triaged = triaged or {}
    baseline = triaged.get("baseline")
    if failures:
        known = sum(failure.get("outcome") == "known" for failure in failures)
        head = f"{plural(len(failures), 'failure')}" + (f" ({known} known)" if known else "")
        head += f", {causes_count(groups)}"
        standing = triage_counts({"baseline": baseline})
        head += f" ({standing})" if standing and groups else ""
        lines.append(f"{PREFIX} {head}" + (", most serious first" if len(groups) > 1 else ""))
    if groups:
        columns = _COLUMNS + (("triage",) if any_triage(groups) else ())
        rows = [tuple(cause_cells(group)[column] for column in columns) for group in groups]
        widths = [max(len(row[c]) for row in [columns, *rows]) for c in range(len(columns))]
        lines.append(_row(columns, widths))
        indent = " " * (2 + widths[0] + 2)
        for row, group in zip(rows, groups, strict=True):
            lines.append(_row(row, widths))
            lines.append(f"{indent}checks: {cause_cells(group)['checks']}")
            lines.append(f"{indent}first:  {group['first']['test']}")
            lines.append(f"{indent}{primary_line(group)}")
            lines += [f"{indent}{note}" for note in notes(group)]
        if shared_tests(groups):
            lines.append(f"  ({shared_note(groups)})")
    others = other_failures(failures)
    if others:
        lines.append(f"{PREFIX} {plural(len(others), 'failure')} without a contract violation:")
        lines += [f"  {f['test']}: {one_line(f.get('message') or '(no message)')}" for f in others]
    if coverage is not None:
        lines += [f"{PREFIX} warning: {line}" for line in unseen_lines(coverage)]
    lines += [f"{PREFIX} {line}" for line in history_lines(triaged, confirm, groups)]
    lines += [f"{PREFIX} warning: {line}" for line in warning_lines({"warnings": warnings})]
    return lines


def _row(row: Sequence[str], widths: Sequence[int]) -> str:
    number, severity, tests, cause, statuses, *rest = row
    cells = [f"{number:>{widths[0]}}", f"{severity:<{widths[1]}}", f"{tests:>{widths[2]}}",
             f"{cause:<{widths[3]}}", f"{statuses:<{widths[4]}}", *rest]  # fmt: skip
    return ("  " + "  ".join(cells)).rstrip()


def repeated_failure_line(causes: Sequence[tuple[str, str, str, str]]) -> str:
    """The one-line failure text of a test whose root causes, each a (key, check, first test,
    this test's message), were all shown in full before, by the first tests named."""
    found, firsts = [], []
    for key, check, first, message in causes:
        found.append(f"[{check}] {one_line(message, 100)} ({key})")
        firsts += [first] if first not in firsts else []
    plural_s = "s" if len(found) > 1 else ""
    return f"{'; '.join(found)}: same root cause{plural_s} as {', '.join(firsts)} (evidence there)"


__all__ = ["identity_text", "repeated_failure_line", "terminal_lines"]
