"""The suite against servers that misbehave on the wire: every affected test fails with a clear
message within the request deadline, the run ends (exit 1, never 2/3) in bounded time, and
memory stays bounded on a huge body. The servers are the fault layer's wire acts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from conformance._client.transport import Limits, Transport
from conformance._core.exchange import Masker
from conformance._selftest.cache import seed_hypothesis_cache, warm_hypothesis_cache
from conformance.mock import _layers as layers
from conformance.mock import create_app, faulty_app, load_fixtures, serve
from conformance.mock._faults import wire

REPO = Path(__file__).resolve().parents[2]
FX = load_fixtures()
KEY, ORG = FX.suite_credentials
DEADLINE = 1.0
# A plain test and generated ones; every request of theirs carries period_start. Against a
# stalled target, the generated test whose examples all start with the same request too.
FAST = ("test_closed_period_stable", "test_generated_whole_calendar")
STALLING = (*FAST, "test_generated_standard_headers_harmless")
STARTUP_S = 15.0  # interpreter, pytest, schemathesis, spec: generous for a loaded CI machine
# Against a stalled target each affected test waits out the deadline about once (no
# shrinking against it: that took over 100 s per generated test); fast failures shrink.
PER_TEST_S = 3 * DEADLINE
RSS_BOUND_MIB = 300


@dataclass
class Outcome:
    exit: int
    output: str
    wall_s: float
    peak_rss_mib: float
    summary: dict


@pytest.fixture(scope="module")
def unicode_data(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Hypothesis's Unicode tables, built once: built cold, they alone peak at ~300 MiB."""
    return warm_hypothesis_cache(tmp_path_factory.mktemp("hypothesis-cache"), timeout=120)


def run_measured(
    base_url: str, tmp: Path, unicode_data: Path | None, tests: tuple[str, ...]
) -> Outcome:
    """The suite against ``base_url`` in a subprocess: exit, output, wall time and peak RSS."""
    seed_hypothesis_cache(tmp, unicode_data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    command = [
        *(sys.executable, "-m", "pytest", str(REPO / "conformance"), "-p", "no:cacheprovider"),
        *("--base-url", base_url, "--api-key", KEY, "--org-id", ORG, "-k", " or ".join(tests)),
        *("--request-deadline", f"{DEADLINE:g}", "--reports-dir", str(tmp / "reports")),
    ]
    started = time.monotonic()
    with (tmp / "out.txt").open("w+") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=tmp, env=env, start_new_session=True,
        )  # fmt: skip
        watchdog = threading.Timer(120, lambda: _kill(process.pid))
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    summary_file = tmp / "reports" / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return Outcome(
        process.returncode, output, time.monotonic() - started, usage.ru_maxrss / 1024, summary
    )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def on_period_requests(act: wire.Act) -> Callable[[], ASGIApp]:
    """The mock, but ``act`` for every request with period_start (the preflight is spared)."""
    return lambda: layers.wire(wire.has_period_start, act)(create_app(FX))


def fault(name: str) -> Callable[[], ASGIApp]:
    return lambda: faulty_app(FX, [name])


STALLED = "no complete response within the 1 s deadline"
SCENARIOS = {
    "hang": (on_period_requests(wire.hang(30.0)), STALLED, STALLING),
    "dribble": (on_period_requests(wire.dribble(0.2)), STALLED, STALLING),
    "reset": (on_period_requests(wire.reset_mid_body), "broken response", FAST),
    "truncated": (on_period_requests(wire.close_mid_body), "broken response", FAST),
    "huge": (on_period_requests(wire.huge_body(200 << 20)), "body exceeds 4194304 bytes", FAST),
    "non_utf8": (fault("invalid_utf8_body"), "'utf-8' codec can't decode", FAST),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_affected_tests_fail_clearly_and_the_run_ends(
    scenario: str, tmp_path: Path, unicode_data: Path | None
) -> None:
    make_app, message, tests = SCENARIOS[scenario]
    affected = len(tests)
    with serve(make_app(), host="127.0.0.1", port=0) as server:
        outcome = run_measured(server.base_url, tmp_path, unicode_data, tests)
    text = outcome.output
    assert outcome.exit == 1, text[-3000:]  # violations: not an internal error (3), not 2
    assert "INTERNAL ERROR" not in text and "Traceback" not in text, text[-3000:]
    assert f"{affected} failed" in text, text[-3000:]
    assert text.count(message) >= affected, text[-3000:]  # each failure says what went wrong
    if message == STALLED:
        assert outcome.wall_s < STARTUP_S + affected * PER_TEST_S, f"{outcome.wall_s:.1f} s"
    else:
        assert outcome.wall_s < 60, f"{outcome.wall_s:.1f} s"  # shrinking fast failures
    failures = outcome.summary["failures"]
    assert len(failures) == affected
    for failure in failures:
        for exchange in failure["violation"]["exchanges"]:
            assert exchange["elapsed_s"] <= DEADLINE + 0.5, exchange  # the deadline holds
    assert outcome.peak_rss_mib < RSS_BOUND_MIB, f"{outcome.peak_rss_mib:.0f} MiB"


def test_a_stalled_request_is_not_resent_in_the_same_test() -> None:
    hanging = on_period_requests(wire.hang(30.0))()
    period = {"period_start": "2026-06-01"}
    with serve(hanging, host="127.0.0.1", port=0) as server:
        transport = Transport(server.base_url, limits=Limits(deadline=0.3), masker=Masker())
        try:
            stalled = transport.request("GET", "/v1/usage", params=period)
            assert stalled.stalled and "0.3 s deadline" in stalled.error
            started = time.monotonic()
            again = transport.request("GET", "/v1/usage", params=period)
            assert again is stalled and time.monotonic() - started < 0.1
            other = transport.request("GET", "/v1/usage")  # outside hypothesis: sent as usual
            assert other.status == 401 and not other.stalled
            assert server.request_count == 2
            transport.drain()  # the next test starts afresh
            assert transport.request("GET", "/v1/usage", params=period).stalled
            assert server.request_count == 3
        finally:
            transport.close()
