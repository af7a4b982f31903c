"""Shared helpers for the project's tests: run the suite as a user would, serve test apps."""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: A well-formed usage body of an org with no usage yet, for servers that tests build.
ZERO_USAGE = {
    "plan_slug": "pro",
    "billed_awake_seconds": 0,
    "billed_cpu_millicore_seconds": 0,
    "billed_memory_mib_seconds": 0,
    "provisioned_storage_gib": 0,
    "included_storage_gib": 0,
    "billed_logical_storage_mib_seconds": 0,
}
SUITE = REPO / "conformance"


def run_suite(
    *args: str, timeout: float = 240, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`pytest conformance ARGS` in a subprocess with a clean DCS_* environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd or REPO,
        stdin=subprocess.DEVNULL,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def mock_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """`python -m conformance.mock ARGS` run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "conformance.mock", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def mock_cli_serving(*args: str) -> Iterator[str]:
    """`python -m conformance.mock --port 0 ARGS` on loopback: yields the base URL of its ready
    line; on the way out the server is stopped and must have exited cleanly."""
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.mock", "--port", "0", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 15)
        line = process.stdout.readline() if ready else "(no ready line)"
        match = re.fullmatch(r"dcs mock listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        yield match.group(1)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0
