"""Load and validate the fixtures YAML file into the immutable model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.mock._model import TOKEN, AwakeSchedule, Fixtures, Machine, Org, Plan
from conformance.mock._periods import epoch_seconds
from conformance.resources import data_path
from conformance.yaml_input import Invalid, items, mapping, read_yaml

DEFAULT_FIXTURES = data_path("fixtures", "dcs-mock.yaml")

# Upper bounds that keep every counter below 2**63: a period lasts at most 31 days
# (2_678_400 s), so the largest sum is 1_000 machines x 10**9 MiB x 2_678_400 s < 2.7e18.
_LIMITS = {
    "included_storage_gib": 10**9,
    "vcpu_millicores": 10**6,
    "memory_mib": 10**8,
    "storage_gib": 10**9,
    "logical_storage_mib": 10**9,
}
_MAX_MACHINES_PER_ORG = 1_000
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DAILY = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_DAY = 86_400


class FixturesError(ValueError):
    """The fixtures file is missing or invalid; the message is one line naming the file."""


def load_fixtures(path: str | Path | None = None) -> Fixtures:
    """Load fixtures from ``path`` (default ``DEFAULT_FIXTURES``); raise FixturesError."""
    source = str(DEFAULT_FIXTURES if path is None else path)
    try:
        return _build(read_yaml(source), source)
    except Invalid as exc:
        raise FixturesError(f"{source}: {exc}") from None


def _build(document: Any, source: str) -> Fixtures:
    top = mapping(document, "top level", required={"suite", "plans", "orgs"})
    plans: dict[str, Plan] = {}
    for raw in items(top["plans"], "plans"):
        plan = _plan(raw)
        if plan.slug in plans:
            raise Invalid(f"plan {plan.slug!r} is defined twice")
        plans[plan.slug] = plan
    orgs: dict[str, Org] = {}
    owners: dict[str, str] = {}
    for raw in items(top["orgs"], "orgs"):
        org = _org(raw, plans)
        if org.id in orgs:
            raise Invalid(f"org {org.id!r} is defined twice")
        for key in org.api_keys:
            if key in owners:
                # never echo a key, not even a fake one
                raise Invalid(f"org {org.id!r}: an API key is also listed for {owners[key]!r}")
            owners[key] = org.id
        orgs[org.id] = org
    suite = mapping(top["suite"], "suite", required={"org", "api_key"}, optional=set(_EMPTY_ORG))
    suite_org, suite_key = _token(suite["org"], "suite: org"), _token(suite["api_key"], "suite")
    if suite_org not in orgs:
        raise Invalid(f"suite: unknown org {suite_org!r}")
    if owners.get(suite_key) != suite_org:
        raise Invalid(f"suite: api_key is not one of org {suite_org!r}'s api_keys")
    empty = _empty_org(suite, orgs, owners, suite_org)
    return Fixtures(plans, orgs, suite_org, suite_key, source, *empty)


#: The suite's empty org: an org that never ran a machine, and one of its keys (both or none).
_EMPTY_ORG = {"empty_org": "suite: empty_org", "empty_org_api_key": "suite"}


def _empty_org(
    suite: Mapping[str, Any], orgs: Mapping[str, Org], owners: Mapping[str, str], suite_org: str
) -> tuple[str | None, str | None]:
    given = [name for name in _EMPTY_ORG if suite.get(name) is not None]
    if not given:
        return None, None
    if len(given) == 1:
        missing = next(name for name in _EMPTY_ORG if name not in given)
        raise Invalid(f"suite: {given[0]} needs {missing}")
    org_id, key = (_token(suite[name], where) for name, where in _EMPTY_ORG.items())
    if org_id not in orgs:
        raise Invalid(f"suite: unknown empty_org {org_id!r}")
    if org_id == suite_org:
        raise Invalid("suite: empty_org must be another org than the suite's")
    if orgs[org_id].machines:
        raise Invalid(f"suite: empty_org {org_id!r} has machines")
    if owners.get(key) != org_id:
        raise Invalid(f"suite: empty_org_api_key is not one of org {org_id!r}'s api_keys")
    return org_id, key


def _plan(raw: Any) -> Plan:
    fields = mapping(raw, "plans[]", required={"slug", "included_storage_gib"})
    slug = fields["slug"]
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise Invalid(f"plan slug {slug!r} must match [a-z0-9][a-z0-9_-]*")
    where = f"plan {slug!r}"
    return Plan(slug, _count(fields, "included_storage_gib", where))


def _org(raw: Any, plans: Mapping[str, Plan]) -> Org:
    fields = mapping(raw, "orgs[]", required={"id", "plan", "created_at", "api_keys", "machines"})
    org_id = _token(fields["id"], "org id")
    where = f"org {org_id!r}"
    plan = fields["plan"]
    if not isinstance(plan, str) or plan not in plans:
        raise Invalid(f"{where}: unknown plan {plan!r}")
    keys = tuple(
        _token(key, f"{where}: api_keys") for key in items(fields["api_keys"], f"{where}: api_keys")
    )
    if len(set(keys)) != len(keys):
        raise Invalid(f"{where}: an API key is listed twice")
    created = _instant(fields["created_at"], f"{where}: created_at")
    machines = tuple(_machine(m, where) for m in items(fields["machines"], f"{where}: machines"))
    if len(machines) > _MAX_MACHINES_PER_ORG:
        raise Invalid(f"{where}: more than {_MAX_MACHINES_PER_ORG} machines")
    ids = [m.id for m in machines]
    if len(set(ids)) != len(ids):
        raise Invalid(f"{where}: a machine id is listed twice")
    for machine in machines:
        if machine.created_at < created:
            raise Invalid(f"{where}: machine {machine.id!r} is created before its org")
    return Org(org_id, plans[plan], created, keys, machines)


def _machine(raw: Any, org_where: str) -> Machine:
    names = {"id", "created_at", "deleted_at", "awake", *_LIMITS} - {"included_storage_gib"}
    fields = mapping(raw, f"{org_where}: machines[]", required=names)
    machine_id = _token(fields["id"], f"{org_where}: machine id")
    where = f"{org_where}: machine {machine_id!r}"
    created = _instant(fields["created_at"], f"{where}: created_at")
    deleted = fields["deleted_at"]
    if deleted is not None:
        deleted = _instant(deleted, f"{where}: deleted_at")
        if deleted <= created:
            raise Invalid(f"{where}: deleted_at must be after created_at")
    return Machine(
        id=machine_id,
        vcpu_millicores=_count(fields, "vcpu_millicores", where, minimum=1),
        memory_mib=_count(fields, "memory_mib", where, minimum=1),
        storage_gib=_count(fields, "storage_gib", where),
        logical_storage_mib=_count(fields, "logical_storage_mib", where),
        created_at=created,
        deleted_at=deleted,
        awake=_awake(fields["awake"], f"{where}: awake"),
    )


def _awake(raw: Any, where: str) -> AwakeSchedule:
    fields = mapping(raw, where, required={"cpu_percent"}, optional={"daily", "windows"})
    percent = fields["cpu_percent"]
    if type(percent) is not int or not 0 <= percent <= 100:
        raise Invalid(f"{where}: cpu_percent must be an integer 0..100")
    daily: tuple[tuple[int, int], ...] = ()
    if fields.get("daily") is not None:
        daily = _daily(fields["daily"], f"{where}: daily")
    windows: list[tuple[int, int]] = []
    for pair in items(fields.get("windows") or [], f"{where}: windows"):
        if not isinstance(pair, list) or len(pair) != 2:
            raise Invalid(f"{where}: each window must be a [start, end] pair")
        start = epoch_seconds(_instant(pair[0], f"{where}: windows"))
        end = epoch_seconds(_instant(pair[1], f"{where}: windows"))
        if end <= start:
            raise Invalid(f"{where}: a window must end after it starts")
        windows.append((start, end))
    return AwakeSchedule(daily, _merge(windows), percent)


def _daily(raw: Any, where: str) -> tuple[tuple[int, int], ...]:
    match = _DAILY.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise Invalid(f"{where}: expected 'HH:MM-HH:MM', got {raw!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise Invalid(f"{where}: {raw!r} is not a time range within a day")
    lo, hi = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if lo == hi:
        raise Invalid(f"{where}: {raw!r} is empty (use 00:00-24:00 for always)")
    return ((lo, hi),) if lo < hi else tuple(s for s in ((lo, _DAY), (0, hi)) if s[0] < s[1])


def _merge(windows: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _token(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not TOKEN.fullmatch(raw):
        raise Invalid(f"{where}: expected visible ASCII text without spaces")
    return raw


def _count(fields: Mapping[str, Any], name: str, where: str, *, minimum: int = 0) -> int:
    value = fields[name]
    if type(value) is not int or not minimum <= value <= _LIMITS[name]:
        raise Invalid(f"{where}: {name} must be an integer {minimum}..{_LIMITS[name]}")
    return value


def _instant(raw: Any, where: str) -> datetime:
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"{where}: {raw!r} is not an ISO 8601 timestamp") from None
    if not isinstance(raw, datetime):
        raise Invalid(f"{where}: expected a timestamp like 2025-01-31T09:00:00Z")
    if raw.tzinfo is None:
        raise Invalid(f"{where}: timestamp needs a timezone, e.g. a trailing Z")
    return raw.astimezone(UTC)
