"""Read-only, whatever the spec: with the published 35-operation spec, a server that logs every
request sees no request to a declared write operation, every declared read is still tested,
and streams (an event stream, a WebSocket upgrade) are judged by status and headers at once."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from conformance._client.transport import Limits, Transport, WriteRefused
from conformance._core.exchange import Masker
from conformance._run.load import load_contract
from conformance._run.session import read_only_guard
from conformance.mock import create_app, load_fixtures, serve
from tests._raw_server import Request, raw_server, response
from tests._support import REPO, ZERO_USAGE, output, run_suite

PUBLISHED = REPO.parent / "shared" / "published" / "dcs-openapi-published.json"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

needs_published = pytest.mark.skipif(
    not PUBLISHED.exists(), reason="the published spec is not beside this checkout"
)


def operations(spec: Path) -> list[tuple[str, re.Pattern[str]]]:
    """(METHOD, concrete-path pattern) of every operation, read without the suite's code."""
    document = json.loads(spec.read_text())
    found = []
    for path, item in document["paths"].items():
        template = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
        pattern = re.compile(f"^{template}/?$", re.IGNORECASE)
        found += [(method.upper(), pattern) for method in item if method.upper() != "PARAMETERS"]
    return found


def logging_mock(log: list[tuple[str, str]]):
    """The mock, noting every request's method and raw path as it arrives."""
    app = create_app(load_fixtures())

    async def logged(scope, receive, send):
        if scope["type"] == "http":
            log.append((scope["method"], scope.get("raw_path", b"").decode("latin-1")))
        await app(scope, receive, send)

    return logged


@needs_published
def test_published_spec_sends_no_declared_write(tmp_path):
    key, org = load_fixtures().suite_credentials
    log: list[tuple[str, str]] = []
    started = time.monotonic()
    with serve(logging_mock(log), host="127.0.0.1", port=0) as server:
        result = run_suite(
            *("--base-url", server.base_url, "--api-key", key, "--org-id", org),
            *("--spec", str(PUBLISHED), "--max-examples", "5", "--request-deadline", "2"),
            *("--reports-dir", str(tmp_path), "-q"),
            timeout=300,
        )
    wall = time.monotonic() - started
    text = output(result)
    assert result.returncode in (0, 1), text[-3000:]  # a verdict (the mock serves /v1/usage only)
    spec_ops = operations(PUBLISHED)
    writes = [(m, p) for m, p in spec_ops if m in WRITES]
    reads = [(m, p) for m, p in spec_ops if m == "GET"]
    assert len(spec_ops) == 35 and len(writes) == 14
    sent_writes = [
        (method, path)
        for method, path in log
        if any(method == m and pattern.match(path.split("?")[0]) for m, pattern in writes)
    ]
    assert sent_writes == [], sent_writes[:10]
    for _, pattern in reads:  # every declared read is still exercised
        assert any(m == "GET" and pattern.match(p.split("?")[0]) for m, p in log), pattern
    assert any(m in WRITES for m, _ in log), "undeclared methods are still probed"
    spec = json.loads((tmp_path / "summary.json").read_text())["spec"]
    assert spec["operations"] == 35 and len(spec["writes_not_exercised"]) == 14
    assert "POST /v1/machines" in spec["writes_not_exercised"]
    assert "14 write operations not exercised" in (tmp_path / "summary.md").read_text()
    assert wall < 240, f"{wall:.0f} s"


USAGE_BODY = ZERO_USAGE
UPGRADED = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "x"}


def json_answer(status: str, document: dict, media: str = "application/json") -> bytes:
    body = json.dumps(document).encode()
    return response(status, {"Content-Type": media, "Content-Length": str(len(body))}, body)


async def streams(request: Request, writer: asyncio.StreamWriter) -> None:
    """/v1/usage: a usage body; an event stream that never ends; a WebSocket upgrade when
    asked for one; anything else 404."""
    path = request.target.split("?")[0]
    if path == "/v1/usage":
        writer.write(json_answer("200 OK", USAGE_BODY))
    elif path.endswith("/status/stream"):
        writer.write(response("200 OK", {"Content-Type": "text/event-stream"}))
        for n in range(300):  # an event every 0.1 s for 30 s: a reader would wait it out
            writer.write(f"event: status\ndata: {n}\n\n".encode())
            await writer.drain()
            await asyncio.sleep(0.1)
    elif path.endswith("/stream") and request.headers.get("upgrade", "").lower() == "websocket":
        writer.write(response("101 Switching Protocols", UPGRADED))
        await asyncio.sleep(30)
    else:
        problem = {"title": "Not Found", "status": 404}
        writer.write(json_answer("404 Not Found", problem, "application/problem+json"))


@needs_published
def test_streams_are_judged_by_status_and_headers_without_waiting(tmp_path):
    with raw_server(streams) as server:
        started = time.monotonic()
        run_suite(
            *("--base-url", server.base_url, "--api-key", "dcs_stream_key_0123456789"),
            *("--spec", str(PUBLISHED), "--max-examples", "3", "--request-deadline", "5"),
            *("--reports-dir", str(tmp_path), "-q", "-k", "stream"),
        )
        wall = time.monotonic() - started
        upgrades = [r for r in server.requests if r.headers.get("upgrade") == "websocket"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"]["tests"] == 2, summary["counts"]
    statuses = summary["coverage"]["statuses"]
    assert statuses.get("200", 0) >= 1 and statuses.get("101", 0) >= 1, statuses
    assert upgrades and all("sec-websocket-key" in r.headers for r in upgrades)
    assert summary["checks"]["complete_response"]["outcome"] == "passed"
    assert summary["coverage"]["transport_errors"] == 0
    assert wall < 60, f"{wall:.0f} s: a stream held the run"


def test_the_transport_never_sends_a_declared_write():
    contract = load_contract(PUBLISHED if PUBLISHED.exists() else None)
    log: list[tuple[str, str]] = []
    with serve(logging_mock(log), host="127.0.0.1", port=0) as server:
        transport = Transport(
            server.base_url, limits=Limits(deadline=2), masker=Masker(),
            guard=read_only_guard(contract),
        )  # fmt: skip
        try:
            assert transport.request("GET", "/v1/usage").status == 401
            assert transport.request("POST", "/v1/usage").status == 405  # undeclared: probed
            if PUBLISHED.exists():
                for method, path in [
                    ("POST", "/v1/machines"),
                    ("POST", "/v1/machines/"),
                    ("POST", "/V1/Machines"),
                    ("DELETE", "/v1/machines/dm-1"),
                    ("DELETE", "/v1/machines/dm%2D1"),
                    ("PATCH", "/v1/usage/../machines/dm-1"),
                    ("POST", "//v1//machines/dm-1/wake"),
                ]:
                    with pytest.raises(WriteRefused, match="declared write"):
                        transport.request(method, path)
        finally:
            transport.close()
    assert [method for method, _ in log] == ["GET", "POST"]
