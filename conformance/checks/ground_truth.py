"""Checks against ground truth: usage known in advance. An org that has never run a machine
has none; a canary org the operator describes (`--expect FILE`) has exactly the usage derived
from its description (`conformance/_contract/expect.py`); and two orgs' answers never mix.

These are the only checks that can see wrong numbers which stay integers, stable and
monotonic: the running hour counted, deleted machines' storage counted, another org's counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from conformance._contract.expect import COUNTERS, CPU, EXACT, Expected, Storage
from conformance._core.exchange import Exchange
from conformance.checks._invariant import (
    Broken,
    at_field,
    expect_status,
    invariant,
    require_usage,
    usage_body,
    zero_fields,
)
from conformance.checks.usage import STORAGE


def _month(expected: Expected) -> str:
    return expected.period.strftime("%Y-%m")


def _within(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """The figure if it is an integer outside `[low, high]` (None: in range, or not an
    integer, which the response checks report)."""
    value = body.get(name)
    if type(value) is int and not low <= value <= high:
        return value
    return None


def _within_expected(
    body: dict[str, Any], expected: Expected, names: Iterable[str], period: str
) -> None:
    """Raise at the first of `names` outside the figures `expected` derives for it."""
    for name in names:
        low, high = expected.bounds(name)
        value = _within(body, name, low, high)
        if value is not None:
            side = "over" if value > high else "under"
            raise at_field(
                name,
                f"{name} of the canary for {period} is {value:,}, {side} {_span(low, high)}",
                expected=f"{_span(low, high)} = {expected.derivation(name)}",
                actual=str(value),
            )


def _span(low: int, high: int) -> str:
    return f"{low:,}" if low == high else f"{low:,}..{high:,}"


@invariant
def empty_org_unbilled(
    fields: tuple[str, ...], statuses: tuple[int, ...], exchange: Exchange
) -> None:
    """An org that has never run a machine has no usage: every `billed_*` counter ("Closed ...
    for the period") and `provisioned_storage_gib` ("Current provisioned storage summed
    across machines") are 0 for every period, past, current and future (a period that is no
    billing period may also be refused, 400, our reading)."""
    expect_status(exchange, statuses, "the empty org's read")
    body = usage_body(exchange)
    if body is not None:
        why = "{name} = {value} for an org that has never run a machine"
        zero_fields(fields, body, why, expected="0 (no machine: nothing to bill, no storage)")


@invariant
def canary_closed_period_exact(expected: Expected, exchange: Exchange) -> None:
    """For a period whose hours have all closed, the canary org's `billed_awake_seconds`,
    `billed_memory_mib_seconds` and `billed_logical_storage_mib_seconds` are the figures
    derived from its description (the `--expect` file): the seconds its machines were awake
    while they existed, memory MiB x those seconds, and logical MiB x the seconds each machine
    existed, awake or not; exactly, unless the file states a tolerance."""
    body = require_usage(exchange, f"the canary's closed period {_month(expected)}")
    _within_expected(body, expected, EXACT, f"{_month(expected)} (closed)")


@invariant
def canary_cpu_within_bounds(expected: Expected, exchange: Exchange) -> None:
    """`billed_cpu_millicore_seconds` ("requested vCPU millicores multiplied by guest-owned
    active CPU seconds") of the canary lies within the bounds its description gives: a guest's
    CPU is active only while its machine is awake, and at most all of that time (or within the
    `cpu_percent` range the file states), so each machine adds between millicores x awake
    seconds x low% and millicores x awake seconds x high%."""
    body = require_usage(exchange, f"the canary's period {_month(expected)}")
    _within_expected(body, expected, [CPU], _month(expected))


@invariant
def canary_open_period_within_bounds(expected: Expected, exchange: Exchange) -> None:
    """For the current (open) period, the canary's counters ("Closed ... for the period")
    lie between the figures of its hours closed before the request was sent and those closed
    by the time the answer came, derived from its description: closed hourly buckets only, a
    running hour is never counted (CPU within its bounds likewise)."""
    body = require_usage(exchange, f"the canary's open period {_month(expected)}")
    _within_expected(body, expected, COUNTERS, f"the open period {_month(expected)}")


@invariant
def canary_storage_current(expected: Storage, exchange: Exchange) -> None:
    """`provisioned_storage_gib` ("Current provisioned storage summed across machines") of
    the canary is the storage of its machines that exist when the request is answered, as its
    description says: deleted machines do not count, whatever the period asked."""
    body = require_usage(exchange, "the canary's read")
    low, high = expected.bounds()
    value = _within(body, STORAGE, low, high)
    if value is not None:
        raise Broken(
            f"{STORAGE} of the canary is {value:,}, expected {_span(low, high)} (the machines "
            "that exist now)",
            expected=f"{_span(low, high)} = {expected.derivation()}",
            actual=str(value),
            location=f"$.{STORAGE}",
        )


@invariant
def no_org_carry_over(
    fields: tuple[str, ...],
    orgs: Sequence[str],
    exchanges: Sequence[Exchange],
    at_once_from: int | None = None,
) -> None:
    """Each request is answered for its own key's org (RFC 9110 11.6.2: credentials go with
    each request): on one keep-alive connection, the keys of two orgs used in turn each get the
    same answer for a closed period every time, whatever the other key got in between, and so
    do requests of both orgs in flight at the same time (those from `at_once_from` on)."""
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, (org, exchange) in enumerate(zip(orgs, exchanges, strict=True)):
        before = ", ".join(orgs[:index]) or "nothing"
        if at_once_from is not None and index >= at_once_from:
            others = len(orgs) - at_once_from - 1
            before = f"{before}; sent at the same time as {others} requests of both orgs"
        body = require_usage(exchange, f"request {index + 1} ({org}'s key, after {before})")
        if org not in first:
            first[org] = (index, body)
            continue
        seen, reference = first[org]
        for name in (*fields, STORAGE, "plan_slug"):
            if body.get(name) != reference.get(name):
                raise at_field(
                    name,
                    f"{name} of {org} changed from request {seen + 1} to request {index + 1} "
                    f"(after {before}): another org's answer carried over",
                    expected=repr(reference.get(name)),
                    actual=repr(body.get(name)),
                )
