"""Failures by root cause, and checks masked by an earlier failure in the same test.

Pure functions over the JSON-ready violation dicts (`ContractViolation.as_dict()`): data in,
data out. The report builder (`_reports.build_summary`), the renderers and the plugin (which
shortens the repeated failure text of one root cause) all read the same keys from here.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

INT64_MAX = 2**63 - 1
_LITERAL_CHARS = 300  # longer `actual` texts are not parsed as Python literals

#: What identifies a root cause: (check, status, location, value kind).
GroupKey = tuple[str, int | None, str, str]


def violation_items(violation: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The violation and every one found with it (`related`), depth first."""
    if not violation:
        return []
    items = [violation]
    for related in violation.get("related") or []:
        items += violation_items(related)
    return items


def response_status(violation: Mapping[str, Any]) -> int | None:
    """The status of the response a violation is about: the only one, or among several (a
    check comparing reads), the first that is not 200; None when no response came."""
    statuses = [(e.get("response") or {}).get("status") for e in violation.get("exchanges") or []]
    if not statuses:
        return None
    return next((status for status in statuses if status != 200), 200)


def value_kind(violation: Mapping[str, Any]) -> str:
    """The kind of the offending value, from the violation's `actual` and `expected`:
    missing, extra field, status, null, boolean, negative integer, integer over int64,
    integer, float, empty string, string, object, array, or text (not a literal: an error
    code, a media type, a transport error)."""
    actual = str(violation.get("actual") or "").strip()
    expected = str(violation.get("expected") or "")
    location = str(violation.get("location") or "")
    if expected.startswith("schema keyword 'required'") or actual in ("(missing)", "(none)"):
        return "missing"
    if expected.startswith("schema keyword 'additionalProperties'"):
        return "extra field"
    status = response_status(violation)
    if location == "status" or (not location and status is not None and actual == str(status)):
        return "status"
    if not actual:
        return "missing" if location.startswith("header ") else "text"
    return _literal_kind(actual)


def _literal_kind(text: str) -> str:
    value: Any
    try:
        if len(text) > _LITERAL_CHARS:
            raise ValueError(text)
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return {"{": "object", "[": "array"}.get(text[0], "text")  # a cut repr(...)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        if value < 0:
            return "negative integer"
        return "integer over int64" if value > INT64_MAX else "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string" if value.strip() else "empty string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple | set):
        return "array"
    return "text"


def group_key(violation: Mapping[str, Any]) -> GroupKey:
    """(check, status, location, value kind) of one violation (not its related ones)."""
    return (
        str(violation.get("check") or ""),
        response_status(violation),
        str(violation.get("location") or ""),
        value_kind(violation),
    )


def group_failures(
    failures: Iterable[tuple[str, Mapping[str, Any] | None]],
) -> list[dict[str, Any]]:
    """Failed tests, as (test id, violation) in the order they ran, grouped by root cause.

    A test that broke several checks at once is in each of their groups (once per group).
    Each group: `check`, `status`, `location`, `value_kind`, `tests` (how many), `test_ids`,
    `example` (the first test's violation of that kind, evidence included). Sorted by number
    of tests (most first), then check name."""
    groups: dict[GroupKey, dict[str, Any]] = {}
    for nodeid, violation in failures:
        for item in violation_items(violation):
            key = group_key(item)
            group = groups.get(key)
            if group is None:
                check, status, location, kind = key
                example = {k: v for k, v in item.items() if k != "related"}
                group = groups[key] = {
                    "check": check,
                    "status": status,
                    "location": location,
                    "value_kind": kind,
                    "tests": 0,
                    "test_ids": [],
                    "example": example,
                }
            if nodeid not in group["test_ids"]:
                group["test_ids"].append(nodeid)
                group["tests"] += 1
    return sorted(groups.values(), key=_group_order)


def _group_order(group: Mapping[str, Any]) -> tuple:
    status = group["status"]
    return (
        -group["tests"],
        group["check"],
        -1 if status is None else status,
        group["location"],
        group["value_kind"],
    )


def masked_checks(
    failed: Iterable[tuple[Iterable[str], Iterable[str], Iterable[str]]],
) -> dict[str, dict[str, Any]]:
    """Checks that failed tests meant to run but did not reach, because an earlier check
    failed first. `failed` holds, per failed test, (checks it intends to exercise, checks it
    exercised, checks it broke). Per masked check: `tests` (how many tests masked it) and
    `by` (tests per masking check, most first; a test that broke two checks counts for both).
    """
    tests: Counter[str] = Counter()
    by: dict[str, Counter[str]] = {}
    for intended, exercised, broken in failed:
        broke = list(dict.fromkeys(broken))
        if not broke:
            continue
        for name in set(intended) - set(exercised) - set(broke):
            tests[name] += 1
            by.setdefault(name, Counter()).update(broke)
    return {
        name: {"tests": tests[name], "by": dict(sorted(by[name].items(), key=_most_first))}
        for name in sorted(tests)
    }


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def masked_outcome(masked: Mapping[str, Any]) -> str:
    """'masked by A in 3 tests' (the masking checks, most frequent first)."""
    tests = masked["tests"]
    return f"masked by {', '.join(masked['by'])} in {tests} test{'s' if tests != 1 else ''}"


def one_line(text: str, limit: int = 160) -> str:
    """The first line of a text, cut to `limit` characters."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_key(group: Mapping[str, Any]) -> str:
    """A root cause in words: 'usage_counters_in_range: 200 at $.included_storage_gib,
    negative integer'; 'wrong_key_is_auth_invalid: status 403'."""
    status = "no response" if group["status"] is None else str(group["status"])
    if group["value_kind"] == "status":
        return f"{group['check']}: status {status}"
    where = f" at {group['location']}" if group["location"] else ""
    return f"{group['check']}: {status}{where}, {group['value_kind']}"
