"""The mock under load: 10,000 mixed requests over 32 concurrent keep-alive connections
(32 threads, one ``http.client`` connection each).

Zero transport errors, zero 5xx, every response well-formed for its status, and the server
counts exactly the requests sent. Loopback only; bounded in count and in time.
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from conformance._core.dates import CLOSED_PERIOD_OFFSET, month_start
from conformance.mock import MockServer, create_app, load_fixtures, serve

REQUESTS = 10_000
CONNECTIONS = 32
TIME_LIMIT = 60.0  # seconds for the whole load; it takes a few on a 2-core machine
USAGE_FIELDS = {
    "plan_slug",
    "billed_awake_seconds",
    "billed_cpu_millicore_seconds",
    "billed_memory_mib_seconds",
    "provisioned_storage_gib",
    "included_storage_gib",
    "billed_logical_storage_mib_seconds",
}

FX = load_fixtures()
KEY, ORG = FX.suite_credentials
CLOSED = month_start(-CLOSED_PERIOD_OFFSET).isoformat()
#: (method, path, headers, expected status): the mix, sent round-robin.
MIX: list[tuple[str, str, dict[str, str], int]] = [
    ("GET", f"/v1/usage?period_start={CLOSED}", {"x-api-key": KEY}, 200),
    ("GET", "/v1/usage", {"Authorization": f"Bearer {KEY}", "X-Dedalus-Org-Id": ORG}, 200),
    ("GET", "/v1/usage?period_start=2024-02-29", {"x-api-key": KEY}, 200),
    ("GET", "/v1/usage", {}, 401),
    ("GET", "/v1/usage", {"x-api-key": "dcs_test_not_a_key"}, 401),
    ("GET", "/v1/usage", {"x-api-key": KEY, "X-Dedalus-Org-Id": "org_someone_else"}, 403),
    ("GET", "/v1/usage?period_start=2026-13-01", {"x-api-key": KEY}, 400),
    ("GET", "/v1/usage?x=%zz", {"x-api-key": KEY}, 400),
    ("POST", "/v1/usage", {"x-api-key": KEY}, 405),
    ("GET", "/v1/nowhere", {"x-api-key": KEY}, 404),
]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with serve(create_app(FX)) as running:
        yield running


def problems(expected: int, status: int, media: str, content: bytes) -> list[str]:
    """Why a response is not what the mix expects (empty: well-formed)."""
    found = [] if status == expected else [f"status {status}, expected {expected}"]
    try:
        body = json.loads(content)
    except ValueError:
        return [*found, f"body is not JSON: {content[:80]!r}"]
    if status == 200:
        if media != "application/json" or set(body) != USAGE_FIELDS:
            found.append(f"200 {media} with fields {sorted(body)}")
    elif status in (404, 405):
        if media != "application/problem+json" or body.get("status") != status:
            found.append(f"{status} {media}: {body}")
    elif media != "application/json" or not {"error_code", "message", "retryable"} <= set(body):
        found.append(f"{status} {media}: {body}")
    return found


def worker(server: MockServer, first: int, deadline: float) -> tuple[Counter[int], list[str]]:
    """Every CONNECTIONS-th request from ``first`` on, over one keep-alive connection."""
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        for n in range(first, REQUESTS, CONNECTIONS):
            if time.monotonic() > deadline:
                bad.append(f"out of time at request {n}")
                break
            method, path, headers, expected = MIX[n % len(MIX)]
            try:
                connection.request(method, path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                bad.append(f"request {n}: {type(exc).__name__}: {exc}")
                connection.close()
                continue
            statuses[response.status] += 1
            media = response.getheader("content-type", "")
            bad.extend(
                f"request {n} {method} {path}: {p}"
                for p in problems(expected, response.status, media, body)
            )
    finally:
        connection.close()
    return statuses, bad


def test_ten_thousand_requests_at_32_connections(server: MockServer) -> None:
    before = server.request_count
    deadline = time.monotonic() + TIME_LIMIT
    statuses: Counter[int] = Counter()
    bad: list[str] = []
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        futures = [pool.submit(worker, server, first, deadline) for first in range(CONNECTIONS)]
        for future in futures:
            counted, found = future.result(timeout=TIME_LIMIT + 15)
            statuses.update(counted)
            bad.extend(found)
    assert bad == [], f"{len(bad)} bad responses, first: {bad[:5]}"
    assert sum(statuses.values()) == REQUESTS
    assert not any(status >= 500 for status in statuses)
    assert statuses == Counter(
        {
            expected: REQUESTS // len(MIX) * sum(e == expected for *_, e in MIX)
            for *_, expected in MIX
        }
    )
    assert server.request_count - before == REQUESTS
