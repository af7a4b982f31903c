"""The summary of a run as text: summary.json, summary.md, summary.html and the terminal lines.

Pure functions of the summary dict built by `_reports.build_summary` (or, for the terminal, of
its `checks`, `groups` and `failures`). Order of every text: the verdict and the root causes
first, then the checks, one example per root cause, and the coverage last.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conformance._errors import ExitCode
from conformance._report_groups import describe_key, one_line

_MD_GROUPS = 50  # root causes detailed in summary.md (a GitHub job summary holds 1 MiB)
_MD_TESTS = 100  # test ids listed per root cause in summary.md
_OUTCOME_ORDER = ("failed", "masked", "not exercised", "passed")
MASKED_NOTE = "masked (never run: an earlier check failed first in each test meant to run it)"


def operations_line(operations: int, writes: Sequence[str], *, names: bool = True) -> str:
    """How much of the spec a run exercises: its operations, less the declared writes."""
    line = f"{operations} operation{'s' if operations != 1 else ''}"
    if writes:
        plural = "s" if len(writes) > 1 else ""
        line += f", {len(writes)} write operation{plural} not exercised (the suite is read-only)"
        line += f": {', '.join(writes)}" if names else ""
    return line


def render_json(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def verdict(summary: Mapping[str, Any]) -> str:
    """One line: the outcome of the run as a person reads it."""
    return " ".join(_verdict(summary))


def _verdict(summary: Mapping[str, Any]) -> tuple[str, str]:
    """The verdict's symbol and its words."""
    status, counts = summary["exit"]["status"], summary["counts"]
    if status == ExitCode.CONFORMANT:
        return "✅", f"Conformant: {counts['passed']} passed, {counts['skipped']} skipped"
    if status == ExitCode.VIOLATIONS:
        bad = counts["failed"] + counts["error"]
        line = f"Violations: {bad} of {counts['tests']} tests failed"
        causes = len(summary.get("groups") or [])
        return "❌", line + (f", {_plural(causes, 'root cause')}" if causes else "")
    if status == ExitCode.TARGET_UNAVAILABLE:
        return "⚠️", "Target unavailable (exit 75): no verdict, try again later"
    return "⚠️", f"Exit {status}: {summary['exit']['meaning']}"


# --- the terminal ------------------------------------------------------------------------------


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
    lines = [f"dcs-conformance: {_plural(len(failures), 'failure')}, {_causes(groups)}"]
    if groups:
        rows = [
            (str(i), str(g["tests"]), g["check"], _status(g["status"]), g["location"] or "-",
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
        if _shared(groups):
            lines.append(f"  ({_shared_note(groups)})")
    masked = {name: c["outcome"] for name, c in checks.items() if c["outcome"].startswith("masked")}
    if masked:
        lines.append(f"dcs-conformance: {_plural(len(masked), 'check')} {MASKED_NOTE}:")
        width = max(len(name) for name in masked)
        lines += [f"  {name:<{width}}  {outcome}" for name, outcome in masked.items()]
    others = _others(failures)
    if others:
        lines.append(
            f"dcs-conformance: {_plural(len(others), 'failure')} without a contract violation:"
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
        key = f"{_status(group['status'])} {where} {group['value_kind']}"
        found.append(f"[{group['check']}] {one_line(message, 100)} ({key})")
        firsts += [first] if first not in firsts else []
    plural = "s" if len(found) > 1 else ""
    return f"{'; '.join(found)}: same root cause{plural} as {', '.join(firsts)} (evidence there)"


# --- summary.md --------------------------------------------------------------------------------


def render_markdown(summary: Mapping[str, Any]) -> str:
    """summary.md: a GitHub job summary (verdict, root causes, checks, examples, coverage)."""
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
    groups, others = summary.get("groups") or [], _others(summary["failures"])
    if summary["failures"]:
        out += ["", f"## {_causes_title(groups, summary['failures'])}", ""]
        if groups:
            out += _md_table(_CAUSE_HEAD, [_md_cause_row(i, g) for i, g in enumerate(groups, 1)])
            if _shared(groups):
                out += ["", f"_Note: {_md(_shared_note(groups))}._"]
        if others:
            out += ["", f"{_plural(len(others), 'test')} failed without a contract violation "
                    "(see \"Other failures\")."]  # fmt: skip
    out += ["", "## Checks", "", _md(_checks_tally(summary)), ""]
    out += _md_table(("check", "outcome", "rule"), _check_rows(summary))
    if groups:
        out += ["", "## One example per root cause"]
        for number, group in enumerate(groups[:_MD_GROUPS], 1):
            out += ["", *_md_example(number, group)]
        if len(groups) > _MD_GROUPS:
            out += ["", f"... and {len(groups) - _MD_GROUPS} more root causes in summary.json"]
    if others:
        out += ["", f"## Other failures ({len(others)})"]
        for failure in others[:_MD_GROUPS]:
            out += ["", f"### {_code(failure['test'])}", "",
                    *_fenced("\n".join(_failure_lines(failure)))]  # fmt: skip
    out += ["", "## Coverage", ""]
    for title, headers, rows in _coverage_tables(summary["coverage"]):
        out += [f"**{title}**", "", *_md_table(headers, rows), ""]
    drift = summary.get("drift")
    if drift:
        out += ["## Spec drift", "", *_fenced("\n".join(drift_lines(drift))), ""]
    return "\n".join(out).rstrip() + "\n"


_CAUSE_HEAD = ("#", "tests", "check", "status", "where", "value", "first test", "message")


def _md_cause_row(number: int, group: Mapping[str, Any]) -> tuple:
    return (
        number,
        group["tests"],
        f"`{group['check']}`",
        _status(group["status"]),
        _code(group["location"]) if group["location"] else "-",
        group["value_kind"],
        _code(group["test_ids"][0]),
        one_line(group["example"].get("message", ""), 120),
    )


def _md_example(number: int, group: Mapping[str, Any]) -> list[str]:
    tests = group["test_ids"]
    listed = "\n".join(f"- {_code(test)}" for test in tests[:_MD_TESTS])
    if len(tests) > _MD_TESTS:
        listed += f"\n- ... and {len(tests) - _MD_TESTS} more in summary.json"
    return [
        f"### {number}. {_md(describe_key(group))} ({_plural(len(tests), 'test')})",
        "",
        f"First seen in {_code(tests[0])}:",
        "",
        *_fenced("\n".join(_violation_lines(group["example"]))),
        "",
        f"<details><summary>{_plural(len(tests), 'test')} with this root cause</summary>",
        "",
        listed,
        "",
        "</details>",
    ]


# --- summary.html ------------------------------------------------------------------------------


def render_html(summary: Mapping[str, Any]) -> str:
    """summary.html: the same content as summary.md, as one self-contained page (no script,
    no external resource)."""
    esc = html.escape
    spec = summary["spec"]
    exercised = operations_line(spec["operations"], spec["writes_not_exercised"])
    status = summary["exit"]["status"]
    tone = {0: "ok", 1: "bad"}.get(status, "warn")
    groups, others = summary.get("groups") or [], _others(summary["failures"])
    body = [
        "<h1>DCS conformance</h1>",
        f'<p class="verdict {tone}">{esc(_verdict(summary)[1])}</p>',  # no emoji font needed
        '<p class="meta">'
        f"target <code>{esc(summary['target'])}</code> · spec {esc(spec['version'])} "
        f"(sha256 <code>{esc(spec['sha256'][:12])}</code>, {esc(spec['source'])}; "
        f"{esc(exercised)}) · profile {esc(summary['profile'])}, seed "
        f"{esc(_seed(summary['seed']))} · started {esc(summary['started'])}, "
        f"{summary['duration_s']:.1f} s · exit {status}: {esc(summary['exit']['meaning'])}</p>",
    ]
    if summary["unavailable"]:
        items = "".join(f"<li>{esc(reason)}</li>" for reason in summary["unavailable"])
        body.append(f"<p>The target became unavailable:</p><ul>{items}</ul>")
    if summary["failures"]:
        body.append(f"<h2>{html.escape(_causes_title(groups, summary['failures']))}</h2>")
        if groups:
            body.append(_html_causes(groups))
            if _shared(groups):
                body.append(f'<p class="note">Note: {esc(_shared_note(groups))}.</p>')
        if others:
            body.append(
                f'<p class="note">{_plural(len(others), "test")} failed without a contract '
                'violation: see <a href="#other-failures">Other failures</a>.</p>'
            )
    body += ["<h2>Checks</h2>", f'<p class="note">{esc(_checks_tally(summary))}</p>']
    body.append(_html_checks(summary))
    if groups:
        body.append("<h2>One example per root cause</h2>")
        body += [_html_example(number, group) for number, group in enumerate(groups, 1)]
    if others:
        body.append(f'<h2 id="other-failures">Other failures ({len(others)})</h2>')
        for failure in others:
            lines = "\n".join(_failure_lines(failure))
            body.append(
                f"<details><summary><code>{esc(failure['test'])}</code>: "
                f"{esc(one_line(failure.get('message') or '', 120))}</summary>"
                f"<pre>{esc(lines)}</pre></details>"
            )
    body.append('<h2>Coverage</h2><div class="coverage">')
    for title, headers, rows in _coverage_tables(summary["coverage"]):
        body.append(f"<section><h3>{esc(title)}</h3>{_html_table(headers, rows)}</section>")
    body.append("</div>")
    if summary.get("drift"):
        lines = "\n".join(drift_lines(summary["drift"]))
        body.append(f"<h2>Spec drift</h2><pre>{esc(lines)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DCS conformance</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:80em;margin:1em auto;padding:0 1em;"
    "color:#1b1f23;line-height:1.4}"
    "h1{margin:.2em 0}h2{margin:1.2em 0 .4em;border-bottom:1px solid #ddd}h3{margin:.8em 0 .3em}"
    ".verdict{font-size:1.35em;font-weight:bold;padding:.4em .6em;border-radius:4px;margin:.3em 0}"
    ".verdict.ok{background:#e6f4ea}.verdict.bad{background:#fde8e8}.verdict.warn{background:#fff4d6}"
    ".meta{color:#555;font-size:.9em}.note{color:#555;font-size:.9em}"
    "table{border-collapse:collapse;margin:.3em 0}"
    "td,th{border:1px solid #d0d7de;padding:.2em .5em;text-align:left;vertical-align:top}"
    "th{background:#f3f4f6}td.n{text-align:right}"
    "code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace,monospace;font-size:.88em}"
    "pre{background:#f6f8fa;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0}"
    "td.outcome{width:25em}td.nw{white-space:nowrap}"
    ".failed{background:#fde8e8;font-weight:bold}.masked{background:#fff4d6}"
    ".skipped{color:#777}.passed{color:#1a7f37}"
    ".rule{color:#666;font-size:.85em}.first code,.example code{overflow-wrap:anywhere}"
    ".example{border:1px solid #d0d7de;border-radius:4px;padding:.2em .8em;margin:.6em 0}"
    "details{margin:.3em 0}summary{cursor:pointer;color:#0550ae}"
    ".coverage{display:flex;flex-wrap:wrap;gap:0 2em}.coverage h3{font-size:1em}"
)


def _html_causes(groups: Sequence[Mapping[str, Any]]) -> str:
    esc = html.escape
    rows = []
    for number, group in enumerate(groups, 1):
        location = group["location"]
        rows.append(
            "<tr>"
            f'<td class="n"><a href="#{_anchor(number)}">{number}</a></td>'
            f'<td class="n"><strong>{group["tests"]}</strong></td>'
            f"<td><code>{esc(group['check'])}</code></td>"
            f'<td class="nw">{esc(_status(group["status"]))}</td>'
            f'<td class="nw">{f"<code>{esc(location)}</code>" if location else "-"}</td>'
            f'<td class="nw">{esc(group["value_kind"])}</td>'
            f"<td>{esc(one_line(group['example'].get('message', ''), 120))}"
            f'<br><span class="rule first">first: <code>{esc(group["test_ids"][0])}</code>'
            "</span></td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "tests", "check", "status", "where", "value", "message")
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _html_checks(summary: Mapping[str, Any]) -> str:
    esc = html.escape
    rows = []
    for name, outcome, rule in _check_rows(summary):
        rows.append(
            f"<tr><td><code>{esc(name)}</code></td>"
            f'<td class="outcome {_outcome_class(outcome)}">{esc(outcome)}</td>'
            f'<td class="rule">{esc(rule)}</td></tr>'
        )
    return f"<table><tr><th>check</th><th>outcome</th><th>rule</th></tr>{''.join(rows)}</table>"


def _html_example(number: int, group: Mapping[str, Any]) -> str:
    esc = html.escape
    example, tests = group["example"], group["test_ids"]
    head = _violation_lines(example, evidence=False)
    evidence = _evidence_lines(example)
    listed = "".join(f"<li><code>{esc(test)}</code></li>" for test in tests)
    parts = [
        f'<div class="example" id="{_anchor(number)}">',
        f"<h3>{number}. {esc(describe_key(group))} ({_plural(len(tests), 'test')})</h3>",
        f"<p>First seen in <code>{esc(tests[0])}</code>:</p>",
        f"<pre>{esc(chr(10).join(head))}</pre>",
    ]
    if evidence:
        parts.append(
            "<details><summary>evidence: request, response, curl</summary>"
            f"<pre>{esc(chr(10).join(evidence))}</pre></details>"
        )
    parts.append(
        f"<details><summary>{_plural(len(tests), 'test')} with this root cause</summary>"
        f"<ul>{listed}</ul></details></div>"
    )
    return "".join(parts)


def _outcome_class(outcome: str) -> str:
    if outcome.startswith("failed"):
        return "failed"
    if outcome.startswith("masked"):
        return "masked"
    return "passed" if outcome == "passed" else "skipped"


# --- shared pieces -----------------------------------------------------------------------------


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


def _others(failures: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Failures that are no contract violation (a setup error, a crash of the suite)."""
    return [failure for failure in failures if not failure.get("violation")]


def _shared(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """The tests that are in more than one group (they broke several checks at once)."""
    seen: dict[str, int] = {}
    for group in groups:
        for test in group["test_ids"]:
            seen[test] = seen.get(test, 0) + 1
    return [test for test, count in seen.items() if count > 1]


def _shared_note(groups: Sequence[Mapping[str, Any]]) -> str:
    shared = _shared(groups)
    named = f" ({', '.join(shared)})" if len(shared) <= 2 else ""
    verb = "broke" if len(shared) == 1 else "each broke"
    return (
        f"{_plural(len(shared), 'test')}{named} {verb} several checks at once: "
        "counted in each of their root causes"
    )


def _causes_title(groups: Sequence[Any], failures: Sequence[Any]) -> str:
    return f"Root causes ({len(groups)} for {_plural(len(failures), 'failed test')})"


def _causes(groups: Sequence[Mapping[str, Any]]) -> str:
    return _plural(len(groups), "root cause")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _status(status: int | None) -> str:
    return "no response" if status is None else str(status)


def _anchor(number: int) -> str:
    return f"cause-{number}"


def _check_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The checks table: failed first, then masked, not exercised, passed (catalogue order
    within each)."""
    rows = [(n, c["outcome"], c["rule"]) for n, c in summary["checks"].items()]
    return sorted(rows, key=lambda row: _OUTCOME_ORDER.index(_outcome_kind(row[1])))


def _checks_tally(summary: Mapping[str, Any]) -> str:
    """'2 failed, 10 masked, 0 not exercised, 10 passed', and what masked means if any is."""
    kinds = [_outcome_kind(check["outcome"]) for check in summary["checks"].values()]
    tally = ", ".join(f"{kinds.count(kind)} {kind}" for kind in _OUTCOME_ORDER)
    return tally + (f"; {MASKED_NOTE}" if "masked" in kinds else "")


def _outcome_kind(outcome: str) -> str:
    for kind in _OUTCOME_ORDER:
        if outcome.startswith(kind):
            return kind
    return "passed"


def _failure_lines(failure: Mapping[str, Any]) -> list[str]:
    """A failure as plain lines: each broken check, then each exchange and its curl."""
    violation = failure.get("violation")
    if not violation:
        return [f"{failure['outcome']}: {failure.get('message') or '(no message)'}"]
    return _violation_lines(violation)


def _violation_lines(violation: Mapping[str, Any], *, evidence: bool = True) -> list[str]:
    """One violation (and those found with it): what broke, then the exchanges and curl."""
    lines = []
    for item in [violation, *violation.get("related", [])]:
        lines.append(f"[{item['check']}] {item['message']}")
        lines += [f"  {k}: {item[k]}" for k in ("location", "expected", "actual") if item.get(k)]
    return lines + (_evidence_lines(violation) if evidence else [])


def _evidence_lines(violation: Mapping[str, Any]) -> list[str]:
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
