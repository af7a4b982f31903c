"""One run of the matrix: ``python -m conformance.mock --port 0 [--variant NAME | --fault NAME]``
on loopback (behind a reverse proxy with ``Options.edge``: `edges.edge`), then
``pytest <repo>/conformance --base-url ...`` against it (or the proxy), with a request
deadline and its reports in a temporary directory; both forked by warm starters
(`warm.Starters`) when the matrix hands them, else started as ``python -m`` processes. Which
checks failed is read from ``summary.json`` (and the ``[check]`` names in the output); a failed
run keeps its first root cause as evidence. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from conformance._contract.expect import DEFAULT_EXPECT
from conformance._selftest.cache import seed_hypothesis_cache
from conformance._selftest.edges import EDGES, edge
from conformance._selftest.plan import SUITE, Options, Run, clean_env
from conformance._selftest.warm import MOCK_MAIN, Starter, Starters, following
from conformance.mock import FAULTS, load_fixtures

READY = re.compile(r"dcs mock listening on (http://127\.0\.0\.1:\d+)")


CHECK_NAME = re.compile(r"\[((?:st\.)?[a-z][a-z0-9_]*)\]")


RESULT_LINE = re.compile(r"::\S*.*\b(FAILED|ERROR)\b")


def suite_run(
    run: Run, options: Options, unicode_data: Path | None = None, starters: Starters | None = None
) -> Run:
    """Serve ``run.variants`` and ``run.faults`` and run the suite against that server (both
    forked by ``starters`` if given); fills in ``run`` (never raises)."""
    started = time.monotonic()
    fixtures = load_fixtures()
    key, org = fixtures.suite_credentials
    empty_key, empty_org = fixtures.suite_empty_org or ("", "")
    with tempfile.TemporaryDirectory(prefix="dcs-killmatrix-") as tmp:
        work = Path(tmp)
        try:
            seed_hypothesis_cache(work, unicode_data)
            with contextlib.ExitStack() as stack:
                base_url = stack.enter_context(
                    mock_server(run.faults, work, options.startup_timeout, run.variants, starters)
                )
                if options.edge is not None:  # the suite talks to the proxy, the proxy to it
                    upstream = int(base_url.rpartition(":")[2])
                    base_url = stack.enter_context(
                        edge(options.edge, upstream, work, options.startup_timeout)
                    )
                args = [
                    *("--base-url", base_url, "--api-key", key, "--org-id", org),
                    # ground truth: the mock's empty org and its canary's expected usage
                    *("--empty-org-key", empty_key, "--empty-org-id", empty_org),
                    *("--expect", str(DEFAULT_EXPECT)),
                    *("--request-deadline", f"{options.deadline:g}"),
                    *("--max-examples", str(options.max_examples)),
                    *("--hypothesis-seed", str(run.seed)),
                    *("--reports-dir", str(work / "reports")),
                    # a failing example is proof enough as found: minimising it is waiting
                    "--no-shrink",
                    # a fault: caught or not is the verdict, re-sending adds only time; a
                    # correct server that fails: its evidence says if that reproduces
                    *("--confirm", "0" if run.faults else "2"),
                    *_stop_when_caught(run.faults),
                    *_edge_baseline(options.edge, work),
                ]
                suite = starters.suite if starters else None
                output = _pytest(run, args, work, options.run_timeout, started, suite)
        except (OSError, RuntimeError) as exc:  # EdgeError among them
            run.note = f"could not run: {exc}"
            output = ""
        run.failed_checks = sorted(_failed_checks(work / "reports" / "summary.json", output))
        if run.exit:
            run.evidence = _evidence(work / "reports" / "summary.json")
    run.wall_s = round(time.monotonic() - started, 2)
    return run


def _edge_baseline(name: str | None, work: Path) -> list[str]:
    """``--baseline`` with the edge's known failures (MUSTs it breaks that no line fixes)."""
    path = EDGES[name].baseline(work) if name is not None else None
    return ["--baseline", str(path)] if path is not None else []


def _stop_when_caught(faults: Sequence[str]) -> list[str]:
    """A fault's run stops once one of its expected checks failed: it is caught, the rest of
    the suite would only add waiting. (Known limits name no check: they run to the end.)"""
    expected = sorted(
        {c for name in faults if name in FAULTS for c in FAULTS[name].expected_checks}
    )
    return ["--stop-on-check", ",".join(expected)] if expected else []


@contextlib.contextmanager
def mock_server(
    faults: Sequence[str],
    work: Path,
    timeout: float,
    variants: Sequence[str] = (),
    starters: Starters | None = None,
) -> Iterator[str]:
    """``python -m conformance.mock`` with ``variants`` and ``faults`` on a free loopback port
    (forked by ``starters.mock`` if given): its base URL."""
    args = ["--host", "127.0.0.1", "--port", "0"]
    for name in variants:
        args += ["--variant", name]
    for name in faults:
        args += ["--fault", name]
    if starters is not None:
        with _warm_mock(starters.mock, args, work, timeout) as base_url:
            yield base_url
        return
    with (work / "mock.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "conformance.mock", *args],
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
            yield _base_url(line)
        finally:
            _stop(process, signal.SIGTERM)


@contextlib.contextmanager
def _warm_mock(starter: Starter, args: list[str], work: Path, timeout: float) -> Iterator[str]:
    pid = starter.start(
        args, work, out=work / "mock.out", err=work / "mock.log", env=suite_env(), main=MOCK_MAIN
    )
    try:
        due = time.monotonic() + timeout
        lines: list[str] = []
        with following(work / "mock.out") as follow:
            while not lines and time.monotonic() < due:
                lines = follow(lambda line: None)
                if not lines and starter.ended(0.02) is not None:
                    pid = 0  # it ended already
                    break
        yield _base_url(lines[0] if lines else "")
    finally:
        if pid:
            starter.stop(pid)


def _base_url(line: str) -> str:
    match = READY.search(line)
    if match is None:
        raise RuntimeError(f"the mock did not start ({line.strip() or 'no ready line'})")
    return match.group(1)


def suite_env() -> dict[str, str]:
    """The environment of a suite run: no DCS_* of the caller's, output unbuffered."""
    return {**clean_env(), "PYTHONUNBUFFERED": "1"}


def _pytest(
    run: Run, args: list[str], work: Path, timeout: float, started: float, starter: Starter | None
) -> str:
    """Run the suite, timing the first FAILED/ERROR result line; returns its output."""
    arguments = [str(SUITE), "-p", "no:cacheprovider", "-v", *args]

    def seen(line: str) -> None:
        if run.first_failure_s is None and RESULT_LINE.search(line):
            run.first_failure_s = round(time.monotonic() - started, 2)

    if starter is not None:
        run.exit, output = starter.run(arguments, work, timeout, seen)
        if run.exit is None:
            run.note = f"the suite did not finish within {timeout:g} s; killed"
        return output
    env = suite_env()
    command = [sys.executable, "-m", "pytest", *arguments]
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
            seen(line)

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


def _evidence(summary: Path) -> str:
    """The run's first root cause in a line: check, message, test and how re-sends went."""
    groups: list[dict] = []
    with contextlib.suppress(OSError, ValueError):
        groups = json.loads(summary.read_text(encoding="utf-8")).get("groups") or []
    if not groups:
        return ""
    cause, primary = groups[0], groups[0].get("primary") or {}
    message = " ".join(str(primary.get("message", "")).split())
    text = f"{primary.get('check')}: {message[:240]} ({primary.get('test')})"
    reproduced = cause.get("reproduced") or {}
    if reproduced.get("tries"):
        text += f"; failed {reproduced.get('failed')} of {reproduced['tries']} re-sends"
    exchanges = (cause.get("example") or {}).get("exchanges") or [{}]
    if exchanges[0].get("curl"):  # keys masked, as in every report
        text += f"; sent: {' '.join(str(exchanges[0]['curl']).split())[:400]}"
    return text


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
