"""Shared helpers for the project's tests: run the suite as a user would, serve test apps."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance._selftest.warm import Starter

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
#: The machine m1 of the tests' YAML files (mock fixtures and canaries) as a list item at the
#: left margin: its sizes and creation; what follows (deletion, awake times) is each file's own.
M1_YAML = """\
- id: m1
  vcpu_millicores: 1000
  memory_mib: 1024
  storage_gib: 10
  logical_storage_mib: 100
  created_at: 2025-03-01T00:00:00Z
"""


def empty_org_yaml(org: str) -> str:
    """An org of mock fixtures, on plan basic, with the key dcs_test_eeeeeeee and no machines."""
    return (
        f"  - id: {org}\n"
        "    plan: basic\n"
        "    created_at: 2025-01-01T00:00:00Z\n"
        "    api_keys: [dcs_test_eeeeeeee]\n"
        "    machines: []\n"
    )


def one_org_fixtures(org: str, key: str) -> str:
    """Mock fixtures whose suite org ``org`` (key ``key``, plan basic) has one machine, m1,
    never deleted and awake 09:00-17:00 every day at 50% CPU."""
    return (
        f"suite: {{org: {org}, api_key: {key}}}\n"
        "plans:\n"
        "  - {slug: basic, included_storage_gib: 5}\n"
        "orgs:\n"
        f"  - id: {org}\n"
        "    plan: basic\n"
        "    created_at: 2025-01-01T00:00:00Z\n"
        f"    api_keys: [{key}]\n"
        "    machines:\n"
        + textwrap.indent(M1_YAML, " " * 6)
        + "        deleted_at: null\n"
        + '        awake: {daily: "09:00-17:00", cpu_percent: 50}\n'
    )


def run_suite(
    *args: str, timeout: float = 240, cwd: Path | None = None, cold: bool = False
) -> subprocess.CompletedProcess:
    """`pytest conformance ARGS` in a process of its own with a clean DCS_* environment: forked
    by this process's warm starter (the kill matrix's, which saves each run a second and more of
    imports), or with `cold` or another `cwd`, a new `python -m pytest`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    command = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", *args]
    if cwd is None and not cold:
        return _warm(command, env, timeout)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd or REPO,
        stdin=subprocess.DEVNULL,
    )


_starter: list[Starter] = []  # this process's warm starter, once started
_starter_lock = threading.Lock()


def _warm(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`command` (`python -m pytest ARGS`) run by the warm starter in the repository."""
    with _starter_lock, tempfile.TemporaryDirectory(prefix="dcs-test-run-") as tmp:
        if not _starter:
            _starter.append(Starter(env))
            atexit.register(_starter[0].close)
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        code, stdout = _starter[0].run(
            command[3:], REPO, timeout, lambda line: None, out=out, err=err, env=env
        )
        stderr = err.read_text(encoding="utf-8", errors="replace") if err.exists() else ""
    if code is None:
        raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(command, code, stdout, stderr)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def run_module(module: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` run to its end in the repository."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )


def mock_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """`python -m conformance.mock ARGS` run to its end."""
    return run_module("conformance.mock", *args, timeout=timeout)


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


def edits(table: dict[str, dict[str, str]], *before: object) -> list[tuple]:
    """The cases ``(*before, old, new, problem)`` of a table of refused edits that maps each
    text ``old`` to what replaces it (``new``) and a part of the error that must follow."""
    return [(*before, old, new, why) for old, news in table.items() for new, why in news.items()]


def refused_edit(
    tmp_path: Path,
    text: str,
    old: str,
    new: str,
    load: Callable[[Path], object],
    error: type[Exception],
    *,
    name: str = "fx.yaml",
    count: int = -1,
) -> tuple[Path, str]:
    """Write ``text`` with ``old`` (which it must hold) replaced by ``new`` to ``tmp_path/name``
    and check that ``load`` refuses it with ``error``: the path and the error's message."""
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    with pytest.raises(error) as info:
        load(path)
    return path, str(info.value)


@contextlib.contextmanager
def loopback(make_app: Callable[[str], object]) -> Iterator[Callable[[str], object]]:
    """``start(name)`` serves ``make_app(name)`` on a free loopback port until the block ends and
    returns the running server (its ``base_url`` and ``port``)."""
    from conformance.mock import serve

    with contextlib.ExitStack() as stack:
        yield lambda name: stack.enter_context(serve(make_app(name), host="127.0.0.1", port=0))
