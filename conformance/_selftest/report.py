"""The kill matrix's results (`Matrix`: a row per fault and per variant) and its reports,
kill-matrix.json and kill-matrix.md.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance._selftest.plan import BASELINE, Options, Run
from conformance.mock import KNOWN_LIMITS

FORMAT = "dcs-conformance/kill-matrix/1"


@dataclass
class Row:
    """A fault and its verdict."""

    name: str
    family: str
    description: str
    expected_checks: list[str]
    run: Run
    reason: str = ""  # known limits only
    #: behind a reverse proxy that hides the fault: why (`edges.Edge.hidden`)
    hidden: str = ""

    @property
    def expected_hit(self) -> bool:
        return bool(set(self.expected_checks) & set(self.run.failed_checks))

    @property
    def killed(self) -> bool:
        if not self.expected_checks:  # a known limit: any failure at all catches it
            return self.run.exit == 1 and bool(self.run.failed_checks)
        return self.run.exit == 1 and self.expected_hit

    def as_dict(self) -> dict[str, Any]:
        run = asdict(self.run)
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "expected_checks": self.expected_checks,
            "failed_checks": run.pop("failed_checks"),
            "expected_hit": self.expected_hit,
            "killed": self.killed,
            "exit": run.pop("exit"),
            "first_failure_s": run.pop("first_failure_s"),
            "wall_s": run.pop("wall_s"),
            "seed": run.pop("seed"),
            "note": run.pop("note"),
            **({"reason": self.reason} if self.reason else {}),
            **({"hidden_by_edge": self.hidden} if self.hidden else {}),
        }


@dataclass
class VariantRow:
    """A variant (a correct server) and its runs, one per seed: each must pass."""

    name: str
    description: str
    reading: str
    runs: list[Run]
    #: behind a reverse proxy that breaks this correct server: the rule it breaks
    #: (`edges.Edge.breaks`)
    broken_by_edge: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.runs) and all(run.exit == 0 for run in self.runs)

    @property
    def failed_checks(self) -> list[str]:
        return sorted({check for run in self.runs for check in run.failed_checks})

    @property
    def wall_s(self) -> float:
        return round(sum(run.wall_s for run in self.runs), 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "reading": self.reading,
            "passed": self.passed,
            **({"broken_by_edge": self.broken_by_edge} if self.broken_by_edge else {}),
            "failed_checks": self.failed_checks,
            "runs": [
                {
                    "seed": run.seed,
                    "exit": run.exit,
                    "failed_checks": run.failed_checks,
                    "first_failure_s": run.first_failure_s,
                    "wall_s": run.wall_s,
                    "note": run.note,
                }
                for run in self.runs
            ],
            "wall_s": self.wall_s,
        }


@dataclass
class Matrix:
    options: Options
    baseline: list[Run]
    rows: list[Row]
    limits: list[Row]
    wall_s: float
    variants: list[VariantRow] = field(default_factory=list)

    @property
    def baseline_passed(self) -> bool:
        return bool(self.baseline) and all(run.exit == 0 for run in self.baseline)

    @property
    def survivors(self) -> list[Row]:
        """Faults not caught, but for those the edge (a reverse proxy) is known to hide."""
        return [row for row in self.rows if not row.killed and not row.hidden]

    @property
    def hidden(self) -> list[Row]:
        """Faults the edge hides, as its table says, and that the suite did not catch."""
        return [row for row in self.rows if row.hidden and not row.killed]

    @property
    def hidden_but_killed(self) -> list[Row]:
        """Faults the edge's table says it hides, that were killed all the same: the table
        is out of date."""
        return [row for row in self.rows if row.hidden and row.killed]

    @property
    def false_alarms(self) -> list[VariantRow]:
        """Variants the suite did not pass: correct servers it failed (but for those the edge
        is known to break)."""
        return [row for row in self.variants if not row.passed and not row.broken_by_edge]

    @property
    def ok(self) -> bool:
        return self.baseline_passed and not self.survivors and not self.false_alarms

    def kill_times(self) -> list[float]:
        return [
            row.run.first_failure_s
            for row in self.rows
            if row.killed and row.run.first_failure_s is not None
        ]


def summary(matrix: Matrix) -> dict[str, Any]:
    times = matrix.kill_times()
    killed = sum(row.killed for row in matrix.rows)
    return {
        "killed": killed,
        "total": len(matrix.rows),
        "survivors": [row.name for row in matrix.survivors],
        "edge": matrix.options.edge,
        "hidden_by_edge": [row.name for row in matrix.hidden],
        "listed_hidden_but_killed": [row.name for row in matrix.hidden_but_killed],
        "broken_by_edge": [row.name for row in matrix.variants if row.broken_by_edge],
        "baseline_passed": matrix.baseline_passed,
        "baseline_seeds": [run.seed for run in matrix.baseline],
        "variants_passed": sum(row.passed for row in matrix.variants),
        "variants_total": len(matrix.variants),
        "false_alarms": [row.name for row in matrix.false_alarms],
        "median_time_to_kill_s": round(statistics.median(times), 2) if times else None,
        "worst_time_to_kill_s": max(times) if times else None,
        "wall_s": round(matrix.wall_s, 1),
        "ok": matrix.ok,
    }


def to_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "options": asdict(matrix.options),
        "summary": summary(matrix),
        "baseline": [asdict(run) for run in matrix.baseline],
        "variants": [row.as_dict() for row in matrix.variants],
        "faults": [row.as_dict() for row in matrix.rows],
        "known_limits": [row.as_dict() for row in matrix.limits],
    }


def to_markdown(matrix: Matrix) -> str:
    s = summary(matrix)
    o = matrix.options
    if matrix.ok:
        verdict = "✅ every fault killed, no false alarm"
    elif matrix.survivors:
        verdict = "❌ the suite does not bite everywhere"
    else:
        verdict = "❌ false alarms on a correct server"
    out = [
        "# Kill matrix",
        "",
        f"**{verdict}**: {s['killed']}/{s['total']} faults killed; correct mock "
        f"{'passed' if s['baseline_passed'] else 'FAILED'} with seeds "
        f"{', '.join(map(str, s['baseline_seeds'])) or '(none)'}; "
        f"{s['variants_passed']}/{s['variants_total']} variants passed"
        + (f"; behind `{o.edge}`: {len(matrix.hidden)} faults hidden by it." if o.edge else "."),
        "",
        f"- time to first failure: median {_s(s['median_time_to_kill_s'])}, worst "
        f"{_s(s['worst_time_to_kill_s'])}; matrix wall time {s['wall_s']} s with {o.jobs} jobs",
        f"- each run: `--request-deadline {o.deadline:g} --max-examples {o.max_examples} "
        f"--hypothesis-seed N`, the mock as `python -m conformance.mock --fault NAME` "
        "(`--variant NAME`)",
        "- killed: the run exited 1 and an expected check failed; a variant passed: every seed's "
        "run exited 0",
        "",
        "## Correct mock",
        "",
        "| seed | exit | failed checks | first root cause | wall |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {r.seed} | {r.exit} | {_checks(r.failed_checks)} | {_cell(r.evidence)} | "
            f"{r.wall_s:.1f} s |"
            for r in matrix.baseline
        ),
        *_variants_markdown(matrix),
        "",
        "## Faults",
        "",
        "| fault | description | verdict | expected | failed checks | first failure | wall |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in matrix.rows:
        verdict_cell = "killed" if row.killed else f"**SURVIVED** (exit {row.run.exit})"
        if row.hidden:
            verdict_cell = "killed, though listed as hidden" if row.killed else "hidden by the edge"
        expected = ", ".join(
            f"**{c}**" if c in row.run.failed_checks else c for c in row.expected_checks
        )
        out.append(
            f"| `{row.name}` | {row.description} | {verdict_cell} | {expected} | "
            f"{_checks(row.run.failed_checks)} | {_s(row.run.first_failure_s)} | "
            f"{row.run.wall_s:.1f} s |"
        )
    out += _edge_markdown(matrix)
    out += ["", "## Known limits", ""]
    out += ["Faults no check catches without risking false alarms on a correct server.", ""]
    if not KNOWN_LIMITS:
        out.append("None: every fault of the catalogue is expected to be caught.")
    else:
        out += ["| fault | description | why not caught | this run |", "| --- | --- | --- | --- |"]
    for limit in KNOWN_LIMITS:
        found = next((r for r in matrix.limits if r.name == limit.fault.name), None)
        result = "not run" if found is None else ("caught" if found.killed else "survived")
        out.append(
            f"| `{limit.fault.name}` | {limit.fault.description} | {limit.reason} | {result} |"
        )
    notes = [row for row in [*matrix.rows, *matrix.limits] if row.run.note]
    notes += [Row(BASELINE, "", "", [], run) for run in matrix.baseline if run.note]
    notes += [
        Row(run.label, "", "", [], run) for v in matrix.variants for run in v.runs if run.note
    ]
    if notes:
        out += ["", "## Notes", "", *(f"- `{row.name}`: {row.run.note}" for row in notes)]
    return "\n".join(out) + "\n"


def _edge_markdown(matrix: Matrix) -> list[str]:
    """The faults the edge hides (its table, and what this run found)."""
    if matrix.options.edge is None:
        return []
    out = [
        "",
        f"## Behind `{matrix.options.edge}`",
        "",
        "Every run's suite talked to the reverse proxy, the proxy to the server. Faults it is "
        "known to hide (it normalises away what the fault relies on):",
        "",
    ]
    if not any(row.hidden for row in matrix.rows):
        out.append("None among the faults run.")
    else:
        out += ["| fault | why the proxy hides it | this run |", "| --- | --- | --- |"]
    for row in matrix.rows:
        if row.hidden:
            found = "**killed: the table is out of date**" if row.killed else "hidden"
            out.append(f"| `{row.name}` | {_cell(row.hidden)} | {found} |")
    broken = [row for row in matrix.variants if row.broken_by_edge]
    if broken:
        out += ["", "Correct servers (variants) the proxy breaks, no configuration line fixing it:"]
        out += ["", "| variant | what the proxy breaks | this run |", "| --- | --- | --- |"]
    for variant in broken:
        found = "**passed: the table is out of date**" if variant.passed else "failed"
        out.append(f"| `{variant.name}` | {_cell(variant.broken_by_edge)} | {found} |")
    return out


def _variants_markdown(matrix: Matrix) -> list[str]:
    out = [
        "",
        "## Variants",
        "",
        "Correct servers that differ from the mock where the contract leaves room; the suite "
        "must pass each, with every seed.",
        "",
    ]
    if not matrix.variants:
        return [*out, "None run."]
    out += [
        "| variant | what differs | the reading that allows it | verdict | exit by seed "
        "| failed checks by seed | wall |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in matrix.variants:
        exits = ", ".join(f"{run.seed}: {run.exit}" for run in row.runs) or "-"
        failed = "; ".join(
            f"{run.seed}: {_checks(run.failed_checks)}"
            + (f" ({_cell(run.evidence)})" if run.evidence else "")
            for run in row.runs
            if run.failed_checks
        )
        verdict = "passed" if row.passed else "**FALSE ALARM**"
        if row.broken_by_edge:
            verdict = (
                "passed, though listed as broken by the edge"
                if row.passed
                else "broken by the edge"
            )
        out.append(
            f"| `{row.name}` | {row.description} | {row.reading} | {verdict} | {exits} | "
            f"{failed or '-'} | {row.wall_s:.1f} s |"
        )
    return out


def write_reports(matrix: Matrix, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "kill-matrix.md", out / "kill-matrix.json"
    md.write_text(to_markdown(matrix), encoding="utf-8")
    js.write_text(json.dumps(to_json(matrix), indent=2) + "\n", encoding="utf-8")
    return md, js


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _cell(text: str) -> str:
    """``text`` fit for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _checks(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "-"
