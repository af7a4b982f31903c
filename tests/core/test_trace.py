"""The per-test trace (conformance/_core/trace.py): while a test collects, a check's violation
is kept and the test goes on; at its end every violation is raised together, once each."""

from __future__ import annotations

import pytest

from conformance._core import trace
from conformance._core.errors import ContractViolation


def violation(check: str, message: str = "m") -> ContractViolation:
    return ContractViolation(check, message, location="$.x", actual="1")


def test_outside_a_test_a_violation_is_raised_at_once():
    with pytest.raises(ContractViolation) as raised:
        trace.found([violation("a"), violation("b")])
    assert raised.value.checks == ["a", "b"]
    trace.found([])  # nothing found: nothing raised


def test_while_collecting_violations_are_kept_for_the_end():
    with trace.collecting() as pending:
        trace.found([violation("a")])
        trace.found([violation("b")])
        with pytest.raises(ContractViolation), trace.raising():
            trace.found([violation("c")])  # a caller that gathers them itself
    assert [v.check for v in pending] == ["a", "b"]
    assert trace.current().pending is None
    settled = trace.settle(pending)
    assert settled is not None and settled.checks == ["a", "b"]


def test_settling_keeps_each_violation_once_and_those_the_test_ended_with():
    pending = [violation("a"), violation("a"), violation("b", "other")]
    ended = ContractViolation.combine([violation("c"), violation("a")])
    settled = trace.settle(pending, ended)
    assert settled is not None and settled.checks == ["a", "b", "c"]
    assert trace.settle([], ValueError("bug")) is None
    group = ExceptionGroup("two", [violation("d"), violation("e")])
    assert trace.settle([], group).checks == ["d", "e"]
