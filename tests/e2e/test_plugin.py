"""The suite end to end, as a user runs it: options, exit outcomes, budget and rate limit."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from conformance.mock import (
    create_app,
    faulty_app,
    load_fixtures,
    serve,
    set_ledger_unavailable,
)
from tests._support import ZERO_USAGE, output, run_suite

FAST = ("--max-examples", "5", "-q")
TARGET = ("--base-url", "http://127.0.0.1:9", "--api-key", "k" * 12)  # never reached


@pytest.fixture(scope="module")
def fixtures():
    return load_fixtures()


@pytest.fixture
def mock(fixtures):
    with serve(create_app(fixtures), host="127.0.0.1", port=0) as server:
        yield server


def live_args(server, fixtures):
    key, org = fixtures.suite_credentials
    return ("--base-url", server.base_url, "--api-key", key, "--org-id", org)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.hooks
@pytest.mark.hooks
@pytest.mark.hooks
@pytest.mark.hooks
@pytest.mark.hooks
@pytest.mark.parametrize(
    "args, message",
    [
        (("--base-url", "http://127.0.0.1:9"), "--base-url needs --api-key"),
        (("--base-url", "ftp://127.0.0.1:9", "--api-key", "k"), "is not an http(s) URL"),
        (("--profile", "weekly"), "--profile 'weekly': choose one of quick, nightly, gate"),
        (("--spec", "no/such/spec.yaml"), "spec no/such/spec.yaml: cannot be read"),
        (("--rate-limit", "fast"), "--rate-limit 'fast'"),
        (("--max-requests", "0"), "--max-requests '0'"),
        (("--request-deadline", "-1"), "--request-deadline '-1'"),
        (("--stop-on-check", "no_such_check"), "--stop-on-check: no such check: no_such_check"),
        # paths relative to the checkout (the suite's working directory here), never written
        (("--reports-dir", "README.md"), "--reports-dir 'README.md': not a directory"),
        (
            ("--reports-dir", "pyproject.toml/reports"),
            "--reports-dir 'pyproject.toml/reports': cannot write there (Not a directory)",
        ),
        (
            ("--junitxml", "README.md/junit.xml"),
            "--junitxml 'README.md/junit.xml': 'README.md' is not a directory",
        ),
        (("--hypothesis-seed", "garbage"), "--hypothesis-seed 'garbage': expected a whole number"),
        (("--hypothesis-profile", "weekly"), "--hypothesis-profile 'weekly' is not registered"),
        (("--base-url", "http://[::1", "--api-key", "k"), "'http://[::1' is not a valid URL"),
        (("--base-url", "http://h:99999", "--api-key", "k"), "'http://h:99999' is not a valid URL"),
        (
            ("--base-url", "http://127.0.0.1:9", "--api-key", "dcs_secret_ключ"),
            "--api-key (or DCS_API_KEY): not usable in an HTTP header",
        ),
        (("--org-id", "org_a "), "--org-id 'org_a ': not usable in an HTTP header"),
        (
            ("--org-id", "org_a", "--other-org-id", "org_a"),
            "--other-org-id 'org_a' must be an org the key does not own",
        ),
        (
            ("--base-url", "http://127.0.0.1:9", "--api-key", "k", "--max-requests", "1"),
            "--max-requests 1 leaves no request for the tests after the preflight",
        ),
        (
            ("--max-requests", "1", "-n", "2"),
            "--max-requests 1 leaves no request for each of the 2 xdist workers",
        ),
        (("--expect", "no/such.yaml"), "--expect no/such.yaml: file not found"),
        (
            (*TARGET, "--org-id", "org_x", "--expect", "fixtures/canary-expect.yaml"),
            "--expect fixtures/canary-expect.yaml: describes org 'org_acme', but --org-id is "
            "'org_x'",
        ),
        ((*TARGET, "--empty-org-key", "k" * 12), "--empty-org-key is the --api-key itself"),
        ((*TARGET, "--org-id", "o", "--second-org-id", "o"), "--second-org-id 'o' is the --org-id"),
    ],
)
def test_operator_mistakes_are_one_line_usage_errors(args, message):
    result = run_suite(*args)
    assert result.returncode == 4, output(result)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in output(result) and "dcs_secret" not in output(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a directory without write bits")
def test_reports_dir_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = run_suite("--reports-dir", str(locked / "reports"))
    assert result.returncode == 4, output(result)
    assert "cannot write there (Permission denied)" in result.stderr
    assert "Traceback" not in output(result)
    assert "k" * 12 not in output(result)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("machines: [\n", "not valid YAML at line 2"),
        ("machines: []\nmachine: []\n", "top level: unknown field 'machine'"),
        (
            "machines:\n  - {id: m, vcpu_millicores: 1, memory_mib: 1, storage_gib: 1,\n"
            "     logical_storage_mib: 1, created_at: 2025-01-01T00:00:00, awake: always}\n",
            "machine 'm': created_at: 2025-01-01T00:00:00 needs a timezone",
        ),
    ],
)
def test_a_bad_expectation_file_stops_the_run_before_any_request(tmp_path, text, message):
    path = tmp_path / "canary.yaml"
    path.write_text(text, encoding="utf-8")
    with serve(counting_app(times := []), host="127.0.0.1", port=0) as server:
        result = run_suite("--base-url", server.base_url, "--api-key", "k", "--expect", str(path))
    assert result.returncode == 4, output(result)
    assert f"--expect {path}: {message}" in result.stderr and "Traceback" not in output(result)
    assert times == []  # not even the preflight


def test_reports_dir_is_created_before_the_run(tmp_path):
    reports = tmp_path / "new" / "reports"
    result = run_suite("--reports-dir", str(reports), "--co", "-q")
    assert result.returncode == 0, output(result)
    assert reports.is_dir()
    assert not [p for p in reports.iterdir() if p.name.startswith(".dcs-write-check")]


def test_generated_tests_are_named_by_operation():
    """Each test schemathesis generates has its operation in its node id, under pytest 9.2 too
    (which builds ids from a test's parameters: ours keeps the operation in them)."""
    result = run_suite("--co", "-q", "--no-reports", "-k", "generated_requests")
    assert result.returncode == 0, output(result)
    node = "conformance/test_generated.py::test_generated_requests[GET /v1/usage][x-api-key]"
    assert node in result.stdout.splitlines()


def test_invalid_spec_is_a_usage_error(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: x}\npaths: {}\n")
    result = run_suite("--spec", str(spec))
    assert result.returncode == 4, output(result)
    assert "invalid OpenAPI" in result.stderr and "Traceback" not in output(result)


def test_unreachable_target_is_one_line_and_exit_75():
    started = time.monotonic()
    result = run_suite("--base-url", f"http://127.0.0.1:{closed_port()}", "--api-key", "k")
    assert result.returncode == 75, output(result)
    assert "target unavailable" in output(result) and "cannot connect" in output(result)
    assert "FAILED" not in output(result)
    assert time.monotonic() - started < 60


def test_persistently_retryable_target_is_unavailable(fixtures):
    app = create_app(fixtures)
    set_ledger_unavailable(app, True)
    with serve(app, host="127.0.0.1", port=0) as server:
        result = run_suite(*live_args(server, fixtures), "-q")
    assert result.returncode == 75, output(result)
    assert "answers 502 to a plain valid request, still after 2 retries" in output(result)


def test_conformant_target_passes(mock, fixtures):
    result = run_suite(*live_args(mock, fixtures), *FAST)
    assert result.returncode == 0, output(result)
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.hooks
def test_report_header_names_target_spec_and_profile(mock, fixtures):
    result = run_suite(*live_args(mock, fixtures), "--co", "--profile", "gate")
    header = next(line for line in result.stdout.splitlines() if line.startswith("dcs-conformance"))
    assert mock.base_url in header and "spec v1" in header and "profile gate" in header
    assert "; 1 operation)" in header  # and no write operation left out
    assert fixtures.suite_credentials[0] not in result.stdout


GOOD_BODY = ZERO_USAGE


def negative_counters_app() -> Starlette:
    body = {**GOOD_BODY, "billed_awake_seconds": -5}

    async def usage(request: Request) -> JSONResponse:
        return JSONResponse(body)

    return Starlette(routes=[Route("/v1/usage", usage)])


def test_violations_exit_1_with_evidence():
    with serve(negative_counters_app(), host="127.0.0.1", port=0) as server:
        result = run_suite(
            "--base-url", server.base_url, "--api-key", "dcs_k_secret", "-k", "valid_key", "-q"
        )
    assert result.returncode == 1, output(result)
    text = output(result)
    assert "[usage_counters_in_range] billed_awake_seconds = -5" in text
    assert "reproduce: curl" in text and "rerun:" in text
    assert "dcs_k_secret" not in text


def counting_app(times: list[float]):
    """Answers 401 to everything and notes when each request (any method) arrived."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        times.append(time.monotonic())
        await JSONResponse(
            {"error_code": "AUTH_REQUIRED", "message": "m", "retryable": False}, 401
        )(scope, receive, send)

    return app


def test_budget_holds_exactly(mock, fixtures):
    before = mock.request_count
    result = run_suite(*live_args(mock, fixtures), "--max-requests", "25", "-q")
    assert mock.request_count - before == 25, output(result)
    assert "the request budget (--max-requests) is used up" in output(result)


def test_rate_limit_holds():
    times: list[float] = []
    with serve(counting_app(times), host="127.0.0.1", port=0) as server:
        run_suite(
            "--base-url",
            server.base_url,
            "--api-key",
            "k",
            "--rate-limit",
            "20/s",
            "--max-requests",
            "30",
            "-q",
        )
    assert len(times) == 30
    tests_requests = times[1:]  # the preflight request is not paced
    for i, start in enumerate(tests_requests):
        in_window = [t for t in tests_requests[i:] if t - start < 1.0]
        assert len(in_window) <= 21
    assert tests_requests[-1] - tests_requests[0] >= (len(tests_requests) - 1) / 20 * 0.95


def failing_after_first_app() -> Starlette:
    """Healthy for the preflight request, then a documented, retryable outage for good."""
    seen: list[int] = []

    async def usage(request: Request) -> JSONResponse:
        seen.append(1)
        if len(seen) == 1:
            return JSONResponse(GOOD_BODY)
        outage = {"error_code": "BILLING_LEDGER_UNAVAILABLE", "message": "m", "retryable": True}
        return JSONResponse({**outage, "retry_after_ms": 10}, 502)

    return Starlette(routes=[Route("/v1/usage", usage)])


def test_stops_early_when_the_target_goes_away():
    with serve(failing_after_first_app(), host="127.0.0.1", port=0) as server:
        result = run_suite("--base-url", server.base_url, "--api-key", "k", "-q", "-rs")
    assert result.returncode == 75, output(result)
    assert "target unavailable" in output(result)
    assert "1 skipped" in result.stdout and "passed" not in result.stdout
    assert "the target became unavailable; no verdict (exit 75)" in result.stdout
    assert "FAILED" not in result.stdout


@pytest.mark.hooks
def test_no_tests_selected_is_exit_5(mock, fixtures):
    result = run_suite(*live_args(mock, fixtures), "-k", "no_such_test", "-q")
    assert result.returncode == 5, output(result)


def test_gate_profile_gives_the_same_verdict_twice(mock, fixtures, tmp_path):
    runs = []
    for name in ("one", "two"):
        result = run_suite(
            *live_args(mock, fixtures),
            "--profile",
            "gate",
            "--max-examples",
            "10",
            "--reports-dir",
            str(tmp_path / name),
            "-k",
            "generated",
            # one test at a time, whatever the machine's load does to the preflight's round
            # trip (the same verdict when tests run ahead: tests/e2e/test_ahead.py)
            "--concurrency",
            "1",
            "-q",
        )
        assert result.returncode == 0, output(result)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        runs.append((summary["seed"], summary["counts"], summary["coverage"]["periods"]))
    assert runs[0] == runs[1], runs


def test_no_method_probes_sends_get_only(mock, fixtures, tmp_path):
    result = run_suite(
        *live_args(mock, fixtures),
        "--no-method-probes",
        "--max-examples",
        "20",
        "--reports-dir",
        str(tmp_path),
        "-q",
    )
    assert result.returncode == 0, output(result)
    methods = json.loads((tmp_path / "summary.json").read_text())["coverage"]["methods"]
    assert set(methods) == {"GET"} and methods["GET"] > 100


def ground_truth_args(fixtures):
    from conformance._contract.expect import DEFAULT_EXPECT

    empty_key, empty_org = fixtures.suite_empty_org
    return ("--empty-org-key", empty_key, "--empty-org-id", empty_org, "--expect", DEFAULT_EXPECT)


def test_ground_truth_without_keys_or_file_is_skipped_with_its_reason(mock, fixtures):
    result = run_suite(*live_args(mock, fixtures), "-k", "ground_truth", "-rs")  # header: not -q
    assert result.returncode == 0, output(result)
    assert "passed" not in result.stdout and " skipped" in result.stdout
    assert "needs --expect FILE (or DCS_EXPECT): the canary's expected usage" in result.stdout
    assert "needs --empty-org-key KEY (or DCS_EMPTY_ORG_KEY)" in result.stdout
    assert "ground truth: none (no --expect, --empty-org-key or --second-api-key)" in (
        result.stdout
    )


def test_ground_truth_holds_on_the_correct_mock(mock, fixtures):
    args = (*live_args(mock, fixtures), *map(str, ground_truth_args(fixtures)))
    result = run_suite(*args, "-k", "ground_truth", "--max-examples", "5", "-rs")
    assert result.returncode == 0, output(result)
    assert "skipped" not in result.stdout and " passed" in result.stdout
    assert "ground truth: canary canary-expect.yaml (org org_acme, 3 machines" in result.stdout
    assert fixtures.suite_empty_org[0] not in output(result)


def test_stop_on_check_ends_the_run_once_that_check_failed(fixtures, tmp_path):
    """The kill matrix's early stop: exit 1 as soon as a test failed the named check, the
    tests after it not run; a check that never fails lets the run go to its end."""
    app = faulty_app(fixtures, ["usage_counter_float"])
    with serve(app, host="127.0.0.1", port=0) as server:
        stopped = run_suite(*live_args(server, fixtures), *FAST, "--no-shrink",
                            "--stop-on-check", "usage_counters_in_range",
                            "--reports-dir", str(tmp_path / "stopped"))  # fmt: skip
        full = run_suite(*live_args(server, fixtures), *FAST, "--no-shrink",
                         "--stop-on-check", "plan_slug_non_empty",
                         "--reports-dir", str(tmp_path / "full"))  # fmt: skip
    assert stopped.returncode == 1, output(stopped)
    assert "--stop-on-check: usage_counters_in_range failed" in output(stopped)
    # a violation is shown as its evidence, never as pytest's traceback of the test's source
    assert "INTERNALERROR" not in output(full) and "Traceback" not in output(full)
    counts = [json.loads((tmp_path / d / "summary.json").read_text())["counts"] for d in
              ("stopped", "full")]  # fmt: skip
    assert full.returncode == 1, output(full)
    assert counts[0]["failed"] == 1 and counts[0]["tests"] < counts[1]["tests"], counts
