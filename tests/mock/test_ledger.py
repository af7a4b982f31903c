"""The mock's ledger: hand-computed counters and the closed-hourly-bucket semantics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from conformance.mock import Fixtures, Ledger, Usage, load_fixtures
from conformance.mock._ledger import awake_seconds, daily_seconds
from conformance.mock._periods import epoch_seconds
from tests._support import empty_org_yaml, one_org_fixtures

HOUR = 3600
DAY = 86400
ONE_HOUR = timedelta(hours=1)

# m1 lives from March 1st, awake 09:00-17:00 every day at 50% CPU.
# m2 lives 2025-03-10T12:30 .. 2025-03-12T00:00, awake only 2025-03-11 10:00-13:00 at 25%.
FIXTURES = (
    one_org_fixtures("org_t", "dcs_test_tttttttt")
    + """\
      - id: m2
        vcpu_millicores: 2000
        memory_mib: 512
        storage_gib: 20
        logical_storage_mib: 10
        created_at: 2025-03-10T12:30:00Z
        deleted_at: 2025-03-12T00:00:00Z
        awake:
          windows: [[2025-03-11T10:00:00Z, 2025-03-11T13:00:00Z]]
          cpu_percent: 25
"""
    + empty_org_yaml("org_empty")
)
BILLED = (
    "billed_awake_seconds",
    "billed_cpu_millicore_seconds",
    "billed_memory_mib_seconds",
    "billed_logical_storage_mib_seconds",
)
MARCH = date(2025, 3, 1)
NOW = datetime(2025, 3, 15, 10, 20, tzinfo=UTC)  # closed buckets end at 2025-03-15T10:00


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return epoch_seconds(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


@pytest.fixture
def fx(tmp_path: Path) -> Fixtures:
    path = tmp_path / "fx.yaml"
    path.write_text(FIXTURES, encoding="utf-8")
    return load_fixtures(path)


@pytest.fixture
def ledger(fx: Fixtures) -> Ledger:
    return Ledger(fx)


def usage(ledger: Ledger, fx: Fixtures, start: date, now: datetime, org: str = "org_t") -> Usage:
    return ledger.usage(fx.orgs[org], start, epoch_seconds(now))


def test_counters_by_hand(ledger: Ledger, fx: Fixtures) -> None:
    m1_exists = 14 * DAY + 10 * HOUR  # March 1st 00:00 .. March 15th 10:00
    m1_awake = 14 * 8 * HOUR + 1 * HOUR  # 14 full windows, then 09:00-10:00 today
    m2_exists = 11 * HOUR + 30 * 60 + DAY  # March 10th 12:30 .. March 12th 00:00
    m2_awake = 3 * HOUR
    assert usage(ledger, fx, MARCH, NOW) == Usage(
        plan_slug="basic",
        billed_awake_seconds=m1_awake + m2_awake,
        billed_cpu_millicore_seconds=1000 * (m1_awake * 50 // 100) + 2000 * (m2_awake * 25 // 100),
        billed_memory_mib_seconds=1024 * m1_awake + 512 * m2_awake,
        provisioned_storage_gib=10,  # m2 is deleted by now
        included_storage_gib=5,
        billed_logical_storage_mib_seconds=100 * m1_exists + 10 * m2_exists,
    )
    assert usage(ledger, fx, MARCH, NOW).billed_awake_seconds == 417_600


def test_period_starting_mid_month_runs_to_the_next_first(ledger: Ledger, fx: Fixtures) -> None:
    late = datetime(2025, 5, 1, tzinfo=UTC)
    got = usage(ledger, fx, date(2025, 3, 31), late)
    assert got.billed_awake_seconds == 8 * HOUR
    assert got.billed_logical_storage_mib_seconds == 100 * DAY


def test_same_hour_same_counters(ledger: Ledger, fx: Fixtures) -> None:
    first = usage(ledger, fx, MARCH, NOW.replace(minute=0, second=0))
    last = usage(ledger, fx, MARCH, NOW.replace(minute=59, second=59, microsecond=999999))
    assert first == last


def test_counters_never_decrease_as_the_clock_moves(ledger: Ledger, fx: Fixtures) -> None:
    origin = datetime(2025, 2, 28, 22, tzinfo=UTC)
    previous = usage(ledger, fx, MARCH, origin)
    assert previous == Usage("basic", 0, 0, 0, 0, 5, 0)
    grew = 0
    for step in range(1, 24 * 40, 7):  # bounded walk over the month and past it
        current = usage(ledger, fx, MARCH, origin + step * ONE_HOUR)
        for name in BILLED:
            assert getattr(current, name) >= getattr(previous, name)
        grew += current != previous
        previous = current
    assert grew > 50


def test_past_period_is_stable(ledger: Ledger, fx: Fixtures) -> None:
    seen = {
        usage(ledger, fx, MARCH, now)
        for now in (
            datetime(2025, 4, 1, 0, 0, 1, tzinfo=UTC),
            datetime(2025, 6, 17, 13, 45, tzinfo=UTC),
            datetime(2031, 1, 1, tzinfo=UTC),
        )
    }
    assert len(seen) == 1
    full = usage(ledger, fx, MARCH, datetime(2026, 1, 1, tzinfo=UTC))
    assert full.billed_awake_seconds == 31 * 8 * HOUR + 3 * HOUR


@pytest.mark.parametrize("start", [date(2025, 4, 1), date(2025, 3, 16), date(9999, 12, 31)])
def test_future_period_is_zero(ledger: Ledger, fx: Fixtures, start: date) -> None:
    got = usage(ledger, fx, start, NOW)
    assert got == Usage("basic", 0, 0, 0, 10, 5, 0)


def test_current_period_before_its_first_closed_hour_is_zero(ledger: Ledger, fx: Fixtures) -> None:
    got = usage(ledger, fx, date(2025, 4, 1), datetime(2025, 4, 1, 0, 59, tzinfo=UTC))
    assert got.billed_logical_storage_mib_seconds == 0
    got = usage(ledger, fx, date(2025, 4, 1), datetime(2025, 4, 1, 1, 0, tzinfo=UTC))
    assert got.billed_logical_storage_mib_seconds == 100 * HOUR


def test_provisioned_storage_reflects_creation_and_deletion(ledger: Ledger, fx: Fixtures) -> None:
    def provisioned(*when: int) -> int:
        return ledger.provisioned_storage_gib("org_t", at(*when))

    assert provisioned(2025, 2, 28) == 0
    assert provisioned(2025, 3, 1) == 10
    assert provisioned(2025, 3, 11) == 30
    assert provisioned(2025, 3, 11, 23, 59, 59) == 30
    assert provisioned(2025, 3, 12) == 10


def test_org_without_machines_is_all_zero_but_keeps_its_plan(ledger: Ledger, fx: Fixtures) -> None:
    assert usage(ledger, fx, MARCH, NOW, "org_empty") == Usage("basic", 0, 0, 0, 0, 5, 0)


def test_shipped_fixtures_give_bounded_ints() -> None:
    fx = load_fixtures()
    ledger = Ledger(fx)
    nows = [datetime(2024, 3, 9, 12, tzinfo=UTC), datetime(2025, 10, 5, 7, tzinfo=UTC)]
    nows.append(datetime(2026, 11, 25, 12, tzinfo=UTC))
    for org in fx.orgs.values():
        for now in nows:
            for start in (date(now.year, now.month, 1), date(2025, 2, 1), date(1, 1, 1)):
                got = ledger.usage(org, start, epoch_seconds(now))
                assert got.plan_slug == org.plan.slug
                for value in got[1:]:
                    assert type(value) is int and 0 <= value < 2**63
    suite = fx.orgs[fx.suite_org_id]
    got = ledger.usage(suite, date(2026, 10, 1), epoch_seconds(nows[-1]))
    assert all(value > 0 for value in got[1:])


def test_largest_allowed_machines_stay_below_int64(tmp_path: Path) -> None:
    machine = """
      - id: m{n}
        vcpu_millicores: 1000000
        memory_mib: 100000000
        storage_gib: 1000000000
        logical_storage_mib: 1000000000
        created_at: 2025-01-01T00:00:00Z
        deleted_at: null
        awake: {{daily: "00:00-24:00", cpu_percent: 100}}"""
    text = FIXTURES.split("  - id: org_empty")[0].split("    machines:")[0]
    text += "    machines:" + "".join(machine.format(n=n) for n in range(1000)) + "\n"
    fx = load_fixtures(_write(tmp_path, text))
    got = Ledger(fx).usage(fx.orgs["org_t"], date(2025, 1, 1), at(2025, 3, 1))
    assert all(0 < value < 2**63 for value in got[1:])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "big.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_results_are_cached_per_clamped_period(ledger: Ledger, fx: Fixtures) -> None:
    usage(ledger, fx, MARCH, datetime(2025, 5, 1, tzinfo=UTC))
    usage(ledger, fx, MARCH, datetime(2025, 6, 1, tzinfo=UTC))
    info = ledger._billed.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.misses) == (1, 1)


def _brute_force(daily: tuple[tuple[int, int], ...], windows, start: int, end: int) -> int:
    """Count awake minutes one by one (all boundaries here are whole minutes)."""
    total = 0
    for t in range(start, end, 60):
        in_daily = any(lo <= t % DAY < hi for lo, hi in daily)
        in_window = any(lo <= t < hi for lo, hi in windows)
        total += 60 if in_daily or in_window else 0
    return total


@pytest.mark.parametrize(
    ("daily", "windows", "start", "end"),
    [
        (((9 * HOUR, 17 * HOUR),), (), at(2025, 3, 1, 7, 13), at(2025, 3, 4, 11, 1)),
        (((22 * HOUR, DAY), (0, 2 * HOUR)), (), at(2025, 3, 1, 1), at(2025, 3, 3, 23)),
        ((), ((at(2025, 3, 2, 5), at(2025, 3, 2, 9)),), at(2025, 3, 2, 6), at(2025, 3, 3)),
        (
            ((9 * HOUR, 17 * HOUR),),
            ((at(2025, 3, 1, 8), at(2025, 3, 1, 10)), (at(2025, 3, 2, 16, 30), at(2025, 3, 3))),
            at(2025, 2, 28, 23),
            at(2025, 3, 3, 12),
        ),
        (
            ((0, DAY),),
            ((at(1969, 12, 31, 1), at(1970, 1, 1, 2)),),
            at(1969, 12, 31),
            at(1970, 1, 2),
        ),
    ],
)
def test_awake_seconds_matches_brute_force(daily, windows, start: int, end: int) -> None:
    assert awake_seconds(daily, windows, start, end) == _brute_force(daily, windows, start, end)
    assert daily_seconds(daily, start, end) == _brute_force(daily, (), start, end)
