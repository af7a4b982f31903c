"""Immutable domain model of the mock: plans, orgs, machines, awake schedules, fixtures."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

# Visible ASCII, no whitespace: what can travel unchanged in an HTTP header value.
TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Plan:
    """A billing plan."""

    slug: str
    included_storage_gib: int


@dataclass(frozen=True, slots=True)
class AwakeSchedule:
    """When a machine is awake, and how busy its guest CPU is while awake.

    ``daily`` holds UTC time-of-day segments in seconds ``[lo, hi)``, (a window that wraps
    past midnight is two segments); ``windows`` holds explicit epoch-second intervals,
    sorted and merged. The awake set is the union of both.
    """

    daily: tuple[tuple[int, int], ...] = ()
    windows: tuple[tuple[int, int], ...] = ()
    cpu_percent: int = 0


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine and the sizes it is billed by. Times are aware UTC datetimes."""

    id: str
    vcpu_millicores: int
    memory_mib: int
    storage_gib: int
    logical_storage_mib: int
    created_at: datetime
    deleted_at: datetime | None
    awake: AwakeSchedule


@dataclass(frozen=True, slots=True)
class Org:
    """An organisation, its plan, its API keys and its machines."""

    id: str
    plan: Plan
    created_at: datetime
    api_keys: tuple[str, ...]
    machines: tuple[Machine, ...]


@dataclass(frozen=True, eq=False)
class Fixtures:
    """Everything the mock serves. Immutable: ``add_key`` returns a new ``Fixtures``."""

    plans: Mapping[str, Plan]
    orgs: Mapping[str, Org]
    suite_org_id: str
    suite_api_key: str
    source: str = "<memory>"
    #: An org that has never run a machine, and one of its keys, for the suite's ground truth.
    suite_empty_org_id: str | None = None
    suite_empty_api_key: str | None = None
    keys: Mapping[str, str] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = {key: org.id for org in self.orgs.values() for key in org.api_keys}
        object.__setattr__(self, "plans", MappingProxyType(dict(self.plans)))
        object.__setattr__(self, "orgs", MappingProxyType(dict(self.orgs)))
        object.__setattr__(self, "keys", MappingProxyType(keys))

    def __repr__(self) -> str:  # never show keys
        return f"Fixtures(source={self.source!r}, orgs={sorted(self.orgs)!r})"

    @property
    def suite_credentials(self) -> tuple[str, str]:
        """``(api_key, org_id)`` designated for the conformance suite."""
        return self.suite_api_key, self.suite_org_id

    @property
    def suite_empty_org(self) -> tuple[str, str] | None:
        """``(api_key, org_id)`` of the org with no machines designated for the suite, if any."""
        if self.suite_empty_api_key is None or self.suite_empty_org_id is None:
            return None
        return self.suite_empty_api_key, self.suite_empty_org_id

    def org_for_key(self, api_key: str) -> Org | None:
        """The org owning ``api_key``, or None for an unknown key."""
        org_id = self.keys.get(api_key)
        return None if org_id is None else self.orgs[org_id]

    def add_key(self, api_key: str, org_id: str) -> Fixtures:
        """Return new fixtures where ``api_key`` also authenticates ``org_id``.

        An unknown ``org_id`` becomes a demo org on the suite org's plan with copies of
        its machines. Raises ValueError for a malformed key or one owned by another org.
        The key itself never appears in an error message.
        """
        if not TOKEN.fullmatch(api_key):
            raise ValueError("an API key must be visible ASCII without spaces")
        if not TOKEN.fullmatch(org_id):
            raise ValueError("an org id must be visible ASCII without spaces")
        owner = self.keys.get(api_key)
        if owner == org_id:
            return self
        if owner is not None:
            raise ValueError(f"that API key already belongs to org {owner!r}")
        orgs = dict(self.orgs)
        base = orgs.get(org_id)
        if base is None:
            suite = self.orgs[self.suite_org_id]
            base = dataclasses.replace(suite, id=org_id, api_keys=())
        orgs[org_id] = dataclasses.replace(base, api_keys=(*base.api_keys, api_key))
        return dataclasses.replace(self, orgs=orgs)
