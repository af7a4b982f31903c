"""Checks on usage figures: ranges, and how counters of one period relate across reads."""

from __future__ import annotations

from conformance._contract import readings
from conformance._contract.spec import Contract, Operation
from conformance._core.exchange import Exchange
from conformance.checks._invariant import (
    Broken,
    at_field,
    expect_status,
    invariant,
    require_usage,
    same_fields,
    usage_body,
    zero_fields,
)

INT64_MAX = 2**63 - 1
BILLED_PREFIX = "billed_"  # the spec's naming of the period's (closed-bucket) counters
AWAKE = "billed_awake_seconds"
MEMORY = "billed_memory_mib_seconds"
RUNNING_ONLY = ("billed_cpu_millicore_seconds", MEMORY)
STORAGE = "provisioned_storage_gib"
INCLUDED = "included_storage_gib"


def billed_fields(contract: Contract, operation: Operation) -> tuple[str, ...]:
    """The period counters of the 200 body: its integer fields named `billed_*`."""
    return tuple(f for f in contract.integer_fields(operation) if f.startswith(BILLED_PREFIX))


def usage_fields(contract: Contract, operation: Operation) -> tuple[str, ...]:
    """The names of the 200 body's properties (the usage an answer may carry)."""
    documented = contract.documented_response(operation, 200)
    names: list[str] = []
    for pointer in documented.schema_pointers.values() if documented else ():
        names += [n for n in contract.resolve(pointer).get("properties", {}) if n not in names]
    return tuple(names)


@invariant
def usage_counters_in_range(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """Every usage counter and storage figure is an integer in [0, 2^63-1] (`type: integer,
    format: int64`; seconds, MiB-seconds and GiB are amounts and cannot be negative)."""
    body = usage_body(exchange)
    if body is None:
        return
    for name in contract.integer_fields(operation):
        if name not in body:
            continue  # a missing field is body_matches_schema's finding
        value = body[name]
        if type(value) is not int or not 0 <= value <= INT64_MAX:
            raise at_field(
                name,
                f"{name} = {value!r} is not an integer in [0, 2^63-1]",
                expected="integer in [0, 9223372036854775807]",
                actual=repr(value),
            )


@invariant
def plan_slug_non_empty(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """`plan_slug` names the "billing plan in effect for the organization": a non-empty string."""
    body = usage_body(exchange)
    if (
        body is not None
        and isinstance(body.get("plan_slug"), str)
        and not body["plan_slug"].strip()
    ):
        raise Broken(
            "plan_slug is empty",
            expected="a plan slug",
            actual=repr(body["plan_slug"]),
            location="$.plan_slug",
        )


@invariant
def counters_consistent(contract: Contract, operation: Operation, exchange: Exchange) -> None:
    """No CPU and no memory without awake time: `billed_cpu_millicore_seconds` ("... active
    CPU seconds") and `billed_memory_mib_seconds` ("... running allocation seconds") are 0
    when `billed_awake_seconds` ("closed awake seconds") is 0 for the period; and no awake
    time without memory: "requested memory MiB multiplied by running allocation seconds" is
    at least 1 MiB for each awake second (our reading)."""
    body = usage_body(exchange)
    if body is None:
        return
    awake, memory = body.get(AWAKE), body.get(MEMORY)
    if awake == 0:
        why = "{name} = {value} for a period with billed_awake_seconds = 0"
        zero_fields(RUNNING_ONLY, body, why, expected="0 (nothing runs while nothing is awake)")
    least = readings.MIN_MEMORY_MIB_PER_AWAKE_SECOND * awake if type(awake) is int else 0
    if type(memory) is int and 0 <= memory < least:
        raise at_field(
            MEMORY,
            f"{MEMORY} = {memory:,} for a period with {AWAKE} = {awake:,}: less than 1 MiB "
            "for each awake second",
            expected=f">= {least:,}",
            actual=memory,
        )


@invariant
def current_storage_same_for_every_period(first: Exchange, second: Exchange) -> None:
    """`provisioned_storage_gib` is the "current provisioned storage summed across machines":
    the same whichever period is asked, for two reads made back to back."""
    one = require_usage(first, "first period")
    two = require_usage(second, "second period")
    same_fields([STORAGE], one, two, "{name} differs between two periods read back to back")


@invariant
def plan_determines_included_storage(first: Exchange, second: Exchange) -> None:
    """`included_storage_gib` is the "plan-included storage": two answers that name the same
    `plan_slug` give the same figure."""
    one = require_usage(first, "first read")
    two = require_usage(second, "second read")
    if one.get("plan_slug") == two.get("plan_slug"):
        plan = one.get("plan_slug")
        same_fields([INCLUDED], one, two, f"{{name}} differs for the same plan {plan!r}")


@invariant
def open_period_monotonic(fields: tuple[str, ...], earlier: Exchange, later: Exchange) -> None:
    """Counters of the open period never decrease between two reads ("Closed ... for the period":
    closed buckets are only ever added)."""
    before = require_usage(earlier, "first read")
    after = require_usage(later, "second read")
    for name in fields:
        old, new = before.get(name), after.get(name)
        if isinstance(old, int) and isinstance(new, int) and new < old:
            raise at_field(
                name,
                f"{name} went down from {old} to {new}",
                expected=f">= {old}",
                actual=str(new),
            )


@invariant
def closed_period_stable(fields: tuple[str, ...], first: Exchange, second: Exchange) -> None:
    """A period that ended long ago reads the same every time (its buckets are all closed)."""
    one = require_usage(first, "first read")
    two = require_usage(second, "second read")
    same_fields(
        (*fields, "plan_slug"), one, two, "{name} changed between two reads of a closed period"
    )


@invariant
def future_period_unbilled(fields: tuple[str, ...], exchange: Exchange) -> None:
    """A period that starts in the future has no closed buckets: every `billed_*` counter is 0
    (or the request is refused with 400)."""
    if exchange.status == 400:
        return
    body = require_usage(exchange, "future period")
    for name in fields:
        if body.get(name) != 0:
            raise at_field(
                name,
                f"{name} = {body.get(name)!r} for a period that has not started",
                expected="0",
                actual=repr(body.get(name)),
            )


@invariant
def default_period_is_current_month(
    fields: tuple[str, ...], before: Exchange, default: Exchange, after: Exchange
) -> None:
    """Without `period_start` the period starts on the "first of current month" (UTC): the
    default read lies between two explicit reads of that month, taken before and after it."""
    _between(fields, before, default, after, "read without period_start")


@invariant
def empty_period_refused_or_default(
    fields: tuple[str, ...], before: Exchange, empty: Exchange, after: Exchange
) -> None:
    """`period_start=` with an empty value is refused as malformed (400) or read as absent,
    the default period (our reading): then it lies between two explicit reads of the current
    month ("Defaults to first of current month")."""
    expect_status(empty, readings.EMPTY_PERIOD, "an empty period_start")
    if empty.status == 200:
        _between(fields, before, empty, after, "read with an empty period_start")


def _between(
    fields: tuple[str, ...], before: Exchange, default: Exchange, after: Exchange, what: str
) -> None:
    """Raise unless `default` reads the current month: between the explicit reads around it."""
    low = require_usage(before, "explicit read before")
    mid = require_usage(default, what)
    high = require_usage(after, "explicit read after")
    for name in fields:
        first, middle, last = low.get(name), mid.get(name), high.get(name)
        if not (isinstance(first, int) and isinstance(middle, int) and isinstance(last, int)):
            continue  # a wrong type is body_matches_schema's finding
        if not first <= middle <= last:
            raise at_field(
                name,
                f"{name} in the {what} is {middle}, not the current month's ({first}..{last})",
                expected=f"{first}..{last}",
                actual=str(middle),
            )
    if mid.get("plan_slug") != low.get("plan_slug"):
        raise Broken(
            f"plan_slug differs between the {what} and the explicit current month",
            expected=repr(low.get("plan_slug")),
            actual=repr(mid.get("plan_slug")),
            location="$.plan_slug",
        )
