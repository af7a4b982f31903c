"""One run of the suite: its typed state (kept on the pytest config) and the work the plugin's
hooks hand to it. No pytest import: the plugin passes in what it needs."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import random
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance._contract.expect import describe
from conformance._contract.spec import Contract
from conformance._core import trace
from conformance._core.dates import utc_today
from conformance._core.errors import ConfigError, ContractViolation, ExitCode
from conformance._core.exchange import Masker
from conformance._report.causes import cause_key, violation_items
from conformance._report.common import warning_lines
from conformance._report.junit import mark_junit
from conformance._report.summary import (
    Results,
    Run,
    build_summary,
    coverage,
    findings,
    operations_line,
    write_reports,
)
from conformance._report.terminal import identity_text, repeated_failure_line, terminal_lines
from conformance._report.triage import (
    junit_marks,
    known_reason,
    render_baseline,
    standing_lines,
    triage,
)
from conformance._run.ahead import ALONE, Ahead, alone, job_for
from conformance._run.confirm import Confirmed, confirm
from conformance._run.history import write_baseline
from conformance._run.load import spec_drift
from conformance._run.session import Dcs, Skip, mock_identity, open_target, preflight_requests
from conformance._run.settings import PROFILES, Settings
from conformance.checks import CATALOGUE

SUITE_DIR = Path(__file__).resolve().parent.parent  # conformance/
PREFLIGHT = "preflight"  # the test id under which a broken preflight answer is reported


@dataclass
class RunState:
    """What one run keeps between hooks, in the controller and in each xdist worker."""

    settings: Settings
    contract: Contract
    seed: int | None
    compare_spec: str | None = None
    results: Results | None = None  # the controller's
    reports: bool = True  # write them (not --no-reports)
    unavailable: list[str] = field(default_factory=list)  # why the target went away mid-run
    no_verdict: bool = False
    _drift: dict[str, Any] | None = None
    _drift_done: bool = False
    #: The first test of each root cause seen in this process.
    _first_of_cause: dict[str, str] = field(default_factory=dict)
    round_trip: float | None = None  # seconds, measured by the preflight
    ahead: Ahead | None = None  # tests run ahead in threads (a far target)
    #: How the plugin skips a test (`pytest.skip`): the run layer imports no pytest.
    skip: Skip | None = None
    _target: Dcs | None = None
    _closing: ExitStack = field(default_factory=ExitStack)
    #: The day the baseline's expiries are judged on (UTC; xdist workers get the controller's).
    today: dt.date = field(default_factory=utc_today)
    #: What the target says about itself (the preflight's answer; the embedded mock: nothing).
    identity: dict[str, Any] | None = None
    confirmed: Confirmed | None = None  # the root causes re-sent (--confirm), controller only
    #: pytest's JUnit file of this run and its classname prefix (None: none written).
    junit: tuple[Path, str | None] | None = None
    #: What became of --write-baseline (a line for the terminal), once the run is over.
    baseline_written: str = ""
    exit_status: int | None = None  # the final one (`finish`)
    _written_masker: Masker | None = None

    def __post_init__(self) -> None:
        if not self.settings.live:
            self.identity = mock_identity(self.settings.identity_headers)

    def target(self, xdist_workers: int = 1) -> Dcs:
        """The target under test, opened on first use (the embedded mock starts then) and
        closed by `close`: the `dcs` fixture and the tests run ahead share it."""
        if self._target is None:
            opened = open_target(self.settings, self.contract, xdist_workers, self.skip)
            self._target = self._closing.enter_context(opened)
        return self._target

    def runs_ahead(self, xdist_workers: int) -> bool:
        """Whether tests will run ahead in threads: a far target, and no xdist workers (they
        are parallel already)."""
        return self.settings.tests_at_a_time(self.round_trip) > 1 and xdist_workers <= 1

    def run_ahead(self, items: Sequence[Any], xdist_workers: int) -> None:
        """Start running the tests' calls ahead in threads, if the target is far away."""
        if not self.runs_ahead(xdist_workers) or not items:
            return
        threads = self.settings.tests_at_a_time(self.round_trip)
        dcs = self.target(xdist_workers)
        plan = [ALONE if alone(item) else job_for(item, dcs) for item in items]
        plan = [job for job, item in zip(plan, items, strict=True) if job or alone(item)]
        if any(plan):
            self.ahead = Ahead(plan, threads)
            self._closing.callback(self.ahead.stop)

    def close(self) -> None:
        """Stop the tests run ahead, then close the target."""
        self._closing.close()

    def header(self) -> str:
        """The report header line: target, spec, how much of it is exercised, profile, seed."""
        contract, settings = self.contract, self.settings
        writes = [op.label for op in contract.write_operations]
        exercised = operations_line(len(contract.operations), writes, names=False)
        seed = "derandomized" if self.seed is None else self.seed
        said = f" ({identity_text(self.identity)})" if self.identity is not None else ""
        return (
            f"dcs-conformance: target {settings.target_label}{said}; spec {contract.version} "
            f"(sha256 {contract.sha256[:12]}; {exercised}); profile {settings.profile.name}; "
            f"seed {seed}; ground truth: {_ground_truth_line(settings)}"
        )

    def rerun(self, nodeid: str) -> str:
        """The command that reruns one test as it ran (never the key itself)."""
        settings = self.settings
        parts = ["pytest", nodeid]
        if settings.live:
            parts += ["--base-url", str(settings.base_url), "--api-key", "$DCS_API_KEY"]
            parts += _ground_truth_args(settings)
        parts += ["--profile", settings.profile.name]
        if self.seed is not None:
            parts.append(f"--hypothesis-seed={self.seed}")
        return " ".join(parts)

    def failure_text(self, nodeid: str, shown: str, violations: Sequence[dict[str, Any]]) -> str:
        """The failure text of a test: its violations in full (`shown`) and the rerun line;
        one line instead when this process already showed each of its root causes in full,
        naming the root cause and the test that showed it."""
        items = [item for violation in violations for item in violation_items(violation)]
        causes: dict[str, tuple[str, str]] = {}  # each root cause: its first check and message
        for item in items:
            causes.setdefault(cause_key(item), (str(item["check"]), str(item.get("message", ""))))
        keys = list(causes)
        if keys and all(key in self._first_of_cause for key in keys):
            return repeated_failure_line(
                [(key, *causes[key][:1], self._first_of_cause[key], causes[key][1]) for key in keys]
            )
        for key in keys:
            self._first_of_cause.setdefault(key, nodeid)
        return f"{shown}\n\n  rerun:     {self.rerun(nodeid)}"

    def baseline_verdict(
        self, violations: Sequence[Mapping[str, Any]]
    ) -> tuple[str | None, list[str]]:
        """A failing test against the baseline: the reason that marks it known (pytest's
        xfail) when every root cause of it is a known one, else None and the lines that name
        its new or expired root causes (nothing without --baseline)."""
        baseline = self.settings.baseline
        if baseline is None:
            return None, []
        keys = dict.fromkeys(cause_key(item) for v in violations for item in violation_items(v))
        standings = {key: baseline.standing(key, self.today) for key in keys}
        reason = known_reason(standings)
        return reason, [] if reason is not None else standing_lines(standings, baseline)

    def confirm(self) -> None:
        """Re-send each root cause's first failing exchanges `--confirm` times, before any
        report (controller only; not once the target went away). The requests count against
        what is left of `--max-requests`."""
        settings = self.settings
        if self.results is None or settings.confirm == 0 or self.unavailable:
            return
        found = findings(self.results, {n: c.rule for n, c in CATALOGUE.items()})
        groups = found["groups"]
        if not groups:
            return
        opened = self._target is not None
        dcs = self.target()
        transport = dcs.transport
        budget = settings.limits.max_requests
        if budget is not None and not opened:  # xdist: the workers spent the rest
            used = sum(
                1 + int(exchange.get("retries") or 0)
                for test in self.results.tests.values()
                for exchange in test.exchanges
            )
            left = budget - preflight_requests(settings) - used
            transport.limits = replace(transport.limits, max_requests=transport.sent + max(0, left))
        self.confirmed = confirm(
            groups,
            transport,
            self.contract,
            dcs.credentials.named,
            tries=settings.confirm,
            canary=settings.expect,
            base_url=settings.base_url,
            tests={f["test"]: f["violation"] for f in found["failures"] if f["violation"]},
        )

    def drift(self) -> dict[str, Any] | None:
        """The drift from our spec to `--compare-spec`, computed once (None: not asked)."""
        if self.compare_spec and not self._drift_done:
            self._drift = spec_drift(self.settings.spec, self.compare_spec)
            self._drift_done = True
        return self._drift

    def finish(self, exit_status: int) -> int:
        """The final exit status: a run that found no violation but lost its target has no
        verdict (75), not 'conformant'; one whose every violation is a known one of the
        baseline is (0). Then the baseline is written (--write-baseline), from a run with a
        verdict only."""
        if self.unavailable and exit_status in (0, 2, 5):  # 2: we stopped it
            self.no_verdict = True
            self.exit_status = ExitCode.TARGET_UNAVAILABLE
            return self.exit_status
        if exit_status == ExitCode.VIOLATIONS and self._only_known():
            assert self.results is not None
            for test in self.results.tests.values():  # the preflight's, not a test's (xfail)
                test.outcome = "known" if test.outcome in ("failed", "error") else test.outcome
            exit_status = ExitCode.CONFORMANT
        if self.settings.write_baseline is not None:
            self._write_baseline(exit_status)
        self.exit_status = exit_status
        return exit_status

    def _only_known(self) -> bool:
        """Whether the run failed only on known root causes: every failed test (the preflight
        included) is a contract violation whose every root cause the baseline knows."""
        if self.results is None or self.settings.baseline is None:
            return False
        tests = self.results.tests.values()
        bad = [test for test in tests if test.outcome in ("failed", "error")]
        if not bad and not any(test.outcome == "known" for test in tests):
            return False
        return all(
            test.violation is not None and self.baseline_verdict([test.violation])[0] is not None
            for test in bad
        )

    def _write_baseline(self, exit_status: int) -> None:
        path = self.settings.write_baseline
        if exit_status not in (ExitCode.CONFORMANT, ExitCode.VIOLATIONS) or self.results is None:
            self.baseline_written = (
                f"baseline not written to {path}: the run has no verdict (exit {exit_status})"
            )
            return
        groups = findings(self.results, {n: c.rule for n, c in CATALOGUE.items()})["groups"]
        contract, source = self.contract, self.settings.baseline_source
        about = (
            f"a run against {self.settings.target_label} (spec {contract.version}, sha256 "
            f"{contract.sha256[:12]})"
        )
        text = self._masker().text(render_baseline(groups, source, self.today, about))
        assert path is not None
        try:
            write_baseline(path, text)
        except OSError as exc:
            self.baseline_written = f"cannot write the baseline {path}: {exc}"
            return
        new = [g for g in groups if source is None or source.entry(g["id"]) is None]
        fill = f" ({len(new)} new: fill in its reason and issue)" if len(new) == 1 else (
            f" ({len(new)} new: fill in their reasons and issues)" if new else ""
        )  # fmt: skip
        count = f"{len(groups)} root cause{'' if len(groups) == 1 else 's'}"
        self.baseline_written = f"baseline written to {path}: {count}{fill}"

    def documented(self) -> dict[str, list[str]]:
        """Per operation of the spec (read-only: the writes are never sent), the status keys
        it documents."""
        return {
            op.label: list(op.definition.get("responses", {}))
            for op in self.contract.operations
            if not op.is_write
        }

    def terminal_lines(self) -> list[str]:
        """The terminal summary's lines: root causes, failures, unseen documented statuses."""
        if self.results is None:
            return []
        found = findings(self.results, {n: c.rule for n, c in CATALOGUE.items()})
        confirmed = self.confirmed
        triaged = triage(
            found["groups"],
            baseline=self.settings.baseline,
            today=self.today,
            previous=self.settings.previous,
            confirmed=None if confirmed is None else confirmed.causes,
        )
        exchanges = (e for test in self.results.tests.values() for e in test.exchanges)
        lines = terminal_lines(
            found["groups"],
            found["failures"],
            coverage(exchanges, self.documented()),
            triaged=triaged,
            confirm=None if confirmed is None else confirmed.as_dict(),
            warnings=found["warnings"],
        )
        if self.baseline_written:
            lines.append(f"dcs-conformance: {self.baseline_written}")
        return [self.mask(line) for line in lines]

    def write_reports(self, exit_status: int) -> None:
        """Write summary.json/.md/.html and failures.har, and mark the root causes on the
        JUnit file (controller only; an unwritable dir is one line)."""
        if self.results is None:
            return
        contract, settings = self.contract, self.settings
        base_url = settings.base_url
        if base_url is None and self._target is not None:
            base_url = self._target.transport.base_url
        run = Run(
            target=settings.target_label,
            spec_version=contract.version,
            spec_sha256=contract.sha256,
            spec_source=contract.source,
            spec_operations=len(contract.operations),
            writes_not_exercised=tuple(op.label for op in contract.write_operations),
            profile=settings.profile.name,
            seed=self.seed,
            exit_status=exit_status,
            drift=self.drift(),
            documented=self.documented(),
            base_url=base_url,
            reports_dir=str(settings.reports_dir),
            identity=self.identity,
            baseline=settings.baseline,
            previous=settings.previous,
            confirmed=None if self.confirmed is None else self.confirmed.causes,
            confirm=None if self.confirmed is None else self.confirmed.as_dict(),
            today=self.today,
        )
        summary = build_summary(run, self.results, {n: c.rule for n, c in CATALOGUE.items()})
        masker = self._masker()
        try:
            if self.reports:
                write_reports(settings.reports_dir, summary, masker)
            self._mark_junit(summary, masker)
        except OSError as exc:
            print(f"dcs-conformance: cannot write reports: {exc}", file=sys.stderr)

    def _masker(self) -> Masker:
        """The second masking pass of what is written; a toy key of a few letters is not."""
        if self._written_masker is None:
            keys = [key for key in self.settings.secrets if len(key) >= 8]
            self._written_masker = Masker(keys, secret_headers=self.contract.secret_headers)
        return self._written_masker

    def mask(self, text: str) -> str:
        """Text the run writes (the terminal's lines, pytest's reports of each test), the
        run's keys masked in every form (`Masker.text`)."""
        return self._masker().text(text)

    def mask_logging(self) -> Callable[[], None]:
        """From now on, every log record of the process is masked as it is made (any logger,
        any handler: pytest's captured and live logs included); returns how to stop."""
        make = logging.getLogRecordFactory()
        formatter = logging.Formatter()

        def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            try:
                text = record.getMessage()
            except (TypeError, ValueError):  # a record that cannot format: shown as it is
                return record
            record.msg, record.args = self.mask(text), None
            if record.exc_info:
                record.exc_text = self.mask(formatter.formatException(record.exc_info))
            return record

        logging.setLogRecordFactory(masked)
        return lambda: logging.setLogRecordFactory(make)

    def _mark_junit(self, summary: Mapping[str, Any], masker: Masker) -> None:
        """Mark each failing test's root causes on this run's JUnit file (not an older one)."""
        if self.junit is None or self.results is None:
            return
        path, prefix = self.junit
        try:
            fresh = os.path.getmtime(path) >= self.results.started.timestamp() - 1
        except OSError:
            return
        marks = junit_marks(summary["groups"])
        warned = [masker.text(line) for line in warning_lines(summary)]
        if fresh and (marks or warned):
            masked = {test: [masker.text(line) for line in lines] for test, lines in marks.items()}
            mark_junit(path, masked, prefix=prefix, warnings=warned)


def _ground_truth_line(settings: Settings) -> str:
    """What the run knows for certain about usage: the canary's file, an empty org, a second."""
    parts = [f"canary {describe(settings.expect)}"] if settings.expect is not None else []
    if settings.orgs.empty_org_key is not None or not settings.live:
        parts.append("empty org")
    if settings.orgs.second_api_key is not None:
        parts.append("second org")
    return ", ".join(parts) or "none (no --expect, --empty-org-key or --second-api-key)"


def _ground_truth_args(settings: Settings) -> list[str]:
    """The ground-truth options of a rerun line: keys by their variables, never themselves."""
    parts = []
    if settings.orgs.empty_org_key is not None:
        parts += ["--empty-org-key", "$DCS_EMPTY_ORG_KEY"]
    if settings.orgs.second_api_key is not None:
        parts += ["--second-api-key", "$DCS_SECOND_API_KEY"]
    if settings.expect is not None:
        parts += ["--expect", settings.expect.path]
    return parts


def judge(test: Callable[..., Any], outcomes: tuple[type[BaseException], ...]) -> Any:
    """`test` made to collect its violations (`trace.collecting`) and raise them all at its
    end, so that every check runs on every answer: a hypothesis test's inner test (each
    example raises its own), else the test itself. `outcomes`: how a test ends that the
    violations it found take over (pytest's skip; any `Exception`, hypothesis's rejection of
    an example included, always does; a violation raised at once is added to them)."""
    handle = getattr(test, "hypothesis", None)
    if handle is not None:
        if not getattr(handle.inner_test, _JUDGED, False):
            handle.inner_test = _judged(handle.inner_test, outcomes)
        return test
    return test if getattr(test, _JUDGED, False) else _judged(test, outcomes)


_JUDGED = "_dcs_judged"


def _judged(test: Callable[..., Any], outcomes: tuple[type[BaseException], ...]) -> Any:
    caught: tuple[type[BaseException], ...] = (Exception, *outcomes)

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        with trace.collecting() as pending:
            try:
                result = test(*args, **kwargs)
            except caught as error:
                if not pending and not isinstance(error, ContractViolation):
                    raise
                violation = trace.settle(pending, error)
                if violation is None or violation is error:
                    raise
                raise violation from None if isinstance(error, ContractViolation) else error
            violation = trace.settle(pending)
        if violation is not None:
            raise violation
        return result

    setattr(run, _JUDGED, True)
    return run


def _default_database() -> Any:
    """Hypothesis's own example database (where a random run remembers its failures)."""
    from hypothesis import settings as hypothesis_settings

    default = hypothesis_settings.default
    return None if default is None else default.database


def hypothesis_profile(
    settings: Settings, *, chosen: str | None, seed: int | None, worker_seed: Any
) -> int | None:
    """Register (and unless the user chose one, load) the profile's hypothesis settings; the
    run's seed: the user's, the controller's (xdist workers), a fresh one, or None when the
    profile is derandomized. A chosen profile that is not registered is a `ConfigError`."""
    from hypothesis import HealthCheck, Phase
    from hypothesis import settings as hypothesis_settings
    from hypothesis.errors import InvalidArgument

    profile = settings.profile
    name = f"dcs-{profile.name}"
    phases = (
        tuple(Phase)
        if settings.shrink
        else (Phase.explicit, Phase.reuse, Phase.generate, Phase.target)
    )
    hypothesis_settings.register_profile(
        name,
        phases=phases,
        max_examples=profile.max_examples,
        derandomize=profile.derandomize,
        deadline=None,
        database=None if profile.derandomize else _default_database(),
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    if not chosen:
        hypothesis_settings.load_profile(name)
    else:  # hypothesis's own plugin loads it next, and fails with a traceback
        try:
            hypothesis_settings.get_profile(chosen)
        except InvalidArgument:
            raise ConfigError(
                f"--hypothesis-profile {chosen!r} is not registered (ours: dcs-"
                f"{', dcs-'.join(PROFILES)}; or --profile)"
            ) from None
    if seed is None and not profile.derandomize:
        seed = worker_seed if worker_seed is not None else random.randrange(2**32)
    return seed


def runs_the_suite(args: Sequence[str], *, pyargs: bool, invocation_dir: Path) -> bool:
    """Whether a pytest session with these arguments collects the suite's tests: the plugin
    is registered wherever the package is installed, and stays inert in other sessions."""
    return any(_covers_suite(path) for path in _arg_paths(args, pyargs, invocation_dir))


def _arg_paths(args: Iterable[str], pyargs: bool, invocation_dir: Path) -> Iterable[Path]:
    import importlib.util

    for arg in args:
        name = arg.split("::")[0]
        if pyargs and name and not name.startswith((".", "/")):
            try:
                spec = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                spec = None
            if spec is not None and spec.origin not in (None, "namespace"):
                yield Path(spec.origin).resolve()
                continue
            if spec is not None and spec.submodule_search_locations:
                yield from (Path(p).resolve() for p in spec.submodule_search_locations)
                continue
        yield (invocation_dir / name).resolve()


def _covers_suite(path: Path) -> bool:
    """The path is the suite's directory, inside it, or a directory that contains it."""
    return path == SUITE_DIR or SUITE_DIR in path.parents or path in SUITE_DIR.parents
