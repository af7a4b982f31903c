"""Shared helpers for the project's tests: run the suite as a user would, serve test apps."""

from __future__ import annotations

import os
import subprocess
import sys
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
