"""The mock over a real loopback socket: ``serve`` and ``python -m conformance.mock``."""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from conformance.mock import Fixtures, create_app, load_fixtures, serve
from conformance.mock._cli import main

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
READY = re.compile(r"dcs mock listening on (http://127\.0\.0\.1:(\d+))")
CLI_KEY = "dcs_test_cli0000000000000000"


@pytest.fixture(scope="module")
def fx() -> Fixtures:
    return load_fixtures()


def raw_exchange(host: str, port: int, data: bytes) -> bytes:
    """Send ``data`` as is, then read until the server closes (bounded by a timeout)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_serve_on_a_free_loopback_port_and_count_requests(fx: Fixtures) -> None:
    key = fx.suite_credentials[0]
    started = time.monotonic()
    with serve(create_app(fx, clock=lambda: NOW), host="127.0.0.1", port=0) as server:
        assert time.monotonic() - started < 1.0
        assert server.started and server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=server.base_url, timeout=5, trust_env=False) as client:
            ok = client.get("/v1/usage", headers={"x-api-key": key})
            assert ok.status_code == 200 and set(ok.json()) >= {"plan_slug"}
            assert "server" not in ok.headers and ok.headers["content-type"] == "application/json"
            assert client.get("/v1/usage").status_code == 401
            assert client.post("/v1/usage").status_code == 405
            assert client.get("/nowhere").status_code == 404
        assert server.request_count == 4
        base_url = server.base_url
    assert not any(t.name == "dcs-mock" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/v1/usage", timeout=2, trust_env=False)


def test_two_servers_side_by_side(fx: Fixtures) -> None:
    with serve(create_app(fx)) as first, serve(create_app(fx)) as second:
        assert first.port != second.port
        reply = httpx.get(f"{first.base_url}/v1/usage", timeout=5, trust_env=False)
        assert reply.status_code == 401
        assert (first.request_count, second.request_count) == (1, 0)


def test_keep_alive_responses_are_not_delayed_by_nagle(fx: Fixtures) -> None:
    with (
        serve(create_app(fx)) as server,
        socket.create_connection((server.host, server.port), timeout=5) as sock,
    ):
        started = time.monotonic()
        for _ in range(50):  # ~40 ms each if head and body waited for a delayed ACK
            sock.sendall(b"GET /v1/usage HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while not received.endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, "connection closed"
                received += chunk
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.invalid"])
def test_serve_refuses_non_loopback_hosts(fx: Fixtures, host: str) -> None:
    with pytest.raises(ValueError, match="host"), serve(create_app(fx), host=host):
        pass  # pragma: no cover - never reached


def test_requests_the_http_parser_rejects_get_a_json_400(fx: Fixtures) -> None:
    with serve(create_app(fx)) as server:
        head_too_long = b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nx-api-key: " + b"k" * 20_000
        for data in (
            head_too_long,  # incomplete, beyond the 16 KiB head limit: rejected while arriving
            b"GET /v1/usage?period_start=\xff HTTP/1.1\r\nHost: x\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
        ):
            reply = raw_exchange(server.host, server.port, data)
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 ")
            assert b"content-type: application/json" in head.lower()
            assert json.loads(body)["error_code"] == "INVALID_REQUEST"
        assert server.request_count == 0


def test_absurd_headers_that_parse_reach_the_app(fx: Fixtures) -> None:
    with serve(create_app(fx)) as server:
        many = b"".join(b"x-filler-%d: v\r\n" % n for n in range(800))  # a 13.5 KB head
        data = b"GET /v1/usage HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n"
        reply = raw_exchange(server.host, server.port, data)
        assert reply.startswith(b"HTTP/1.1 401 ")
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["error_code"] == "AUTH_REQUIRED"


@pytest.fixture
def run_cli() -> Iterator:
    """Start ``python -m conformance.mock ARGS``; every process is killed at the end."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "conformance.mock", *args],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def ready_url(process: subprocess.Popen[str], timeout: float = 15) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, "no ready line in time"
    line = process.stdout.readline().strip()
    match = READY.fullmatch(line)
    assert match, line
    return match.group(1)


@pytest.mark.e2e
def test_cli_serves_an_extra_key_until_terminated(run_cli, fx: Fixtures) -> None:
    process = run_cli("--host", "127.0.0.1", "--port", "0", "--api-key", CLI_KEY, "--org-id", "o1")
    base_url = ready_url(process)
    with httpx.Client(base_url=base_url, timeout=5, trust_env=False) as client:
        mine = client.get("/v1/usage", headers={"Authorization": f"Bearer {CLI_KEY}"})
        assert mine.status_code == 200 and mine.json()["billed_logical_storage_mib_seconds"] > 0
        scoped = client.get("/v1/usage", headers={"x-api-key": CLI_KEY, "X-Dedalus-Org-Id": "o1"})
        assert scoped.status_code == 200
        suite = client.get("/v1/usage", headers={"x-api-key": fx.suite_credentials[0]})
        assert suite.status_code == 200
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert CLI_KEY not in out + err and fx.suite_credentials[0] not in out + err


@pytest.mark.e2e
def test_cli_ledger_unavailable(run_cli, fx: Fixtures) -> None:
    base_url = ready_url(run_cli("--port", "0", "--ledger-unavailable"))
    headers = {"x-api-key": fx.suite_credentials[0]}
    reply = httpx.get(f"{base_url}/v1/usage", headers=headers, timeout=5, trust_env=False)
    assert reply.status_code == 502
    assert reply.json()["error_code"] == "BILLING_LEDGER_UNAVAILABLE"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fixtures", "no/such/fixtures.yaml"), "no/such/fixtures.yaml: file not found"),
        (("--host", "0.0.0.0"), "refusing non-loopback host '0.0.0.0'"),
    ],
)
def test_cli_usage_errors_are_one_line_and_exit_4(run_cli, args: tuple[str, ...], message: str):
    process = run_cli("--port", "0", *args)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 4
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--host", "example.invalid"), "host must be an IP address"),
        (("--host", "::", "--allow-remote", "--fixtures", "-"), "-: file not found"),
        (("--port", "http"), "invalid int value"),
        (("--port", "70000"), "--port must be 0..65535"),
        (("--api-key", CLI_KEY), "--api-key and --org-id go together"),
        (("--api-key", "has space", "--org-id", "o1"), "visible ASCII"),
        (("--bogus",), "unrecognized arguments: --bogus"),
    ],
)
def test_cli_argument_errors_in_process(capsys, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--port", "0", *args])
    out, err = capsys.readouterr()
    assert info.value.code == 4
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert CLI_KEY not in err and "has space" not in err


@pytest.mark.e2e
def test_cli_bad_fixtures_file(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: {org: nobody, api_key: dcs_test_x}\nplans: []\norgs: []\n")
    _, err = run_cli("--port", "0", "--fixtures", str(bad)).communicate(timeout=20)
    assert err == f"python -m conformance.mock: error: {bad}: suite: unknown org 'nobody'\n"


@pytest.mark.e2e
def test_cli_port_in_use(run_cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = run_cli("--port", str(taken.getsockname()[1]))
        _, err = process.communicate(timeout=20)
    assert process.returncode == 4 and err.count("\n") == 1 and "cannot listen" in err
