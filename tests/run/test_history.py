"""What a run reads of earlier ones (conformance/_run/history.py): a baseline file and a previous
summary.json, each mistake one ConfigError line; where --write-baseline may write."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from conformance._core.errors import ConfigError
from conformance._run.history import (
    check_baseline_target,
    load_baseline,
    load_previous,
    write_baseline,
)

GOOD = """\
format: dcs-conformance/baseline/1
known:
  - id: "$.error_code not UPPER_SNAKE_CASE"
    reason: gateway rewrites codes
    expires: 2026-02-01
    issue: https://tracker.example/DCS-123
    check: error_code_format
  - id: valid key answered 401
    reason: bearer fixed in 2.4
    expires: "2026-01-15"
"""


def test_a_baseline_is_read(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(GOOD, encoding="utf-8")
    baseline = load_baseline(path)
    first, second = baseline.entries
    assert (first.id, first.expires, first.issue) == (
        "$.error_code not UPPER_SNAKE_CASE", dt.date(2026, 2, 1), "https://tracker.example/DCS-123"
    )  # fmt: skip
    assert first.check == "error_code_format" and second.expires == dt.date(2026, 1, 15)
    assert baseline.standing("valid key answered 401", dt.date(2026, 1, 16))[0] == "expired"
    assert baseline.standing("other", dt.date(2026, 1, 1)) == ("new", None)
    path.write_text("known: []\n", encoding="utf-8")
    assert load_baseline(path).entries == ()


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("format: dcs-conformance/baseline/1", "format: 2", "format 2: expected"),
        ("known:", "knwon:", "top level: unknown field 'knwon'"),
        ("    expires: 2026-02-01", "    expiry: 2026-02-01",
         "known[1]: unknown field 'expiry'"),
        ("    expires: 2026-02-01", "    expires: 2026-02-30",
         "a value cannot be read (day is out of range for month)"),
        ("    expires: 2026-02-01", "    expires: '2026-02-30'",
         "known[1] '$.error_code not UPPER_SNAKE_CASE': expires '2026-02-30' is not a date"),
        ("    expires: 2026-02-01", "    expires: next week", "expires 'next week' is not a"),
        ("    expires: 2026-02-01", "    expires: 2026-02-01T00:00:00Z", "is not a date"),
        ("    reason: gateway rewrites codes", "    reason: ''", "reason must say why"),
        ("    reason: gateway rewrites codes\n", "", "known[1]: missing field 'reason'"),
        ("  - id: valid key answered 401", '  - id: "$.error_code not UPPER_SNAKE_CASE"',
         "root cause '$.error_code not UPPER_SNAKE_CASE' is listed twice"),
        ("  - id: valid key answered 401", "  - id: 401", "known[2]: id must be a root cause's"),
        ("    issue: https://tracker.example/DCS-123", "    issue: 7", "issue must be a non-empty"),
        ("format: dcs-conformance/baseline/1\nknown:\n", "known: {}\nbefore:\n",
         "top level: unknown field 'before'"),
        ("  - id: valid", "  - [id: valid", "not valid YAML at line"),
    ],
)  # fmt: skip
def test_a_malformed_baseline_is_one_line(tmp_path, old, new, problem):
    assert old in GOOD
    path = tmp_path / "b.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_baseline(path)
    message = str(info.value)
    assert message.startswith(f"--baseline {path}: ") and problem in message, message
    assert "\n" not in message


def test_a_missing_baseline_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^--baseline .*nope.yaml: file not found$"):
        load_baseline(tmp_path / "nope.yaml")


def summary(**changes) -> dict:
    return {
        "format": "dcs-conformance/summary/2",
        "finished": "2026-01-04T03:40:00Z",
        "exit": {"status": 1},
        "groups": [{"id": "valid key answered 401", "severity": {"category": "access"}}],
        **changes,
    }


def test_a_previous_summary_is_read(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary()), encoding="utf-8")
    previous = load_previous(path)
    assert previous.causes == {"valid key answered 401": {"severity": "access", "primary": None}}
    assert previous.finished == "2026-01-04T03:40:00Z" and previous.verdict


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('{"format": "x"}', "not a summary.json of dcs-conformance"),
        (json.dumps(summary(groups=[{"rank": 1}])), "its groups are not as the suite writes"),
        (json.dumps(summary(groups=None)), "its groups are not as the suite writes"),
    ],
)
def test_a_malformed_previous_summary_is_one_line(tmp_path, text, problem):
    path = tmp_path / "summary.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_previous(path)
    assert str(info.value).startswith(f"--previous {path}: ") and problem in str(info.value)
    with pytest.raises(ConfigError, match="file not found"):
        load_previous(tmp_path / "none.json")


def test_write_baseline_never_overwrites_another_file(tmp_path):
    other = tmp_path / "notes.yaml"
    other.write_text("shopping: [milk]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"exists and is not a baseline .*: not overwritten$"):
        check_baseline_target(other, source_given=False)
    assert check_baseline_target(other, source_given=True) is None  # --baseline is the source
    with pytest.raises(ConfigError, match="is a directory"):
        check_baseline_target(tmp_path, source_given=False)
    ours = tmp_path / "deep" / "baseline.yaml"
    assert check_baseline_target(ours, source_given=False) is None and ours.parent.is_dir()
    write_baseline(ours, GOOD)
    old = check_baseline_target(ours, source_given=False)
    assert old is not None and len(old.entries) == 2  # its reasons are kept
    assert [p.name for p in ours.parent.iterdir()] == ["baseline.yaml"]
