"""Honest outcomes: exit 75 only when the target cannot be judged, a verdict whenever it answers.

Each server is built to produce one answer to the preflight's plain valid request (and to
the keyless request the preflight sends when the valid one gets no answer at all)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from email.utils import formatdate

import pytest

from tests._raw_server import Request, raw_server, reset, response
from tests._support import ZERO_USAGE, output, run_suite

USAGE = {**ZERO_USAGE, "included_storage_gib": 100}
BODY = json.dumps(USAGE).encode()
UNAUTHENTICATED = json.dumps(
    {"error_code": "AUTH_REQUIRED", "message": "missing Dedalus API key", "retryable": False}
).encode()
GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx/1.25.3</center></body></html>\r\n"
)
DEADLINE = "1"


def json_headers(body: bytes, **extra: str) -> dict[str, str]:
    length = str(len(body))
    return {"Date": formatdate(usegmt=True), "Content-Type": "application/json",
            "Content-Length": length, **extra}  # fmt: skip


async def gateway_502(request: Request, writer: asyncio.StreamWriter) -> None:
    headers = {"Server": "nginx/1.25.3", "Content-Type": "text/html"}
    headers["Content-Length"] = str(len(GATEWAY_PAGE))
    writer.write(response("502 Bad Gateway", headers, GATEWAY_PAGE))


def problem(status: str, **extra: str):
    document = json.dumps({"title": status, "status": int(status[:3])}).encode()

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "application/problem+json", **extra}
        writer.write(response(status, {**headers, "Content-Length": str(len(document))}, document))

    return handler


async def truncated(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response("200 OK", json_headers(BODY), BODY[: len(BODY) // 2]))


async def oversized(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response("200 OK", {"Content-Type": "application/json"}))
    chunk = b" " * (1 << 20)
    for _ in range(6):  # 6 MiB of JSON whitespace, over the 4 MiB cap
        writer.write(chunk)
        await writer.drain()


async def mislabelled_gzip(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response("200 OK", json_headers(BODY, **{"Content-Encoding": "gzip"}), BODY))


async def real_gzip(request: Request, writer: asyncio.StreamWriter) -> None:
    packed = gzip.compress(UNAUTHENTICATED)
    headers = json_headers(packed, **{"Content-Encoding": "gzip"})
    writer.write(response("401 Unauthorized", headers, packed))


async def dribbled(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response("200 OK", json_headers(BODY)))
    for byte in BODY:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.2)


async def silent(request: Request, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(20)


async def closed_at_once(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def reset_at_once(request: Request, writer: asyncio.StreamWriter) -> None:
    reset(writer)


async def reset_unless_keyless(request: Request, writer: asyncio.StreamWriter) -> None:
    if request.has_credentials:
        reset(writer)
    else:
        writer.write(response("401 Unauthorized", json_headers(UNAUTHENTICATED), UNAUTHENTICATED))


def run(base_url: str, tmp_path, *args: str):
    started = time.monotonic()
    result = run_suite(
        *("--base-url", base_url, "--api-key", "dcs_outcome_key_0123456789"),
        *("--request-deadline", DEADLINE, "--reports-dir", str(tmp_path), "-q", *args),
    )
    return result, time.monotonic() - started


@pytest.mark.hooks
@pytest.mark.parametrize(
    "handler, says",
    [
        (gateway_502, "502 (Server: nginx/1.25.3)"),
        (problem("503 Service Unavailable", **{"Retry-After": "0"}), "503"),
        (problem("429 Too Many Requests", **{"Retry-After": "0"}), "429"),
        (problem("504 Gateway Timeout"), "504"),
        (silent, "no HTTP answer"),
        (closed_at_once, "no HTTP answer"),
        (reset_at_once, "no HTTP answer"),
    ],
    ids=["html_502_gateway", "503", "429", "504", "no_head", "closed", "reset"],
)
def test_a_target_that_cannot_be_judged_is_exit_75_in_one_line(tmp_path, handler, says):
    with raw_server(handler) as server:
        result, wall = run(server.base_url, tmp_path)
    text = output(result)
    assert result.returncode == 75, text[-2000:]
    line = next(line for line in text.splitlines() if "target unavailable:" in line)
    assert says in line, line
    assert "FAILED" not in text and "passed" not in text
    assert wall < 30, f"{wall:.1f} s"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["exit"]["status"] == 75 and summary["failures"] == []


@pytest.mark.parametrize(
    "handler, evidence",
    [
        (truncated, "broken response"),
        (oversized, "body exceeds 4194304 bytes"),
        (mislabelled_gzip, "broken response"),
        (dribbled, f"no complete response within the {DEADLINE} s deadline"),
        (reset_unless_keyless, "a request without credentials got 401: the target is up"),
    ],
    ids=["truncated", "oversized", "mislabelled_gzip", "dribbled", "reset_while_keyless_answered"],
)
def test_a_broken_answer_to_the_preflight_is_a_violation(tmp_path, handler, evidence):
    with raw_server(handler) as server:
        result, wall = run(server.base_url, tmp_path)
        requests = len(server.requests)
    text = output(result)
    assert result.returncode == 1, text[-2000:]
    assert "[complete_response]" in text and evidence in text, text[-2000:]
    assert "reproduce: curl" in text and "dcs_outcome_key_0123456789" not in text
    assert "target unavailable" not in text
    assert wall < 30 and requests <= 2, (
        wall,
        requests,
    )  # judged at once: the tests would repeat it
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["exit"]["status"] == 1
    [failure] = summary["failures"]
    assert failure["test"] == "preflight" and failure["checks"] == ["complete_response"]
    assert summary["checks"]["complete_response"]["outcome"] == "failed 1 time"
    assert summary["coverage"]["requests"] == requests


def test_real_gzip_is_read_as_the_body_it_encodes(tmp_path):
    """A body that really is gzip, as labelled, is no broken answer: the tests judge it."""
    with raw_server(real_gzip) as server:
        result, _ = run(server.base_url, tmp_path, "-k", "test_missing_key_is_auth_required")
    assert result.returncode == 0, output(result)[-2000:]
