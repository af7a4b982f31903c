"""The handle tests use: one target, its credentials, and requests whose responses are judged."""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypeVar

from conformance._client.raw import Raw  # also for the suite's tests, which import no _client
from conformance._client.transport import BudgetExhausted, Guard, Limits, Params, Transport, lend
from conformance._contract.spec import ORG_HEADER, USAGE_PATH, Contract, Operation
from conformance._core import trace
from conformance._core.errors import ContractViolation, TargetUnavailable
from conformance._core.exchange import SECRET_HEADERS, Exchange, Masker
from conformance._run.settings import SECRET_NAMES, OtherOrgs, Settings
from conformance.checks import validate_response
from conformance.checks.http import credentialed_answer_not_shared_cacheable, strong_tag
from conformance.checks.responses import complete_response, key_never_echoed
from conformance.checks.usage import billed_fields, usage_fields

WRONG_KEY = "dcs_conformance_wrong_key_0000000000000000"
#: Answers kept to compare a strong ETag's content with: a run's worth, not a nightly's.
MAX_TAGGED = 20_000
#: Skips the running test with a reason (never returns): `pytest.skip`, handed in by the plugin.
Skip = Callable[[str], NoReturn]
T = TypeVar("T")


@dataclass(frozen=True)
class Credentials:
    api_key: str
    org_id: str | None
    other_org_id: str
    orgs: OtherOrgs

    @property
    def keys(self) -> tuple[str, ...]:
        return self.orgs.keys(self.api_key)

    @property
    def named(self) -> dict[str, str]:
        return self.orgs.named(self.api_key)


#: `Dcs.get_usage(scheme=...)`: the spec's first security scheme.
FIRST_SCHEME = "(first)"


def credential_headers(contract: Contract, scheme: str | None, key: str) -> dict[str, str]:
    """Headers carrying `key` by a security scheme of the spec, by its label (`FIRST_SCHEME`:
    the first one; None: no credentials)."""
    if scheme is None:
        return {}
    if scheme == FIRST_SCHEME:
        return contract.auth_schemes[0].headers(key)
    return contract.auth_scheme(scheme).headers(key)


def coverage_record(contract: Contract, exchange: Exchange) -> dict[str, Any]:
    """`Exchange.summary()` for the coverage report, with the credentials named as the spec's
    scheme that carried them (`none`; `other` for a credential header no scheme describes) and
    their state (`credential_state`, see `credentials_of`), and the operation of the spec the
    request is for (`operation`: its method to its path, else None; `resource`: its path
    whatever the method, else None)."""
    scheme, state = credentials_of(contract, exchange)
    headers = exchange.request_headers
    org = ORG_HEADER.lower() in {name.lower() for name in headers}
    record = exchange.summary(credential=scheme, org_header=org)
    path = record["path"]
    resource = next((op for op in contract.operations if _same_path(op, path)), None)
    operation = next(
        (
            op
            for op in contract.operations
            if op.method.upper() == exchange.method.upper() and _same_path(op, path)
        ),
        None,
    )
    record.update(
        credential_state=state,
        operation=None if operation is None else operation.label,
        resource=None if resource is None else resource.path,
    )
    return record


def _same_path(operation: Operation, path: str) -> bool:
    """Whether `path` is a concrete path of `operation`, spelled exactly (case included)."""
    return re.fullmatch(operation.path_pattern.pattern, path) is not None


def credentials_of(contract: Contract, exchange: Exchange) -> tuple[str, str]:
    """How a request carried credentials: the spec's scheme (`x-api-key`, `bearer`; `other`:
    a credential header no scheme describes; `none`), and what it carried: `valid key` (the
    run's key, exactly as the scheme puts it), `another org's key` (the empty or second
    org's), `other value` (a wrong, changed or malformed key), `none`."""
    headers = exchange.request_headers
    for scheme in contract.auth_schemes:
        if scheme.carried_by(headers):
            value = next(v for k, v in headers.items() if k.lower() == scheme.header.lower())
            name = exchange.masker.name_of(value[len(scheme.prefix) :])
            if name == SECRET_NAMES[0]:
                return scheme.label, "valid key"
            return scheme.label, "other value" if name is None else "another org's key"
    secret = {name.lower() for name in headers} & (SECRET_HEADERS | contract.secret_headers)
    return ("other", "other value") if secret else ("none", "none")


def violation_record(contract: Contract, violation: ContractViolation) -> dict[str, Any]:
    """`ContractViolation.as_dict()`, each exchange with the credentials it carried
    (`credentials`: `scheme`, `state`, see `credentials_of`)."""
    record = violation.as_dict()
    for item, leaf in zip(_records(record), _leaves(violation), strict=True):
        for exchange, sent in zip(item["exchanges"], leaf.exchanges, strict=True):
            scheme, state = credentials_of(contract, sent)
            exchange["credentials"] = {"scheme": scheme, "state": state}
    return record


def _records(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [record, *(r for related in record["related"] for r in _records(related))]


def _leaves(violation: ContractViolation) -> list[ContractViolation]:
    return [violation, *(v for related in violation.related for v in _leaves(related))]


class Dcs:
    """A DCS target under test. Every response it fetches is run through the response checks."""

    def __init__(
        self,
        settings: Settings,
        contract: Contract,
        transport: Transport,
        credentials: Credentials,
        skip: Skip | None = None,
    ) -> None:
        self.settings = settings
        #: How a test is skipped (the plugin's `pytest.skip`): this layer imports no pytest.
        self.skip = skip
        self.contract = contract
        self.transport = transport
        self.credentials = credentials
        self.usage = contract.operation(USAGE_PATH, "get")
        self.billed_fields = billed_fields(contract, self.usage)
        #: the names of the usage body's fields: no answer without a valid key carries one
        self.usage_fields = usage_fields(contract, self.usage)
        #: threads that send the other requests of `together` (each keeps its connections)
        self._helpers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dcs-together")
        #: The canary's expected usage (the org of the main key), or None.
        self.canary = settings.expect
        self._plain: dict[str, Exchange] = {}
        self._plain_fetching: dict[str, threading.Lock] = {}
        self._plain_lock = threading.Lock()
        #: the first complete 200 to a GET of each (target URI, strong ETag) of the run
        self._tagged: dict[tuple[str, str], Exchange] = {}

    @property
    def keys(self) -> tuple[str, ...]:
        """The caller's keys: no answer may echo them."""
        return self.credentials.keys

    def violations(self, operation: Operation, exchange: Exchange) -> list[ContractViolation]:
        """Every response check on `exchange` (returned, not raised), its content compared
        with that of the run's first answer to the same target with the same strong ETag."""
        same_tag = None
        tag = strong_tag(exchange)
        if tag is not None:
            with self._plain_lock:
                if len(self._tagged) < MAX_TAGGED:
                    first = self._tagged.setdefault((exchange.url, tag), exchange)
                else:
                    first = self._tagged.get((exchange.url, tag), exchange)
            same_tag = None if first is exchange else first
        return validate_response(self.contract, operation, exchange, self.keys, same_tag)

    def together(self, *calls: Callable[[], T]) -> list[T]:
        """Run independent requests at the same time (each `call` makes one) and return their
        results in order: a test that needs two reads waits for one round trip, not two."""
        if len(calls) < 2:
            return [call() for call in calls]
        first, *others = calls
        futures = [
            self._helpers.submit(contextvars.copy_context().run, lend(call)) for call in others
        ]
        return [first(), *(future.result() for future in futures)]

    def close(self) -> None:
        self._helpers.shutdown(wait=True, cancel_futures=True)

    def get_usage(
        self,
        *,
        period_start: str | None = None,
        scheme: str | None = FIRST_SCHEME,
        key: str | None = None,
        org: str | None = None,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        raw: Raw | None = None,
        fresh: bool = False,
    ) -> Exchange:
        """Request the usage summary and judge the response on its own."""
        exchange = self.send_usage(
            period_start=period_start, scheme=scheme, key=key, org=org, params=params,
            headers=headers, method=method, raw=raw, fresh=fresh,
        )  # fmt: skip
        self.judge(exchange)
        return exchange

    def plain(self, period_start: str) -> Exchange:
        """The plain valid request's answer for a closed period (the key by the first
        scheme, nothing else): the reference that requests meant to get the same answer
        are compared with. Sent once in the run (tests that ask at the same time wait for
        the one request: the run's requests stay the same in any order) and kept when it is
        a 200 (a closed month reads the same every time: `closed_period_stable` holds it
        so); judged on every use, so that a test fails the same way each time it runs."""
        with self._plain_lock:  # one fetch per period, however many threads ask at once
            lock = self._plain_fetching.setdefault(period_start, threading.Lock())
        with lock:
            exchange = self._plain.get(period_start)
            if exchange is None:
                exchange = self.send_usage(period_start=period_start)
                if exchange.status == 200 and not exchange.error:
                    self._plain[period_start] = exchange
        self.judge(exchange)
        return exchange

    def send_usage(
        self,
        *,
        period_start: str | None = None,
        scheme: str | None = FIRST_SCHEME,
        key: str | None = None,
        org: str | None = None,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        method: str = "GET",
        raw: Raw | None = None,
        fresh: bool = False,
        query: str | None = None,
    ) -> Exchange:
        """Request the usage summary without judging the answer yet (`judge` does: a test
        runs its own invariant first, so that its finding leads whatever else is broken).
        `raw` and `fresh` say how it goes on the wire (`Transport.request`); `query` is a
        query string sent exactly as spelled, before any `params`."""
        pairs, sent = self._usage_request(period_start, scheme, key, org, params, headers)
        path = USAGE_PATH if query is None else f"{USAGE_PATH}?{query}"
        return self.send(method, path, params=pairs, headers=sent, raw=raw, fresh=fresh)

    def judge(self, exchange: Exchange, *checks: Callable[[], None]) -> None:
        """Run the test's own `checks` (each a call of an invariant on `exchange` and what
        it is compared with), then every response check on `exchange`; raise every
        violation found, the test's own first. As for every answer (`judge`), the response
        checks' violations are kept until the test's end when the test collects them."""
        found: list[ContractViolation] = []

        def respond() -> None:
            judge(self.violations(self.usage, exchange))

        for check in [*checks, respond]:
            try:
                check()
            except ContractViolation as violation:
                found.append(violation)
        if found:
            raise ContractViolation.combine(found)

    def probe_usage(
        self,
        path: str,
        *,
        period_start: str | None = None,
        scheme: str | None = FIRST_SCHEME,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send the usage request to `path`, spelled exactly as given (another spelling of the
        declared path, or a raw query): the answer is not the operation's, so it is judged
        only for echoed keys and shared caching; the caller's invariant judges the rest."""
        query, sent = self._usage_request(period_start, scheme, key, None, None, headers)
        exchange = self.send("GET", path, params=query, headers=sent)
        key_never_echoed(self.keys, exchange)
        credentialed_answer_not_shared_cacheable(self.contract, self.usage, exchange)
        return exchange

    def _usage_request(
        self,
        period_start: str | None,
        scheme: str | None,
        key: str | None,
        org: str | None,
        params: Params,
        headers: Mapping[str, str] | None,
    ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        query = [] if period_start is None else [("period_start", period_start)]
        query += list(params.items()) if isinstance(params, Mapping) else list(params or [])
        sent = credential_headers(self.contract, scheme, key or self.credentials.api_key)
        if org is not None:
            sent[ORG_HEADER] = org
        sent.update(headers or {})
        return query, sent

    def fetch(
        self,
        operation: Operation,
        method: str,
        path_or_url: str,
        *,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        """Send a request of `operation` and run every response check on its answer: their
        violations are kept until the end of the test (`trace.found`), which goes on; a request
        with no complete answer ends the test at once (nothing more can be judged)."""
        exchange = self.send(method, path_or_url, params=params, headers=headers)
        judge(self.violations(operation, exchange))
        return exchange

    def send(self, method: str, path_or_url: str, **kwargs: Any) -> Exchange:
        """Send through the transport; a used-up request budget skips the test at once."""
        try:
            return self.transport.request(method, path_or_url, **kwargs)
        except BudgetExhausted as exc:
            if self.skip is not None:
                self.skip(str(exc))
            raise

    def healthy(self) -> Exchange:
        """A plain valid request, without judging it (used to tell outages from violations)."""
        key = self.credentials.api_key
        headers = credential_headers(self.contract, FIRST_SCHEME, key)
        return self.send("GET", USAGE_PATH, headers=headers)

    def explain_unavailable(self, exchanges: Sequence[Exchange]) -> None:
        """Raise `TargetUnavailable` if a failure rests on an outage the target still has:
        a gateway status, or no answer at all, that a plain valid request gets too."""
        if any(e.unavailable or not e.answered for e in exchanges):
            probe = self.healthy()
            if probe.unavailable or not probe.answered:
                raise TargetUnavailable(
                    f"{self.settings.target_label} answers "
                    f"{probe.server_line() if probe.answered else 'nothing'} "
                    f"({probe.error or 'retryable'}) even to a plain valid request"
                )


def judge(violations: list[ContractViolation]) -> None:
    """Hand one answer's violations to the test (`trace.found`); raise them at once when the
    answer is incomplete (`complete_response`): no later check could judge it."""
    if any(violation.check == complete_response.__name__ for violation in violations):
        raise ContractViolation.combine(violations)
    trace.found(violations)


@contextmanager
def open_target(
    settings: Settings, contract: Contract, workers: int = 1, skip: Skip | None = None
) -> Iterator[Dcs]:
    """The `--base-url` deployment, or the embedded mock started on loopback for the `with`."""
    with ExitStack() as stack:
        if settings.live:
            assert settings.base_url is not None and settings.api_key is not None
            base_url = settings.base_url
            credentials = Credentials(
                settings.api_key, settings.org_id, settings.other_org_id, settings.orgs
            )
        else:
            from conformance.mock import create_app, load_fixtures, serve

            fixtures = load_fixtures()
            server = stack.enter_context(serve(create_app(fixtures), host="127.0.0.1", port=0))
            base_url = server.base_url
            key, org = fixtures.suite_credentials
            empty_key, empty_org = fixtures.suite_empty_org or (None, None)
            orgs = OtherOrgs(empty_key, empty_org)
            credentials = Credentials(key, org, settings.other_org_id, orgs)
        limits = worker_limits(settings, workers)
        transport = Transport(
            base_url,
            limits=limits,
            masker=Masker(secret_headers=contract.secret_headers, names=credentials.named),
            guard=read_only_guard(contract),
        )
        stack.callback(transport.close)
        dcs = Dcs(settings, contract, transport, credentials, skip)
        stack.callback(dcs.close)
        yield dcs


def read_only_guard(contract: Contract) -> Guard:
    """The transport's last line: a declared write of the spec is never sent, to any target."""

    def guard(method: str, path: str) -> str | None:
        operation = contract.declared_write(method, path)
        return None if operation is None else f"{operation.label} is a declared write"

    return guard


def preflight_requests(settings: Settings) -> int:
    """How many requests the preflight sends: none to the embedded mock; a plain valid one,
    and a second one on the same connection to time the round trip, unless the budget is
    too small for that."""
    if not settings.live:
        return 0
    budget = settings.limits.max_requests
    return 2 if budget is None or budget >= 3 else 1


def worker_limits(settings: Settings, workers: int) -> Limits:
    """One process's share of the budget (less the preflight requests) and of the rate limit."""
    limits = settings.limits
    budget = limits.max_requests
    if budget is not None:
        budget = max(0, budget - preflight_requests(settings)) // workers
    rate = None if limits.rate_limit is None else limits.rate_limit / workers
    return replace(limits, max_requests=budget, rate_limit=rate)


@dataclass(frozen=True)
class Preflight:
    """What one plain valid request (and, if needed, one without credentials) tells of a
    live target before any test: judge it, give up for now, or it is already broken."""

    unavailable: str | None = None  # it cannot be judged now (exit 75): why
    violation: ContractViolation | None = None  # it answers HTTP, brokenly (exit 1)
    round_trip: float | None = None  # seconds, of a request on an open connection
    #: What the target says about itself in its answer (see `identity_of`); None: no answer.
    identity: dict[str, Any] | None = None


def identity_of(exchange: Exchange, names: Sequence[str]) -> dict[str, Any]:
    """What an answer says about the deployment that gave it: its `Server` field and the
    fields named (`--identity-header`), each None when absent (masked: never a key)."""

    def field(name: str) -> str | None:
        value = exchange.headers.get(name.lower())
        return None if value is None else exchange.masker.text(value)

    return {"server": field("server"), "headers": {name: field(name) for name in names}}


def mock_identity(names: Sequence[str]) -> dict[str, Any]:
    """The embedded mock's identity: it sends no `Server` field, nor any build field."""
    return {"server": None, "headers": dict.fromkeys(names)}


def preflight(settings: Settings, contract: Contract) -> Preflight:
    """Tell "down" from "broken" before the first test.

    Unavailable: no TCP connection, a DNS failure, no response head within the deadline or
    a close before any byte (to the keyless request too), or a gateway or rate-limit status
    (429, 502, 503, 504) or a 5xx marked retryable that persists after the retries. Any other
    HTTP answer is judged: a truncated, oversized, undecodable or dribbled answer, or none to
    the valid request while the keyless one gets an answer, is a `complete_response` violation.
    """
    assert settings.base_url is not None and settings.api_key is not None
    limits = Limits(
        connect_timeout=settings.limits.connect_timeout,
        read_timeout=settings.limits.read_timeout,
        deadline=settings.limits.deadline,
    )
    masker = Masker(
        secret_headers=contract.secret_headers, names={SECRET_NAMES[0]: settings.api_key}
    )
    transport = Transport(settings.base_url, limits=limits, masker=masker)
    keyless = timed = None
    headers = credential_headers(contract, FIRST_SCHEME, settings.api_key)
    try:
        valid = transport.request("GET", USAGE_PATH, headers=headers)
        if not valid.answered:
            keyless = transport.request("GET", USAGE_PATH)
        elif not valid.error and not valid.unavailable and preflight_requests(settings) > 1:
            timed = transport.request("GET", USAGE_PATH, headers=headers)
    except TargetUnavailable as exc:
        return Preflight(unavailable=str(exc))
    finally:
        transport.close()
    if valid.unavailable:
        return Preflight(
            unavailable=f"{settings.base_url} answers {valid.server_line()} to a plain valid "
            f"request, still after {valid.retries} retries"
        )
    if not valid.answered and (keyless is None or not keyless.answered or keyless.unavailable):
        return Preflight(unavailable=f"{settings.base_url} gives no HTTP answer ({valid.error})")
    identity = identity_of(valid, settings.identity_headers) if valid.answered else None
    if not valid.error:
        trips = [valid.elapsed, *([timed.elapsed] if timed is not None else [])]
        return Preflight(round_trip=min(trips), identity=identity)
    usage = contract.operation(USAGE_PATH, "get")
    violations = validate_response(contract, usage, valid, [settings.api_key])
    violation = ContractViolation.combine(violations)
    if keyless is not None:
        violation.message += (
            f"; a request without credentials got {keyless.server_line()}: the target is up"
        )
        violation.exchanges.append(keyless)
    return Preflight(violation=violation, identity=identity)
