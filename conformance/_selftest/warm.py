"""Warm starts, for the kill matrix and the project's end-to-end tests. A helper process imports
pytest, the plugin, the mock and their libraries once, then forks a child for each run: the child
runs `pytest.main` (or the mock's `main`) in the run's directory, writes its output to a file and
ends without the interpreter's teardown. A run so starts in a fraction of a second instead of a
second and more of imports, and stays a process of its own (a session, killed by process group).
The helper starts no thread: forking it is safe.

    python -m conformance._selftest.warm MODULE...  # in: a run per JSON line; out: pid, exit
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

#: What every suite run imports: a helper imports it once, before any fork.
PRELOADED = (
    "pytest",
    "hypothesis",
    "schemathesis",
    "httpx",
    "jsonschema",
    "conformance.plugin",
)
#: The mock's entry point, `python -m conformance.mock` (`main` takes the arguments).
MOCK_MAIN = "conformance.mock._cli:main"


class Starter:
    """One helper process, which runs one suite run at a time (`run`)."""

    def __init__(self, env: dict[str, str], preload: Sequence[str] = PRELOADED) -> None:
        """A helper that imports `preload` (PRELOADED: the suite's libraries, pytest's plugins,
        and what a run of the vendored spec does first) before any fork."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, *preload],
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

    def start(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        out: Path,
        err: Path | None = None,
        env: dict[str, str] | None = None,
        main: str | None = None,
    ) -> int:
        """Fork a child that runs `pytest.main(args)` in `cwd` (or `main`, a preloaded
        "module:function" that takes the arguments, as `python -m module` would): its pid.
        The output goes to `out`, the standard error there too unless `err` names a file of
        its own; `env` replaces the helper's environment. One child at a time: `ended` says
        when it is over."""
        assert self.process.stdin is not None
        for old in (out, err):  # what a run before wrote there is not this run's output
            if old is not None:
                old.unlink(missing_ok=True)
        request: dict[str, Any] = {"args": list(args), "cwd": str(cwd), "out": str(out)}
        request["err"] = str(err or out)
        if env is not None:
            request["env"] = env
        if main is not None:
            request["main"] = main
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        return int(self._said()["pid"])

    def ended(self, wait: float) -> int | None:
        """The exit status of the child, once it ended within `wait` seconds (else None)."""
        reply = self._reply(wait)
        return None if reply is None else int(reply["exit"])

    def stop(self, pid: int, signum: int = signal.SIGTERM, grace: float = 10) -> int | None:
        """Send `signum` to the child's process group, then SIGKILL after `grace` seconds:
        its exit status (None if it had to be killed)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)
        status = self.ended(grace)
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self._said()
        return status

    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        timeout: float,
        on_line: Callable[[str], None],
        *,
        out: Path | None = None,
        err: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[int | None, str]:
        """Run `pytest.main(args)` in `cwd` (see `start`; the output goes to `cwd/pytest.out`
        by default), handing each line of its output to `on_line` as it comes: (exit
        status, None if it did not end within `timeout` and was killed; output)."""
        out = out or cwd / "pytest.out"
        pid = self.start(args, cwd, out=out, err=err, env=env)
        due = time.monotonic() + timeout
        lines: list[str] = []
        with following(out) as follow:
            ended = None
            while ended is None:
                lines += follow(on_line)
                if time.monotonic() > due:
                    self.stop(pid, signal.SIGKILL, 0)
                    return None, "".join(lines)
                ended = self.ended(0.05)
            lines += follow(on_line)
        return ended, "".join(lines)

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


class Starters:
    """A job's pair of helpers: one forks its suite runs, the other the mocks they test."""

    def __init__(self, env: dict[str, str]) -> None:
        self.suite = Starter(env)
        self.mock = Starter(env, preload=[MOCK_MAIN.partition(":")[0]])

    def close(self) -> None:
        self.suite.close()
        self.mock.close()


@contextlib.contextmanager
def following(path: Path) -> Any:
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


def serve(preload: Sequence[str]) -> None:
    """The helper: import what every run imports, then fork a child per request on stdin."""
    for name in preload:
        importlib.import_module(name)
    if "conformance.plugin" in preload:
        _rehearse()
    gc.freeze()  # what is loaded now lives as long as the helper: no child's collection walks it
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
        if "env" in request:
            os.environ.clear()
            os.environ.update(request["env"])
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        if request["err"] == request["out"]:
            os.dup2(out, 2)
        else:
            os.dup2(os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        if "main" in request:
            code = _main(request["main"], request["args"])
        else:
            code = _pytest(request["cwd"], request["args"])
    except BaseException:  # whatever happens, the child ends here, with its traceback
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _rehearse() -> None:
    """What every suite run does before its first test, done once: pytest's plugins loaded
    (their entry points), the vendored spec validated and its schemathesis schema built, and
    hypothesis's scan of the loaded modules for constants to try (in a home of its own)."""
    from importlib.metadata import entry_points

    import hypothesis.configuration
    from hypothesis import strategies

    from conformance._run.generated import rehearse

    for entry in entry_points(group="pytest11"):
        with contextlib.suppress(Exception):  # pytest itself reports a plugin that fails
            entry.load()
    rehearse()
    with tempfile.TemporaryDirectory(prefix="dcs-warm-") as home, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # example() outside a test warns
        hypothesis.configuration.set_hypothesis_home_dir(home)
        strategies.integers().example()


def _pytest(cwd: str, args: list[str]) -> int:
    import hypothesis.configuration
    import pytest

    # hypothesis read the working directory when the helper imported it: the run's instead
    hypothesis.configuration.set_hypothesis_home_dir(Path(cwd) / ".hypothesis")
    # the helper imported the plugins before pytest could mark them for rewriting: no news
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*args, *quiet]))


def _main(main: str, args: list[str]) -> int:
    """`module:function(args)` as `python -m module args` runs it: its exit status."""
    module, _, function = main.partition(":")
    sys.argv = [module, *args]
    try:
        return int(getattr(importlib.import_module(module), function)(args) or 0)
    except SystemExit as exc:  # argparse's usage errors, sys.exit
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    serve(sys.argv[1:])
