"""Tests run ahead in threads (conformance/_run/ahead.py): in parallel, each with its own trace,
outcomes kept by test id; and, end to end against a target far away, the budget and the rate
limit still exact, the gate profile still reproducible, failures still with their evidence."""

from __future__ import annotations

import json
import threading
import time

import anyio
import pytest

from conformance._core import trace
from conformance._run.ahead import ALONE, Ahead, Job
from conformance.mock import create_app, faulty_app, load_fixtures, serve
from tests._support import output, run_suite

FX = load_fixtures()
KEY, ORG = FX.suite_credentials
DELAY = 0.03  # a target 30 ms away: over the auto threshold, quick enough for a test


def test_jobs_run_at_the_same_time_each_with_its_own_trace():
    started = threading.Barrier(4, timeout=5)

    def job(n: int) -> None:
        started.wait()  # all four wait here: only threads running at once get past it
        trace.current().exercised.add(f"check_{n}")
        if n == 2:
            raise ValueError("broken")

    ahead = Ahead([Job(f"t{n}", job, {"n": n}) for n in range(4)], workers=4)
    try:
        outcomes = [ahead.outcome(f"t{n}") for n in range(4)]
    finally:
        ahead.stop()
    assert [o.trace.exercised for o in outcomes] == [{f"check_{n}"} for n in range(4)]
    assert [type(o.error).__name__ if o.error else None for o in outcomes] == [
        None, None, "ValueError", None
    ]  # fmt: skip
    assert "t3" in ahead and "t9" not in ahead


def test_jobs_after_a_test_that_runs_alone_wait_for_it():
    started: list[str] = []
    plan = [
        Job("a", lambda: started.append("a"), {}),
        ALONE,
        Job("b", lambda: started.append("b"), {}),
    ]
    ahead = Ahead(plan, workers=4)
    try:
        ahead.outcome("a")
        time.sleep(0.2)
        assert started == ["a"]  # b waits until the main thread has run the test in between
        ahead.outcome("b")
        assert started == ["a", "b"]
    finally:
        ahead.stop()


def test_a_stopped_pool_starts_nothing_more():
    gate = threading.Event()
    ran: list[int] = []
    jobs = [Job("first", lambda: gate.wait(5), {})]
    jobs += [Job(f"later{n}", lambda n=n: ran.append(n), {}) for n in range(20)]
    ahead = Ahead(jobs, workers=1)
    threading.Timer(0.2, gate.set).start()
    ahead.stop()
    assert len(ran) < 20


def delayed(app, seconds: float = DELAY):
    """`app`, every HTTP answer `seconds` late, counting the requests that reach it."""
    times: list[float] = []

    async def late(scope, receive, send):
        if scope["type"] == "http":
            times.append(time.monotonic())
            await anyio.sleep(seconds)
        await app(scope, receive, send)

    late.times = times  # type: ignore[attr-defined]
    return late


def far_args(server) -> tuple[str, ...]:
    return ("--base-url", server.base_url, "--api-key", KEY, "--org-id", ORG)


def test_a_far_target_runs_tests_ahead_and_passes(tmp_path):
    with serve(delayed(create_app(FX)), port=0) as server:
        result = run_suite(*far_args(server), "--max-examples", "5", "--reports-dir", str(tmp_path))
    assert result.returncode == 0, output(result)[-3000:]
    assert "dcs-conformance: tests ran ahead, 16 at a time, a round trip" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["failed"] == 0 and summary["counts"]["passed"] > 100


@pytest.mark.hooks
def test_budget_exact_when_tests_run_ahead():
    app = delayed(create_app(FX))
    with serve(app, port=0) as server:
        result = run_suite(*far_args(server), "--max-requests", "60", "--concurrency", "8", "-q")
    assert len(app.times) == 60, output(result)[-2000:]
    assert "the request budget (--max-requests) is used up" in output(result)


def test_rate_limit_exact_when_tests_run_ahead():
    app = delayed(create_app(FX))
    with serve(app, port=0) as server:
        run_suite(
            *far_args(server),
            *("--rate-limit", "20/s", "--max-requests", "42", "--concurrency", "8", "-q"),
        )
    tests_requests = app.times[2:]  # the preflight's two requests are not paced
    assert len(tests_requests) == 40
    for i, start in enumerate(tests_requests):
        assert len([t for t in tests_requests[i:] if t - start < 1.0]) <= 21
    assert tests_requests[-1] - tests_requests[0] >= (len(tests_requests) - 1) / 20 * 0.95


def test_gate_profile_reproducible_when_tests_run_ahead(tmp_path):
    runs = []
    with serve(delayed(create_app(FX)), port=0) as server:
        for name in ("one", "two"):
            result = run_suite(
                *far_args(server),
                *("--profile", "gate", "--max-examples", "10", "--concurrency", "8"),
                *("--reports-dir", str(tmp_path / name), "-q"),
            )
            assert result.returncode == 0, output(result)[-2000:]
            summary = json.loads((tmp_path / name / "summary.json").read_text())
            runs.append((summary["counts"], summary["coverage"]["periods"], summary["checks"]))
    assert runs[0] == runs[1]


@pytest.mark.hooks
def test_failures_keep_their_evidence_when_tests_run_ahead():
    with serve(delayed(faulty_app(FX, ["usage_counter_negative"])), port=0) as server:
        result = run_suite(
            *far_args(server), "--max-examples", "5", "--concurrency", "8", "--no-shrink", "-q"
        )
    text = output(result)
    assert result.returncode == 1, text[-2000:]
    assert "[usage_counters_in_range] included_storage_gib = -1" in text
    assert "reproduce: curl" in text and "rerun:     pytest conformance/" in text
    assert KEY not in text
