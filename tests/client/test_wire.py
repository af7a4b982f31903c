"""One request on the wire (conformance/_client/wire.py): the deadline bounds every socket
operation, bodies are decoded as labelled and capped, streams are not read, the target is
sent as spelled, and a connection the server closed while idle is retried once."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib

import pytest

from conformance._client import wire
from conformance._core.errors import TargetUnavailable
from tests._raw_server import Request, raw_server, response

BODY = b'{"ok": true}'


def send(url: str, headers=None, *, deadline: float = 2.0, cap: int = 1 << 20, pool=None):
    pools = wire.Pools()
    try:
        return wire.exchange(
            pool or pools.current(),
            "GET",
            url,
            headers or {},
            connect_timeout=1.0,
            read_timeout=1.5,
            deadline=deadline,
            max_body_bytes=cap,
        )
    finally:
        pools.close()


def answering(status: str, headers: dict[str, str], body: bytes):
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response(status, {**headers, "Content-Length": str(len(body))}, body))

    return handler


@pytest.mark.parametrize(
    "coding, packed",
    [
        ("gzip", gzip.compress(BODY, mtime=0)),
        ("x-gzip", gzip.compress(BODY, mtime=0)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", zlib.compress(BODY)[2:-4]),  # raw deflate, as some servers send it
        ("identity", BODY),
    ],
)
def test_bodies_are_decoded_as_labelled(coding, packed):
    handler = answering("200 OK", {"Content-Encoding": coding}, packed)
    with raw_server(handler) as server:
        answer = send(server.base_url + "/v1/usage")
    assert (answer.status, answer.body, answer.error) == (200, BODY, "")


@pytest.mark.parametrize(
    "coding, packed, says",
    [
        ("gzip", BODY, "the body is not gzip as labelled"),
        ("gzip", gzip.compress(BODY, mtime=0)[:-12], "ends before its end marker"),
        ("br", BODY, "Content-Encoding br was not asked for"),
        (
            "gzip, gzip",
            gzip.compress(gzip.compress(BODY, mtime=0), mtime=0),
            "more than one content coding",
        ),
    ],
)
def test_a_body_that_is_not_what_it_says_is_a_broken_response(coding, packed, says):
    handler = answering("200 OK", {"Content-Encoding": coding}, packed)
    with raw_server(handler) as server:
        answer = send(server.base_url + "/v1/usage")
    assert answer.status == 200 and answer.error.startswith("broken response:")
    assert says in answer.error


@pytest.mark.parametrize("part", [slice(0, 10), slice(-5, None)])
def test_a_part_of_a_coded_body_is_kept_as_it_came(part):
    coded = gzip.compress(BODY, mtime=0)
    headers = {"Content-Encoding": "gzip", "Content-Range": f"bytes 0-9/{len(coded)}"}
    with raw_server(answering("206 Partial Content", headers, coded[part])) as server:
        answer = send(server.base_url + "/v1/usage")
    assert (answer.status, answer.body, answer.error) == (206, coded[part], "")
    assert answer.coded == "gzip"  # a range of the gzip stream (RFC 9110 14.1.2)


def test_a_compressed_body_is_capped_after_decoding():
    bomb = gzip.compress(b" " * (8 << 20))  # 8 MiB of spaces in a few KiB
    with raw_server(answering("200 OK", {"Content-Encoding": "gzip"}, bomb)) as server:
        answer = send(server.base_url + "/v1/usage", cap=1 << 20)
    assert "body exceeds 1048576 bytes" in answer.error
    assert len(answer.body) <= wire.OVERSIZE_EVIDENCE_BYTES


async def dribbled_head(request: Request, writer: asyncio.StreamWriter) -> None:
    for byte in response("200 OK", {"Content-Type": "application/json"}):
        writer.write(bytes([byte]))  # every byte well within the read timeout, the head never
        await writer.drain()  # complete within the deadline
        await asyncio.sleep(0.1)


def test_the_deadline_bounds_a_head_that_dribbles():
    with raw_server(dribbled_head) as server:
        started = time.monotonic()
        answer = send(server.base_url + "/v1/usage", deadline=1.0)
    assert answer.stalled and "within the 1 s deadline" in answer.error
    assert time.monotonic() - started < 1.5


def test_the_request_target_is_sent_as_spelled():
    with raw_server(answering("404 Not Found", {}, b"")) as server:
        for target in ("/v1/./usage", "/v1/x/../usage", "//v1/usage", "/v1/%75sage?a=%2D"):
            send(server.base_url + target)
        assert [r.target for r in server.requests] == [
            "/v1/./usage", "/v1/x/../usage", "//v1/usage", "/v1/%75sage?a=%2D"
        ]  # fmt: skip


def test_event_streams_and_switched_protocols_are_not_read():
    async def stream(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.headers.get("upgrade"):
            writer.write(response("101 Switching Protocols", {"Upgrade": "websocket"}))
        else:
            writer.write(response("200 OK", {"Content-Type": "text/event-stream"}))
            writer.write(b"data: 1\n\n")
        await asyncio.sleep(20)

    with raw_server(stream) as server:
        started = time.monotonic()
        events = send(server.base_url + "/events", deadline=5)
        switched = send(server.base_url + "/ws", {"Connection": "Upgrade", "Upgrade": "websocket"})
    assert (events.status, events.streamed, events.body) == (200, True, b"")
    assert (switched.status, switched.streamed) == (101, True)
    assert time.monotonic() - started < 3


def test_a_connection_closed_while_idle_is_retried_once_on_a_new_one():
    # the raw server closes every connection after one answer, without saying so
    with raw_server(answering("200 OK", {}, BODY)) as server:
        pools = wire.Pools()
        try:
            pool = pools.current()
            first = send(server.base_url + "/a", pool=pool)
            time.sleep(0.2)  # the server's close arrives, unread, on the idle connection
            second = send(server.base_url + "/b", pool=pool)
        finally:
            pools.close()
        assert (first.status, second.status, second.error) == (200, 200, "")
        assert [r.target for r in server.requests] == ["/a", "/b"]


def test_no_connection_is_target_unavailable():
    with raw_server(answering("200 OK", {}, BODY)) as server:
        port = server.base_url.rsplit(":", 1)[1]
    with pytest.raises(TargetUnavailable, match="cannot connect"):
        send(f"http://127.0.0.1:{port}/v1/usage")


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "abc"},
        {"content-length": "5"},
        {"Transfer-Encoding": "gzip"},
        {"X-Probe": "a\x00b"},
    ],
    ids=["bad-length", "length-without-content", "transfer-coding", "control-character"],
)
def test_a_request_the_client_cannot_write_is_unsendable_not_a_broken_response(headers):
    with raw_server(answering("200 OK", {}, BODY)) as server:
        with pytest.raises(wire.Unsendable):
            send(server.base_url, headers)
        if headers != {"content-length": "5"}:  # refused before a byte was written
            assert server.requests == []
