"""summary.html: the run as one self-contained page (no script, no external resource). A pure
function of the summary dict."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from conformance._report.causes import CATEGORIES, describe_cause, one_line
from conformance._report.common import (
    anchor,
    cause_cells,
    causes_title,
    check_rows,
    checks_tally,
    coverage_tables,
    drift_lines,
    evidence_lines,
    failure_lines,
    history_lines,
    html_table,
    identity_text,
    operations_line,
    other_failures,
    plural,
    seed_text,
    shared_note,
    shared_tests,
    summary_replay_command,
    triaged,
    unseen_lines,
    verdict_parts,
    violation_lines,
    warning_lines,
    warnings_title,
)
from conformance._report.triage import notes, tags


def render_html(summary: Mapping[str, Any]) -> str:
    """summary.html: the same content as summary.md, as one self-contained page (no script,
    no external resource)."""
    esc = html.escape
    spec = summary["spec"]
    exercised = operations_line(spec["operations"], spec["writes_not_exercised"])
    status = summary["exit"]["status"]
    tone = {0: "ok", 1: "bad"}.get(status, "warn")
    groups, others = summary.get("groups") or [], other_failures(summary["failures"])
    body = [
        "<h1>DCS conformance</h1>",
        f'<p class="verdict {tone}">{esc(verdict_parts(summary)[1])}</p>',  # no emoji font needed
        '<p class="meta">'
        f"target <code>{esc(summary['target'])}</code>{_identity(summary)} · spec "
        f"{esc(spec['version'])} "
        f"(sha256 <code>{esc(spec['sha256'][:12])}</code>, {esc(spec['source'])}; "
        f"{esc(exercised)}) · profile {esc(summary['profile'])}, seed "
        f"{esc(seed_text(summary['seed']))} · started {esc(summary['started'])}, "
        f"{summary['duration_s']:.1f} s · exit {status}: {esc(summary['exit']['meaning'])}</p>",
    ]
    if summary["unavailable"]:
        items = "".join(f"<li>{esc(reason)}</li>" for reason in summary["unavailable"])
        body.append(f"<p>The target became unavailable:</p><ul>{items}</ul>")
    for line in unseen_lines(summary["coverage"]):
        body.append(f'<p class="warning">Warning: {esc(line)}</p>')
    history = history_lines(summary, summary.get("confirm"), groups)
    if history:
        items = "".join(f"<li>{esc(line)}</li>" for line in history)
        body.append(f"<h2>Known, new and intermittent</h2><ul>{items}</ul>")
    if summary["failures"]:
        body.append(f"<h2>{html.escape(causes_title(groups, summary['failures']))}</h2>")
        if groups:
            body.append(_html_causes(groups))
            if shared_tests(groups):
                body.append(f'<p class="note">Note: {esc(shared_note(groups))}.</p>')
            replay = esc(summary_replay_command(summary))
            body.append(
                '<p class="note">Once fixed, re-send the failing exchanges (failures.har, '
                f"which browsers' developer tools open too): <code>{replay}</code></p>"
            )
        if others:
            body.append(
                f'<p class="note">{plural(len(others), "test")} failed without a contract '
                'violation: see <a href="#other-failures">Other failures</a>.</p>'
            )
    if summary.get("warnings"):
        items = "".join(f"<li>{esc(line)}</li>" for line in warning_lines(summary))
        body.append(f'<h2 id="warnings">{esc(warnings_title(summary))}</h2><ul>{items}</ul>')
    body += ["<h2>Checks</h2>", f'<p class="note">{esc(checks_tally(summary))}</p>']
    body.append(_html_checks(summary))
    if groups:
        body.append("<h2>The primary symptom of each root cause</h2>")
        body += [_html_example(group["rank"], group) for group in groups]
    if others:
        body.append(f'<h2 id="other-failures">Other failures ({len(others)})</h2>')
        for failure in others:
            lines = "\n".join(failure_lines(failure))
            body.append(
                f"<details><summary><code>{esc(failure['test'])}</code>: "
                f"{esc(one_line(failure.get('message') or '', 120))}</summary>"
                f"<pre>{esc(lines)}</pre></details>"
            )
    body.append('<h2>What was exercised</h2><div class="coverage">')
    for title, headers, rows in coverage_tables(summary["coverage"]):
        body.append(f"<section><h3>{esc(title)}</h3>{html_table(headers, rows)}</section>")
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
    ".failed{background:#fde8e8;font-weight:bold}.warning{background:#fff4d6;padding:.3em .6em}"
    ".sev{white-space:nowrap;font-size:.85em;font-weight:bold;border-radius:3px;padding:0 .3em}"
    ".sev1{background:#b42318;color:#fff}.sev2{background:#f79009;color:#1b1f23}"
    ".sev3{background:#d0d7de}.sev4{background:#eef0f2;color:#555}"
    ".skipped{color:#777}.passed{color:#1a7f37}.triage{font-weight:bold;white-space:nowrap}"
    ".rule{color:#666;font-size:.85em}.first code,.example code{overflow-wrap:anywhere}"
    ".example{border:1px solid #d0d7de;border-radius:4px;padding:.2em .8em;margin:.6em 0}"
    "details{margin:.3em 0}summary{cursor:pointer;color:#0550ae}"
    ".coverage{display:flex;flex-wrap:wrap;gap:0 2em}.coverage h3{font-size:1em}"
)


def _severity(group: Mapping[str, Any]) -> str:
    rank = group["severity"]["rank"]
    return f'<span class="sev sev{rank}">{html.escape(CATEGORIES[rank - 1])}</span>'


def _identity(summary: Mapping[str, Any]) -> str:
    if "identity" not in summary:
        return ""
    return f" ({html.escape(identity_text(summary['identity']))})"


def _html_causes(groups: Sequence[Mapping[str, Any]]) -> str:
    esc = html.escape
    with_triage = triaged(groups)
    rows = []
    for group in groups:
        number, cells, primary = group["rank"], cause_cells(group), group["primary"]
        rows.append(
            "<tr>"
            f'<td class="n"><a href="#{anchor(number)}">{number}</a></td>'
            f"<td>{_severity(group)}</td>"
            f'<td class="n"><strong>{group["tests"]}</strong></td>'
            f"<td><code>{esc(cells['root cause'])}</code></td>"
            f'<td class="nw">{esc(cells["statuses"])}</td>'
            f"<td><code>[{esc(primary['check'])}]</code> "
            f"{esc(one_line(primary['message'], 120))}"
            f'<br><span class="rule first">seen by {esc(cells["checks"])}; first: '
            f"<code>{esc(group['first']['test'])}</code></span></td>"
            + (f'<td class="triage">{esc(cells["triage"])}</td>' if with_triage else "")
            + "</tr>"
        )
    titles = ("#", "severity", "tests", "root cause", "statuses", "primary symptom")
    head = "".join(f"<th>{h}</th>" for h in (*titles, *(("triage",) if with_triage else ())))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _html_checks(summary: Mapping[str, Any]) -> str:
    esc = html.escape
    rows = []
    for name, outcome, rule in check_rows(summary):
        rows.append(
            f"<tr><td><code>{esc(name)}</code></td>"
            f'<td class="outcome {_outcome_class(outcome)}">{esc(outcome)}</td>'
            f'<td class="rule">{esc(rule)}</td></tr>'
        )
    return f"<table><tr><th>check</th><th>outcome</th><th>rule</th></tr>{''.join(rows)}</table>"


def _html_example(number: int, group: Mapping[str, Any]) -> str:
    esc = html.escape
    example, tests = group["example"], group["test_ids"]
    head = violation_lines(example, evidence=False)
    evidence = evidence_lines(example)
    listed = "".join(f"<li><code>{esc(test)}</code></li>" for test in tests)
    marked = f' <span class="triage">{esc(", ".join(tags(group)))}</span>' if tags(group) else ""
    said = "".join(f"<li>{esc(note)}</li>" for note in notes(group))
    parts = [
        f'<div class="example" id="{anchor(number)}">',
        f"<h3>{number}. {_severity(group)} {esc(describe_cause(group))} "
        f"({plural(len(tests), 'test')}){marked}</h3>",
        *([f'<ul class="note">{said}</ul>'] if said else []),
        f"<p>Primary symptom, first seen in <code>{esc(group['primary']['test'])}</code>; "
        f"seen by {esc(cause_cells(group)['checks'])}:</p>",
        f"<pre>{esc(chr(10).join(head))}</pre>",
    ]
    if evidence:
        parts.append(
            "<details><summary>evidence: request, response, curl</summary>"
            f"<pre>{esc(chr(10).join(evidence))}</pre></details>"
        )
    parts.append(
        f"<details><summary>{plural(len(tests), 'test')} with this root cause</summary>"
        f"<ul>{listed}</ul></details></div>"
    )
    return "".join(parts)


def _outcome_class(outcome: str) -> str:
    if outcome.startswith("failed"):
        return "failed"
    return "passed" if outcome == "passed" else "skipped"
