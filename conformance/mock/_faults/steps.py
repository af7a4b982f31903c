"""Faults made by replacing one step of the mock's ``Pipeline`` (see ``_steps.py``).

Each public function here returns an ``apply(app) -> app`` for the catalogue in
``catalogue.py``; it swaps one step on ``mock_state(app).pipeline`` with ``dataclasses.replace``,
wrapping the step in place so that faults on the same step compose.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp

from conformance.mock import _replies as replies
from conformance.mock._app import mock_state
from conformance.mock._layers import Apply, Step, base_app, error_reply, on_step
from conformance.mock._ledger import Usage, awake_seconds
from conformance.mock._model import Fixtures, Machine, Org
from conformance.mock._periods import HOUR, closed_until, epoch_seconds, period_bounds
from conformance.mock._query import MalformedQuery, query_values
from conformance.mock._replies import ApiError, Reply
from conformance.mock._state import MockState

MISSING = object()  # a field transform returning this drops the field
CRASH = replies.api_error(500, "INTERNAL", "internal server error", retryable=False)
_LOOSE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SECOND = epoch_seconds(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def on_refusal(step: str, recover: Callable[..., Any], of: Reply | None = None) -> Apply:
    """Replace pipeline step ``step`` with one that, where the current step refuses with an
    ApiError (whose reply is ``of``, if given), answers ``recover(error, current, *args)``
    instead; ``recover`` raises ``error`` to keep the refusal."""

    def wrap(current: Step) -> Step:
        def replaced(*args: Any) -> Any:
            try:
                return current(*args)
            except ApiError as exc:
                if of is not None and exc.reply is not of:
                    raise
                return recover(exc, current, *args)

        return replaced

    return on_step(step, wrap)


# --- 200 bodies -------------------------------------------------------------------------


def usage_document(edit: Callable[[dict[str, Any]], None]) -> Apply:
    """The rendered ``UsageBody`` after ``edit`` changed its fields (in place)."""

    def wrap(render: Step) -> Step:
        def render_usage(usage: Usage) -> Response:
            response = render(usage)
            try:
                document = json.loads(response.body)
            except ValueError:  # another fault already broke the body: leave it
                return response
            edit(document)
            return Response(replies.dumps(document), media_type=response.media_type)

        return render_usage

    return on_step("render_usage", wrap)


def usage_field(name: str, transform: Callable[[Any], Any]) -> Apply:
    """One ``UsageBody`` field through ``transform`` (``MISSING`` drops it)."""

    def edit(document: dict[str, Any]) -> None:
        value = transform(document[name])
        if value is MISSING:
            del document[name]
        else:
            document[name] = value

    return usage_document(edit)


def usage_bytes(transform: Callable[[bytes], bytes]) -> Apply:
    """The 200 body's bytes through ``transform``, headers otherwise as rendered."""

    def wrap(render: Step) -> Step:
        def render_usage(usage: Usage) -> Response:
            response = render(usage)
            return Response(transform(response.body), media_type=replies.JSON)

        return render_usage

    return on_step("render_usage", wrap)


def usage_media_type(media_type: str) -> Apply:
    """The 200 body unchanged, served with another Content-Type."""

    def wrap(render: Step) -> Step:
        def render_usage(usage: Usage) -> Response:
            return Response(render(usage).body, media_type=media_type)

        return render_usage

    return on_step("render_usage", wrap)


def latin1_plan(document: dict[str, Any]) -> bytes:
    """The document written in Latin-1 with an accented plan name: not UTF-8."""
    document = {**document, "plan_slug": f"{document['plan_slug']}-\u00e9t\u00e9"}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("latin-1")


def invalid_utf8() -> Apply:
    def wrap(render: Step) -> Step:
        def render_usage(usage: Usage) -> Response:
            return Response(latin1_plan(usage._asdict()), media_type=replies.JSON)

        return render_usage

    return on_step("render_usage", wrap)


# --- error bodies ------------------------------------------------------------------------


def error_document(
    edit: Callable[[dict[str, Any]], None],
    *,
    statuses: frozenset[int] | None = None,
    media_type: str = replies.JSON,
) -> Apply:
    """Edit the document of the error replies of ``media_type`` (the spec's error shape, or
    ``replies.PROBLEM_JSON``), of ``statuses`` or all."""

    def change(reply: Reply) -> Reply:
        if reply.media_type != media_type or (statuses and reply.status not in statuses):
            return reply
        document = json.loads(reply.body)
        edit(document)
        return dataclasses.replace(reply, body=replies.dumps(document))

    return error_reply(change)


def auth_as_problem(reply: Reply) -> Reply:
    """A 401/403 rendered by a generic framework handler as RFC 9457 problem+json."""
    if reply.status not in (401, 403):
        return reply
    code = json.loads(reply.body)["error_code"]
    return replies.problem(reply.status, "Unauthorized", code)


def auth_required_as_200(reply: Reply) -> Reply:
    """The 'missing key' error document, but with status 200."""
    return dataclasses.replace(reply, status=200) if reply is replies.AUTH_REQUIRED else reply


def without_allow(reply: Reply) -> Reply:
    return dataclasses.replace(reply, headers={}) if reply.status == 405 else reply


# --- methods and authentication -------------------------------------------------------


def allow_post() -> Apply:
    """POST goes through the GET handler."""

    def wrap(check: Step) -> Step:
        return lambda method: None if method == "POST" else check(method)

    return on_step("check_method", wrap)


def auth_headers_rewritten(rewrite: Callable[[bytes, bytes], bytes | None]) -> Apply:
    """Authenticate on headers where each ``(name, value)`` became ``rewrite(...)`` (None: gone)."""

    def wrap(authenticate: Step) -> Step:
        def step(headers: Headers, fixtures: Fixtures) -> Org:
            raw = []
            for name, value in headers.raw:
                new = rewrite(name, value)
                if new is not None:
                    raw.append((name, new))
            return authenticate(Headers(raw=raw), fixtures)

        return step

    return on_step("authenticate", wrap)


def auth_errors_mapped(mapping: dict[str, Reply]) -> Apply:
    """Answer ``mapping[code]`` instead of the authentication error ``code``."""

    def recover(exc: ApiError, authenticate: Step, headers: Headers, fixtures: Fixtures) -> Org:
        code = json.loads(exc.reply.body).get("error_code", "")
        raise ApiError(mapping.get(code, exc.reply)) from None

    return on_refusal("authenticate", recover)


def key_matched(match: Callable[[str, str], bool]) -> Apply:
    """An unknown key is accepted for the org of the first stored key that ``match(sent,
    stored)`` says it is (a lookup that compares loosely)."""

    def recover(exc: ApiError, authenticate: Step, headers: Headers, fixtures: Fixtures) -> Org:
        sent = sent_key(headers)
        for key, org_id in fixtures.keys.items():
            if sent and match(sent, key):
                return fixtures.orgs[org_id]
        raise exc

    return on_refusal("authenticate", recover, replies.AUTH_INVALID)


def key_prefix_match(length: int) -> Apply:
    """Keys looked up by their first ``length`` characters (an index on a truncated column)."""
    return key_matched(lambda sent, key: len(sent) >= length and key[:length] == sent[:length])


def sent_key(headers: Headers) -> str:
    """The key as a server reads it: ``x-api-key``, else what follows the Authorization
    scheme."""
    key = headers.get("x-api-key", "").strip()
    if not key:
        key = headers.get("authorization", "").partition(" ")[2].strip()
    return key


def key_also_from(find: Callable[[Headers], str]) -> Apply:
    """Without credentials where the spec puts them, a key that ``find`` reads elsewhere in
    the request's header fields (a cookie, another header) authenticates."""

    def recover(exc: ApiError, authenticate: Step, headers: Headers, fixtures: Fixtures) -> Org:
        key = find(headers)
        if not key:
            raise exc
        return authenticate(Headers({"x-api-key": key}), fixtures)

    return on_refusal("authenticate", recover, replies.AUTH_REQUIRED)


def cookie(name: str) -> Callable[[Headers], str]:
    """The value of cookie ``name`` in the Cookie header ('' if absent)."""

    def find(headers: Headers) -> str:
        for pair in headers.get("cookie", "").split(";"):
            key, _, value = pair.strip().partition("=")
            if key == name:
                return value.strip()
        return ""

    return find


def header(*names: str) -> Callable[[Headers], str]:
    """The first of header fields ``names`` that has a value ('' if none)."""
    return lambda headers: next((headers[n].strip() for n in names if n in headers), "")


def crash_on_credentials(bad: Callable[[str], bool]) -> Apply:
    """A credential header value that ``bad`` says the key lookup cannot take raises: 500."""

    def wrap(authenticate: Step) -> Step:
        def step(headers: Headers, fixtures: Fixtures) -> Org:
            for name in ("x-api-key", "authorization"):
                if any(bad(value) for value in headers.getlist(name)):
                    raise ApiError(CRASH)
            return authenticate(headers, fixtures)

        return step

    return on_step("authenticate", wrap)


def org_check(check: Callable[[Headers, Org], None]) -> Apply:
    return on_step("authorize_org", lambda _current: check)


def ignore_org(headers: Headers, org: Org) -> None:
    """No org check at all."""


def refuse_any_org(headers: Headers, org: Org) -> None:
    """Every org header is taken for a cross-org request."""
    if "x-dedalus-org-id" in headers:
        raise ApiError(replies.AUTH_ORG_MISMATCH)


def org_compared(same: Callable[[str, str], bool]) -> Apply:
    """``X-Dedalus-Org-Id`` must name the key's org as ``same(sent, own)`` compares them."""

    def check(headers: Headers, org: Org) -> None:
        for value in headers.getlist("x-dedalus-org-id"):
            if not same(value.strip(), org.id):
                raise ApiError(replies.AUTH_ORG_MISMATCH)

    return org_check(check)


def chain(*applies: Apply) -> Apply:
    """Several step replacements as one fault."""

    def apply(app: ASGIApp) -> ASGIApp:
        for one in applies:
            app = one(app)
        return app

    return apply


def key_echoed_in_errors() -> Apply:
    """401 and 403 messages quote the presented key (and the org header)."""

    def invalid(exc: ApiError, authenticate: Step, headers: Headers, fixtures: Fixtures) -> Org:
        message = f"invalid API key {sent_key(headers)}"
        raise ApiError(replies.api_error(401, "AUTH_INVALID", message, retryable=False)) from None

    def mismatch(exc: ApiError, authorize: Step, headers: Headers, org: Org) -> None:
        sent = headers.get("x-dedalus-org-id", "")
        message = f"key {sent_key(headers)} does not own org {sent}"
        raise ApiError(
            replies.api_error(403, "AUTH_ORG_MISMATCH", message, retryable=False)
        ) from None

    return chain(
        on_refusal("authenticate", invalid, replies.AUTH_INVALID),
        on_refusal("authorize_org", mismatch, replies.AUTH_ORG_MISMATCH),
    )


# --- periods ------------------------------------------------------------------------------

PeriodParse = Callable[[bytes, datetime], date]


def _period_values(query_string: bytes) -> list[str]:
    try:
        return query_values(query_string, "period_start")
    except MalformedQuery:
        return []


def period_step(step: Callable[[PeriodParse, bytes, datetime], date]) -> Apply:
    """Replace ``parse_period`` with ``step(parse, query_string, now)``, ``parse`` the step
    it replaces."""
    return on_step("parse_period", lambda parse: functools.partial(step, parse))


def period_adjusted(adjust: Callable[[date, bytes, datetime], date]) -> Apply:
    """The period the mock parses, then ``adjust(start, query_string, now)`` (which may
    raise)."""

    def step(parse: PeriodParse, query_string: bytes, now: datetime) -> date:
        return adjust(parse(query_string, now), query_string, now)

    return period_step(step)


def period_recovered(
    recover: Callable[[ApiError, list[str]], date], of: Reply | None = None
) -> Apply:
    """Where the mock refuses the period (with reply ``of``, if given), ``recover(error,
    period_start values)`` answers (or raises, ``error`` itself to keep the refusal)."""

    def step(exc: ApiError, parse: PeriodParse, query_string: bytes, now: datetime) -> date:
        return recover(exc, _period_values(query_string))

    return on_refusal("parse_period", step, of)


def period_default_previous_month() -> Apply:
    def adjust(start: date, query_string: bytes, now: datetime) -> date:
        if _period_values(query_string):
            return start
        return (start - timedelta(days=1)).replace(day=1)

    return period_adjusted(adjust)


def rolled_over(text: str) -> date | None:
    """``2025-02-30`` read as 2025-03-02, month 13 as January next year (like mktime)."""
    match = _LOOSE_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    year, month = divmod(year * 12 + month - 1, 12)
    try:
        return date(year, month + 1, 1) + timedelta(days=day - 1)
    except (ValueError, OverflowError):
        return None


def period_rolled_over() -> Apply:
    def recover(exc: ApiError, values: list[str]) -> date:
        start = rolled_over(values[0]) if len(values) == 1 else None
        if start is None:
            raise exc
        return start

    return period_recovered(recover)


def period_errors_crash() -> Apply:
    """A period the server cannot parse raises an unhandled exception: 500."""

    def recover(exc: ApiError, values: list[str]) -> date:
        raise ApiError(CRASH) from None

    return period_recovered(recover, replies.INVALID_PERIOD_START)


def period_mid_month_crash() -> Apply:
    """Only a first of the month has a bucket row: any other date crashes (500)."""

    def adjust(start: date, query_string: bytes, now: datetime) -> date:
        if start.day != 1:
            raise ApiError(CRASH)
        return start

    return period_adjusted(adjust)


def period_current_month_refused() -> Apply:
    """Off by one: an explicit ``period_start`` must lie before this month, so the current
    month's first day (the very default) is refused with 400."""

    def adjust(start: date, query_string: bytes, now: datetime) -> date:
        if b"period_start=" in query_string and start >= now.date().replace(day=1):
            raise ApiError(replies.INVALID_PERIOD_START)
        return start

    return period_adjusted(adjust)


def period_parsed_with(parse_text: Callable[[str], date]) -> Apply:
    """A ``period_start`` the mock refuses as malformed is read with ``parse_text`` instead
    (its ValueError: the mock's 400)."""

    def recover(exc: ApiError, values: list[str]) -> date:
        if len(values) != 1:
            raise exc
        try:
            return parse_text(values[0])
        except ValueError:
            raise exc from None

    return period_recovered(recover, replies.INVALID_PERIOD_START)


def period_empty_as_epoch() -> Apply:
    """An empty ``period_start=`` is read as 0, the Unix epoch: the period of January 1970
    (whose figures are all 0), neither refused nor the default period."""

    def step(parse: PeriodParse, query_string: bytes, now: datetime) -> date:
        if _period_values(query_string) == [""]:
            return date(1970, 1, 1)
        return parse(query_string, now)

    return period_step(step)


def period_ignored() -> Apply:
    """The server reads ``periodStart``: ``period_start`` never reaches it."""
    return period_step(lambda parse, _query, now: parse(b"", now))


UsageStep = Callable[[MockState, Org, date, datetime], Usage]


def usage_step(wrap: Callable[[UsageStep], UsageStep]) -> Apply:
    return on_step("compute_usage", wrap)


def period_math_crash(derive: Callable[[date], object]) -> Apply:
    """The usage query first derives something from the period's start (its end, its bucket
    key) with ``derive(start)``; where that raises (ValueError, OverflowError), the request
    crashes: 500."""

    def wrap(compute: UsageStep) -> UsageStep:
        def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
            try:
                derive(start)
            except (ValueError, OverflowError):
                raise ApiError(CRASH) from None
            return compute(state, org, start, now)

        return step

    return usage_step(wrap)


def billed_to_period_end(compute: UsageStep) -> UsageStep:
    """Counters of the whole period, as if every bucket had already closed (a forecast)."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        end = _EPOCH + timedelta(seconds=min(period_bounds(start)[1], _LAST_SECOND))
        return compute(state, org, start, max(now, end))

    return step


def lagging_replica(lag: timedelta) -> Callable[[UsageStep], UsageStep]:
    """Every other read comes from a replica ``lag`` behind the primary."""

    def wrap(compute: UsageStep) -> UsageStep:
        reads = itertools.count()

        def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
            return compute(state, org, start, now - lag if next(reads) % 2 else now)

        return step

    return wrap


BILLED = (
    "billed_awake_seconds",
    "billed_cpu_millicore_seconds",
    "billed_memory_mib_seconds",
    "billed_logical_storage_mib_seconds",
)


def jittered(compute: UsageStep) -> UsageStep:
    """Sampled metering: every non-zero counter is off by up to a minute's worth, each read."""
    rng = random.Random()

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        noise = {f: getattr(usage, f) + rng.randrange(1, 60) for f in BILLED if getattr(usage, f)}
        return usage._replace(**noise)

    return step


# --- wrong figures that only ground truth shows (the canary, the empty org) -------------


def open_hour_counted(compute: UsageStep) -> UsageStep:
    """The running hour is counted pro rata instead of waiting for it to close."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        now_s = epoch_seconds(now)
        later = closed_until(now_s) + HOUR
        full = state.ledger.billed(org.id, start, later)
        done = now_s - closed_until(now_s)
        partial = {
            f"billed_{name}": getattr(usage, f"billed_{name}")
            + (value - getattr(usage, f"billed_{name}")) * done // HOUR
            for name, value in full._asdict().items()
        }
        return usage._replace(**partial)

    return step


def deleted_storage_counted(compute: UsageStep) -> UsageStep:
    """``provisioned_storage_gib`` forgets the ``deleted_at`` filter."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        return usage._replace(provisioned_storage_gib=sum(m.storage_gib for m in org.machines))

    return step


def other_orgs_counters(compute: UsageStep) -> UsageStep:
    """A join on the wrong column: counters of another org, under the caller's plan."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        others = sorted(o for o in state.fixtures.orgs if o != org.id)
        usage = compute(state, org, start, now)
        if not others:
            return usage
        theirs = compute(state, state.fixtures.orgs[others[0]], start, now)
        return usage._replace(**{f: getattr(theirs, f) for f in BILLED})

    return step


# --- figures that contradict a sentence of the spec ---------------------------------------


def storage_at_period_end(compute: UsageStep) -> UsageStep:
    """``provisioned_storage_gib`` of the machines that existed at the period's end (its last
    second, or now for a period not over yet), not of those that exist now."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        at = min(period_bounds(start)[1] - 1, epoch_seconds(now))
        return usage._replace(
            provisioned_storage_gib=state.ledger.provisioned_storage_gib(org.id, at)
        )

    return step


def _lifetimes(org: Org, start: date, now: datetime) -> Iterator[tuple[Machine, int, int]]:
    """Each machine of ``org`` with the epoch seconds ``[low, high)`` of its life within the
    closed part of the period starting ``start`` (empty where ``low >= high``)."""
    begin, end = period_bounds(start)
    end = min(end, closed_until(epoch_seconds(now)))
    for machine in org.machines:
        created = epoch_seconds(machine.created_at)
        deleted = end if machine.deleted_at is None else epoch_seconds(machine.deleted_at)
        yield machine, max(begin, created), min(end, deleted)


def memory_while_asleep(compute: UsageStep) -> UsageStep:
    """``billed_memory_mib_seconds`` counts every closed second a machine exists, awake or
    not (memory multiplied by lifetime, not by running time)."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        memory = sum(
            machine.memory_mib * max(0, high - low)
            for machine, low, high in _lifetimes(org, start, now)
        )
        return usage._replace(billed_memory_mib_seconds=memory)

    return step


def cpu_minimum_charge(compute: UsageStep) -> UsageStep:
    """A minimum charge of 1,000 millicore-seconds of CPU in every period, billed even when
    nothing was awake."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        cpu = max(usage.billed_cpu_millicore_seconds, 1000)
        return usage._replace(billed_cpu_millicore_seconds=cpu)

    return step


def cpu_at_allocation(compute: UsageStep) -> UsageStep:
    """``billed_cpu_millicore_seconds`` is the requested millicores times the awake seconds
    (the allocation), not times the guest's active CPU seconds."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        cpu = 0
        for machine, low, high in _lifetimes(org, start, now):
            if low < high:
                awake = awake_seconds(machine.awake.daily, machine.awake.windows, low, high)
                cpu += machine.vcpu_millicores * awake
        return usage._replace(billed_cpu_millicore_seconds=cpu)

    return step


def included_storage_prorated(compute: UsageStep) -> UsageStep:
    """``included_storage_gib`` prorated by the days of the period's month (of 31): the
    plan's figure in a 31-day month only."""

    def step(state: MockState, org: Org, start: date, now: datetime) -> Usage:
        usage = compute(state, org, start, now)
        begin, end = period_bounds(start)
        days = (end - begin) // 86_400
        return usage._replace(included_storage_gib=usage.included_storage_gib * days // 31)

    return step


UNKNOWN_ORG = "organization {org} does not exist"


def org_existence_told() -> Apply:
    """``X-Dedalus-Org-Id`` naming another org: 403 ``AUTH_ORG_MISMATCH`` as the spec says,
    but for an id no org has the message says so: a key can tell which org ids exist."""

    def apply(app: ASGIApp) -> ASGIApp:
        known = set(mock_state(base_app(app)).fixtures.orgs)  # type: ignore[arg-type]

        def check(headers: Headers, org: Org) -> None:
            for value in headers.getlist("x-dedalus-org-id"):
                sent = value.strip()
                if sent == org.id:
                    continue
                if sent in known:
                    raise ApiError(replies.AUTH_ORG_MISMATCH)
                message = UNKNOWN_ORG.format(org=sent)
                refusal = replies.api_error(403, "AUTH_ORG_MISMATCH", message, retryable=False)
                raise ApiError(refusal)

        return org_check(check)(app)

    return apply
