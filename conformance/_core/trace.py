"""What one test did, recorded as it runs: the exchanges it made, the checks it ran, and the
request of it that stalled. One trace per test: tests run ahead in threads (`_ahead`) each
have their own, through a context variable; a test run in the main thread uses the default
trace, taken by the plugin once the test is over."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from conformance._core.exchange import Exchange


@dataclass
class Trace:
    exchanges: list[Exchange] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)
    #: (request identity, exchange) of a request of this test that ran out of time
    stalled: tuple[tuple[Any, ...], Exchange] | None = None


_MAIN = Trace()
_current: ContextVar[Trace] = ContextVar("dcs_trace")


def current() -> Trace:
    """The trace of the test running in this context (the main thread's by default)."""
    return _current.get(_MAIN)


def start() -> Trace:
    """A new trace for the test about to run in this context."""
    trace = Trace()
    _current.set(trace)
    return trace


def take() -> Trace:
    """The main thread's trace so far; the next test there starts a new one."""
    global _MAIN
    trace = current()
    if trace is _MAIN:
        _MAIN = Trace()
    else:
        _current.set(Trace())
    return trace
