"""Runs of the suite and of ``st run`` for the benchmark, each measured once."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _observe import read_counts
from _procs import Measured, clean_env, run_measured

from conformance.mock import MockServer

BENCH_DIR = Path(__file__).resolve().parent
TIMEOUT = 600.0
_SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error|skipped).*?) in [\d.]+s", re.M)
_STATS = re.compile(r"- (\d+) passing, (\d+) failing")
_ST_CASES = re.compile(r"(\d+) generated")


@dataclass(frozen=True)
class Target:
    """A mock served by the benchmark process (``serve``): counted on the server side."""

    server: MockServer
    api_key: str
    org_id: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def requests(self) -> int:
        return self.server.request_count

    def args(self) -> list[str]:
        """As a user runs the suite against it: its key and org, and its ground truth (the
        empty org and the canary's expected usage), so every test of the embedded run runs."""
        from conformance._contract.expect import DEFAULT_EXPECT
        from conformance.mock import load_fixtures

        args = ["--base-url", self.base_url, "--api-key", self.api_key, "--org-id", self.org_id]
        empty = load_fixtures().suite_empty_org
        if empty is not None:
            args += ["--empty-org-key", empty[0], "--empty-org-id", empty[1]]
        return [*args, "--expect", str(DEFAULT_EXPECT)]


@dataclass(frozen=True)
class Run:
    """One measured run: the process, requests the server saw, test cases, outcome line."""

    measured: Measured
    requests: int | None
    cases: int | None
    outcome: str

    @property
    def ok(self) -> bool:
        return self.measured.returncode == 0

    def per_second(self, count: int | None) -> float | None:
        return None if count is None else count / self.measured.wall


def outcome(output: str) -> str:
    """pytest's summary ('61 passed'), or the last output line."""
    found = _SUMMARY.findall(output)
    if found:
        return found[-1]
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else "no output"


def write_overlaid_spec(directory: Path) -> Path:
    """The vendored spec with our overlay applied, as JSON: what the suite itself tests."""
    from conformance._run.load import load_contract

    path = directory / "dcs-openapi-usage.overlaid.json"
    path.write_text(json.dumps(load_contract().raw), encoding="utf-8")
    return path


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def suite(target: Target, spec: Path, examples: int, seed: int, *, whole: bool) -> Run:
    """The suite (or only its schemathesis-generated test) against ``target``."""
    where = "conformance" if whole else "conformance/test_generated.py"
    before = target.requests
    measured = run_measured(
        pytest_cmd(
            where,
            *target.args(),
            f"--spec={spec}",
            f"--max-examples={examples}",
            f"--hypothesis-seed={seed}",
            "--hypothesis-show-statistics",
            "--no-reports",
            "-q",
        ),
        timeout=TIMEOUT,
    )
    cases = sum(int(p) + int(f) for p, f in _STATS.findall(measured.output)) or None
    return Run(measured, target.requests - before, cases, outcome(measured.output))


def st_checks() -> str:
    """The schemathesis checks the suite runs on generated requests, by name."""
    from conformance._run.generated import _builtin_checks

    return ",".join(check.__name__ for check in _builtin_checks())


def st_executable() -> str:
    local = Path(sys.executable).with_name("st")
    return str(local) if local.exists() else shutil.which("st") or "st"


def st_run(target: Target, spec: Path, examples: int, seed: int) -> Run:
    """schemathesis's own CLI on the same spec and server, one worker, the suite's checks."""
    before = target.requests
    with tempfile.TemporaryDirectory(prefix="bench-st-") as workdir:  # its state dir goes here
        measured = run_measured(
            [
                st_executable(),
                "--no-color",
                "run",
                str(spec),
                f"--url={target.base_url}",
                f"--header=x-api-key: {target.api_key}",
                f"--max-examples={examples}",
                f"--checks={st_checks()}",
                "--workers=1",
                f"--seed={seed}",
                "--generation-database=none",
            ],
            timeout=TIMEOUT,
            cwd=Path(workdir),
        )
    found = _ST_CASES.findall(measured.output)
    cases = int(found[-1]) if found else None
    lines = [line for line in measured.output.splitlines() if line.startswith("=")]
    return Run(measured, target.requests - before, cases, lines[-1].strip("= ") if lines else "")


def default_run(*extra: str, target: Target | None = None) -> Run:
    """``pytest conformance`` as users run it (plus ``extra``); requests counted server-side.

    Against the embedded mock, the ``_observe`` plugin reports each mock's count; reports go
    to a temporary directory (so the repository's ``reports/`` is left alone).
    """
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        counts, reports = Path(tmp, "counts"), Path(tmp, "reports")
        counts.mkdir()
        path = os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH")) if p)
        env = clean_env(PYTHONPATH=path, BENCH_COUNTS_DIR=str(counts))
        before = target.requests if target else 0
        args = [*(target.args() if target else ()), *extra]
        measured = run_measured(
            pytest_cmd("conformance", "-p", "_observe", f"--reports-dir={reports}", *args),
            timeout=TIMEOUT,
            env=env,
        )
        requests = target.requests - before if target else read_counts(counts)
    return Run(measured, requests, None, outcome(measured.output))
