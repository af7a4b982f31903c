"""Tests run ahead, in threads, for a target far away.

Against a target 50 ms away a run spends nearly all its time waiting for answers, one after
another. `Ahead` runs the call phase of the tests in a pool of threads, in collection order,
while pytest reports them one by one, in order, from the main thread: the same tests, the
same requests and checks, each test with its own trace (`_trace`) of exchanges and checks.
Only tests whose arguments are the `dcs` fixture and their own parameters run ahead; any
other runs as usual. The budget and the rate limit are kept by the one shared transport, under
its lock. Hypothesis runs each test in one thread (it is thread-safe since 6.136), so a
derandomized run draws the same examples in any order.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from conformance import _trace as trace

#: The fixtures a test may use and still run ahead: the target, and nothing with a scope
#: narrower than the session.
AHEAD_FIXTURES = frozenset({"dcs"})


@dataclass
class Outcome:
    """How a test's call ended when it ran ahead: its exception (None: it passed) and trace."""

    error: BaseException | None
    trace: trace.Trace


@dataclass(frozen=True)
class Job:
    """One test to run ahead: its id, its function and the arguments pytest would pass."""

    nodeid: str
    function: Callable[..., Any]
    arguments: Mapping[str, Any]


class Ahead:
    """A pool of `workers` threads running `jobs`' calls in order, results kept by test id."""

    def __init__(self, jobs: Iterable[Job], workers: int) -> None:
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dcs-ahead")
        self._futures: dict[str, Future[Outcome]] = {
            job.nodeid: self._pool.submit(contextvars.copy_context().run, self._run, job)
            for job in jobs
        }

    def __contains__(self, nodeid: str) -> bool:
        return nodeid in self._futures

    def outcome(self, nodeid: str) -> Outcome:
        """The outcome of a test run ahead, waiting for it if it is still running."""
        return self._futures[nodeid].result()

    def stop(self) -> None:
        """Start nothing more (the run is stopping); tests already running finish."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job) -> Outcome:
        record = trace.start()
        if self._stop.is_set():
            return Outcome(Stopped(), record)
        try:
            job.function(**job.arguments)
        except BaseException as error:
            return Outcome(error, record)
        return Outcome(None, record)


class Stopped(Exception):
    """The run stopped before this test could run ahead."""


def job_for(item: Any, dcs: Any) -> Job | None:
    """The job that runs `item`'s call ahead, or None if it needs another fixture."""
    function = getattr(item, "obj", None)
    info = getattr(item, "_fixtureinfo", None)
    if function is None or info is None:
        return None
    params = dict(getattr(getattr(item, "callspec", None), "params", {}))
    arguments: dict[str, Any] = {}
    for name in info.argnames:
        if name in AHEAD_FIXTURES:
            arguments[name] = dcs
        elif name in params:
            arguments[name] = params[name]
        else:
            return None
    for name in set(item.fixturenames) - set(info.argnames) - {"request"}:
        definitions = info.name2fixturedefs.get(name) or ()
        if name in params:
            continue
        if not definitions or definitions[-1].scope != "session":
            return None
    return Job(item.nodeid, function, arguments)
