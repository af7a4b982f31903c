"""The dcs-conformance lines of the terminal summary, and the one-line failure text of a test
whose root causes were shown before. Pure functions of the summary's data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conformance._report.common import (
    MASKED_NOTE,
    causes_count,
    other_failures,
    plural,
    shared_note,
    shared_tests,
    status_text,
)
from conformance._report.groups import one_line


def terminal_lines(
    checks: Mapping[str, Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, Any]],
) -> list[str]:
    """The `dcs-conformance: N failures, K root causes` section of the terminal summary:
    each root cause (count, check, status, location, value kind, first test, message), the
    checks masked by them, and failures that are no contract violation (empty: no failure)."""
    if not failures:
        return []
    lines = [f"dcs-conformance: {plural(len(failures), 'failure')}, {causes_count(groups)}"]
    if groups:
        rows = [
            (str(i), str(g["tests"]), g["check"], status_text(g["status"]), g["location"] or "-",
             g["value_kind"])
            for i, g in enumerate(groups, 1)
        ]  # fmt: skip
        widths = [max(len(row[c]) for row in [_TERMINAL_HEAD, *rows]) for c in range(6)]
        lines.append(_terminal_row(_TERMINAL_HEAD, widths))
        indent = " " * (2 + widths[0] + 2 + widths[1] + 2)
        for row, group in zip(rows, groups, strict=True):
            lines.append(_terminal_row(row, widths))
            lines.append(f"{indent}first: {group['test_ids'][0]}")
            lines.append(f"{indent}{one_line(group['example'].get('message', ''))}")
        if shared_tests(groups):
            lines.append(f"  ({shared_note(groups)})")
    masked = {name: c["outcome"] for name, c in checks.items() if c["outcome"].startswith("masked")}
    if masked:
        lines.append(f"dcs-conformance: {plural(len(masked), 'check')} {MASKED_NOTE}:")
        width = max(len(name) for name in masked)
        lines += [f"  {name:<{width}}  {outcome}" for name, outcome in masked.items()]
    others = other_failures(failures)
    if others:
        lines.append(
            f"dcs-conformance: {plural(len(others), 'failure')} without a contract violation:"
        )
        lines += [f"  {f['test']}: {one_line(f.get('message') or '(no message)')}" for f in others]
    return lines


_TERMINAL_HEAD = ("#", "tests", "check", "status", "where", "value")


def _terminal_row(row: Sequence[str], widths: Sequence[int]) -> str:
    first = f"{row[0]:>{widths[0]}}  {row[1]:>{widths[1]}}"
    rest = "  ".join(f"{cell:<{width}}" for cell, width in zip(row[2:], widths[2:], strict=True))
    return f"  {first}  {rest}".rstrip()


def repeated_failure_line(causes: Sequence[tuple[Mapping[str, Any], str, str]]) -> str:
    """The one-line failure text of a test whose root causes, each a (group, first test,
    this test's message), were all shown in full before, by the first tests named."""
    found, firsts = [], []
    for group, first, message in causes:
        where = group["location"] or "-"
        key = f"{status_text(group['status'])} {where} {group['value_kind']}"
        found.append(f"[{group['check']}] {one_line(message, 100)} ({key})")
        firsts += [first] if first not in firsts else []
    plural = "s" if len(found) > 1 else ""
    return f"{'; '.join(found)}: same root cause{plural} as {', '.join(firsts)} (evidence there)"
