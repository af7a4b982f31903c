"""Variants made on the mock's ``Pipeline`` (see ``_steps.py``): request policy the contract
leaves open, and error texts. Built on ``_layers.on_step`` and ``error_reply``, so they
compose with faults and with each other the same way.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from conformance.mock import _layers as layers
from conformance.mock import _replies as replies
from conformance.mock._app import USAGE_PATH, mock_state
from conformance.mock._layers import Apply
from conformance.mock._periods import current_period_start
from conformance.mock._replies import ApiError, Reply
from conformance.mock._variants.wire import layer

PERIOD = "period_start"


def _invalid(code: str, message: str, parameter: str) -> Reply:
    return replies.api_error(400, code, message, retryable=False, details={"parameter": parameter})


PERIOD_NOT_MONTH_START = _invalid(
    "PERIOD_START_NOT_MONTH_START", "period_start must be the first day of a month", PERIOD
)
PERIOD_IN_FUTURE = _invalid(
    "PERIOD_START_IN_FUTURE", "period_start must not be after the current month", PERIOD
)
PERIOD_REPEATED = _invalid(
    "PERIOD_START_REPEATED", "period_start may be given at most once", PERIOD
)


def unknown_parameter(name: str) -> Reply:
    return _invalid("UNKNOWN_QUERY_PARAMETER", f"unknown query parameter {name!r}", name)


def parameter_names(query_string: bytes) -> list[str] | None:
    """The decoded names of the query's parameters, in order (None: not decodable)."""
    names = []
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw = pair.partition(b"=")[0].replace(b"+", b" ")
        try:
            names.append(unquote_to_bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return names


def strict_period(parse: layers.Step) -> layers.Step:
    """Only ``period_start`` is accepted, at most once, and only the first day of a month up
    to the current one; anything else is 400 in the spec's error shape."""

    def step(query_string: bytes, now: datetime) -> date:
        names = parameter_names(query_string)
        if names is not None:
            unknown = [name for name in names if name != PERIOD]
            if unknown:
                raise ApiError(unknown_parameter(unknown[0]))
            if names.count(PERIOD) > 1:
                raise ApiError(PERIOD_REPEATED)
        start = parse(query_string, now)  # malformed: the mock's own 400
        if start.day != 1:
            raise ApiError(PERIOD_NOT_MONTH_START)
        if start > current_period_start(now):
            raise ApiError(PERIOD_IN_FUTURE)
        return start

    return step


def strict_period_policy() -> Apply:
    return layers.on_step("parse_period", strict_period)


# --- error texts ------------------------------------------------------------------------

MESSAGES = {
    "AUTH_REQUIRED": "No API key found: send it as x-api-key or as Authorization: Bearer <key>.",
    "AUTH_INVALID": "The API key was not recognised. Check it has not been revoked.",
    "AUTH_ORG_MISMATCH": "This API key belongs to a different organization.",
    "INVALID_PERIOD_START": "Bad period_start: expected a calendar date such as 2025-02-01.",
    "INVALID_QUERY": "The query string could not be decoded as percent-encoded UTF-8.",
    "BILLING_LEDGER_UNAVAILABLE": "Usage figures are temporarily unavailable.",
}
DETAILS = {
    400: {"expected": "YYYY-MM-DD", "docs": "https://dcs.dedaluslabs.ai/docs/usage"},
    401: {
        "schemes": "x-api-key, Authorization: Bearer",
        "docs": "https://dcs.dedaluslabs.ai/docs/auth",
    },
    403: {"header": "X-Dedalus-Org-Id", "hint": "omit the header or name the key's own org"},
}
PROBLEM_TYPE = "https://dcs.dedaluslabs.ai/docs/errors/{status}"


def other_texts(reply: Reply) -> Reply:
    """Other ``message`` wording, and ``details`` maps of strings on 400/401/403; problem
    documents get a documentation ``type`` and another ``detail``."""
    try:
        document = json.loads(reply.body)
    except ValueError:  # a fault already broke the body: leave it
        return reply
    if reply.media_type == replies.JSON:
        document["message"] = MESSAGES.get(document["error_code"], document["message"] + ".")
        if reply.status in DETAILS:
            document["details"] = {**document.get("details", {}), **DETAILS[reply.status]}
    elif reply.media_type == replies.PROBLEM_JSON:
        document["type"] = PROBLEM_TYPE.format(status=reply.status)
        document["detail"] = f"{document['title']}: see the API reference for {USAGE_PATH}"
    return dataclasses.replace(reply, body=replies.dumps(document))


def other_error_texts() -> Apply:
    return layers.error_reply(other_texts)


# --- the order of the checks --------------------------------------------------------


def validation_first() -> Apply:
    """The query is validated before the credentials: a request with a bad ``period_start``
    gets its 400 even without a key (a gateway's request validation in front of auth)."""

    def apply(app: ASGIApp) -> ASGIApp:
        state = mock_state(layers.base_app(app))  # type: ignore[arg-type]

        async def act(inner: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
            pipeline = state.pipeline
            if scope["path"] == USAGE_PATH and scope["method"] in ("GET", "HEAD"):
                try:
                    pipeline.parse_period(scope["query_string"], state.clock())
                except ApiError as exc:
                    await pipeline.render_error(exc.reply)(scope, receive, send)
                    return
            await inner(scope, receive, send)

        return layer(act)(app)

    return apply


def auth_first() -> Apply:
    """The credentials are checked before the method: a request to /v1/usage without a valid
    key (or naming another org) gets its 401 (403) whatever its method; with one, an
    unsupported method still gets its 405 (an API gateway's authorizer in front of routing)."""

    def apply(app: ASGIApp) -> ASGIApp:
        state = mock_state(layers.base_app(app))  # type: ignore[arg-type]

        async def act(inner: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
            pipeline = state.pipeline
            if scope["path"] == USAGE_PATH:
                headers = Headers(scope=scope)
                try:
                    pipeline.authorize_org(headers, pipeline.authenticate(headers, state.fixtures))
                except ApiError as exc:
                    await pipeline.render_error(exc.reply)(scope, receive, send)
                    return
            await inner(scope, receive, send)

        return layer(act)(app)

    return apply


# --- HEAD not supported ------------------------------------------------------------------

GET_ONLY = replies.problem(
    405,
    "Method Not Allowed",
    "/v1/usage supports GET only",
    headers={"Allow": "GET"},
)


def get_only(check: layers.Step) -> layers.Step:
    """Every method but GET is refused with 405 and ``Allow: GET`` (HEAD included)."""

    def step(method: str) -> None:
        if method != "GET":
            raise ApiError(GET_ONLY)

    return step


def head_refused() -> Apply:
    return layers.on_step("check_method", get_only)


def org_named_in_refusal() -> Apply:
    """403 ``AUTH_ORG_MISMATCH`` whose message names the org id the request sent, whether an
    org has it or not."""

    def wrap(check: layers.Step) -> layers.Step:
        def authorize(headers: Headers, org: object) -> None:
            try:
                check(headers, org)
            except ApiError as refused:
                if refused.reply.status != 403:
                    raise
                sent = headers.get("x-dedalus-org-id", "").strip()
                message = f"this API key does not belong to organization {sent}"
                raise ApiError(
                    replies.api_error(403, "AUTH_ORG_MISMATCH", message, retryable=False)
                ) from None

        return authorize

    return layers.on_step("authorize_org", wrap)
