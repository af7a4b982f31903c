"""The kill matrix: the real suite, run as a user runs it, against the mock, every variant (a
correct server that differs where the contract allows: each must pass) and every fault (each
must be caught).

Each run starts ``python -m conformance.mock --port 0 [--variant NAME | --fault NAME]`` on
loopback, then
``python -m pytest <repo>/conformance --base-url ... --api-key ... --org-id ...`` with a short
request deadline and its reports in a temporary directory, and reads which checks failed
from ``summary.json`` (and the ``[check]`` names in the output). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance._expect import DEFAULT_EXPECT
from conformance.mock import FAULTS, KNOWN_LIMITS, VARIANTS, Fault, Variant, load_fixtures

SUITE = Path(__file__).resolve().parent
READY = re.compile(r"dcs mock listening on (http://127\.0\.0\.1:\d+)")
CHECK_NAME = re.compile(r"\[((?:st\.)?[a-z][a-z0-9_]*)\]")
RESULT_LINE = re.compile(r"::\S*.*\b(FAILED|ERROR)\b")
FORMAT = "dcs-conformance/kill-matrix/1"
BASELINE = "correct mock"


@dataclass(frozen=True)
class Options:
    """What to run and how hard."""

    faults: tuple[str, ...] = tuple(FAULTS)
    limits: tuple[str, ...] = tuple(limit.fault.name for limit in KNOWN_LIMITS)
    variants: tuple[str, ...] = tuple(VARIANTS)
    seeds: int = 5  # runs of the mock and of each variant, each with its own hypothesis seed
    seed: int = 1  # first of those seeds; fault runs use it too
    jobs: int = 2
    max_examples: int = 25
    deadline: float = 2.0  # --request-deadline of each run
    run_timeout: float = 300.0
    startup_timeout: float = 20.0


@dataclass
class Run:
    """One suite run against one server."""

    label: str
    faults: tuple[str, ...]
    seed: int
    exit: int | None = None
    failed_checks: list[str] = field(default_factory=list)
    first_failure_s: float | None = None
    wall_s: float = 0.0
    note: str = ""
    variants: tuple[str, ...] = ()


@dataclass
class Row:
    """A fault and its verdict."""

    name: str
    family: str
    description: str
    expected_checks: list[str]
    run: Run
    reason: str = ""  # known limits only

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
        }


@dataclass
class VariantRow:
    """A variant (a correct server) and its runs, one per seed: each must pass."""

    name: str
    description: str
    reading: str
    runs: list[Run]

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
        return [row for row in self.rows if not row.killed]

    @property
    def false_alarms(self) -> list[VariantRow]:
        """Variants the suite did not pass: correct servers it failed."""
        return [row for row in self.variants if not row.passed]

    @property
    def ok(self) -> bool:
        return self.baseline_passed and not self.survivors and not self.false_alarms

    def kill_times(self) -> list[float]:
        return [
            row.run.first_failure_s
            for row in self.rows
            if row.killed and row.run.first_failure_s is not None
        ]


def split_names(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(faults, known limits) among ``names``; KeyError for an unknown name."""
    limits = {limit.fault.name for limit in KNOWN_LIMITS}
    unknown = [n for n in names if n not in FAULTS and n not in limits]
    if unknown:
        raise KeyError(f"unknown fault(s): {', '.join(unknown)} (see --list-faults)")
    return (
        tuple(n for n in names if n in FAULTS),
        tuple(n for n in names if n in limits),
    )


def split_variants(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` checked against the variant catalogue; KeyError for an unknown name."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise KeyError(
            f"unknown variant(s): {', '.join(unknown)} "
            "(see python -m conformance.mock --list-variants)"
        )
    return tuple(names)


def variant_label(name: str, seed: int) -> str:
    return f"{name} (seed {seed})"


def run_matrix(options: Options, progress: Callable[[str], None] = lambda line: None) -> Matrix:
    """Run the baseline and variant seeds, the faults and the known limits, ``options.jobs``
    at a time."""
    started = time.monotonic()
    seeds = [options.seed + i for i in range(options.seeds)]
    plans: list[tuple[str, Run]] = [("baseline", Run(BASELINE, (), seed)) for seed in seeds]
    plans += [
        ("variant", Run(variant_label(name, seed), (), seed, variants=(name,)))
        for name in options.variants
        for seed in seeds
    ]
    # slow families first, so that the pool does not end waiting on one of them
    ordered = sorted(options.faults, key=lambda n: FAULTS[n].family != "transport")
    plans += [("fault", Run(name, (name,), options.seed)) for name in ordered]
    plans += [("limit", Run(name, (name,), options.seed)) for name in options.limits]

    def execute(plan: tuple[str, Run], unicode_data: Path | None) -> tuple[str, Run]:
        kind, run = plan
        suite_run(run, options, unicode_data)
        verdict = "pass" if run.exit == 0 else f"exit {run.exit}"
        checks = ",".join(run.failed_checks) or "-"
        progress(f"{run.label:<34} {verdict:<8} {run.wall_s:6.1f} s  {checks}")
        return kind, run

    with (
        tempfile.TemporaryDirectory(prefix="dcs-killmatrix-cache-") as cache,
        ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool,
    ):
        unicode_data = warm_hypothesis_cache(Path(cache), options.startup_timeout * 6)
        done = list(pool.map(lambda plan: execute(plan, unicode_data), plans))
    limits = {limit.fault.name: limit for limit in KNOWN_LIMITS}
    variant_runs = [run for kind, run in done if kind == "variant"]
    return Matrix(
        options=options,
        baseline=[run for kind, run in done if kind == "baseline"],
        rows=[_row(FAULTS[run.label], run) for kind, run in done if kind == "fault"],
        limits=[
            _row(limits[run.label].fault, run, limits[run.label].reason)
            for kind, run in done
            if kind == "limit"
        ],
        wall_s=time.monotonic() - started,
        variants=[
            _variant_row(VARIANTS[name], [r for r in variant_runs if r.variants == (name,)])
            for name in options.variants
        ],
    )


def _variant_row(variant: Variant, runs: list[Run]) -> VariantRow:
    return VariantRow(variant.name, variant.description, variant.reading, runs)


def _row(fault: Fault, run: Run, reason: str = "") -> Row:
    return Row(
        fault.name, fault.family, fault.description, list(fault.expected_checks), run, reason
    )


def warm_hypothesis_cache(where: Path, timeout: float) -> Path | None:
    """Hypothesis's Unicode tables, built once by collecting the suite in ``where``.

    Built cold in every fresh working directory they cost each run ~3 s and ~200 MiB.
    Returns the ``unicode_data`` directory to seed runs with (None if it was not built).
    """
    command = [sys.executable, "-m", "pytest", str(SUITE), "--co", "-q", "-p", "no:cacheprovider"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [*command, "--no-reports"],
            cwd=where,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    found = where / ".hypothesis" / "unicode_data"
    return found if found.is_dir() else None


def seed_hypothesis_cache(work: Path, unicode_data: Path | None) -> None:
    """Give ``work`` a copy of the Unicode tables (only those: examples stay per run)."""
    if unicode_data is not None:
        shutil.copytree(unicode_data, work / ".hypothesis" / "unicode_data")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    return env


def suite_run(run: Run, options: Options, unicode_data: Path | None = None) -> Run:
    """Serve ``run.variants`` and ``run.faults`` and run the suite against that server; fills
    in ``run`` (never raises)."""
    started = time.monotonic()
    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    empty_key, empty_org = fixtures.suite_empty_org or ("", "")
    with tempfile.TemporaryDirectory(prefix="dcs-killmatrix-") as tmp:
        work = Path(tmp)
        try:
            seed_hypothesis_cache(work, unicode_data)
            with mock_server(run.faults, work, options.startup_timeout, run.variants) as base_url:
                args = [
                    *("--base-url", base_url, "--api-key", key, "--org-id", org),
                    # ground truth: the mock's empty org and its canary's expected usage
                    *("--empty-org-key", empty_key, "--empty-org-id", empty_org),
                    *("--expect", str(DEFAULT_EXPECT)),
                    *("--request-deadline", f"{options.deadline:g}"),
                    *("--max-examples", str(options.max_examples)),
                    *("--hypothesis-seed", str(run.seed)),
                    *("--reports-dir", str(work / "reports")),
                ]
                output = _pytest(run, args, work, options.run_timeout, started)
        except (OSError, RuntimeError) as exc:
            run.note = f"could not run: {exc}"
            output = ""
        run.failed_checks = sorted(_failed_checks(work / "reports" / "summary.json", output))
    run.wall_s = round(time.monotonic() - started, 2)
    return run


@contextlib.contextmanager
def mock_server(
    faults: Sequence[str], work: Path, timeout: float, variants: Sequence[str] = ()
) -> Iterator[str]:
    """``python -m conformance.mock`` with ``variants`` and ``faults`` on a free loopback port:
    its base URL."""
    command = [sys.executable, "-m", "conformance.mock", "--host", "127.0.0.1", "--port", "0"]
    for name in variants:
        command += ["--variant", name]
    for name in faults:
        command += ["--fault", name]
    with (work / "mock.log").open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            line = process.stdout.readline() if ready else ""
            match = READY.search(line)
            if match is None:
                raise RuntimeError(f"the mock did not start ({line.strip() or 'no ready line'})")
            yield match.group(1)
        finally:
            _stop(process, signal.SIGTERM)


def _pytest(run: Run, args: list[str], work: Path, timeout: float, started: float) -> str:
    """Run the suite, timing the first FAILED/ERROR result line; returns its output."""
    env = {**_clean_env(), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-v", *args]
    process = subprocess.Popen(
        command,
        cwd=work,  # hypothesis keeps its example database under the working directory
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if run.first_failure_s is None and RESULT_LINE.search(line):
                run.first_failure_s = round(time.monotonic() - started, 2)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        run.exit = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.note = f"the suite did not finish within {timeout:g} s; killed"
        _stop(process, signal.SIGKILL)
        run.exit = None
    reader.join(timeout=10)
    return "".join(lines)


def _stop(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def _failed_checks(summary: Path, output: str) -> set[str]:
    """Checks that failed: from summary.json, and the ``[check]`` names in failure text."""
    from conformance.checks import CATALOGUE, auth, requests, usage

    assert auth and requests and usage  # imported for their checks' names in CATALOGUE

    found: set[str] = set()
    with contextlib.suppress(OSError, ValueError):
        checks = json.loads(summary.read_text(encoding="utf-8")).get("checks", {})
        found |= {name for name, entry in checks.items() if entry.get("failed_tests")}
    for name in CHECK_NAME.findall(output):
        if name in CATALOGUE or name.startswith("st."):
            found.add(name)
    return found


# --- reports ---------------------------------------------------------------------------


def summary(matrix: Matrix) -> dict[str, Any]:
    times = matrix.kill_times()
    killed = sum(row.killed for row in matrix.rows)
    return {
        "killed": killed,
        "total": len(matrix.rows),
        "survivors": [row.name for row in matrix.survivors],
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
        f"{s['variants_passed']}/{s['variants_total']} variants passed.",
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
        "| seed | exit | failed checks | wall |",
        "| --- | --- | --- | --- |",
        *(
            f"| {r.seed} | {r.exit} | {_checks(r.failed_checks)} | {r.wall_s:.1f} s |"
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
        expected = ", ".join(
            f"**{c}**" if c in row.run.failed_checks else c for c in row.expected_checks
        )
        out.append(
            f"| `{row.name}` | {row.description} | {verdict_cell} | {expected} | "
            f"{_checks(row.run.failed_checks)} | {_s(row.run.first_failure_s)} | "
            f"{row.run.wall_s:.1f} s |"
        )
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
            f"{run.seed}: {_checks(run.failed_checks)}" for run in row.runs if run.failed_checks
        )
        verdict = "passed" if row.passed else "**FALSE ALARM**"
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


def _checks(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "-"
