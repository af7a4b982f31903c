"""The Starlette application: a thin HTTP layer over the steps and the ledger."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from conformance.mock import _replies as replies
from conformance.mock._fixtures import load_fixtures
from conformance.mock._model import Fixtures
from conformance.mock._periods import utc_now
from conformance.mock._state import Clock, MockState
from conformance.mock._steps import Pipeline, render_error

log = logging.getLogger("conformance.mock")
USAGE_PATH = "/v1/usage"


def create_app(
    fixtures: Fixtures | None = None,
    *,
    clock: Clock | None = None,
    ledger_unavailable: bool = False,
) -> Starlette:
    """A mock DCS app serving ``GET /v1/usage`` from ``fixtures`` (default file if None).

    ``clock`` returns the current aware UTC datetime (default: the real clock). The state
    lives on ``app.state.mock`` (see ``mock_state``).
    """
    state = MockState(
        fixtures=load_fixtures() if fixtures is None else fixtures,
        clock=clock or utc_now,
        pipeline=Pipeline(),
        ledger_unavailable=ledger_unavailable,
    )
    usage = _UsageEndpoint(state)
    app = _MockApp(
        usage,
        routes=[Route(USAGE_PATH, usage, name="usage")],
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
    )
    app.router.redirect_slashes = False  # "/v1/usage/" is 404 rather than a redirect
    app.state.mock = state
    return app


def mock_state(app: Starlette) -> MockState:
    """The ``MockState`` of an app made by ``create_app``."""
    return app.state.mock


def set_ledger_unavailable(app: Starlette, unavailable: bool = True) -> None:
    """Switch the 502 ``BILLING_LEDGER_UNAVAILABLE`` mode on or off at runtime."""
    mock_state(app).ledger_unavailable = unavailable


class _MockApp(Starlette):
    """Starlette, with a direct path to the usage endpoint (it handles its own errors and
    methods): no middleware stack or routing on the hot path, ~15% more requests/s."""

    def __init__(self, usage: _UsageEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._usage = usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == USAGE_PATH:
            scope["app"] = self
            await self._usage(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _UsageEndpoint:
    """ASGI endpoint for every method on /v1/usage (the pipeline answers 405 itself)."""

    def __init__(self, state: MockState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        try:
            response = state.pipeline.handle(Request(scope, receive), state)
        except Exception:
            log.exception("unexpected error while handling /v1/usage")
            response = render_error(replies.INTERNAL)
        await response(scope, receive, send)


def _http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return render_error(replies.NOT_FOUND)
    if status == 405:
        return render_error(replies.METHOD_NOT_ALLOWED)
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return render_error(replies.problem(status, detail, detail))


def _unexpected(request: Request, exc: Exception) -> Response:
    return render_error(replies.INTERNAL)
