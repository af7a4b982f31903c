"""The canary's expected usage (conformance/_contract/expect.py): figures computed by hand for small
cases, the open period's bounds, and every mistake in the file refused with one line."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from conformance._contract.expect import (
    AWAKE,
    CPU,
    DEFAULT_EXPECT,
    LOGICAL,
    MEMORY,
    Canary,
    describe,
    epoch,
    load_canary,
    parse_canary,
)
from conformance._core.errors import ConfigError
from tests._support import M1_YAML, edits, refused_edit

H = 3_600
DAY = 86_400
MARCH = dt.date(2025, 3, 1)


def at(text: str) -> int:
    """Epoch seconds of a UTC timestamp written without its Z."""
    return epoch(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def canary(*machines: dict, tolerance: dict | None = None) -> Canary:
    document: dict = {"machines": [machine(**m) for m in machines]}
    if tolerance is not None:
        document["tolerance"] = tolerance
    return parse_canary(document, "test.yaml")


def machine(**fields) -> dict:
    base = {
        "id": "m1",
        "vcpu_millicores": 1000,
        "memory_mib": 100,
        "storage_gib": 5,
        "logical_storage_mib": 10,
        "created_at": "2025-03-10T10:30:00Z",
        "awake": "always",
    }
    return {**base, **fields}


def figures(c: Canary, period: dt.date, now: str) -> dict[str, tuple[int, int]]:
    """Every counter's (low, high) for a read at `now` (UTC, no Z)."""
    expected = c.expected(period, at(now), at(now))
    return {name: expected.bounds(name) for name in (AWAKE, MEMORY, LOGICAL, CPU)}


def test_a_machine_created_mid_hour_counts_from_its_creation():
    # created 10:30, read at 12:30: the hours closed are up to 12:00, so 1.5 h
    got = figures(canary({}), MARCH, "2025-03-10T12:30:00")
    assert got[AWAKE] == (5_400, 5_400)
    assert got[MEMORY] == (540_000, 540_000)  # 100 MiB x 5,400 s
    assert got[LOGICAL] == (54_000, 54_000)  # 10 MiB x 5,400 s
    assert got[CPU] == (0, 5_400_000)  # 1000 mc x 5,400 s x 0..100 %


def test_the_running_hour_never_counts():
    c = canary({})
    assert figures(c, MARCH, "2025-03-10T11:59:59")[AWAKE] == (1_800, 1_800)  # 10:30-11:00
    assert figures(c, MARCH, "2025-03-10T12:00:00")[AWAKE] == (5_400, 5_400)


def test_month_boundaries_split_a_lifetime():
    c = canary({"created_at": "2025-01-31T23:00:00Z", "deleted_at": "2025-02-01T01:00:00Z"})
    after = "2025-06-01T00:00:00"
    assert figures(c, dt.date(2025, 1, 1), after)[AWAKE] == (H, H)
    assert figures(c, dt.date(2025, 2, 1), after)[AWAKE] == (H, H)
    assert figures(c, dt.date(2024, 12, 1), after)[AWAKE] == (0, 0)
    assert figures(c, dt.date(2025, 3, 1), after)[LOGICAL] == (0, 0)


def test_a_machine_deleted_mid_period_stops_counting_storage_and_awake_time():
    c = canary(
        {
            "created_at": "2025-03-01T00:00:00Z",
            "deleted_at": "2025-03-02T06:15:00Z",
            "awake": {"daily": "00:00-01:00"},
        }
    )
    got = figures(c, MARCH, "2025-04-01T00:00:00")
    assert got[AWAKE] == (2 * H, 2 * H)  # 1 and 2 March, 00:00-01:00
    assert got[LOGICAL] == (
        10 * (DAY + 6 * H + 900),
        10 * (DAY + 6 * H + 900),
    )  # exists, awake or not


def test_a_daily_window_across_midnight():
    c = canary({"created_at": "2025-02-01T00:00:00Z", "awake": {"daily": "22:00-02:00"}})
    # every day of March: 00:00-02:00 and 22:00-24:00, the 1st's early hours included
    assert figures(c, MARCH, "2025-05-01T00:00:00")[AWAKE] == (31 * 4 * H, 31 * 4 * H)
    # read at 01:30 on 10 March: 9 whole days, then 00:00-01:00 of the 10th
    assert figures(c, MARCH, "2025-03-10T01:30:00")[AWAKE] == (9 * 4 * H + H, 9 * 4 * H + H)


def test_a_window_across_a_month_end_and_windows_that_overlap():
    windows = [
        ["2025-01-31T22:00:00Z", "2025-02-01T04:00:00Z"],
        ["2025-02-01T03:00:00Z", "2025-02-01T05:00:00Z"],  # overlaps the first: once
    ]
    c = canary({"created_at": "2025-01-01T00:00:00Z", "awake": {"windows": windows}})
    assert figures(c, dt.date(2025, 1, 1), "2025-06-01T00:00:00")[AWAKE] == (2 * H, 2 * H)
    assert figures(c, dt.date(2025, 2, 1), "2025-06-01T00:00:00")[AWAKE] == (5 * H, 5 * H)


def test_a_window_inside_the_daily_hours_counts_once_and_since_adds_the_rest():
    c = canary(
        {
            "created_at": "2025-03-01T00:00:00Z",
            "awake": {
                "daily": "09:00-17:00",
                "windows": [["2025-03-03T16:00:00Z", "2025-03-03T18:00:00Z"]],
                "since": "2025-03-05T12:00:00Z",
            },
        }
    )
    # 1-4 March: 4 x 8 h, plus 17:00-18:00 on the 3rd; the 5th from 09:00 on: 15 h
    assert figures(c, MARCH, "2025-03-06T00:00:00")[AWAKE] == ((32 + 1 + 15) * H,) * 2


def test_cpu_bounds_rest_on_awake_time_and_the_stated_share():
    c = canary({"created_at": "2025-03-01T00:00:00Z", "cpu_percent": [25, 75]})
    assert figures(c, MARCH, "2025-03-01T01:00:00")[CPU] == (900_000, 2_700_000)
    third = canary({"created_at": "2025-03-01T00:00:00Z", "cpu_percent": 33.3})
    # 3,600 s x 33.3 % = 1,198.8 active seconds: 1,198 at least, 1,199 at most, x 1000 mc
    assert figures(third, MARCH, "2025-03-01T01:00:00")[CPU] == (1_198_000, 1_199_000)
    asleep = canary({"created_at": "2025-03-01T00:00:00Z", "awake": "never"})
    got = figures(asleep, MARCH, "2025-03-02T00:00:00")
    assert got[CPU] == got[MEMORY] == got[AWAKE] == (0, 0) and got[LOGICAL] == (864_000,) * 2


def test_the_open_period_is_bounded_by_the_hours_closed_before_and_after_the_read():
    c = canary({"created_at": "2025-03-01T00:00:00Z"})
    expected = c.expected(MARCH, at("2025-03-10T11:59:59"), at("2025-03-10T12:00:01"))
    assert not expected.closed
    assert expected.bounds(AWAKE) == (9 * DAY + 11 * H, 9 * DAY + 12 * H)
    text = expected.derivation(AWAKE)
    assert "hours closed by 2025-03-10T11:00:00Z" in text and "a running hour never" in text
    closed = c.expected(MARCH, at("2025-04-01T00:00:00"), at("2025-04-01T00:00:01"))
    assert closed.closed and closed.bounds(AWAKE) == (31 * DAY, 31 * DAY)
    assert c.expected(
        dt.date(2025, 5, 1), at("2025-04-02T00:00:00"), at("2025-04-02T00:00:00")
    ).bounds(MEMORY) == (0, 0)  # a future month: nothing closed yet


def test_tolerances_widen_the_bounds_and_show_in_the_derivation():
    c = canary(
        {"created_at": "2025-03-01T00:00:00Z"},
        tolerance={"relative": 0.01, "clock_skew_seconds": 30, "close_delay_seconds": 600},
    )
    expected = c.expected(MARCH, at("2025-03-01T10:05:00"), at("2025-03-01T10:05:00"))
    # late closing: the hour to 10:00 may be missing still; skew: reads at 10:05:30 at most
    assert expected.bounds(AWAKE) == (round(9 * H * 0.99), round(10 * H * 1.01))
    assert "within 0.01 of each figure" in expected.derivation(AWAKE)
    assert "hours closed up to 600 s late" in describe(c)
    exact = canary({})
    assert exact.tolerance.text() == "exact" and "tolerance exact" in describe(exact)


def test_provisioned_storage_is_the_machines_that_exist_at_the_read():
    c = canary(
        {"id": "kept", "storage_gib": 40, "created_at": "2025-01-01T00:00:00Z"},
        {
            "id": "gone",
            "storage_gib": 100,
            "created_at": "2025-01-01T00:00:00Z",
            "deleted_at": "2025-02-01T00:00:00Z",
        },
        {"id": "new", "storage_gib": 7, "created_at": "2025-03-01T12:00:00Z"},
    )
    before = c.storage(at("2025-03-01T11:00:00"), at("2025-03-01T11:00:00"))
    assert before.bounds() == (40, 40) and "gone deleted 2025-02-01T00:00:00Z" in before.terms
    during = c.storage(at("2025-03-01T11:59:59"), at("2025-03-01T12:00:01"))
    assert during.bounds() == (40, 47)  # created while the request was in flight
    assert c.storage(at("2025-01-15T00:00:00"), at("2025-01-15T00:00:00")).bounds() == (140, 140)


def test_months_of_interest_surround_each_lifetime():
    c = canary(
        {"created_at": "2024-06-15T13:30:00Z", "deleted_at": "2025-07-01T00:00:00Z"},
        {"id": "m2", "created_at": "2026-11-18T08:00:00Z"},
    )
    months = [m.isoformat()[:7] for m in c.months_of_interest(dt.date(2026, 11, 1))]
    # deleted at 00:00 on 1 July: its last second is in June, July is the month after
    assert months == ["2024-05", "2024-06", "2025-06", "2025-07", "2026-10"]
    assert c.first_month() == dt.date(2024, 6, 1)


def test_the_shipped_canary_file_loads():
    shipped = load_canary(DEFAULT_EXPECT)
    assert shipped.org == "org_acme" and len(shipped.machines) == 3
    assert shipped.tolerance.text() == "exact"


GOOD = (
    "org: org_a\nmachines:\n"
    + textwrap.indent(M1_YAML, "  ")
    + """\
    deleted_at: 2025-04-01T00:00:00Z
    awake:
      daily: "09:00-17:00"
      windows:
        - [2025-03-08T00:00:00Z, 2025-03-09T00:00:00Z]
    cpu_percent: [10, 20]
"""
)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    edits(
        {
            "org: org_a": {
                "org: [a]": "org: expected an org id",
                "org: org_a\ntolerance: {relative: 1}": "relative must be a fraction",
                "org: org_a\ntolerance: {clock_skew_seconds: -1}": "clock_skew_seconds",
                "org: org_a\nmachine: []": "top level: unknown field 'machine'",
            },
            "memory_mib: 1024": {
                "memroy_mib: 1024": "machines[]: unknown field 'memroy_mib'",
                "memory_mib: -1": "machine 'm1': memory_mib must be a whole number",
            },
            "storage_gib: 10": {"storage_gib: 1.5": "machine 'm1': storage_gib must be a whole"},
            "    storage_gib: 10\n": {"": "machines[]: missing field 'storage_gib'"},
            "created_at: 2025-03-01T00:00:00Z": {
                "created_at: 2025-03-01T00:00:00": "machine 'm1': created_at: 2025-03-01T00:00:00"
                " needs a timezone",
                "created_at: 2025-03-01": "machine 'm1': created_at: expected a timestamp like",
                "created_at: '1 March'": "'1 March' is not an ISO 8601 timestamp",
            },
            "deleted_at: 2025-04-01T00:00:00Z": {
                "deleted_at: 2025-02-01T00:00:00Z": "machine 'm1': deleted_at must be after"
                " created_at"
            },
            'daily: "09:00-17:00"': {
                'daily: "9-17"': "awake: daily: expected 'HH:MM-HH:MM'",
                'daily: "09:00-09:00"': "is empty (write always",
                'daily: "09:00-25:00"': "is not a time range within a day",
            },
            "[2025-03-08T00:00:00Z, 2025-03-09T00:00:00Z]": {
                "[2025-03-09T00:00:00Z, 2025-03-08T00:00:00Z]": "window 2025-03-09T00:00:00Z must"
                " end after it starts",
                "[2025-05-08T00:00:00Z, 2025-05-09T00:00:00Z]": "window 2025-05-08T00:00:00Z lies"
                " outside the machine's lifetime",
                "[2025-03-08T00:00:00Z]": "a [start, end]",
            },
            "cpu_percent: [10, 20]": {
                "cpu_percent: [20, 10]": "cpu_percent: low 20 is above high 10",
                "cpu_percent: [10, 120]": "percentages 0..100",
            },
            "    awake:\n      daily": {"    awake: {}\n    x:\n      daily": "unknown field 'x'"},
            "machines:": {"machines: 3\nx:": "unknown field 'x'"},
            "id: m1": {"id: ''": "id must be a non-empty string"},
        }
    ),
)
def test_mistakes_are_one_line(tmp_path: Path, old: str, new: str, problem: str):
    path, message = refused_edit(
        tmp_path, GOOD, old, new, load_canary, ConfigError, name="canary.yaml", count=1
    )
    assert message.startswith(f"--expect {path}: ") and "\n" not in message
    assert problem in message, message


def test_awake_forms_and_duplicates(tmp_path: Path):
    document = yaml.safe_load(GOOD)
    document["machines"][0]["awake"] = {}
    with pytest.raises(Exception, match="empty \\(write never"):
        parse_canary(document, "x")
    document["machines"][0]["awake"] = "sometimes"
    with pytest.raises(Exception, match="expected always, never, or a mapping"):
        parse_canary(document, "x")
    document["machines"][0]["awake"] = {"since": "2025-02-01T00:00:00Z"}
    with pytest.raises(Exception, match="since must lie within the machine's lifetime"):
        parse_canary(document, "x")
    document["machines"][0]["awake"] = "always"
    document["machines"].append(dict(document["machines"][0]))
    with pytest.raises(Exception, match="machine 'm1' is described twice"):
        parse_canary(document, "x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "file not found"),
        ("machines: [\n", "not valid YAML at line 2"),
        ("- 1\n", "top level: expected a mapping"),
        (b"\xff\xfe", "cannot be read (UnicodeDecodeError)"),
    ],
)
def test_unreadable_files_are_one_line(tmp_path: Path, text, problem):
    path = tmp_path / "canary.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_canary(path)


@pytest.mark.e2e
def test_the_derivation_is_independent_of_the_mock():
    """A second reading of the metering rules, not the mock's ledger run twice: _expect
    imports nothing from conformance.mock, directly or through the suite's modules."""
    import ast
    import subprocess
    import sys

    source = Path(__file__).resolve().parents[2] / "conformance" / "_contract" / "expect.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [name for name in names if name.startswith("conformance.mock")]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, conformance._contract.expect; print(sorted(sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "conformance.mock" not in loaded
