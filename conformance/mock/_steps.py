"""Request handling as small replaceable steps, in the order the contract implies:

method -> authenticate -> authorize org -> parse period -> compute usage -> render.

Each step is a plain function that returns its result or raises ``ApiError``;
``Pipeline`` strings them together and is a frozen dataclass, so a fault layer can
swap or wrap one step with ``dataclasses.replace``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from conformance.mock import _replies as replies
from conformance.mock._ledger import Ledger, Usage
from conformance.mock._model import Fixtures, Org
from conformance.mock._periods import current_period_start, epoch_seconds, parse_period_start
from conformance.mock._query import MalformedQuery, query_values
from conformance.mock._replies import ApiError, Reply

_READ_METHODS = frozenset({"GET", "HEAD"})


def check_method(method: str) -> None:
    """Only GET and HEAD exist on /v1/usage: anything else is 405 with ``Allow``."""
    if method not in _READ_METHODS:
        raise ApiError(replies.METHOD_NOT_ALLOWED)


def authenticate(headers: Headers, fixtures: Fixtures) -> Org:
    """The org of the request's API key: ``x-api-key`` first, else ``Authorization: Bearer``.

    An empty key counts as no key; a repeated credential header is ambiguous, so invalid.
    """
    key = _single(headers, "x-api-key")
    if not key:
        parts = _single(headers, "authorization").split(None, 1)
        key = parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else ""
    if not key:
        raise ApiError(replies.AUTH_REQUIRED)
    org = fixtures.org_for_key(key)
    if org is None:
        raise ApiError(replies.AUTH_INVALID)
    return org


def _single(headers: Headers, name: str) -> str:
    values = headers.getlist(name)
    if len(values) > 1:
        raise ApiError(replies.AUTH_INVALID)
    return values[0].strip() if values else ""


def authorize_org(headers: Headers, org: Org) -> None:
    """An ``X-Dedalus-Org-Id`` header, when present, must name the key's own org."""
    for value in headers.getlist("x-dedalus-org-id"):
        if value.strip() != org.id:
            raise ApiError(replies.AUTH_ORG_MISMATCH)


def parse_period(query_string: bytes, now: datetime) -> date:
    """``period_start`` from the query, defaulting to the first day of ``now``'s month."""
    try:
        values = query_values(query_string, "period_start")
    except MalformedQuery as exc:
        bad_period = exc.name == "period_start"
        raise ApiError(
            replies.INVALID_PERIOD_START if bad_period else replies.INVALID_QUERY
        ) from None
    if not values:
        return current_period_start(now)
    start = parse_period_start(values[0]) if len(values) == 1 else None
    if start is None:
        raise ApiError(replies.INVALID_PERIOD_START)
    return start


class StepState(Protocol):
    """What the steps read of the mock's state (``_state.MockState`` has it): the steps do not
    import the state module, which holds their ``Pipeline``."""

    fixtures: Fixtures
    ledger: Ledger
    ledger_unavailable: bool

    def clock(self) -> datetime: ...


def compute_usage(state: StepState, org: Org, period_start: date, now: datetime) -> Usage:
    """Ask the ledger, unless it is switched to unavailable (502)."""
    if state.ledger_unavailable:
        raise ApiError(replies.LEDGER_UNAVAILABLE)
    return state.ledger.usage(org, period_start, epoch_seconds(now))


@functools.lru_cache(maxsize=4096)
def usage_json(usage: Usage) -> bytes:
    """The ``UsageBody`` document for ``usage``, serialised once per distinct value."""
    return replies.dumps(usage._asdict())


def render_usage(usage: Usage) -> Response:
    """200 ``application/json`` with exactly the seven ``UsageBody`` fields."""
    return Response(usage_json(usage), media_type=replies.JSON)


def render_error(reply: Reply) -> Response:
    """An error reply as a response (its media type and headers included)."""
    return Response(reply.body, reply.status, dict(reply.headers), media_type=reply.media_type)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The request steps; replace one with ``dataclasses.replace(pipeline, step=...)``."""

    check_method: Callable[[str], None] = check_method
    authenticate: Callable[[Headers, Fixtures], Org] = authenticate
    authorize_org: Callable[[Headers, Org], None] = authorize_org
    parse_period: Callable[[bytes, datetime], date] = parse_period
    compute_usage: Callable[[StepState, Org, date, datetime], Usage] = compute_usage
    render_usage: Callable[[Usage], Response] = render_usage
    render_error: Callable[[Reply], Response] = render_error

    def handle(self, request: Request, state: StepState) -> Response:
        """Run the steps for one request to /v1/usage; ``ApiError`` ends it early."""
        try:
            self.check_method(request.method)
            org = self.authenticate(request.headers, state.fixtures)
            self.authorize_org(request.headers, org)
            now = state.clock()
            period_start = self.parse_period(request.scope["query_string"], now)
            usage = self.compute_usage(state, org, period_start, now)
            return self.render_usage(usage)
        except ApiError as exc:
            return self.render_error(exc.reply)
