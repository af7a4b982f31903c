"""The mock's fixtures: the shipped file, validation messages, add_key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.mock import DEFAULT_FIXTURES, Fixtures, FixturesError, load_fixtures
from tests._support import edits, empty_org_yaml, one_org_fixtures, refused_edit

GOOD = one_org_fixtures("org_a", "dcs_test_aaaaaaaa")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fx.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_fixtures_cover_the_required_cases() -> None:
    fx = load_fixtures()
    assert DEFAULT_FIXTURES.name == "dcs-mock.yaml" and DEFAULT_FIXTURES.is_file()
    assert len(fx.orgs) >= 3 and len({org.plan.slug for org in fx.orgs.values()}) >= 2
    assert any(not org.machines for org in fx.orgs.values())
    machines = [m for org in fx.orgs.values() for m in org.machines]
    assert any(m.deleted_at is not None for m in machines)
    api_key, org_id = fx.suite_credentials
    assert api_key.startswith("dcs_test_")
    assert fx.org_for_key(api_key) is fx.orgs[org_id]
    assert all(key.startswith("dcs_test_") for key in fx.keys)


def test_repr_never_shows_keys() -> None:
    fx = load_fixtures()
    assert "dcs_test_" not in repr(fx)


EMPTY_ORG = empty_org_yaml("org_e")
WITH_EMPTY = (
    GOOD.replace(
        "suite: {org: org_a, api_key: dcs_test_aaaaaaaa}",
        "suite: {org: org_a, api_key: dcs_test_aaaaaaaa, empty_org: org_e,"
        " empty_org_api_key: dcs_test_eeeeeeee}",
    )
    + EMPTY_ORG
)


@pytest.mark.parametrize(
    ("base", "old", "new", "problem"),
    edits(
        {
            "plan: basic\n": {"plan: gold\n": "org 'org_a': unknown plan 'gold'"},
            "memory_mib: 1024": {
                "memory_mib: -1": "machine 'm1': memory_mib must be an integer",
                "memroy_mib: 1024": "unknown field 'memroy_mib'",
            },
            "deleted_at: null": {"deleted_at: 2025-02-01T00:00:00Z": "deleted_at must be after"},
            "2025-03-01T00:00:00Z": {"2025-03-01T00:00:00": "timestamp needs a timezone"},
            '"09:00-17:00"': {'"09:00-25:00"': "is not a time range within a day"},
            "cpu_percent: 50": {"cpu_percent: 101": "cpu_percent must be an integer 0..100"},
            "api_key: dcs_test_aaaaaaaa}": {"api_key: dcs_test_bbbbbbbb}": "suite: api_key is not"},
            "{slug: basic,": {"{slug: Basic Plan,": "plan slug 'Basic Plan' must match"},
        },
        GOOD,
    )
    + edits(
        {
            "empty_org: org_e,": {
                "empty_org: org_x,": "suite: unknown empty_org 'org_x'",
                "empty_org: org_a,": "empty_org must be another org",
                "": "suite: empty_org_api_key needs empty_org",
            },
            "api_key: dcs_test_eeeeeeee}": {
                "api_key: dcs_test_aaaaaaaa}": "is not one of org 'org_e'"
            },
            "    machines: []\n": {
                "    machines:" + GOOD.split("machines:")[1]: "'org_e' has machines"
            },
        },
        WITH_EMPTY,
    ),
)
def test_invalid_fixtures_name_file_and_problem(
    tmp_path: Path, base: str, old: str, new: str, problem: str
) -> None:
    path, message = refused_edit(tmp_path, base, old, new, load_fixtures, FixturesError)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message and "dcs_test_" not in message


def test_unknown_plan_message_is_exact(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("plan: basic\n", "plan: gold\n"))
    with pytest.raises(FixturesError, match=r"^.*fx\.yaml: org 'org_a': unknown plan 'gold'$"):
        load_fixtures(path)


def test_a_key_listed_for_two_orgs_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    second = GOOD.split("orgs:\n")[1].replace("id: org_a", "id: org_b").replace("id: m1", "id: m2")
    path = write(tmp_path, GOOD + second)
    with pytest.raises(FixturesError, match="org 'org_b': an API key is also listed for 'org_a'"):
        load_fixtures(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [(None, "file not found"), ("a: [", "not valid YAML"), ("- 1\n", "top level")],
)
def test_unreadable_fixtures(tmp_path: Path, text: str | None, problem: str) -> None:
    path = tmp_path / "fx.yaml" if text is None else write(tmp_path, text)
    with pytest.raises(FixturesError, match=problem) as info:
        load_fixtures(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_windows_are_merged_and_daily_wraps(tmp_path: Path) -> None:
    awake = (
        'awake: {daily: "22:00-02:00", cpu_percent: 5, windows: ['
        "[2025-03-02T03:00:00Z, 2025-03-02T05:00:00Z], "
        "[2025-03-02T01:00:00Z, 2025-03-02T04:00:00Z]]}"
    )
    path = write(tmp_path, GOOD.replace('awake: {daily: "09:00-17:00", cpu_percent: 50}', awake))
    schedule = load_fixtures(path).orgs["org_a"].machines[0].awake
    assert schedule.daily == ((22 * 3600, 86400), (0, 2 * 3600))
    assert len(schedule.windows) == 1
    start, end = schedule.windows[0]
    assert end - start == 4 * 3600


def test_add_key_returns_new_fixtures(tmp_path: Path) -> None:
    fx = load_fixtures(write(tmp_path, GOOD))
    more = fx.add_key("dcs_test_extra000", "org_a")
    assert isinstance(more, Fixtures) and more is not fx
    assert more.org_for_key("dcs_test_extra000") is more.orgs["org_a"]
    assert fx.org_for_key("dcs_test_extra000") is None  # the original is unchanged
    assert more.add_key("dcs_test_extra000", "org_a") is more
    assert more.suite_credentials == fx.suite_credentials


def test_add_key_for_an_unknown_org_makes_a_demo_org(tmp_path: Path) -> None:
    fx = load_fixtures(write(tmp_path, GOOD)).add_key("dcs_test_demo0000", "org_demo")
    demo = fx.orgs["org_demo"]
    assert demo.api_keys == ("dcs_test_demo0000",)
    assert demo.plan == fx.orgs["org_a"].plan and demo.machines == fx.orgs["org_a"].machines


@pytest.mark.parametrize(("key", "org"), [("dcs_test_aaaaaaaa", "org_x"), ("has space", "org_a")])
def test_add_key_rejects_taken_or_malformed_keys(tmp_path: Path, key: str, org: str) -> None:
    fx = load_fixtures(write(tmp_path, GOOD))
    with pytest.raises(ValueError) as info:
        fx.add_key(key, org)
    assert key not in str(info.value)


def test_the_suite_may_name_an_empty_org(tmp_path: Path) -> None:
    fx = load_fixtures(write(tmp_path, WITH_EMPTY))
    assert fx.suite_empty_org == ("dcs_test_eeeeeeee", "org_e")
    assert load_fixtures(write(tmp_path, GOOD)).suite_empty_org is None
    shipped = load_fixtures()
    assert shipped.suite_empty_org is not None
    key, org = shipped.suite_empty_org
    assert shipped.org_for_key(key) is shipped.orgs[org] and not shipped.orgs[org].machines


def test_the_shipped_expectation_describes_the_suite_org() -> None:
    """fixtures/canary-expect.yaml is written by hand from the suite org's description: the
    same machines, sizes and lifetimes (the derived figures are tested against the mock by the
    suite itself)."""
    from conformance._contract.expect import DEFAULT_EXPECT, load_canary

    canary, fx = load_canary(DEFAULT_EXPECT), load_fixtures()
    org = fx.orgs[fx.suite_credentials[1]]
    assert canary.org == org.id
    described = {m.id: (m.vcpu_millicores, m.memory_mib, m.storage_gib) for m in canary.machines}
    served = {m.id: (m.vcpu_millicores, m.memory_mib, m.storage_gib) for m in org.machines}
    assert described == served
