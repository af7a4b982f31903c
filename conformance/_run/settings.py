"""Operator settings: command-line options, their environment variables, and their validation."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance._client.transport import Limits
from conformance._contract.expect import DEFAULT_EXPECT, Canary, load_canary
from conformance._core.errors import ConfigError
from conformance._report.triage import Baseline, Previous
from conformance._run.history import check_baseline_target, load_baseline, load_previous
from conformance.checks import CATALOGUE

DEFAULT_OTHER_ORG = "org_dcs_conformance_not_yours"
DEFAULT_REPORTS_DIR = Path("reports")
MAX_CONCURRENCY = 64
#: --concurrency auto: tests at a time when a round trip takes FAR_ROUND_TRIP seconds or more
AUTO_CONCURRENCY = 16
FAR_ROUND_TRIP = 0.008
#: --confirm: re-sends of each root cause's first failing exchanges, by default and at most
DEFAULT_CONFIRM = 2
MAX_CONFIRM = 20
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110 5.1)


@dataclass(frozen=True)
class Profile:
    """How much and how deterministically to test."""

    name: str
    max_examples: int
    derandomize: bool
    deadline: float  # seconds per request, headers and body included
    seed: int | None = None


PROFILES = {
    "quick": Profile("quick", max_examples=100, derandomize=False, deadline=10.0),
    "nightly": Profile("nightly", max_examples=1000, derandomize=False, deadline=20.0),
    "gate": Profile("gate", max_examples=300, derandomize=True, deadline=15.0, seed=20261125),
}

#: (option, environment variable, help). The option's dest is the option name without dashes.
OPTIONS: tuple[tuple[str, str | None, str], ...] = (
    ("--api-key", "DCS_API_KEY", "valid API key for the target (required with --base-url)"),
    ("--org-id", "DCS_ORG_ID", "org that owns the key; enables the own-org check"),
    ("--other-org-id", "DCS_OTHER_ORG_ID", f"an org the key does not own [{DEFAULT_OTHER_ORG}]"),
    ("--spec", "DCS_SPEC", "OpenAPI document (path or URL) [specs/dcs-openapi-usage.yaml]"),
    ("--profile", "DCS_PROFILE", f"test profile: {'|'.join(PROFILES)} [quick]"),
    ("--max-examples", "DCS_MAX_EXAMPLES", "examples per generated test [the profile's]"),
    ("--max-requests", "DCS_MAX_REQUESTS", "request budget for the run (per xdist worker)"),
    ("--rate-limit", "DCS_RATE_LIMIT", "at most N requests per second, e.g. 20/s"),
    ("--connect-timeout", None, "seconds to wait for a connection [5]"),
    ("--read-timeout", None, "seconds to wait for any data [10]"),
    ("--request-deadline", None, "total seconds per request [the profile's]"),
    (
        "--concurrency",
        "DCS_CONCURRENCY",
        f"tests run at a time, or auto: one, or {AUTO_CONCURRENCY} when a round trip to the "
        f"target takes {FAR_ROUND_TRIP * 1000:g} ms or more [auto]",
    ),
    ("--reports-dir", "DCS_REPORTS_DIR", "where reports are written [reports]"),
    (
        "--empty-org-key",
        "DCS_EMPTY_ORG_KEY",
        "key of an org that never ran a machine (ground truth)",
    ),
    ("--empty-org-id", "DCS_EMPTY_ORG_ID", "the org of --empty-org-key"),
    ("--second-api-key", "DCS_SECOND_API_KEY", "key of a second org, for isolation checks"),
    ("--second-org-id", "DCS_SECOND_ORG_ID", "the org of --second-api-key"),
    ("--expect", "DCS_EXPECT", "YAML file: the usage the key's org must show (ground truth)"),
    (
        "--baseline",
        "DCS_BASELINE",
        "YAML file of known failures: a root cause it lists (until its expiry) does not fail "
        "the run",
    ),
    (
        "--write-baseline",
        None,
        "write the run's root causes to this YAML file as a baseline (keeping the reasons and "
        "expiries of the entries still seen)",
    ),
    (
        "--previous",
        "DCS_PREVIOUS",
        "an earlier run's summary.json: mark each root cause new since then or still failing",
    ),
    (
        "--confirm",
        "DCS_CONFIRM",
        f"re-send each root cause's first failing exchanges N times to tell reproduced from "
        f"intermittent (0: never) [{DEFAULT_CONFIRM}]",
    ),
)


#: The variables of the run's keys (`--api-key`, `--empty-org-key`, `--second-api-key`), the
#: names their templates show them by.
SECRET_NAMES = ("DCS_API_KEY", "DCS_EMPTY_ORG_KEY", "DCS_SECOND_API_KEY")


@dataclass(frozen=True)
class OtherOrgs:
    """Ground truth besides the key's own org: an org that never ran a machine, and a second
    org (keys and ids)."""

    empty_org_key: str | None = None
    empty_org_id: str | None = None
    second_api_key: str | None = None
    second_org_id: str | None = None

    def keys(self, api_key: str | None) -> tuple[str, ...]:
        """`api_key` and these orgs' keys, those given: masked wherever they might show."""
        keys = (api_key, self.empty_org_key, self.second_api_key)
        return tuple(key for key in keys if key)

    def named(self, api_key: str | None) -> dict[str, str]:
        """The keys given, by the variable that holds each (`DCS_API_KEY`, ...): what a
        request template names in their place (`Masker.template`)."""
        keys = {
            SECRET_NAMES[0]: api_key,
            SECRET_NAMES[1]: self.empty_org_key,
            SECRET_NAMES[2]: self.second_api_key,
        }
        return {name: key for name, key in keys.items() if key}


@dataclass(frozen=True)
class Settings:
    """Everything the suite needs to know about the run, validated."""

    base_url: str | None
    api_key: str | None
    org_id: str | None
    other_org_id: str
    spec: str | None
    profile: Profile
    limits: Limits
    method_probes: bool
    reports_dir: Path
    concurrency: int | None = None  # tests at a time; None: auto (by the round trip)
    #: Minimise a generated test's failing example before reporting it (not: --no-shrink).
    shrink: bool = True
    #: Stop the run once a test failed one of these checks (--stop-on-check).
    stop_on_checks: frozenset[str] = frozenset()
    hypothesis_seed: int | None = None  # --hypothesis-seed, hypothesis's own option
    #: Ground truth (see `_ground_truth`): other orgs' keys, and the canary's expected usage.
    orgs: OtherOrgs = OtherOrgs()
    expect: Canary | None = None
    #: Known failures (--baseline), and where to write the run's (--write-baseline) with the
    #: entries whose reasons it keeps (--baseline's, else the file's own).
    baseline: Baseline | None = None
    write_baseline: Path | None = None
    baseline_source: Baseline | None = None
    previous: Previous | None = None  # --previous: an earlier run's root causes
    confirm: int = DEFAULT_CONFIRM  # --confirm: re-sends of each root cause's first exchanges
    #: --identity-header: response header fields that say what is deployed (a build, a version)
    identity_headers: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key of the run."""
        return self.orgs.keys(self.api_key)

    @property
    def live(self) -> bool:
        return self.base_url is not None

    def tests_at_a_time(self, round_trip: float | None) -> int:
        """How many tests run at once: `--concurrency`, or by the preflight's round trip."""
        if self.concurrency is not None:
            return self.concurrency
        far = round_trip is not None and round_trip >= FAR_ROUND_TRIP
        return AUTO_CONCURRENCY if far else 1

    @property
    def target_label(self) -> str:
        return self.base_url or "embedded mock DCS (loopback)"


def option_value(config: Any, option: str) -> str | None:
    """CLI value, else the environment variable's (empty counts as unset)."""
    value = config.getoption(option.lstrip("-").replace("-", "_"))
    if value in (None, ""):
        env = next((env for name, env, _ in OPTIONS if name == option), None)
        value = os.environ.get(env) if env else None
    return value or None


def from_config(config: Any, base_url: str | None) -> Settings:
    """Build and validate the settings; any operator mistake is one `ConfigError`, raised
    before the run starts (the reports dir is created here, and must be writable)."""
    api_key = option_value(config, "--api-key")
    if base_url is not None:
        check_url(base_url)
        if not api_key:
            raise ConfigError("--base-url needs --api-key (or DCS_API_KEY): a valid key for it")
    if api_key is not None and not header_value(api_key):
        raise ConfigError(  # never the key itself, not even in part
            "--api-key (or DCS_API_KEY): not usable in an HTTP header (printable ASCII only, "
            "no leading or trailing space)"
        )
    org_id, other_org_id = option_value(config, "--org-id"), option_value(config, "--other-org-id")
    for option, value in (("--org-id", org_id), ("--other-org-id", other_org_id)):
        if value is not None and not header_value(value):
            raise ConfigError(f"{option} {value!r}: not usable in an HTTP header")
    if org_id is not None and org_id == other_org_id:
        raise ConfigError(f"--other-org-id {other_org_id!r} must be an org the key does not own")
    profile_name = option_value(config, "--profile") or "quick"
    if profile_name not in PROFILES:
        raise ConfigError(f"--profile {profile_name!r}: choose one of {', '.join(PROFILES)}")
    profile = PROFILES[profile_name]
    examples = _count(option_value(config, "--max-examples"), "--max-examples")
    if examples is not None:
        profile = replace(profile, max_examples=examples)
    limits = Limits(
        connect_timeout=_number(config, "--connect-timeout", 5.0),
        read_timeout=_number(config, "--read-timeout", 10.0),
        deadline=_number(config, "--request-deadline", profile.deadline),
        max_requests=_count(option_value(config, "--max-requests"), "--max-requests"),
        rate_limit=_rate(option_value(config, "--rate-limit")),
    )
    _check_budget(limits.max_requests, live=base_url is not None, workers=_workers(config))
    reports_dir = Path(option_value(config, "--reports-dir") or DEFAULT_REPORTS_DIR)
    if not config.getoption("no_reports", False):
        _writable_dir(reports_dir, "--reports-dir")
    junit = getattr(config.option, "xmlpath", None)
    if junit:  # pytest's own --junitxml, written only at the end of the run
        _writable_dir(Path(junit).parent, "--junitxml", shown=junit)
    return Settings(
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=api_key,
        org_id=org_id,
        other_org_id=other_org_id or DEFAULT_OTHER_ORG,
        spec=option_value(config, "--spec"),
        profile=profile,
        limits=limits,
        method_probes=not config.getoption("no_method_probes"),
        reports_dir=reports_dir,
        shrink=not config.getoption("no_shrink"),
        stop_on_checks=_checks(config.getoption("stop_on_check")),
        hypothesis_seed=_seed(config.getoption("hypothesis_seed", None)),
        concurrency=_concurrency(option_value(config, "--concurrency")),
        **_ground_truth(config, base_url is not None, api_key, option_value(config, "--org-id")),
        **_history(config),
    )


def _history(config: Any) -> dict[str, Any]:
    """What the run is told of earlier ones (a baseline, a previous summary), how it confirms
    its root causes and which header fields name the build: read and validated now."""
    found: dict[str, Any] = {}
    path = option_value(config, "--baseline")
    if path is not None:
        found["baseline"] = found["baseline_source"] = load_baseline(path)
    target = option_value(config, "--write-baseline")
    if target is not None:
        found["write_baseline"] = Path(target)
        old = check_baseline_target(Path(target), source_given=path is not None)
        found["baseline_source"] = found.get("baseline_source") or old
    previous = option_value(config, "--previous")
    if previous is not None:
        found["previous"] = load_previous(previous)
    confirm = option_value(config, "--confirm")
    if confirm is not None:
        if not confirm.strip().isdigit() or int(confirm) > MAX_CONFIRM:
            raise ConfigError(
                f"--confirm {confirm!r}: expected a whole number in [0, {MAX_CONFIRM}]"
            )
        found["confirm"] = int(confirm)
    found["identity_headers"] = identity_headers(config)
    return found


def identity_headers(config: Any) -> tuple[str, ...]:
    """`--identity-header NAME` (repeatable), else `DCS_IDENTITY_HEADERS` (comma-separated)."""
    given = config.getoption("identity_header", None) or []
    if not given:
        given = (os.environ.get("DCS_IDENTITY_HEADERS") or "").split(",")
    names: list[str] = []
    for raw in given:
        name = raw.strip()
        if not name:
            continue
        if not _TOKEN.fullmatch(name):
            raise ConfigError(f"--identity-header {raw!r}: not an HTTP header field name")
        if name.lower() not in {known.lower() for known in names}:
            names.append(name)
    return tuple(names)


def _checks(value: str | None) -> frozenset[str]:
    """`--stop-on-check a,b`: names of the catalogue's checks (or schemathesis's, `st.NAME`)."""
    names = frozenset(name.strip() for name in (value or "").split(",") if name.strip())
    unknown = sorted(n for n in names if n not in CATALOGUE and not n.startswith("st."))
    if unknown:
        raise ConfigError(f"--stop-on-check: no such check: {', '.join(unknown)}")
    return names


def check_url(base_url: str) -> None:
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError as exc:
        raise ConfigError(f"--base-url {base_url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {base_url!r} is not an http(s) URL")


def header_value(value: str) -> bool:
    """Whether `value` can be sent as an HTTP header value as it is (RFC 9110 5.5: visible
    ASCII and inner spaces; httpx refuses anything else at the first request)."""
    return value == value.strip() and all(" " <= char <= "~" for char in value)


def _workers(config: Any) -> int:
    """The number of processes that share the request budget (pytest-xdist's workers)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput.get("workercount", 1))
    option = config.option
    if getattr(option, "dist", "no") == "no":
        return 1
    count = 0
    for spec in getattr(option, "tx", None) or []:  # `-n N` makes N "popen"; "3*popen" is 3
        head, star, _ = str(spec).partition("*")
        count += int(head) if star and head.isdigit() else 1
    return max(count, 1)


def _check_budget(max_requests: int | None, *, live: bool, workers: int) -> None:
    """A budget that leaves a worker no request would skip every test: a verdict of nothing."""
    if max_requests is None:
        return
    preflight = 1 if live else 0
    if max_requests - preflight < workers:
        needed = preflight + workers
        who = f"each of the {workers} xdist workers" if workers > 1 else "the tests"
        raise ConfigError(
            f"--max-requests {max_requests} leaves no request for {who}"
            f"{' after the preflight' if preflight else ''}: use at least {needed}"
        )


def _writable_dir(directory: Path, option: str, *, shown: str | None = None) -> None:
    """Create `directory` if needed and make sure a file can be written in it."""
    what = f"{option} {shown or str(directory)!r}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".dcs-write-check-"):
            pass
    except FileExistsError:
        where = "" if shown is None else f" {str(directory)!r} is"
        raise ConfigError(f"{what}:{where} not a directory") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot write there ({exc.strerror or exc})") from None


def _seed(raw: Any) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"--hypothesis-seed {raw!r}: expected a whole number") from None


def _number(config: Any, option: str, default: float) -> float:
    raw = option_value(config, option)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(f"{option} {raw!r}: expected seconds, a number in (0, 3600]")
    return value


def _count(raw: str | None, option: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{option} {raw!r}: expected a whole number >= 1")
    return int(raw)


def _concurrency(raw: str | None) -> int | None:
    if raw is None or raw.strip().lower() == "auto":
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= MAX_CONCURRENCY:
        raise ConfigError(
            f"--concurrency {raw!r}: expected auto or a whole number in [1, {MAX_CONCURRENCY}]"
        )
    return int(raw)


def _rate(raw: str | None) -> float | None:
    if raw is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*", raw)
    if match is None or float(match[1]) <= 0:
        raise ConfigError(f"--rate-limit {raw!r}: expected requests per second, e.g. 20/s")
    return float(match[1])


def _ground_truth(config: Any, live: bool, api_key: str | None, org_id: str | None) -> dict:
    """The ground-truth settings: an empty org's key, a second org's key, and the canary's
    expected usage (`--expect`, read and validated now; the embedded mock's own canary file
    when no target is given). The keys are never shown, not even in an error."""
    given = {
        option: option_value(config, option)
        for option in ("--empty-org-key", "--empty-org-id", "--second-api-key", "--second-org-id")
    }
    for option, own in (("--empty-org-key", api_key), ("--second-api-key", api_key)):
        if given[option] is not None and given[option] == own:
            raise ConfigError(f"{option} is the --api-key itself: give a key of another org")
    for option, own in (("--empty-org-id", org_id), ("--second-org-id", org_id)):
        if given[option] is not None and given[option] == own:
            raise ConfigError(f"{option} {own!r} is the --org-id itself: give another org")
    for option, value in given.items():
        if value is not None and not header_value(value):
            shown = "" if option.endswith("-key") else f" {value!r}"  # a key is never shown
            raise ConfigError(f"{option}{shown}: not usable in an HTTP header")
    orgs = OtherOrgs(**{option[2:].replace("-", "_"): v for option, v in given.items()})
    found: dict[str, Any] = {"orgs": orgs}
    path = option_value(config, "--expect") or (None if live else str(DEFAULT_EXPECT))
    if path is not None:
        canary = found["expect"] = load_canary(path)
        if live and canary.org and org_id and canary.org != org_id:
            raise ConfigError(
                f"--expect {path}: describes org {canary.org!r}, but --org-id is {org_id!r}"
            )
    return found
