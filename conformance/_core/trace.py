"""What one test did, recorded as it runs: the exchanges it made, the checks it ran, the
violations they found, and the request of it that stalled. One trace per test: tests run ahead
in threads (`_ahead`) each have their own, through a context variable; a test run in the main
thread uses the default trace, taken by the plugin once the test is over.

While a test (or one hypothesis example of it) runs `collecting`, a check that finds a
violation does not raise it: it is kept (`found`), the test goes on, every later check runs on
every later answer, and the test raises them all together at its end (`settle`). Outside
(a check called on its own, the preflight) a violation is raised at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from conformance._core.errors import ContractViolation, ContractWarning
from conformance._core.exchange import Exchange


@dataclass
class Trace:
    exchanges: list[Exchange] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)
    #: (request identity, exchange) of a request of this test that ran out of time
    stalled: tuple[tuple[Any, ...], Exchange] | None = None
    #: The violations found so far while collecting (None: not collecting, raise at once).
    pending: list[ContractViolation] | None = None
    #: What checks reported without failing anything (never raised).
    warnings: list[ContractWarning] = field(default_factory=list)


_MAIN = Trace()
_current: ContextVar[Trace] = ContextVar("dcs_trace")
#: Set where a caller wants the violations raised to it even while the test collects them.
_raising: ContextVar[bool] = ContextVar("dcs_raising", default=False)


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


def found(violations: list[ContractViolation]) -> None:
    """Violations a check found: kept until the test's end while collecting, else raised."""
    if not violations:
        return
    pending = current().pending
    if pending is None or _raising.get():
        raise ContractViolation.combine(violations)
    pending.extend(violations)


def warn(warning: ContractWarning) -> None:
    """A warning a check reports: kept in the test's trace, whatever the mode; once per
    check, note, location and message (its first answer kept as the example)."""
    record = current()
    key = (warning.check, warning.note, warning.location, warning.message)
    if all((w.check, w.note, w.location, w.message) != key for w in record.warnings):
        record.warnings.append(warning)


@contextmanager
def raising() -> Iterator[None]:
    """In the `with` body (of this context only), a violation is raised at once, even while
    the test collects them: for a caller that gathers the checks' violations itself."""
    token = _raising.set(True)
    try:
        yield
    finally:
        _raising.reset(token)


@contextmanager
def collecting() -> Iterator[list[ContractViolation]]:
    """Keep the violations found in the `with` body (see `found`) in the list it yields."""
    record = current()
    before, record.pending = record.pending, []
    try:
        yield record.pending
    finally:
        record.pending = before


def settle(
    pending: list[ContractViolation], error: BaseException | None = None
) -> ContractViolation | None:
    """What a test that collected `pending` raises at its end: every violation it found, once
    each, the ones its `error` carries included (None: it found none). `error` is how the
    test ended otherwise (a skip, a rejected example, a violation raised at once)."""
    carried = _violations_of(error)
    unique: dict[tuple[str, str, str, str], ContractViolation] = {}
    for violation in [*pending, *carried]:
        for leaf in violation.leaves():
            unique.setdefault((leaf.check, leaf.location, leaf.message, leaf.actual), leaf)
    return ContractViolation.combine(list(unique.values())) if unique else None


def _violations_of(error: BaseException | None) -> list[ContractViolation]:
    if isinstance(error, ContractViolation):
        return [error]
    if isinstance(error, BaseExceptionGroup):
        return [v for e in error.exceptions for v in _violations_of(e)]
    return []
