"""Warm starts of the suite for the kill matrix. A helper process imports pytest, the plugin and
their libraries once, then forks a child for each run: the child runs `pytest.main` in the run's
directory, writes its output to a file and ends without the interpreter's teardown. A run so
starts in a fraction of a second instead of a second and more of imports, and stays a process
of its own (a session, killed by process group). The helper starts no thread: forking it is safe.

    python -m conformance._selftest.warm    # in: a run per JSON line; out: its pid, then its exit
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

#: What every suite run imports: the helper imports it once, before any fork.
PRELOADED = ("pytest", "hypothesis", "schemathesis", "httpx", "jsonschema", "conformance.plugin")


class Starter:
    """One helper process, which runs one suite run at a time (`run`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._replies = b""  # what the helper said that is not read yet

    def _reply(self, wait: float) -> dict[str, Any] | None:
        """The helper's next line, waiting up to `wait` seconds for it (None: not yet)."""
        assert self.process.stdout is not None
        due = time.monotonic() + wait
        while b"\n" not in self._replies:
            left = due - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, left))
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the warm starter stopped")
            self._replies += chunk
        line, _, self._replies = self._replies.partition(b"\n")
        return dict(json.loads(line))

    def _said(self, wait: float = 30) -> dict[str, Any]:
        reply = self._reply(wait)
        if reply is None:
            raise RuntimeError("the warm starter did not answer")
        return reply

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> tuple[int | None, str]:
        """Run `pytest.main(args)` in `cwd`, handing each line of its output to `on_line` as it
        comes: (exit status, None if it did not end within `timeout` and was killed; output)."""
        assert self.process.stdin is not None
        out = cwd / "pytest.out"
        request = {"args": list(args), "cwd": str(cwd), "out": str(out)}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        pid = int(self._said()["pid"])
        due = time.monotonic() + timeout
        lines: list[str] = []
        with _following(out) as follow:
            ended = None
            while ended is None:
                lines += follow(on_line)
                if time.monotonic() > due:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    self._said()
                    return None, "".join(lines)
                ended = self._reply(0.05)
            lines += follow(on_line)
        return int(ended["exit"]), "".join(lines)

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def _following(path: Path) -> Any:
    """A function that returns the whole lines added to `path` since its last call."""
    pending = ""
    handle: TextIO | None = None

    def follow(on_line: Callable[[str], None]) -> list[str]:
        nonlocal pending, handle
        if handle is None:
            if not path.exists():
                return []
            handle = path.open(encoding="utf-8", errors="replace")
        pending += handle.read()
        *complete, pending = pending.split("\n")
        lines = [f"{line}\n" for line in complete]
        for line in lines:
            on_line(line)
        return lines

    try:
        yield follow
    finally:
        if handle is not None:
            handle.close()


def serve() -> None:
    """The helper: import what every run imports, then fork a child per request on stdin."""
    for name in PRELOADED:
        __import__(name)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


def _child(request: dict[str, Any]) -> None:
    """Run the suite as `python -m pytest` would in the run's directory; never returns."""
    code = 3
    try:
        os.setsid()
        os.chdir(request["cwd"])
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        import hypothesis.configuration
        import pytest

        # hypothesis read the working directory when the helper imported it: the run's instead
        hypothesis.configuration.set_hypothesis_home_dir(Path(request["cwd"]) / ".hypothesis")
        # the helper imported the plugins before pytest could mark them for rewriting: no news
        quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
        code = int(pytest.main([*request["args"], *quiet]))
    except BaseException:  # whatever happens, the child ends here, with its traceback
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve()
