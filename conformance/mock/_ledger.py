"""The usage ledger: counters of an org for a period, over closed hourly buckets only.

For a period ``P = [begin, end)`` and a clock ``now``, a machine is counted over
``P ∩ [.., closed_until(now)) ∩ [created_at, deleted_at)``. Growing ``now`` only grows
that interval, so open-period counters never decrease, past periods are stable and
future periods are zero, by construction. Every figure is a nonnegative int.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import NamedTuple

from conformance.mock._model import Fixtures, Machine, Org
from conformance.mock._periods import DAY, closed_until, epoch_seconds, period_bounds

_FOREVER = 2**62


class Usage(NamedTuple):
    """The seven ``UsageBody`` fields."""

    plan_slug: str
    billed_awake_seconds: int
    billed_cpu_millicore_seconds: int
    billed_memory_mib_seconds: int
    provisioned_storage_gib: int
    included_storage_gib: int
    billed_logical_storage_mib_seconds: int


class Billed(NamedTuple):
    """The four period counters."""

    awake_seconds: int = 0
    cpu_millicore_seconds: int = 0
    memory_mib_seconds: int = 0
    logical_storage_mib_seconds: int = 0


class _Meter(NamedTuple):
    """A machine and its lifetime ``[created, deleted)`` in epoch seconds, for the hot path."""

    created: int
    deleted: int
    machine: Machine

    @classmethod
    def of(cls, machine: Machine) -> _Meter:
        deleted = machine.deleted_at
        created = epoch_seconds(machine.created_at)
        return cls(created, _FOREVER if deleted is None else epoch_seconds(deleted), machine)


class Ledger:
    """Computes ``Usage`` for the orgs of one ``Fixtures``, with a bounded LRU cache."""

    def __init__(self, fixtures: Fixtures, *, cache_size: int = 4096) -> None:
        self._meters = {
            org.id: tuple(_Meter.of(m) for m in org.machines) for org in fixtures.orgs.values()
        }
        self._billed = functools.lru_cache(maxsize=cache_size)(self._compute_billed)

    def usage(self, org: Org, period_start: date, now_epoch: int) -> Usage:
        """Usage of ``org`` for the period starting ``period_start`` as seen at ``now_epoch``."""
        billed = self.billed(org.id, period_start, now_epoch)
        return Usage(
            plan_slug=org.plan.slug,
            billed_awake_seconds=billed.awake_seconds,
            billed_cpu_millicore_seconds=billed.cpu_millicore_seconds,
            billed_memory_mib_seconds=billed.memory_mib_seconds,
            provisioned_storage_gib=self.provisioned_storage_gib(org.id, now_epoch),
            included_storage_gib=org.plan.included_storage_gib,
            billed_logical_storage_mib_seconds=billed.logical_storage_mib_seconds,
        )

    def billed(self, org_id: str, period_start: date, now_epoch: int) -> Billed:
        """The period counters, over the closed hourly buckets of the period."""
        begin, end = period_bounds(period_start)
        end = min(end, closed_until(now_epoch))
        if end <= begin:
            return Billed()
        return self._billed(org_id, begin, end)  # the key is clamped: past periods share one

    def provisioned_storage_gib(self, org_id: str, now_epoch: int) -> int:
        """Storage of the machines that exist at ``now_epoch``."""
        return sum(
            machine.storage_gib
            for created, deleted, machine in self._meters[org_id]
            if created <= now_epoch < deleted
        )

    def _compute_billed(self, org_id: str, begin: int, end: int) -> Billed:
        awake_total = cpu = memory = storage = 0
        for created, deleted, machine in self._meters[org_id]:
            start, stop = max(begin, created), min(end, deleted)
            if stop <= start:
                continue
            schedule = machine.awake
            awake = awake_seconds(schedule.daily, schedule.windows, start, stop)
            awake_total += awake
            memory += machine.memory_mib * awake
            cpu += machine.vcpu_millicores * (awake * schedule.cpu_percent // 100)
            storage += machine.logical_storage_mib * (stop - start)
        return Billed(awake_total, cpu, memory, storage)


def awake_seconds(
    daily: tuple[tuple[int, int], ...], windows: tuple[tuple[int, int], ...], start: int, end: int
) -> int:
    """Seconds of ``[start, end)`` in the union of the daily segments and the windows.

    ``windows`` must be sorted and disjoint (as the fixtures loader leaves them).
    """
    total = daily_seconds(daily, start, end)
    for lo, hi in windows:
        if lo >= end:
            break
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            total += (hi - lo) - daily_seconds(daily, lo, hi)
    return total


def daily_seconds(daily: tuple[tuple[int, int], ...], start: int, end: int) -> int:
    """Seconds of ``[start, end)`` whose UTC time of day lies in one of the ``daily`` segments."""
    return sum(_daily_prefix(lo, hi, end) - _daily_prefix(lo, hi, start) for lo, hi in daily)


def _daily_prefix(lo: int, hi: int, t: int) -> int:
    """Seconds of ``[epoch, t)`` (signed) whose time of day lies in ``[lo, hi)``."""
    days, second = divmod(t, DAY)
    return days * (hi - lo) + min(max(second - lo, 0), hi - lo)
