"""Replaying a run's failures: read failures.har, re-send the exchanges of each root cause with
the real keys, and re-apply the checks that failed on the new answers.

Each root cause (a page of the HAR) holds the exchanges of the first test that showed it and
that test's findings of it: a check, and how it was called (`ContractViolation.arguments`:
exchanges by index, keys by name, the contract and operation by reference, the canary's
expectation by its period). The exchanges are re-sent in order on one connection, through the
suite's transport (the read-only guard included), each as it went in the run: one the raw
client wrote byte for byte (whitespace around a value, HTTP/1.0, absolute-form) is written
again so on a connection of its own, the same bytes with the real key in place of `${NAME}`;
one sent on a new connection, again on a new one. Each check is called again with the new
answers in place of the old: a root cause is fixed when none of them fails any more.
Schemathesis's checks (`st.*`) cannot be called again without the generated case: such a
finding is still failing while the answer keeps its status and, for a schema, media type or
header finding, our own response checks still find something wrong with it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance._client.raw import Raw
from conformance._client.transport import Transport, WriteRefused
from conformance._client.wire import Unsendable
from conformance._contract.expect import Canary
from conformance._contract.spec import Contract
from conformance._core.dates import parse_date
from conformance._core.errors import ConfigError, ContractViolation, TargetUnavailable
from conformance._core.exchange import MASK, PLACEHOLDER, PLACEHOLDER_PATTERN, Exchange
from conformance._report.har import HAR_FORMAT
from conformance._run.settings import SECRET_NAMES
from conformance.checks import CATALOGUE, validate_response

STILL_FAILING = "still failing"
FIXED = "fixed"
NOT_REPLAYED = "not replayed"
#: Schemathesis's checks whose finding is about the answer's body, media type or headers.
_ST_BODY_CHECKS = frozenset(
    {
        "st.response_schema_conformance",
        "st.content_type_conformance",
        "st.response_headers_conformance",
    }
)


@dataclass(frozen=True)
class Request:
    """One exchange to re-send: the request as a template (keys as `${NAME}`)."""

    method: str
    url: str
    headers: dict[str, str]
    status: int | None  # what it got in the run
    raw: Raw | None = None  # written byte for byte in the run: so again
    fresh: bool = False  # sent on a new connection in the run: so again


@dataclass(frozen=True)
class Finding:
    check: str
    message: str
    arguments: list[Any] | None
    requests: list[int]  # indexes into the root cause's requests


@dataclass(frozen=True)
class Cause:
    rank: int
    key: str
    category: str
    test: str
    requests: list[Request]
    findings: list[Finding]


@dataclass(frozen=True)
class Failures:
    """What failures.har asks to replay."""

    path: str
    base_url: str | None
    spec_sha256: str | None
    causes: list[Cause]

    def secrets(self) -> set[str]:
        """The names of the keys the replay needs (`DCS_API_KEY`, ...)."""
        found: set[str] = set()
        for cause in self.causes:
            for request in cause.requests:
                for text in (request.url, *request.headers.values()):
                    found |= set(PLACEHOLDER_PATTERN.findall(text))
            for finding in cause.findings:
                found |= _secret_names(finding.arguments)
        return found


@dataclass
class Outcome:
    """How one root cause fared: still failing, fixed or not replayed, and why."""

    cause: Cause
    verdict: str
    detail: str = ""
    exchanges: list[Exchange] = field(default_factory=list)


def read_failures(path: str | Path) -> Failures:
    """Read a failures.har written by the suite; any problem is one `ConfigError` line."""
    try:
        har = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None
    return failures_from(har, str(path))


def failures_from(har: Any, path: str) -> Failures:
    """What a failures.har document (parsed) asks to replay; `path` names it in errors."""
    log = har.get("log") if isinstance(har, dict) else None
    ours = log.get("_dcs") if isinstance(log, dict) else None
    if not isinstance(log, dict) or not isinstance(ours, dict) or ours.get("format") != HAR_FORMAT:
        raise ConfigError(
            f"{path}: not a failures.har of dcs-conformance (format {HAR_FORMAT}); "
            "a run with violations writes one to its reports dir"
        )
    try:
        entries = log.get("entries") or []
        causes = [_cause(page, entries) for page in log.get("pages") or []]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"{path}: a page or entry is not as the suite writes it ({exc})"
        ) from None
    return Failures(path, ours.get("base_url"), ours.get("spec_sha256"), causes)


def _cause(page: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> Cause:
    ours = page["_dcs"]
    requests = [_request(entry) for entry in entries if entry.get("pageref") == page["id"]]
    findings = [
        Finding(
            str(finding["check"]),
            str(finding.get("message") or ""),
            finding.get("arguments"),
            [int(i) for i in finding.get("entries") or []],
        )
        for finding in ours["findings"]
    ]
    for finding in findings:
        if any(not 0 <= i < len(requests) for i in finding.requests):
            raise ValueError(f"page {page['id']}: a finding names an entry it does not have")
    return Cause(
        int(ours["rank"]),
        str(ours["cause"]),
        str(ours["severity"]["category"]),
        str(ours["test"]),
        requests,
        findings,
    )


def _request(entry: Mapping[str, Any]) -> Request:
    request = entry["request"]
    template = (entry.get("_dcs") or {}).get("template") or {}
    headers = template.get("headers")
    if headers is None:
        headers = {pair["name"]: pair["value"] for pair in request.get("headers") or []}
    status = entry["response"].get("status") or None
    wire = (entry.get("_dcs") or {}).get("wire") or {}
    raw = None
    if wire.get("raw"):
        version = str(wire.get("version") or "1.1")
        if version not in ("1.0", "1.1"):
            raise ValueError(f"HTTP/{version} cannot be written byte for byte")
        raw = Raw(version, bool(wire.get("absolute_form")), bool(wire.get("then_get")))
    return Request(
        str(request["method"]),
        str(template.get("url") or request["url"]),
        headers,
        status,
        raw,
        bool(wire.get("fresh")),
    )


def _secret_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        if "$secret" in value:
            return {str(value["$secret"])}
        return {name for item in value.values() for name in _secret_names(item)}
    if isinstance(value, list):
        return {name for item in value for name in _secret_names(item)}
    return set()


def replay(
    failures: Failures,
    transport: Transport,
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None = None,
) -> list[Outcome]:
    """Re-send each root cause's exchanges and re-apply its checks; `keys` by name. Raises
    `TargetUnavailable` when no request got an answer at all."""
    outcomes = [
        replay_cause(cause, failures, transport, contract, keys, canary)
        for cause in failures.causes
    ]
    sent = [exchange for outcome in outcomes for exchange in outcome.exchanges]
    if sent and not any(exchange.answered for exchange in sent):
        raise TargetUnavailable(f"{transport.base_url} gives no HTTP answer ({sent[0].error})")
    return outcomes


def replay_cause(
    cause: Cause,
    failures: Failures,
    transport: Transport,
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None,
) -> Outcome:
    """Re-send one root cause's exchanges in order on one connection and re-apply its checks
    to the new answers: still failing, fixed, or not replayed (and why)."""
    blocked = not_replayable(cause)
    if blocked:
        return Outcome(cause, NOT_REPLAYED, blocked)
    earliest = time.time()
    exchanges = []
    try:
        with transport.one_connection():
            for request in cause.requests:
                url = _fill(_rebase(request.url, failures.base_url, transport.base_url), keys)
                headers = {name: _fill(value, keys) for name, value in request.headers.items()}
                sent = transport.request(
                    request.method, url, headers=headers, raw=request.raw, fresh=request.fresh
                )
                exchanges.append(sent)
    except (WriteRefused, Unsendable) as exc:
        return Outcome(cause, NOT_REPLAYED, transport.masker.error(exc))
    latest = time.time()
    failing: list[str] = []
    unchecked: list[str] = []
    for finding in cause.findings:
        answers = [exchanges[i] for i in finding.requests]
        requests = [cause.requests[i] for i in finding.requests]
        try:
            verdict = _recheck(
                finding, answers, requests, contract, keys, canary, (earliest, latest)
            )
        except _CannotRecheck as why:
            unchecked.append(f"[{finding.check}] {why}")
            continue
        if verdict is not None:
            failing.append(verdict)
    if failing:
        return Outcome(cause, STILL_FAILING, failing[0], exchanges)
    if unchecked:
        return Outcome(cause, NOT_REPLAYED, f"{unchecked[0]}: rerun {cause.test}", exchanges)
    return Outcome(cause, FIXED, _answered(exchanges), exchanges)


def not_replayable(cause: Cause) -> str:
    """Why a root cause's requests cannot be sent again before any is sent ("" when they
    can): one carried a key the test had changed or encoded, masked and never written."""
    if any(_hides_a_key(request) for request in cause.requests):
        return (
            "its requests carried a key the test had changed or encoded (masked, never "
            f"written): rerun {cause.test}"
        )
    return ""


class _CannotRecheck(Exception):
    """A finding the replay cannot judge again (and why)."""


def _recheck(
    finding: Finding,
    answers: list[Exchange],
    requests: list[Request],
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None,
    window: tuple[float, float],
) -> str | None:
    """The finding's check on the new answers: its violation in one line, or None."""
    if finding.check.startswith("st."):
        return _recheck_schemathesis(finding, answers, requests, contract, keys)
    invariant = CATALOGUE.get(finding.check)
    if invariant is None or invariant.function is None:
        raise _CannotRecheck("not a check of this version of the suite")
    if finding.arguments is None:
        raise _CannotRecheck("its arguments were not recorded")
    arguments = [_decode(a, answers, contract, keys, canary, window) for a in finding.arguments]
    try:
        invariant.function(*arguments)
    except ContractViolation as violation:
        return _line(violation)
    return None


def _recheck_schemathesis(
    finding: Finding,
    answers: list[Exchange],
    requests: list[Request],
    contract: Contract,
    keys: Mapping[str, str],
) -> str | None:
    """A schemathesis finding: still there while the answer keeps its status and, for one
    about the body, media type or headers, our response checks still find it wrong."""
    if not answers:
        raise _CannotRecheck("no exchange to re-send")
    answer, before = answers[0], requests[0].status
    if answer.status != before:
        return None
    if finding.check in _ST_BODY_CHECKS:
        path = urlsplit(answer.url).path
        operation = next(
            (
                op
                for op in contract.operations
                if op.method == answer.method.lower()
                and re.search(f"{op.path_pattern.pattern}$", path)
            ),
            None,
        )
        if operation is None:
            raise _CannotRecheck("its request is for no operation of the spec")
        found = validate_response(contract, operation, answer, list(keys.values()))
        if not found:
            return None
        return _line(found[0])
    return f"[{finding.check}] {finding.message} (answered {answer.status} again)"


def _decode(
    value: Any,
    answers: list[Exchange],
    contract: Contract,
    keys: Mapping[str, str],
    canary: Canary | None,
    window: tuple[float, float],
) -> Any:
    """An argument as the check takes it, from its record (see `recorded_arguments`)."""
    if isinstance(value, list):
        return tuple(_decode(item, answers, contract, keys, canary, window) for item in value)
    if not isinstance(value, dict):
        return value
    if "$exchange" in value:
        return answers[int(value["$exchange"])]
    if "$secret" in value:
        return keys[str(value["$secret"])]
    if "$contract" in value:
        return contract
    if "$operation" in value:
        method, path = str(value["$operation"]).split(" ", 1)
        try:
            return contract.operation(path, method)
        except KeyError:
            raise _CannotRecheck(f"the spec has no {value['$operation']}") from None
    if "$set" in value:
        return {_decode(item, answers, contract, keys, canary, window) for item in value["$set"]}
    if "$canary_expected" in value or "$canary_storage" in value:
        if canary is None:
            raise _CannotRecheck("it needs the canary's expected usage: --expect FILE")
        earliest, latest = window
        if "$canary_storage" in value:
            return canary.storage(earliest, latest)
        period = parse_date(str(value["$canary_expected"]))
        if period is None:
            raise _CannotRecheck(f"not a period: {value['$canary_expected']!r}")
        return canary.expected(period, earliest, latest)
    raise _CannotRecheck(f"an argument it cannot rebuild: {sorted(value)}")


def _hides_a_key(request: Request) -> bool:
    return any(MASK in text for text in (request.url, *request.headers.values()))


def _fill(template: str, keys: Mapping[str, str]) -> str:
    for name, key in keys.items():
        template = template.replace(PLACEHOLDER.format(name), key)
    return template


def _rebase(url: str, old: str | None, new: str) -> str:
    """`url` of the run's target (`old`) on the target replayed (`new`)."""
    if old and url.startswith(old.rstrip("/") + "/"):
        return new.rstrip("/") + url[len(old.rstrip("/")) :]
    scheme, _, rest = url.partition("://")
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return new.rstrip("/") + path if scheme else url


def _line(violation: ContractViolation) -> str:
    return violation.mask(f"[{violation.check}] {violation.message}")


def _answered(exchanges: Sequence[Exchange]) -> str:
    shown = ", ".join(f"{e.method} {e.status if e.answered else e.error}" for e in exchanges[:4])
    more = f", ... ({len(exchanges)} requests)" if len(exchanges) > 4 else ""
    return f"answered {shown}{more}"


__all__ = [
    "FIXED",
    "NOT_REPLAYED",
    "SECRET_NAMES",
    "STILL_FAILING",
    "Cause",
    "Failures",
    "Outcome",
    "failures_from",
    "not_replayable",
    "read_failures",
    "replay",
    "replay_cause",
]
