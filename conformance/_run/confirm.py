"""Confirming a run's root causes before they are reported (`--confirm N`): the exchanges of
the first test that showed each (`groups[].first`, what failures.har holds) are sent again N
times, the way `python -m conformance.replay` sends them (`_run/replay.py`: in order, on one
connection, each as it went on the wire (byte for byte where the raw client wrote it), the real
keys filled into the request templates, the read-only guard), and the
checks that failed are applied again to each try's answers. A root cause that failed every
try is `reproduced`, one that did not is `intermittent` (still a violation: the exit status
does not change); one that cannot be sent again (a request carried a key the test had changed,
masked and never written) or for which the request budget is used up is `not confirmed`.

The re-sends count against `--max-requests`: a root cause gets only the whole tries the budget
still holds (none: not confirmed, and the run says so). A try whose answers show an outage
(no answer, a gateway status) where the run got an answer ends the confirmation of that root
cause with the tries done so far.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance._client.transport import BudgetExhausted, Transport
from conformance._contract.expect import Canary
from conformance._contract.spec import Contract
from conformance._core import trace
from conformance._core.exchange import GATEWAY_STATUSES
from conformance._report.causes import NO_ANSWER, cause_key, violation_items
from conformance._report.har import render_har
from conformance._report.triage import confirmation
from conformance._run.replay import (
    NOT_REPLAYED,
    STILL_FAILING,
    Cause,
    Failures,
    failures_from,
    not_replayable,
)
from conformance._run.replay import replay_cause as _replay_cause

BUDGET = "the request budget (--max-requests) is used up"
#: Tests of a root cause looked at for exchanges that can be sent again.
_CANDIDATES = 20


@dataclass
class Confirmed:
    """The confirmation of a run's root causes: per root cause id, its `reproduced` record
    (`triage.confirmation`), and how many requests it took."""

    tries: int  # asked for each root cause
    causes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    budget_used_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        """summary.json's `confirm` object."""
        return {
            "tries": self.tries,
            "requests": self.requests,
            "budget_used_up": self.budget_used_up,
        }


def confirm(
    groups: Sequence[Mapping[str, Any]],
    transport: Transport,
    contract: Contract,
    keys: Mapping[str, str],
    *,
    tries: int,
    canary: Canary | None = None,
    base_url: str | None = None,
    tests: Mapping[str, Mapping[str, Any]] | None = None,
) -> Confirmed:
    """Re-send each root cause's first failing exchanges `tries` times (within the transport's
    budget) and count the tries whose answers still fail. `base_url`: where the run's requests
    went, when its exchanges are to be rebased on the transport's target by that prefix (None:
    by their path). `tests`: each failed test's violation by test id, for a root cause whose
    first test's requests cannot be sent again."""
    done = Confirmed(tries)
    before = transport.sent
    for group in groups:
        failures = _sendable(group, tests or {}, base_url)
        cause = failures.causes[0]
        record = _confirm_cause(cause, failures, transport, contract, keys, canary, tries, done)
        done.causes[group["id"]] = {**record, "test": cause.test}
    done.requests = transport.sent - before
    return done


def _sendable(
    group: Mapping[str, Any], tests: Mapping[str, Mapping[str, Any]], base_url: str | None
) -> Failures:
    """The exchanges to re-send for a root cause: its first test's, or when those carried a
    key the test had changed (masked, never written) the next test's of the same root cause
    that can be sent again (`tests`: each failed test's violation, by test id)."""
    first = _as_failures(group, base_url)
    for nodeid in group["test_ids"][1:_CANDIDATES]:
        if not not_replayable(first.causes[0]):
            break
        items = [
            {k: v for k, v in item.items() if k != "related"}
            for item in violation_items(tests.get(nodeid))
            if cause_key(item) == group["id"]
        ]
        if items:
            other = _as_failures(
                {**group, "first": {"test": nodeid, "violations": items}}, base_url
            )
            if not not_replayable(other.causes[0]):
                return other
    return first


def _as_failures(group: Mapping[str, Any], base_url: str | None) -> Failures:
    summary = {"groups": [group], "replay": {"base_url": base_url}}
    return failures_from(json.loads(render_har(summary)), "the run's root causes")


def _confirm_cause(
    cause: Cause,
    failures: Failures,
    transport: Transport,
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None,
    tries: int,
    done: Confirmed,
) -> dict[str, Any]:
    budget = transport.limits.max_requests
    if budget is not None:
        tries = min(tries, max(0, budget - transport.sent) // max(1, len(cause.requests)))
        if tries == 0:
            done.budget_used_up = True
            return confirmation(0, 0, BUDGET)
    made = failed = 0
    why = ""
    for _ in range(tries):
        try:  # each try in a trace of its own: a stalled request is sent again, not reused
            outcome = contextvars.copy_context().run(
                _one_try, cause, failures, transport, contract, keys, canary
            )
        except BudgetExhausted:
            done.budget_used_up = True
            why = BUDGET
            break
        if outcome.verdict == NOT_REPLAYED:
            return confirmation(made, failed, outcome.detail or "it cannot be sent again")
        outage = _outage(cause, outcome.exchanges)
        if outage:
            why = outage
            break
        made += 1
        failed += outcome.verdict == STILL_FAILING
    return confirmation(made, failed, why if made < tries or not made else "")


def _one_try(
    cause: Cause,
    failures: Failures,
    transport: Transport,
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None,
) -> Any:
    trace.start()
    return _replay_cause(cause, failures, transport, contract, keys, canary)


def _outage(cause: Cause, exchanges: Sequence[Any]) -> str:
    """Why a try's answers say nothing of the root cause: an exchange got no answer, or a
    gateway status, where the run's got an answer ("" when they do)."""
    if cause.key == NO_ANSWER:
        return ""
    for request, exchange in zip(cause.requests, exchanges, strict=False):
        if request.status is None or request.status in GATEWAY_STATUSES:
            continue
        if not exchange.answered or exchange.unavailable:
            got = "no answer" if not exchange.answered else f"status {exchange.status}"
            return f"a re-send got {got}: the target may be unavailable"
    return ""
