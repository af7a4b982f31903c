"""Processes for the benchmark: timed runs with peak RSS, pinned servers, bounded clean-up."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without DCS_* / PYTEST_* settings that would change what runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCS_", "PYTEST_"))}
    env.update(extra)
    return env


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """``cmd`` under ``taskset -c CPUS`` (unchanged if no CPUS or no taskset)."""
    if cpus is None or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", cpus, *cmd]


@dataclass(frozen=True)
class Measured:
    """A finished process: exit code, wall seconds, peak RSS (KiB) and its output."""

    returncode: int
    wall: float
    maxrss_kib: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _signal_group(pid: int, signum: int) -> None:
    """Signal the group of a child started with its own session (call before reaping it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def run_measured(
    cmd: Sequence[str], *, timeout: float, cwd: Path = REPO, env: dict[str, str] | None = None
) -> Measured:
    """Run ``cmd`` to completion; wall time from start to exit, peak RSS from ``wait4``.

    The peak RSS is that of the largest single process of the tree (the child, or a
    descendant it waited for). On timeout the whole process group is killed.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        deadline = started + timeout
        status, usage = 0, None
        try:
            while usage is None:
                pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    usage = rusage
                elif time.monotonic() > deadline:
                    break
                else:
                    time.sleep(0.01)
        finally:
            if usage is None:  # timed out or interrupted: not reaped yet, so the group is ours
                _signal_group(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            process.returncode,
            wall,
            usage.ru_maxrss,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, alive: Callable[[], bool]) -> bool:
    """Poll ``ready`` every 0.1 s until true, ``alive`` turns false, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if ready():
            return True
        time.sleep(0.1)
    return False


class Servers:
    """Background processes, each in its own session; all killed (group-wide) on exit."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self._started:
            self.stop(process)

    def start(
        self, cmd: Sequence[str], *, log: Path, pipe_stdout: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd``; stderr (and stdout unless ``pipe_stdout``) goes to ``log``."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                list(cmd),
                cwd=REPO,
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe_stdout else sink,
                stderr=sink,
                start_new_session=True,
            )
        self._started.append(process)
        return process

    @staticmethod
    def read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
        """The next stdout line within ``timeout`` seconds ('' if none)."""
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], timeout)
        return process.stdout.readline().decode(errors="replace").strip() if readable else ""

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to its group, 5 s grace, then SIGKILL; always reaped (bounded waits)."""
        if process.returncode is None:  # not reaped yet: its pid is still its group's id
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
