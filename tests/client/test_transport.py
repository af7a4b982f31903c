"""The suite's HTTP client: retries of retryable answers, deadlines, size cap, budget, masking."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.responses import JSONResponse, Response

from conformance._client.raw import Raw
from conformance._client.transport import BudgetExhausted, Limits, Transport
from conformance._client.wire import Unsendable
from conformance._core.errors import TargetUnavailable
from conformance._core.exchange import Masker
from conformance.mock import serve

OUTAGE = {"error_code": "BILLING_LEDGER_UNAVAILABLE", "message": "m", "retryable": True}


def scripted(*answers):
    """An ASGI app answering each request with the next scripted response (the last repeats)."""
    queue = list(answers)
    seen: list[float] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append(time.monotonic())
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        await answer(scope, receive, send)

    app.seen = seen
    return app


@pytest.fixture
def client():
    transports = []

    def make(app, **limits):
        server = serve(app, host="127.0.0.1", port=0)
        running = server.__enter__()
        transport = Transport(running.base_url, limits=Limits(**limits), masker=Masker(["sekrit"]))
        transports.append((server, transport))
        return transport

    yield make
    for server, transport in transports:
        transport.close()
        server.__exit__(None, None, None)


def test_429_is_retried_after_retry_after(client):
    app = scripted(Response("", 429, headers={"retry-after": "0.3"}), JSONResponse({"ok": True}))
    exchange = client(app).request("GET", "/v1/usage")
    assert exchange.status == 200 and exchange.retries == 1
    assert app.seen[1] - app.seen[0] >= 0.28


def test_retryable_5xx_is_retried_after_retry_after_ms(client):
    app = scripted(JSONResponse({**OUTAGE, "retry_after_ms": 200}, 502), JSONResponse({"ok": True}))
    transport = client(app)
    exchange = transport.request("GET", "/v1/usage")
    assert (exchange.status, exchange.retries, transport.retried) == (200, 1, 1)
    assert app.seen[1] - app.seen[0] >= 0.18
    (outage,) = exchange.retried  # the answer retried after: kept, for the checks
    assert (outage.status, outage.json()["retry_after_ms"], outage.retried) == (502, 200, ())


def test_retries_are_bounded_and_waits_capped(client):
    app = scripted(JSONResponse({**OUTAGE, "retry_after_ms": 60_000}, 502))
    started = time.monotonic()
    exchange = client(app, max_retries=2, max_retry_wait=0.1).request("GET", "/v1/usage")
    assert exchange.status == 502 and exchange.retries == 2 and exchange.unavailable
    assert len(app.seen) == 3 and time.monotonic() - started < 2


def test_non_retryable_errors_are_not_retried(client):
    app = scripted(JSONResponse({**OUTAGE, "retryable": False}, 500))
    exchange = client(app).request("GET", "/v1/usage")
    assert exchange.retries == 0 and len(app.seen) == 1 and not exchange.unavailable


async def dribble(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for _ in range(100):
        await send({"type": "http.response.body", "body": b" ", "more_body": True})
        await asyncio.sleep(0.1)
    await send({"type": "http.response.body", "body": b"{}"})


def test_total_deadline_stops_a_dribbling_body(client):
    started = time.monotonic()
    exchange = client(scripted(dribble), deadline=0.5, read_timeout=5).request("GET", "/x")
    assert "deadline" in exchange.error and exchange.status == 200
    assert time.monotonic() - started < 2


async def huge(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    chunk = b"x" * 65536
    for _ in range(200):  # 12.5 MiB, more than the cap
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_body_cap_stops_reading(client):
    exchange = client(scripted(huge), max_body_bytes=1 << 20).request("GET", "/x")
    assert "exceeds" in exchange.error and len(exchange.body) <= (1 << 20) + 65536


def test_budget_is_exact(client):
    app = scripted(JSONResponse({}))
    transport = client(app, max_requests=3)
    for _ in range(3):
        transport.request("GET", "/x")
    with pytest.raises(BudgetExhausted):
        transport.request("GET", "/x")
    assert len(app.seen) == 3 and transport.budget_used_up


def test_connection_refused_is_target_unavailable():
    transport = Transport("http://127.0.0.1:9", masker=Masker())
    try:
        with pytest.raises(TargetUnavailable, match="cannot connect"):
            transport.request("GET", "/v1/usage")
    finally:
        transport.close()


def test_only_the_target_is_reachable(client):
    transport = client(scripted(JSONResponse({})))
    with pytest.raises(ValueError, match="not on the target"):
        transport.request("GET", "http://127.0.0.2:9/v1/usage")


def test_secrets_are_masked_in_every_rendering(client):
    app = scripted(JSONResponse({"echo": "sekrit"}, headers={"x-echo": "sekrit"}))
    exchange = client(app).request(
        "GET", "/v1/usage", params={"q": "sekrit"}, headers={"x-api-key": "sekrit"}
    )
    for text in (exchange.curl(), exchange.excerpt(), repr(exchange), str(exchange.as_dict())):
        assert "sekrit" not in text
    assert "x-api-key: ***" in exchange.curl()


KEY = "dcs_test_padded_0123456789"


def test_a_request_the_client_refuses_names_no_key(client):
    """The pooled client's refusal quotes the value it refused (`b'...'`): masked, whatever
    whitespace is around the key."""
    transport = client(scripted(JSONResponse({})))
    transport.masker.add(KEY)
    for value in (f"  {KEY} \t", f"{KEY}\n"):
        with pytest.raises(Unsendable) as refused:
            transport.request("GET", "/v1/usage", headers={"x-api-key": value})
        assert KEY not in str(refused.value) and "***" in str(refused.value)
        assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_an_exchange_keeps_how_it_went_on_the_wire(client):
    transport = client(scripted(JSONResponse({})))
    plain = transport.request("GET", "/v1/usage")
    fresh = transport.request("GET", "/v1/usage", fresh=True)
    raw = transport.request("HEAD", "/v1/usage", raw=Raw("1.0", True, then_get=True))
    assert plain.wire() is None and "wire" not in plain.as_dict()["request"]
    assert fresh.as_dict()["request"]["wire"] == {"fresh": True}
    assert raw.as_dict()["request"]["wire"] == {
        "raw": True, "version": "1.0", "absolute_form": True, "then_get": True,
    }  # fmt: skip
    assert raw.as_dict()["request"]["template"]["url"].endswith("/v1/usage")
