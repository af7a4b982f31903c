"""pytest plugin of the conformance suite: options, the `dcs` fixture, and the hooks.

Registered through the `pytest11` entry point wherever the package is installed; it stays
inert unless the session collects the suite (`pytest conformance`, `pytest --pyargs
conformance`). The work is done in `_run`, `_session` and `_reports`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance._client.transport import BUDGET_USED_UP, BudgetExhausted
from conformance._contract.expect import Canary
from conformance._contract.spec import Contract
from conformance._core import trace
from conformance._core.errors import (
    ConfigError,
    ContractViolation,
    ExitCode,
    TargetUnavailable,
    violations_in,
)
from conformance._report.causes import violation_items
from conformance._report.common import drift_lines, replay_command
from conformance._report.summary import Results, junit_path
from conformance._report.text import format_violation
from conformance._run.ahead import ALONE_MARKER, Stopped, alone
from conformance._run.generated import schemathesis_schema
from conformance._run.load import load_contract
from conformance._run.session import Dcs, coverage_record, preflight, violation_record
from conformance._run.settings import OPTIONS, from_config
from conformance._run.state import PREFLIGHT, RunState, hypothesis_profile, judge, runs_the_suite

STATE = pytest.StashKey[RunState]()
TRACE = pytest.StashKey[trace.Trace]()  # of a test that ran ahead
#: The state of the run in this process, for what runs before any fixture (test modules
#: parametrize from the contract at import time).
_current: RunState | None = None


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
        "--no-shrink",
        action="store_true",
        help="report a generated test's first failing example as found, without minimising it "
        "(faster against a target that fails many tests; the kill matrix uses it)",
    )
    group.addoption(
        "--stop-on-check",
        default=None,
        metavar="CHECK[,CHECK]",
        help="stop the run (exit 1) once a test has failed one of these checks: the kill matrix "
        "uses it, a fault is caught once an expected check failed",
    )
    group.addoption(
        "--no-reports",
        action="store_true",
        help="write no reports (junit.xml, summary.json/.md/.html) to the reports dir",
    )
    group.addoption(
        "--identity-header",
        action="append",
        default=None,
        metavar="NAME",
        help="a response header field that says what is deployed (a version, a build): its "
        "value in the preflight's answer is recorded beside the Server field in the report "
        "header and summary.json (repeatable; env DCS_IDENTITY_HEADERS, comma-separated)",
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
    global _current
    args = config.args or [str(p) for p in config.getini("testpaths")]
    in_suite = runs_the_suite(
        args, pyargs=bool(config.option.pyargs), invocation_dir=config.invocation_params.dir
    )
    config.addinivalue_line(  # registered in any session: the suite's modules may be imported
        "markers",
        f"{ALONE_MARKER}: when tests run ahead, run this one with no other request in flight",
    )
    if not in_suite:
        return
    if not config.getoption("base_url", None) and os.environ.get("DCS_BASE_URL"):
        config.option.base_url = os.environ["DCS_BASE_URL"]
    base_url = config.getoption("base_url", None) or config.getini("base_url") or None
    workerinput = getattr(config, "workerinput", None)
    try:
        settings = from_config(config, base_url)
        contract = load_contract(settings.spec)
        seed = hypothesis_profile(
            settings,
            chosen=config.getoption("hypothesis_profile", None),
            seed=settings.hypothesis_seed,
            worker_seed=workerinput["dcs_seed"] if workerinput else None,
        )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if seed is not None:
        config.option.hypothesis_seed = str(seed)
    state = RunState(
        settings, contract, seed, compare_spec=config.getoption("compare_spec"), skip=pytest.skip
    )
    if workerinput is not None:  # the controller's day: one verdict on the baseline's expiries
        state.today = dt.date.fromisoformat(workerinput["dcs_today"])
    else:  # results are collected, and reports written, by the controller
        state.results = Results()
        state.reports = not config.getoption("no_reports")
        if state.reports:
            junit_path(config.option, settings.reports_dir)
        xmlpath = getattr(config.option, "xmlpath", None)
        if xmlpath:  # where pytest's JUnit writer puts it, as it computes the path
            path = os.path.normpath(
                os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath)))
            )
            state.junit = (Path(path), getattr(config.option, "junitprefix", None))
    if config.getoption("timeout", None) is None and hasattr(config.option, "timeout"):
        config.option.timeout = 300  # backstop only: every request already has a deadline
    config.stash[STATE] = _current = state
    config.add_cleanup(state.mask_logging())


def _state(config: pytest.Config) -> RunState | None:
    return config.stash.get(STATE, None)


def suite_contract() -> Contract:
    """The contract of this run, for test modules that parametrize from it at import time."""
    if _current is None:
        raise RuntimeError("the conformance suite's plugin is not active in this session")
    return _current.contract


def share_of_examples(share: float) -> int:
    """A share of the profile's examples per generated test (at least one), for a test whose
    every example is a long chain of requests."""
    if _current is None:
        raise RuntimeError("the conformance suite's plugin is not active in this session")
    return max(1, round(_current.settings.profile.max_examples * share))


def suite_canary() -> Canary | None:
    """The canary's expected usage in this run (`--expect`), for test modules that parametrize
    from it at import time."""
    suite_contract()  # the same check: the plugin must be active
    assert _current is not None
    return _current.settings.expect


def generated_schema() -> Any:
    """The schemathesis schema of the contract loaded for this run (for `schema.parametrize`)."""
    return schemathesis_schema(suite_contract())


def pytest_configure_node(node: Any) -> None:
    """xdist: every worker uses the controller's seed, so a run is reproducible as a whole."""
    state = _state(node.config)
    if state is not None:
        node.workerinput["dcs_seed"] = state.seed
        node.workerinput["dcs_today"] = state.today.isoformat()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    return [] if state is None else [state.header()]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before judging anything, make sure a live target answers at all (controller only)."""
    state = _state(session.config)
    if state is None or not state.settings.live or hasattr(session.config, "workerinput"):
        return
    outcome = preflight(state.settings, state.contract)
    state.round_trip = outcome.round_trip
    state.identity = outcome.identity
    if outcome.unavailable is not None:
        pytest.exit(
            f"target unavailable: {outcome.unavailable}", returncode=ExitCode.TARGET_UNAVAILABLE
        )
    if outcome.violation is not None:
        _broken_at_preflight(session, state, outcome.violation)


def _broken_at_preflight(
    session: pytest.Session, state: RunState, violation: ContractViolation
) -> None:
    """The target answers HTTP, but brokenly, to a plain valid request: that is the verdict."""
    if state.results is not None:
        exchanges = [coverage_record(state.contract, e) for e in violation.exchanges]
        record = violation_record(state.contract, violation)
        state.results.record_violation(PREFLIGHT, record, exchanges)
    session.config.get_terminal_writer().line(f"{PREFLIGHT}: {format_violation(violation)}")
    pytest.exit(
        "the target's answer to a plain valid request is broken (see above); the tests would "
        "only repeat it",
        returncode=ExitCode.VIOLATIONS,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make each test of the suite collect the violations its checks find and raise them all
    at its end (`judge`: every check runs on every answer), where collection happens (the
    xdist workers too). The tests of fixed requests run before the property-based ones, which
    send many requests each: a broken target shows its first failures within seconds. When
    the tests will run ahead, the few that run alone go first, so that they do not hold up the
    others mid-run."""
    state = _state(config)
    if state is None:
        return
    ahead = state.runs_ahead(_xdist_workers(config))
    items.sort(key=lambda item: (ahead and not alone(item), property_based(item)))  # stable
    for item in items:
        if isinstance(item, pytest.Function) and "dcs" in item.fixturenames:
            item.obj = judge(item.obj, (pytest.skip.Exception,))
        _evidence_not_traceback(item)


def property_based(item: pytest.Item) -> bool:
    """Whether a test draws its requests with hypothesis (schemathesis's included)."""
    return bool(getattr(getattr(item, "obj", None), "is_hypothesis_test", False))


def _evidence_not_traceback(item: pytest.Item) -> None:
    """A violation's failure text is its evidence (`pytest_runtest_makereport`), so pytest
    need not render its traceback first: that rendering parses source files, costs most of a
    failing test's reporting time, and under load has met CPython 3.11's AST recursion-depth
    SystemError (an internal error, exit 3). Other failures keep pytest's traceback."""
    pytest_repr = item.repr_failure

    def repr_failure(excinfo: pytest.ExceptionInfo[BaseException], *args: Any) -> Any:
        if violations_in(excinfo.value):
            return "contract violation (its evidence follows)"
        return pytest_repr(excinfo, *args)

    item.repr_failure = repr_failure  # type: ignore[method-assign,assignment]


def _xdist_workers(config: pytest.Config) -> int:
    return int(getattr(config, "workerinput", {}).get("workercount", 1))


@pytest.fixture(scope="session")
def dcs(pytestconfig: pytest.Config) -> Dcs:
    """The target under test: the `--base-url` deployment, or the embedded mock on loopback."""
    state = _state(pytestconfig)
    if state is None:
        pytest.fail("the dcs fixture needs the conformance suite's plugin active")
    return state.target(_xdist_workers(pytestconfig))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Against a far target, run the tests' calls ahead in threads (see `_ahead`)."""
    state = _state(session.config)
    if state is not None and not session.config.option.collectonly:
        state.run_ahead(session.items, _xdist_workers(session.config))
    try:
        result = yield
        if state is not None and not session.config.option.collectonly:
            state.confirm()  # the controller's root causes, sent again before any report
        return result
    finally:
        if state is not None:
            state.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test that ran ahead: take its outcome (and its trace) instead of calling it again."""
    state = _state(pyfuncitem.config)
    if state is None or state.ahead is None or pyfuncitem.nodeid not in state.ahead:
        return None
    outcome = state.ahead.outcome(pyfuncitem.nodeid)
    pyfuncitem.stash[TRACE] = outcome.trace
    if isinstance(outcome.error, Stopped):
        pytest.skip("the run stopped before this test ran")
    if outcome.error is not None:
        raise outcome.error
    return True


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
        found = [v for violation in violations_in(exc) for v in (violation, *violation.related)]
        exchanges = [e for violation in found for e in violation.exchanges]
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
    state = _state(item.config)
    if state is None:
        return report
    if call.when != "call":
        return _masked(report, state.mask)
    done = trace.take()  # the main thread's: the test's own, or its outage probe if ahead
    ahead = item.stash.get(TRACE, None)
    if ahead is not None:
        done = trace.Trace(
            [*ahead.exchanges, *done.exchanges],
            ahead.exercised | done.exercised,
            warnings=[*ahead.warnings, *done.warnings],
        )
    exchanges = [coverage_record(state.contract, e) for e in done.exchanges]
    report.user_properties.append(("dcs_exchanges", json.dumps(exchanges)))
    report.user_properties.append(("dcs_checks", json.dumps(sorted(done.exercised))))
    if done.warnings:
        warned = [warning.as_dict() for warning in done.warnings]
        report.user_properties.append(("dcs_warnings", json.dumps(warned)))
    violations = violations_in(call.excinfo.value) if call.excinfo is not None else []
    if violations:
        found = [violation_record(state.contract, violation) for violation in violations]
        shown = "\n\n".join(format_violation(v) for v in violations)
        known, standing = state.baseline_verdict(found)
        text = state.failure_text(item.nodeid, shown, found)
        report.longrepr = "\n".join([text, *standing])
        for violation in found:
            report.user_properties.append(("dcs_violation", json.dumps(violation)))
        if known is not None and report.failed:  # every root cause of it is a known one
            report.outcome, report.wasxfail = "skipped", known  # pytest's xfail, everywhere
            report.user_properties.append(("dcs_known", known))
        stop = state.settings.stop_on_checks & {
            item["check"] for violation in found for item in violation_items(violation)
        }
        if stop:
            item.session.shouldfail = f"--stop-on-check: {', '.join(sorted(stop))} failed"
    return _masked(report, state.mask)


def _masked(report: pytest.TestReport, mask: Callable[[str], str]) -> pytest.TestReport:
    """The report with the run's keys masked in every text of it (its failure or skip reason,
    captured output and log): what the terminal, JUnit and xdist's controller get. Pytest's
    rendering of a failure is kept unless it shows a key."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], mask(str(longrepr[2])))
    elif longrepr is not None:
        text = str(longrepr)
        if mask(text) != text:
            report.longrepr = mask(text)
    report.sections = [(title, mask(content)) for title, content in report.sections]
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = mask(report.wasxfail)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    state = _current
    if state is None:
        return
    state.unavailable += [
        str(value) for name, value in report.user_properties if name == "dcs_unavailable"
    ]
    if state.results is not None:
        state.results.record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state is not None:
        session.exitstatus = state.finish(int(exitstatus))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> Any:
    """After pytest's own summary (its short test summary included), just above the final
    counts: spec drift, the failures by root cause (most serious first), the documented
    statuses never seen, the reports and how to replay the failures."""
    result = yield
    state = _state(config)
    if state is None:
        return result
    write = terminalreporter.write_line
    if state.no_verdict:
        write("dcs-conformance: the target became unavailable; no verdict (exit 75)", yellow=True)
    if state.ahead is not None:
        rtt = state.round_trip
        trip = "" if rtt is None else f", a round trip {rtt * 1000:.0f} ms"
        write(f"dcs-conformance: tests ran ahead, {state.ahead.workers} at a time{trip}")
    drift = state.drift()
    for line in drift_lines(drift, limit=20) if drift else []:
        write(f"dcs-conformance: spec drift: {line}")
    if state.results is not None:
        failing = state.exit_status != ExitCode.CONFORMANT
        for number, line in enumerate(state.terminal_lines()):
            warning = " warning: " in line[:30]
            head = number == 0 and not warning and " failure" in line
            write(line, red=head and failing, green=head and not failing, bold=head,
                  yellow=warning)  # fmt: skip
        if state.reports:
            reports = state.settings.reports_dir
            write(f"dcs-conformance: reports in {reports}/")
            if any(test.violation for test in state.results.tests.values()):
                write(f"dcs-conformance: replay once fixed: {replay_command(str(reports))}")
    return result


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the reports once the exit status is final (also after an early exit)."""
    global _current
    state = _state(config)
    if state is not None:
        session = config.pluginmanager.get_plugin("session")
        status = int(session.exitstatus) if session is not None else ExitCode.INTERNAL_ERROR
        state.write_reports(status)
    _current = None


__all__ = [
    "dcs",
    "generated_schema",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_pyfunc_call",
    "pytest_report_header",
    "pytest_runtest_call",
    "pytest_runtest_logreport",
    "pytest_runtest_makereport",
    "pytest_runtestloop",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "share_of_examples",
    "suite_canary",
    "suite_contract",
]
