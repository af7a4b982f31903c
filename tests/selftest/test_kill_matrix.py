"""The kill matrix machinery on a fast subset: the real suite, run as users run it, kills a
fault of two families by the check expected, and passes the correct mock and a variant
(a correct server that differ where the contract allows). The full matrix is `tox -e killmatrix`
(`python -m conformance.selftest`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conformance._selftest.matrix import run_matrix
from conformance._selftest.plan import (
    BASELINE,
    Options,
    Run,
    family_faults,
    split_names,
    split_variants,
)
from conformance._selftest.report import (
    Matrix,
    Row,
    VariantRow,
    summary,
    to_json,
    to_markdown,
    write_reports,
)
from conformance.mock import FAULTS, KNOWN_LIMITS, VARIANTS
from tests._support import run_module

#: the module's matrix runs once, on one xdist worker (`pytest -n auto --dist loadgroup`)
pytestmark = pytest.mark.xdist_group("kill-matrix")

#: One fault of two families (the full catalogue is the kill matrix's own run: CI's last step)
SUBSET = (
    "huge_body_bad_period",  # transport
    "auth_sticky_connection",  # credentials: state kept per connection
)
VARIANT_SUBSET = (
    "http10_close_delimited",  # the wire: HTTP/1.0, the body ended by closing the connection
)


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    options = Options(
        faults=SUBSET,
        limits=(),
        variants=VARIANT_SUBSET,
        seeds=1,
        max_examples=5,
        jobs=2,
        run_timeout=120,
    )
    return run_matrix(options)


@pytest.mark.e2e
def test_the_correct_mock_passes(matrix: Matrix) -> None:
    assert [run.exit for run in matrix.baseline] == [0], matrix.baseline
    assert matrix.baseline[0].failed_checks == []
    assert matrix.baseline_passed


@pytest.mark.e2e
@pytest.mark.parametrize("name", SUBSET)
def test_each_fault_is_killed_by_an_expected_check(matrix: Matrix, name: str) -> None:
    row = next(row for row in matrix.rows if row.name == name)
    assert row.run.exit == 1, row.run
    assert set(row.expected_checks) & set(row.run.failed_checks), row.run.failed_checks
    assert row.killed and row.run.first_failure_s is not None
    assert 0 < row.run.first_failure_s <= row.run.wall_s


@pytest.mark.e2e
@pytest.mark.parametrize("name", VARIANT_SUBSET)
def test_each_variant_passes(matrix: Matrix, name: str) -> None:
    row = next(row for row in matrix.variants if row.name == name)
    assert [run.exit for run in row.runs] == [0], row.runs
    assert row.failed_checks == [] and row.passed


@pytest.mark.e2e
def test_reports(matrix: Matrix, tmp_path: Path) -> None:
    md, js = write_reports(matrix, tmp_path / "out")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["summary"]["killed"] == data["summary"]["total"] == len(SUBSET)
    assert data["summary"]["baseline_passed"]
    assert data["summary"]["variants_total"] == len(VARIANT_SUBSET)
    passed = [v["name"] for v in data["variants"] if v["passed"]]
    assert data["summary"]["variants_passed"] == len(passed)
    assert data["summary"]["ok"] is (len(passed) == len(VARIANT_SUBSET))
    assert data["summary"]["false_alarms"] == [n for n in VARIANT_SUBSET if n not in passed]
    for variant in data["variants"]:
        assert variant["description"] == VARIANTS[variant["name"]].description
        assert variant["reading"] == VARIANTS[variant["name"]].reading
        assert [run["seed"] for run in variant["runs"]] == [1] and variant["wall_s"] > 0
    assert {f["name"] for f in data["faults"]} == set(SUBSET)
    for fault in data["faults"]:
        assert fault["killed"] and fault["expected_hit"] and fault["wall_s"] > 0
        assert fault["description"] == FAULTS[fault["name"]].description
    text = md.read_text(encoding="utf-8")
    assert f"{len(SUBSET)}/{len(SUBSET)} faults killed" in text
    assert f"{len(passed)}/{len(VARIANT_SUBSET)} variants passed" in text
    assert "## Variants" in text
    for name in VARIANT_SUBSET:
        assert f"| `{name}` | {VARIANTS[name].description} | {VARIANTS[name].reading} |" in text
    for limit in KNOWN_LIMITS:  # listed even when not run
        assert f"`{limit.fault.name}`" in text and limit.reason in text
    if not KNOWN_LIMITS:
        assert "None: every fault of the catalogue is expected to be caught." in text


# --- the verdict logic, without running anything ------------------------------------


def row(checks: list[str], exit_status: int | None, expected: tuple[str, ...] = ("a",)) -> Row:
    run = Run("f", ("f",), 1, exit=exit_status, failed_checks=checks, first_failure_s=1.0)
    return Row("f", "x", "d", list(expected), run)


@pytest.mark.parametrize(
    ("checks", "exit_status", "killed"),
    [
        (["a"], 1, True),
        (["b", "a"], 1, True),
        (["b"], 1, False),  # failed, but not for the reason expected
        (["a"], 75, False),  # unavailable is no verdict
        (["a"], None, False),  # timed out
        ([], 0, False),
    ],
)
def test_killed_means_exit_1_and_an_expected_check(checks, exit_status, killed) -> None:
    assert row(checks, exit_status).killed is killed


def test_a_survivor_or_a_failing_baseline_fails_the_matrix() -> None:
    good = Run(BASELINE, (), 1, exit=0)
    ok = Matrix(Options(), [good], [row(["a"], 1)], [], 1.0)
    assert ok.ok and summary(ok)["killed"] == 1
    survivor = Matrix(Options(), [good], [row(["b"], 1)], [], 1.0)
    assert not survivor.ok and summary(survivor)["survivors"] == ["f"]
    assert "**SURVIVED** (exit 1)" in to_markdown(survivor)
    bad_baseline = Matrix(Options(), [Run(BASELINE, (), 1, exit=1)], [row(["a"], 1)], [], 1.0)
    assert not bad_baseline.ok
    assert not Matrix(Options(), [], [row(["a"], 1)], [], 1.0).ok  # no baseline: no proof


def variant(*exits: int | None) -> VariantRow:
    runs = [Run("v", (), seed, exit=e, variants=("v",)) for seed, e in enumerate(exits, 1)]
    for run in runs:
        run.failed_checks = [] if run.exit == 0 else ["x"]
    return VariantRow("v", "differs", "allowed because", runs)


@pytest.mark.parametrize(
    ("exits", "passed"),
    [((0,), True), ((0, 0, 0), True), ((0, 1, 0), False), ((0, None), False), ((), False)],
)
def test_a_variant_passes_when_every_seed_passes(exits, passed) -> None:
    assert variant(*exits).passed is passed


def test_a_false_alarm_fails_the_matrix() -> None:
    good = Run(BASELINE, (), 1, exit=0)
    clean = Matrix(Options(), [good], [row(["a"], 1)], [], 1.0, [variant(0, 0)])
    assert clean.ok and summary(clean)["variants_passed"] == summary(clean)["variants_total"] == 1
    alarm = Matrix(Options(), [good], [row(["a"], 1)], [], 1.0, [variant(0, 1)])
    assert not alarm.ok and summary(alarm)["false_alarms"] == ["v"]
    text = to_markdown(alarm)
    assert "false alarms on a correct server" in text and "**FALSE ALARM**" in text
    assert "| 1: 0, 2: 1 | 2: x |" in text
    runs = to_json(alarm)["variants"][0]["runs"]
    assert [(r["seed"], r["exit"], r["failed_checks"]) for r in runs] == [(1, 0, []), (2, 1, ["x"])]


def test_behind_an_edge_a_hidden_fault_or_a_broken_variant_is_listed_not_counted() -> None:
    good = Run(BASELINE, (), 1, exit=0)
    hidden = dataclasses.replace(row(["b"], 1), hidden="the proxy normalises it")
    stale = dataclasses.replace(row(["a"], 1), name="g", hidden="the proxy was said to hide it")
    broken = dataclasses.replace(variant(1), broken_by_edge="the proxy breaks RFC 9110 15.2")
    matrix = Matrix(Options(edge="nginx"), [good], [hidden, stale], [], 1.0, [broken])
    assert matrix.ok and not matrix.survivors and not matrix.false_alarms
    assert matrix.hidden == [hidden] and matrix.hidden_but_killed == [stale]
    s = summary(matrix)
    assert s["edge"] == "nginx" and s["hidden_by_edge"] == ["f"]
    assert s["listed_hidden_but_killed"] == ["g"] and s["broken_by_edge"] == ["v"]
    text = to_markdown(matrix)
    assert "## Behind `nginx`" in text and "behind `nginx`: 1 faults hidden by it" in text
    assert "| `f` | the proxy normalises it | hidden |" in text
    assert "| `g` | the proxy was said to hide it | **killed: the table is out of date** |" in text
    assert "| `v` | the proxy breaks RFC 9110 15.2 | failed |" in text
    data = to_json(matrix)
    assert data["faults"][0]["hidden_by_edge"] == "the proxy normalises it"
    assert data["variants"][0]["broken_by_edge"] == "the proxy breaks RFC 9110 15.2"
    # without an edge, the same rows count: a survivor, a false alarm
    plain = Matrix(Options(), [good], [row(["b"], 1)], [], 1.0, [variant(1)])
    assert not plain.ok and "## Behind" not in to_markdown(plain)


def test_families() -> None:
    assert set(family_faults(["transport"])) == {
        name for name, fault in FAULTS.items() if fault.family == "transport"
    }
    with pytest.raises(KeyError, match="unknown fault families: nope"):
        family_faults(["nope"])


def test_split_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance._selftest import plan
    from conformance.mock import KnownLimit

    # the catalogue has no known limit today; the mechanism stays
    fault = FAULTS["plan_slug_empty"]
    limit = KnownLimit(dataclasses.replace(fault, name="a_limit", expected_checks=()), "why")
    monkeypatch.setattr(plan, "KNOWN_LIMITS", (limit,))
    assert split_names(["plan_slug_empty", "a_limit"]) == (("plan_slug_empty",), ("a_limit",))
    with pytest.raises(KeyError, match="nope"):
        split_names(["plan_slug_empty", "nope"])
    assert split_variants(["chunked_bodies"]) == ("chunked_bodies",)
    assert split_variants([]) == ()
    with pytest.raises(KeyError, match=r"unknown variant.*nope"):
        split_variants(["chunked_bodies", "nope"])


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--faults", "no_such_fault"), "unknown fault(s): no_such_fault"),
        (("--variants", "no_such_variant"), "unknown variant(s): no_such_variant"),
        (("--jobs", "0"), "expected a number > 0"),
        (("--request-deadline", "soon"), "--request-deadline"),
    ],
)
def test_selftest_usage_errors_exit_4(args: tuple[str, ...], message: str) -> None:
    result = run_module("conformance.selftest", *args, timeout=30)
    assert result.returncode == 4 and message in result.stderr, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
