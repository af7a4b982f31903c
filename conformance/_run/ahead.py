"""Tests run ahead, in threads, for a target far away.

Against a target 50 ms away a run spends nearly all its time waiting for answers, one after
another. `Ahead` runs the call phase of the tests in a pool of threads, in collection order,
while pytest reports them one by one, in order, from the main thread: the same tests, the
same requests and checks, each test with its own trace (`_trace`) of exchanges and checks.
Only tests whose arguments are the `dcs` fixture and their own parameters run ahead; any
other runs as usual. A test marked `dcs_alone` (one that compares reads of the open period
over time, which a request of another test in between could disturb) runs with nothing else
in flight. The budget and the rate limit are kept by the one shared transport, under
its lock. Hypothesis runs each test in one thread (it is thread-safe since 6.136), so a
derandomized run draws the same examples in any order.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from conformance._core import trace

#: The fixtures a test may use and still run ahead: the target, and nothing with a scope
#: narrower than the session.
AHEAD_FIXTURES = frozenset({"dcs"})
ALONE_MARKER = "dcs_alone"


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
    many_examples: bool = False  # a hypothesis test: it starts first, being the longest


#: In a plan, a test that runs alone: nothing of the tests around it is in flight meanwhile.
ALONE = None


class Ahead:
    """A pool of `workers` threads running a plan of jobs' calls in order, results kept by
    test id. The plan is cut at each `ALONE` (a test the main thread runs by itself): the
    jobs after it start only once the main thread asks for the first of them, that is once
    everything before has been reported."""

    def __init__(self, plan: Sequence[Job | None], workers: int) -> None:
        self.workers = workers
        self._plan = list(plan)
        self._index = {job.nodeid: i for i, job in enumerate(self._plan) if job is not None}
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dcs-ahead")
        self._futures: dict[str, Future[Outcome]] = {}
        self._start_from(0)

    def __contains__(self, nodeid: str) -> bool:
        return nodeid in self._index

    def outcome(self, nodeid: str) -> Outcome:
        """The outcome of a test run ahead, waiting for it if it is still running."""
        if nodeid not in self._futures:  # the first job after a test that ran alone
            self._start_from(self._index[nodeid])
        return self._futures[nodeid].result()

    def _start_from(self, index: int) -> None:
        """Submit the jobs from `index` up to the next test that runs alone, the hypothesis
        tests first: they are the longest, and a run lasts as long as its longest test."""
        segment = [job for job in itertools.takewhile(bool, self._plan[index:]) if job]
        for job in sorted(segment, key=lambda job: not job.many_examples):
            run = contextvars.copy_context().run
            self._futures[job.nodeid] = self._pool.submit(run, self._run, job)

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
    return Job(item.nodeid, function, arguments, hasattr(function, "hypothesis"))


def alone(item: Any) -> bool:
    """Whether a test is marked to run with nothing else in flight (`dcs_alone`)."""
    return item.get_closest_marker(ALONE_MARKER) is not None
