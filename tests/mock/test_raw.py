"""Malformed and oversized requests over a plain socket: always a JSON 4xx, never 5xx or silence.

Every case is answered in the spec's error shape (``error_code``, ``message``, ``retryable``,
``application/json``). Known limit: a connection that sends part of a request head (under the
16 KiB limit) and then nothing is never answered; uvicorn has no timeout for reading a head.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conformance.mock import MockServer, create_app, load_fixtures, serve
from conformance.mock._http.protocol import MAX_HEAD_BYTES
from conformance.mock._layers import WireProtocol

KEY = load_fixtures().suite_credentials[0].encode()
OK_HEAD = b"Host: x\r\nx-api-key: " + KEY + b"\r\nConnection: close\r\n"
ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]*")


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with serve(create_app(load_fixtures())) as running:
        yield running


def exchange(server: MockServer, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data``, then read until the server closes; a reset or a timeout fails the test."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # may fail once the server has answered early: read the answer
        received = b""
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                pytest.fail(f"connection reset after {len(received)} bytes: {received[:200]!r}")
            if not chunk:
                return received
            received += chunk
    pytest.fail(f"no close within {timeout} s; received {received[:200]!r}")


def responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split a byte stream into (status, headers, body) using Content-Length."""
    found = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"incomplete response: {raw[:200]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        assert status_line.startswith("HTTP/1.1 "), status_line
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers["content-length"])
        found.append((int(status_line.split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return found


def json_error(response: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = response
    assert got == status, (got, body)
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert set(document) >= {"error_code", "message", "retryable"}, document
    assert document["error_code"] == code and ERROR_CODE.fullmatch(document["error_code"])
    assert isinstance(document["message"], str) and document["retryable"] is False


def get(target: bytes, head: bytes = OK_HEAD) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + head + b"\r\n"


PAD_64K = b"x-pad: " + b"a" * 65536 + b"\r\n"
PAD_1M = b"x-pad: " + b"a" * (1 << 20) + b"\r\n"
KEY_1M = b"x-api-key: " + b"k" * (1 << 20) + b"\r\n"
BAD, PERIOD, QUERY = "INVALID_REQUEST", "INVALID_PERIOD_START", "INVALID_QUERY"
BOTH_LENGTHS = b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

MALFORMED = {
    "64 KiB header value": (get(b"/v1/usage", OK_HEAD + PAD_64K), BAD),
    "1 MiB header value": (get(b"/v1/usage", OK_HEAD + PAD_1M), BAD),
    "1 MiB key": (get(b"/v1/usage", KEY_1M), BAD),
    "1 MiB query": (get(b"/v1/usage?period_start=" + b"2" * (1 << 20)), BAD),
    "bad escape in period_start": (get(b"/v1/usage?period_start=2026-01-%zz"), PERIOD),
    "bad escape elsewhere": (get(b"/v1/usage?x=%g1"), QUERY),
    "escaped non-UTF-8": (get(b"/v1/usage?period_start=%ff%fe"), PERIOD),
    "escaped non-UTF-8 elsewhere": (get(b"/v1/usage?x=%c3%28"), QUERY),
    "raw non-UTF-8 in query": (get(b"/v1/usage?period_start=\xff\xfe"), BAD),
    "raw non-ASCII in path": (get(b"/v1/us\xc3\xa4ge"), BAD),
    "duplicate period_start": (
        get(b"/v1/usage?period_start=2026-01-01&period_start=2026-02-01"),
        PERIOD,
    ),
    "request line garbage": (b"\x00\x17GARBAGE garbage garbage\r\n\r\n", BAD),
    "not HTTP": (b"NOT HTTP AT ALL\r\n\r\n", BAD),
    "lower-case method": (b"get /v1/usage HTTP/1.1\r\n" + OK_HEAD + b"\r\n", BAD),
    "space in target": (get(b"/v1/usage?a=b c"), BAD),
    "header without colon": (get(b"/v1/usage", OK_HEAD + b"no colon here\r\n"), BAD),
    "NUL in a header": (get(b"/v1/usage", OK_HEAD + b"x-a: b\x00c\r\n"), BAD),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", BAD),
    "Content-Length and chunked": (b"POST /v1/usage HTTP/1.1\r\nHost: x\r\n" + BOTH_LENGTHS, BAD),
    "Content-Length overflow": (
        b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        BAD,
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_get_a_json_400(server: MockServer, case: str) -> None:
    data, code = MALFORMED[case]
    (response,) = responses(exchange(server, data))
    json_error(response, 400, code)
    assert response[1].get("connection", "close") == "close"


def test_a_head_over_the_limit_is_refused_while_still_arriving(server: MockServer) -> None:
    """No end of head ever comes: the 400 must not wait for it."""
    data = b"GET /v1/usage HTTP/1.1\r\nx-api-key: " + b"k" * (MAX_HEAD_BYTES + 1)
    (response,) = responses(exchange(server, data))
    json_error(response, 400, "INVALID_REQUEST")


def test_a_head_just_under_the_limit_reaches_the_app(server: MockServer) -> None:
    filler = b"x-pad: " + b"a" * (MAX_HEAD_BYTES - 200) + b"\r\n"
    (response,) = responses(exchange(server, get(b"/v1/usage", OK_HEAD + filler)))
    assert response[0] == 200 and set(json.loads(response[2])) >= {"plan_slug"}


def test_pipelined_requests_before_a_bad_one_are_answered_first(server: MockServer) -> None:
    good = get(b"/v1/usage", OK_HEAD.replace(b"Connection: close\r\n", b""))
    first, second, refusal = responses(exchange(server, good + good + b"GARBAGE\r\n\r\n"))
    assert first[0] == second[0] == 200
    json_error(refusal, 400, "INVALID_REQUEST")


def test_a_bad_body_ends_the_connection_after_its_answer(server: MockServer) -> None:
    data = b"POST /v1/usage HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    (response,) = responses(exchange(server, data))
    assert response[0] == 405 and response[1]["content-type"] == "application/problem+json"


def test_the_server_still_answers_after_all_that(server: MockServer) -> None:
    for case in MALFORMED.values():
        exchange(server, case[0])
    (response,) = responses(exchange(server, get(b"/v1/usage")))
    assert response[0] == 200


class _OverH11:
    """The mock's app served by the wire layers' h11 protocol (as a wire fault or variant is)."""

    http_protocol = WireProtocol

    def __init__(self) -> None:
        self.app = create_app(load_fixtures())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.mark.parametrize("protocol", ["httptools", "h11"])
def test_an_upgrade_is_ignored_quietly(protocol: str, caplog: pytest.LogCaptureFixture) -> None:
    """RFC 9110 7.8 lets a server ignore Upgrade: the request is answered as sent, and the
    mock's log gets no warning per such request (the suite sends some)."""
    app = create_app(load_fixtures()) if protocol == "httptools" else _OverH11()
    upgrade = OK_HEAD + b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
    with caplog.at_level(logging.WARNING), serve(app) as running:
        (response,) = responses(exchange(running, get(b"/v1/usage", upgrade)))
    assert response[0] == 200 and set(json.loads(response[2])) >= {"plan_slug"}
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
