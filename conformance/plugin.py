"""pytest plugin of the conformance suite: options, settings, the `dcs` fixture, outcomes.

Loaded by `conformance/conftest.py`, so it is active when `pytest conformance` runs.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conformance._drift import spec_drift
from conformance._errors import (
    EXIT_TARGET_UNAVAILABLE,
    EXIT_VIOLATIONS,
    ConfigError,
    ContractViolation,
    TargetUnavailable,
    violations_in,
)
from conformance._http import BUDGET_USED_UP, BudgetExhausted, Masker
from conformance._reports import (
    Results,
    Run,
    build_summary,
    drift_lines,
    junit_path,
    operations_line,
    write_reports,
)
from conformance._session import Dcs, open_target, preflight
from conformance._settings import OPTIONS, Settings, from_config
from conformance._spec import Contract, load_contract
from conformance.checks import CATALOGUE
from conformance.checks._invariant import drain_exercised

__all__ = [
    "dcs",
    "pytest_addoption",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_header",
    "pytest_runtest_call",
    "pytest_runtest_logreport",
    "pytest_runtest_makereport",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "pytest_unconfigure",
]

SETTINGS = pytest.StashKey[Settings]()
CONTRACT = pytest.StashKey[Contract]()
SEED = pytest.StashKey[int | None]()
_active: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dcs-conformance", "DCS conformance suite")
    for option, env, text in OPTIONS:
        group.addoption(option, default=None, help=text + (f" (env {env})" if env else ""))
    group.addoption(
        "--no-method-probes",
        action="store_true",
        help="send GET only: skip the POST/PUT/PATCH/DELETE/... probes of undeclared methods",
    )
    group.addoption(
        "--no-reports",
        action="store_true",
        help="write no reports (junit.xml, summary.json/.md/.html) to the reports dir",
    )
    group.addoption(
        "--compare-spec",
        default=None,
        metavar="PATH_OR_URL",
        help="report how this spec (e.g. the one the target publishes) differs from ours; "
        "the exit status is unchanged",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("base_url", None) and os.environ.get("DCS_BASE_URL"):
        config.option.base_url = os.environ["DCS_BASE_URL"]
    base_url = config.getoption("base_url", None) or config.getini("base_url") or None
    try:
        settings = from_config(config, base_url)
        contract = load_contract(settings.spec)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    config.stash[CONTRACT] = contract
    _active["contract"] = contract
    _load_hypothesis_profile(config, settings)
    if config.getoption("timeout", None) is None and hasattr(config.option, "timeout"):
        config.option.timeout = 300  # backstop only: every request already has a deadline
    if not hasattr(config, "workerinput") and not config.getoption("no_reports"):
        _active["results"] = Results()  # reports are collected and written by the controller
        junit_path(config.option, settings.reports_dir)


def _load_hypothesis_profile(config: pytest.Config, settings: Settings) -> None:
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings

    profile = settings.profile
    name = f"dcs-{profile.name}"
    hypothesis_settings.register_profile(
        name,
        max_examples=profile.max_examples,
        derandomize=profile.derandomize,
        deadline=None,
        database=None if profile.derandomize else hypothesis_settings.default.database,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    if not config.getoption("hypothesis_profile", None):
        hypothesis_settings.load_profile(name)
    seed = config.getoption("hypothesis_seed", None)
    if seed is None and not profile.derandomize:
        workerinput = getattr(config, "workerinput", None)
        seed = workerinput["dcs_seed"] if workerinput else random.randrange(2**32)
        config.option.hypothesis_seed = str(seed)
    config.stash[SEED] = None if seed is None else int(seed)


def pytest_configure_node(node: Any) -> None:
    """xdist: every worker uses the controller's seed, so a run is reproducible as a whole."""
    node.workerinput["dcs_seed"] = node.config.stash[SEED]


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings, contract = config.stash[SETTINGS], config.stash[CONTRACT]
    seed = config.stash[SEED]
    writes = [op.label for op in contract.write_operations]
    exercised = operations_line(len(contract.operations), writes, names=False)
    return [
        f"dcs-conformance: target {settings.target_label}; spec {contract.version} "
        f"(sha256 {contract.sha256[:12]}; {exercised}); profile {settings.profile.name}; "
        f"seed {'derandomized' if seed is None else seed}"
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before judging anything, make sure a live target answers at all (controller only)."""
    settings = session.config.stash[SETTINGS]
    if settings.live and not hasattr(session.config, "workerinput"):
        outcome = preflight(settings, session.config.stash[CONTRACT])
        if outcome.unavailable is not None:
            pytest.exit(
                f"target unavailable: {outcome.unavailable}", returncode=EXIT_TARGET_UNAVAILABLE
            )
        if outcome.violation is not None:
            _broken_at_preflight(session, outcome.violation)


PREFLIGHT = "preflight"  # the test id under which a broken preflight answer is reported


def _broken_at_preflight(session: pytest.Session, violation: ContractViolation) -> None:
    """The target answers HTTP, but brokenly, to a plain valid request: that is the verdict."""
    if "results" in _active:
        exchanges = [exchange.summary() for exchange in violation.exchanges]
        _active["results"].record_violation(PREFLIGHT, violation.as_dict(), exchanges)
    session.config.get_terminal_writer().line(f"{PREFLIGHT}: {violation}", red=True)
    pytest.exit(
        "the target's answer to a plain valid request is broken (see above); the tests would "
        "only repeat it",
        returncode=EXIT_VIOLATIONS,
    )


def generated_schema() -> Any:
    """The schemathesis schema of the contract loaded for this run (for `schema.parametrize`)."""
    return _active["contract"].schemathesis_schema()


@pytest.fixture(scope="session")
def dcs(pytestconfig: pytest.Config) -> Iterator[Dcs]:
    """The target under test: the `--base-url` deployment, or the embedded mock on loopback."""
    workers = int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1))
    settings, contract = pytestconfig.stash[SETTINGS], pytestconfig.stash[CONTRACT]
    with open_target(settings, contract, workers) as target:
        yield target


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Tell outages from violations, and stop early when the target is gone."""
    dcs = getattr(item, "funcargs", {}).get("dcs")
    if isinstance(dcs, Dcs) and dcs.transport.budget_used_up:
        pytest.skip(BUDGET_USED_UP)
    try:
        return (yield)
    except TargetUnavailable as exc:
        _unavailable(item, exc)
    except BudgetExhausted as exc:
        pytest.skip(str(exc))
    except BaseException as exc:
        exchanges = [e for violation in violations_in(exc) for e in violation.exchanges]
        if exchanges and isinstance(dcs, Dcs):
            try:
                dcs.explain_unavailable(exchanges)
            except TargetUnavailable as unavailable:
                _unavailable(item, unavailable)
        raise


def _unavailable(item: pytest.Item, exc: TargetUnavailable) -> None:
    item.session.shouldstop = f"target unavailable: {exc}"
    item.user_properties.append(("dcs_unavailable", str(exc)))
    pytest.skip(f"target unavailable: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Show a violation as its evidence (no traceback), and attach it for the reports."""
    report = yield
    dcs = getattr(item, "funcargs", {}).get("dcs")
    if call.when == "call" and isinstance(dcs, Dcs):
        exchanges = [exchange.summary() for exchange in dcs.transport.drain()]
        report.user_properties.append(("dcs_exchanges", json.dumps(exchanges)))
    if call.when == "call":
        report.user_properties.append(("dcs_checks", json.dumps(drain_exercised())))
    violations = violations_in(call.excinfo.value) if call.excinfo is not None else []
    if violations:
        shown = "\n\n".join(str(v) for v in violations)
        report.longrepr = f"{shown}\n\n  rerun:     {_rerun(item)}"
        for violation in violations:
            report.user_properties.append(("dcs_violation", json.dumps(violation.as_dict())))
    return report


def _rerun(item: pytest.Item) -> str:
    settings = item.config.stash[SETTINGS]
    seed = item.config.stash[SEED]
    parts = ["pytest", item.nodeid]
    if settings.live:
        parts += ["--base-url", str(settings.base_url), "--api-key", "$DCS_API_KEY"]
    parts += ["--profile", settings.profile.name]
    if seed is not None:
        parts.append(f"--hypothesis-seed={seed}")
    return " ".join(parts)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "dcs_unavailable":
            _active.setdefault("unavailable", []).append(value)
    if "results" in _active:
        _active["results"].record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that found no violation but lost its target is 'unavailable', not 'conformant'."""
    if _active.pop("unavailable", None) and exitstatus in (0, 2, 5):  # 2: we stopped it
        session.exitstatus = EXIT_TARGET_UNAVAILABLE
        _active["no_verdict"] = True


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _active.pop("no_verdict", False):
        terminalreporter.write_line(
            "dcs-conformance: the target became unavailable; no verdict (exit 75)", yellow=True
        )
    drift = _drift(config)
    for line in drift_lines(drift, limit=20) if drift else []:
        terminalreporter.write_line(f"dcs-conformance: spec drift: {line}")
    if "results" in _active:
        terminalreporter.write_line(
            f"dcs-conformance: reports in {config.stash[SETTINGS].reports_dir}/"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the reports once the exit status is final (also after an early exit 75)."""
    results = _active.pop("results", None)
    if results is not None:
        _write_reports(config, results)
    _active.pop("drift", None)


def _drift(config: pytest.Config) -> dict[str, Any] | None:
    """The drift from our spec to `--compare-spec`, computed once per run (None: not asked)."""
    if not config.getoption("compare_spec", None):
        return None
    if "drift" not in _active:
        _active["drift"] = spec_drift(config.stash[SETTINGS].spec, config.option.compare_spec)
    return _active["drift"]


def _write_reports(config: pytest.Config, results: Results) -> None:
    settings, contract = config.stash[SETTINGS], config.stash[CONTRACT]
    session = config.pluginmanager.get_plugin("session")
    run = Run(
        target=settings.target_label,
        spec_version=contract.version,
        spec_sha256=contract.sha256,
        spec_source=contract.source,
        spec_operations=len(contract.operations),
        writes_not_exercised=tuple(op.label for op in contract.write_operations),
        profile=settings.profile.name,
        seed=config.stash[SEED],
        exit_status=int(session.exitstatus) if session is not None else 3,
        drift=_drift(config),
    )
    summary = build_summary(run, results, {name: c.rule for name, c in CATALOGUE.items()})
    key = settings.api_key or ""  # a second masking pass; a toy key of a few letters is left out
    try:
        write_reports(settings.reports_dir, summary, Masker([key] if len(key) >= 8 else []))
    except OSError as exc:
        print(f"dcs-conformance: cannot write reports: {exc}", file=sys.stderr)
