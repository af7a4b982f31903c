"""The canary's expected usage: the suite's own reading of how DCS meters, applied to an org
whose machines an operator describes in a small YAML file (`--expect FILE`).

From the spec's field descriptions ("Closed ... in billed org buckets for the period"):

- usage is metered in UTC clock hours; an hour counts once it has closed (its end is past),
  so the running hour never counts and a period is the hours of its month closed so far;
- `billed_awake_seconds`: the seconds of those hours in which a machine existed
  (`[created_at, deleted_at)`) and was awake, summed over the machines;
- `billed_memory_mib_seconds`: `memory_mib` x each machine's awake seconds, summed;
- `billed_logical_storage_mib_seconds`: `logical_storage_mib` x the seconds of those hours in
  which each machine existed, awake or not, summed;
- `billed_cpu_millicore_seconds`: `vcpu_millicores` x guest-owned active CPU seconds. Those
  are not known in advance, so only bounds are derived: a guest's CPU is active only while its
  machine is awake, and at most all of that time, so each machine adds between
  `vcpu_millicores x awake seconds x low%` (rounded down) and `... x high%` (rounded up), with
  `cpu_percent: [low, high]` from the file (default `[0, 100]`);
- `provisioned_storage_gib`: `storage_gib` of the machines that exist when the request is
  answered, whatever the period.

Pure: no I/O but `load_canary`, no clock (callers pass times as epoch seconds), and nothing
from `conformance.mock`, whose ledger is another, independent reading of the same rules.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance._core.dates import add_months
from conformance._core.errors import ConfigError
from conformance.resources import data_path
from conformance.yaml_input import Invalid, items, mapping, read_yaml

HOUR = 3_600
DAY = 86_400
#: The expectation the embedded mock's suite org (the canary) is held to.
DEFAULT_EXPECT = data_path("fixtures", "canary-expect.yaml")

AWAKE = "billed_awake_seconds"
CPU = "billed_cpu_millicore_seconds"
MEMORY = "billed_memory_mib_seconds"
LOGICAL = "billed_logical_storage_mib_seconds"
PROVISIONED = "provisioned_storage_gib"
#: The counters whose figure is known exactly for a closed period (CPU has bounds only).
EXACT = (AWAKE, MEMORY, LOGICAL)
COUNTERS = (AWAKE, CPU, MEMORY, LOGICAL)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAILY = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_SIZES = ("vcpu_millicores", "memory_mib", "storage_gib", "logical_storage_mib")
_MAX_SIZE = 10**9
_MAX_SECONDS = 86_400  # for the two clock tolerances: a day is already far too much


# --- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Awake:
    """When a machine is awake (within its lifetime): the union of the parts given."""

    always: bool = False
    since: int | None = None  # epoch seconds: awake from then on
    daily: tuple[tuple[int, int], ...] = ()  # UTC seconds of the day, [lo, hi); a wrap is two
    windows: tuple[tuple[int, int], ...] = ()  # epoch seconds, [start, end)
    text: str = "never"  # as the file says it, for derivations

    def intervals(self, start: int, end: int) -> list[tuple[int, int]]:
        """The awake part of `[start, end)`, as sorted disjoint intervals."""
        if end <= start:
            return []
        found = []
        if self.always:
            found.append((start, end))
        if self.since is not None:
            found.append((max(start, self.since), end))
        for day in range(start // DAY, -(-end // DAY)):  # every UTC day that [start, end) touches
            midnight = day * DAY
            found += [(max(start, midnight + lo), min(end, midnight + hi)) for lo, hi in self.daily]
        found += [(max(start, lo), min(end, hi)) for lo, hi in self.windows]
        return _merge(found)


@dataclass(frozen=True)
class Machine:
    """One machine of the canary, as the operator describes it."""

    id: str
    vcpu_millicores: int
    memory_mib: int
    storage_gib: int
    logical_storage_mib: int
    created: int  # epoch seconds
    deleted: int | None
    awake: Awake
    cpu_percent: tuple[float, float] = (0.0, 100.0)

    def exists_at(self, instant: float) -> bool:
        return self.created <= instant and (self.deleted is None or instant < self.deleted)

    def life(self, start: int, end: int) -> tuple[int, int]:
        """The part of `[start, end)` in which the machine exists (may be empty: lo >= hi)."""
        return max(start, self.created), min(end, end if self.deleted is None else self.deleted)


@dataclass(frozen=True)
class Tolerance:
    """How far the target may be from the derived figures; all zero (exact) by default."""

    relative: float = 0.0  # a fraction of each expected figure, either way
    clock_skew_seconds: int = 0  # how far the target's clock may be from ours
    close_delay_seconds: int = 0  # how long after its end an hour may still be open there

    def text(self) -> str:
        parts = []
        if self.relative:
            parts.append(f"within {self.relative:.6g} of each figure (relative)")
        if self.clock_skew_seconds:
            parts.append(f"clock skew up to {self.clock_skew_seconds} s")
        if self.close_delay_seconds:
            parts.append(f"hours closed up to {self.close_delay_seconds} s late")
        return ", ".join(parts) or "exact"

    def widen(self, low: int, high: int) -> tuple[int, int]:
        """`[low, high]` widened by the relative tolerance (whole units, outward)."""
        if not self.relative:
            return low, high
        return math.floor(low * (1 - self.relative)), math.ceil(high * (1 + self.relative))


@dataclass(frozen=True)
class Share:
    """One machine's part of one period: seconds it existed and seconds it was awake."""

    machine: Machine
    exists: int
    awake: int


@dataclass(frozen=True)
class Usage:
    """The canary's figures for a period, over its hours closed by `until`."""

    period: dt.date
    until: int  # epoch seconds: the end of the counted hours (the period's end at most)
    shares: tuple[Share, ...]

    def figure(self, name: str) -> tuple[int, int]:
        """(lowest, highest) for one counter: the same twice but for CPU."""
        if name == AWAKE:
            value = sum(s.awake for s in self.shares)
        elif name == MEMORY:
            value = sum(s.machine.memory_mib * s.awake for s in self.shares)
        elif name == LOGICAL:
            value = sum(s.machine.logical_storage_mib * s.exists for s in self.shares)
        elif name == CPU:
            return (
                sum(_cpu(s, s.machine.cpu_percent[0], math.floor) for s in self.shares),
                sum(_cpu(s, s.machine.cpu_percent[1], math.ceil) for s in self.shares),
            )
        else:
            raise KeyError(name)
        return value, value

    def terms(self, name: str) -> str:
        """How the figure adds up, machine by machine."""
        parts = []
        for s in self.shares:
            m = s.machine
            if name == AWAKE and s.awake:
                parts.append(f"{m.id}: awake {s.awake:,} s ({m.awake.text})")
            elif name == MEMORY and s.awake:
                parts.append(f"{m.id}: {m.memory_mib:,} MiB x awake {s.awake:,} s")
            elif name == LOGICAL and s.exists:
                parts.append(f"{m.id}: {m.logical_storage_mib:,} MiB x existing {s.exists:,} s")
            elif name == CPU and s.awake:
                low, high = m.cpu_percent
                parts.append(
                    f"{m.id}: {m.vcpu_millicores:,} mc x awake {s.awake:,} s x "
                    f"{low:g}..{high:g}% active"
                )
        return " + ".join(parts) or "no machine of the canary counts"


def _cpu(share: Share, percent: float, rounding: Any) -> int:
    return share.machine.vcpu_millicores * int(rounding(share.awake * percent / 100))


@dataclass(frozen=True)
class Expected:
    """What the canary must show for a period read between two instants: the figures of the
    hours closed by the earliest instant the target may have read at (`low`), and by the
    latest (`high`); the same when the period was over and closed by then."""

    source: str
    tolerance: Tolerance
    low: Usage
    high: Usage

    @property
    def period(self) -> dt.date:
        return self.low.period

    @property
    def closed(self) -> bool:
        """Every hour of the period had closed before the request (our clock, less the file's
        tolerances)."""
        return self.low.until == month_bounds(self.period)[1]

    def bounds(self, name: str) -> tuple[int, int]:
        """The lowest and highest figure a correct target may show, the tolerance applied."""
        return self.tolerance.widen(self.low.figure(name)[0], self.high.figure(name)[1])

    def derivation(self, name: str) -> str:
        """How the expectation of `name` was derived, for a failure message."""
        if self.low.until == self.high.until:
            how = f"{self.high.terms(name)}; hours closed by {_iso(self.high.until)}"
        else:
            how = (
                f"at least {self.low.terms(name)} (hours closed by {_iso(self.low.until)}), at "
                f"most {self.high.terms(name)} (hours closed by {_iso(self.high.until)}; a "
                "running hour never counts)"
            )
        return f"{how}; from {self.source}, tolerance {self.tolerance.text()}"


@dataclass(frozen=True)
class Storage:
    """`provisioned_storage_gib` for a read between two instants: machines that existed the
    whole time count in `low`, those that existed at any moment of it in `high`."""

    source: str
    tolerance: Tolerance
    low: int
    high: int
    terms: str

    def bounds(self) -> tuple[int, int]:
        return self.tolerance.widen(self.low, self.high)

    def derivation(self) -> str:
        return f"{self.terms}; from {self.source}, tolerance {self.tolerance.text()}"


@dataclass(frozen=True)
class Canary:
    """An org the operator controls and describes: its machines, and the tolerances."""

    path: str  # the file, as given
    org: str | None
    machines: tuple[Machine, ...]
    tolerance: Tolerance = Tolerance()

    @property
    def source(self) -> str:
        """The file's name, for derivations."""
        return Path(self.path).name

    def usage(self, period: dt.date, closed_until: int) -> Usage:
        """The figures of `period` over its hours closed by `closed_until` (an hour boundary)."""
        begin, end = month_bounds(period)
        end = max(begin, min(end, closed_until))
        shares = []
        for machine in self.machines:
            lo, hi = machine.life(begin, end)
            if lo < hi:
                awake = sum(b - a for a, b in machine.awake.intervals(lo, hi))
                shares.append(Share(machine, hi - lo, awake))
        return Usage(period, end, tuple(shares))

    def expected(self, period: dt.date, earliest: float, latest: float) -> Expected:
        """What the target must show for `period`, read no earlier than `earliest` and no later
        than `latest` (epoch seconds, our clock)."""
        tolerance = self.tolerance
        first = math.floor(earliest) - tolerance.clock_skew_seconds - tolerance.close_delay_seconds
        last = math.ceil(latest) + tolerance.clock_skew_seconds
        return Expected(
            self.source,
            tolerance,
            self.usage(period, closed_until(first)),
            self.usage(period, closed_until(last)),
        )

    def storage(self, earliest: float, latest: float) -> Storage:
        """`provisioned_storage_gib` for a read between `earliest` and `latest`."""
        skew = self.tolerance.clock_skew_seconds
        first, last = math.floor(earliest) - skew, math.ceil(latest) + skew
        always = [m for m in self.machines if m.exists_at(first) and m.exists_at(last)]
        ever = [m for m in self.machines if m.created <= last and not _gone_by(m, first)]
        terms = " + ".join(f"{m.id}: {m.storage_gib:,} GiB" for m in ever) or "no machine"
        gone = [m for m in self.machines if _gone_by(m, first)]
        if gone:
            terms += " (" + ", ".join(f"{m.id} deleted {_iso(m.deleted)}" for m in gone) + ")"
        low = sum(m.storage_gib for m in always)
        return Storage(self.source, self.tolerance, low, sum(m.storage_gib for m in ever), terms)

    def first_month(self) -> dt.date | None:
        """The month the canary's first machine was created in (None: no machine)."""
        if not self.machines:
            return None
        return _month_of(min(m.created for m in self.machines))

    def months_of_interest(self, current: dt.date) -> list[dt.date]:
        """Closed months (before `current`'s) where the figures change shape: the month before
        each machine's creation, its creation month, its deletion month and the month after,
        and the last closed month."""
        months = {add_months(current, -1)}
        for m in self.machines:
            created = _month_of(m.created)
            months |= {add_months(created, -1), created}
            if m.deleted is not None:
                deleted = _month_of(m.deleted - 1)
                months |= {deleted, add_months(deleted, 1)}
        return sorted(month for month in months if dt.date(1970, 1, 1) <= month < current)


def _gone_by(machine: Machine, instant: int) -> bool:
    return machine.deleted is not None and machine.deleted <= instant


# --- calendar --------------------------------------------------------------------------------


def epoch(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // dt.timedelta(seconds=1)


def _iso(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    return (_EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _month_of(seconds: int) -> dt.date:
    day = (_EPOCH + dt.timedelta(seconds=seconds)).date()
    return day.replace(day=1)


def month_bounds(period: dt.date) -> tuple[int, int]:
    """Epoch seconds `[period, the first of the next month)` (UTC)."""
    begin = epoch(dt.datetime(period.year, period.month, period.day, tzinfo=dt.UTC))
    days = calendar.monthrange(period.year, period.month)[1] - period.day + 1
    return begin, begin + days * DAY


def closed_until(instant: int) -> int:
    """The end of the last hour closed at `instant`: hours `[h, h + 1)` with `h + 1 <= instant`."""
    return instant - instant % HOUR


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(i for i in intervals if i[0] < i[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


# --- the file --------------------------------------------------------------------------------


def load_canary(path: str | Path) -> Canary:
    """Read and validate an expectation file; any mistake is one `ConfigError` line."""
    try:
        return parse_canary(read_yaml(path), str(path))
    except Invalid as exc:
        raise ConfigError(f"--expect {path}: {exc}") from None


def parse_canary(document: Any, path: str) -> Canary:
    """The canary a parsed YAML document describes (`Invalid` for any mistake)."""
    top = mapping(document, "top level", required={"machines"}, optional={"org", "tolerance"})
    org = top.get("org")
    if org is not None and (not isinstance(org, str) or not org.strip() or org != org.strip()):
        raise Invalid("org: expected an org id")
    machines = tuple(_machine(raw) for raw in items(top["machines"], "machines"))
    ids = [m.id for m in machines]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise Invalid(f"machine {twice[0]!r} is described twice")
    tolerance = _tolerance(top.get("tolerance") or {})
    return Canary(path, org, machines, tolerance)


def _machine(raw: Any) -> Machine:
    names = {"id", "created_at", "awake", *_SIZES}
    fields = mapping(raw, "machines[]", required=names, optional={"deleted_at", "cpu_percent"})
    machine_id = fields["id"]
    if not isinstance(machine_id, str) or not machine_id.strip():
        raise Invalid("machines[]: id must be a non-empty string")
    where = f"machine {machine_id!r}"
    sizes = {name: _size(fields[name], f"{where}: {name}") for name in _SIZES}
    created = _instant(fields["created_at"], f"{where}: created_at")
    deleted = fields.get("deleted_at")
    if deleted is not None:
        deleted = _instant(deleted, f"{where}: deleted_at")
        if deleted <= created:
            raise Invalid(f"{where}: deleted_at must be after created_at")
    awake = _awake(fields["awake"], f"{where}: awake", created, deleted)
    cpu = _cpu_percent(fields.get("cpu_percent", [0, 100]), f"{where}: cpu_percent")
    return Machine(
        machine_id, created=created, deleted=deleted, awake=awake, cpu_percent=cpu, **sizes
    )


def _awake(raw: Any, where: str, created: int, deleted: int | None) -> Awake:
    if raw == "always":
        return Awake(always=True, text="always")
    if raw == "never":
        return Awake()
    if not isinstance(raw, dict):
        raise Invalid(f"{where}: expected always, never, or a mapping of since, daily, windows")
    fields = mapping(raw, where, required=set(), optional={"since", "daily", "windows"})
    if not fields:
        raise Invalid(f"{where}: empty (write never for a machine that never wakes)")
    end = deleted if deleted is not None else math.inf
    since = None
    texts = []
    if fields.get("since") is not None:
        since = _instant(fields["since"], f"{where}: since")
        if not created <= since < end:
            raise Invalid(f"{where}: since must lie within the machine's lifetime")
        texts.append(f"since {_iso(since)}")
    daily: tuple[tuple[int, int], ...] = ()
    if fields.get("daily") is not None:
        daily = _daily(fields["daily"], f"{where}: daily")
        texts.append(f"daily {fields['daily']} UTC")
    windows = []
    for pair in items(fields.get("windows") or [], f"{where}: windows"):
        if not isinstance(pair, list) or len(pair) != 2:
            raise Invalid(f"{where}: each window must be a [start, end] pair")
        start, stop = (_instant(t, f"{where}: windows") for t in pair)
        if stop <= start:
            raise Invalid(f"{where}: window {_iso(start)} must end after it starts")
        if stop <= created or start >= end:
            raise Invalid(f"{where}: window {_iso(start)} lies outside the machine's lifetime")
        windows.append((start, stop))
    if windows:
        texts.append(f"{len(windows)} window{'s' if len(windows) > 1 else ''}")
    return Awake(False, since, daily, tuple(_merge(windows)), " + ".join(texts) or "never")


def _daily(raw: Any, where: str) -> tuple[tuple[int, int], ...]:
    match = _DAILY.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise Invalid(f"{where}: expected 'HH:MM-HH:MM' (UTC), got {raw!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise Invalid(f"{where}: {raw!r} is not a time range within a day")
    lo, hi = h1 * HOUR + m1 * 60, h2 * HOUR + m2 * 60
    if lo == hi:
        raise Invalid(f"{where}: {raw!r} is empty (write always for a machine always awake)")
    if lo < hi:
        return ((lo, hi),)
    return tuple(part for part in ((lo, DAY), (0, hi)) if part[0] < part[1])  # past midnight


def _cpu_percent(raw: Any, where: str) -> tuple[float, float]:
    pair = raw if isinstance(raw, list) else [raw, raw]
    if len(pair) != 2 or not all(_is_number(v) and 0 <= v <= 100 for v in pair):
        raise Invalid(f"{where}: expected [low, high], percentages 0..100")
    if pair[0] > pair[1]:
        raise Invalid(f"{where}: low {pair[0]} is above high {pair[1]}")
    return float(pair[0]), float(pair[1])


def _tolerance(raw: Any) -> Tolerance:
    names = {"relative", "clock_skew_seconds", "close_delay_seconds"}
    fields = mapping(raw, "tolerance", required=set(), optional=names)
    relative = fields.get("relative", 0)
    if not _is_number(relative) or not 0 <= relative < 1:
        raise Invalid("tolerance: relative must be a fraction in [0, 1), e.g. 0.001")
    seconds = {}
    for name in ("clock_skew_seconds", "close_delay_seconds"):
        value = fields.get(name, 0)
        if type(value) is not int or not 0 <= value <= _MAX_SECONDS:
            raise Invalid(f"tolerance: {name} must be whole seconds, 0..{_MAX_SECONDS}")
        seconds[name] = value
    return Tolerance(float(relative), **seconds)


def _size(raw: Any, where: str) -> int:
    if type(raw) is not int or not 0 <= raw <= _MAX_SIZE:
        raise Invalid(f"{where} must be a whole number 0..{_MAX_SIZE:,}")
    return raw


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _instant(raw: Any, where: str) -> int:
    """Epoch seconds of a timestamp with a timezone (YAML's own, or an ISO 8601 string)."""
    if isinstance(raw, str):
        try:
            raw = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"{where}: {raw!r} is not an ISO 8601 timestamp") from None
    if not isinstance(raw, dt.datetime):
        raise Invalid(f"{where}: expected a timestamp like 2025-01-31T09:00:00Z")
    if raw.tzinfo is None:
        raise Invalid(f"{where}: {raw.isoformat()} needs a timezone, e.g. a trailing Z")
    return epoch(raw.astimezone(dt.UTC))


def describe(canary: Canary) -> str:
    """One line for the report header."""
    machines = len(canary.machines)
    org = f"org {canary.org}, " if canary.org else ""
    return (
        f"{canary.source} ({org}{machines} machine{'s' if machines != 1 else ''}, tolerance "
        f"{canary.tolerance.text()})"
    )
