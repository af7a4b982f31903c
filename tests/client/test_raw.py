"""A request written byte for byte (conformance/_client/raw.py): HTTP/1.0, absolute-form,
values as given, a HEAD's body seen; the answer framed as RFC 9112 says, within the deadline.
And the pooled client's handling of codings the request asked for and of repeated fields."""

from __future__ import annotations

import asyncio
import time

import pytest

from conformance._client import raw, wire
from conformance._client.raw import Raw
from tests._raw_server import Request, raw_server, response

BODY = b'{"ok": true}'


PLAIN = Raw()


def send(url: str, headers=(), *, method: str = "GET", form: Raw = PLAIN, deadline: float = 2.0):
    return raw.exchange(
        method,
        url,
        list(headers),
        form,
        connect_timeout=1.0,
        read_timeout=1.5,
        deadline=deadline,
        max_body_bytes=1 << 20,
    )


def writing(data: bytes, *, linger: float = 0.0):
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if linger:
            await asyncio.sleep(linger)

    return handler


def test_the_request_is_written_as_asked():
    seen: list[bytes] = []

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        seen.append(f"{request.method} {request.target}".encode())
        seen.append(request.headers.get("x-probe", "").encode("latin-1"))
        writer.write(response("200 OK", {"Content-Length": str(len(BODY))}, BODY))

    with raw_server(handler) as server:
        url = server.base_url + "/v1/usage?a=1"
        headers = [("X-Probe", "\udcffé")]
        one = send(url, headers, form=Raw("1.0", absolute_form=True))
        head = raw.request_bytes("GET", url, headers, Raw("1.0", absolute_form=True))
    assert (one.status, one.body, one.error) == (200, BODY, "")
    assert seen == [f"GET {url}".encode(), b"\xff\xc3\xa9"]
    assert head.startswith(f"GET {url} HTTP/1.0\r\n".encode())
    assert b"\r\nConnection: close\r\n" in head and b"\r\nHost: " in head


def test_whitespace_around_a_value_is_sent():
    head = raw.request_bytes("GET", "http://h/x", [("x-api-key", "  k  ")], Raw())
    assert b"\r\nx-api-key:   k  \r\n" in head


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
CHUNKED = b'5\r\n{"ok"\r\n7;x=1\r\n: true}\r\n0\r\n\r\n'


@pytest.mark.parametrize(
    "data, body",
    [
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY, BODY),
        (EARLY_HINTS + response("200 OK", {"Content-Length": "12"}, BODY), BODY),
        (response("200 OK", {"Transfer-Encoding": "chunked"}, CHUNKED), BODY),
    ],
    ids=["close-delimited", "after-103", "chunked"],
)
def test_answers_are_framed_as_rfc_9112_says(data, body):
    with raw_server(writing(data)) as server:
        answer = send(server.base_url + "/v1/usage")
    assert (answer.status, answer.body, answer.error) == (200, body, "")


def test_a_head_answered_with_a_body_shows_it():
    data = response("200 OK", {"Content-Length": str(len(BODY))}, BODY)
    with raw_server(writing(data)) as server:
        answer = send(server.base_url + "/v1/usage", method="HEAD")
    assert (answer.status, answer.body, answer.headers["content-length"]) == (200, BODY, "12")


def test_a_head_answered_without_one_waits_for_no_body():
    data = response("200 OK", {"Content-Length": str(len(BODY))})
    with raw_server(writing(data, linger=5)) as server:  # the close never comes
        start = time.monotonic()
        answer = send(server.base_url + "/v1/usage", method="HEAD")
    assert (answer.status, answer.body, answer.error) == (200, b"", "")
    assert time.monotonic() - start < raw.CLOSE_GRACE + 0.5


@pytest.mark.parametrize(
    "linger, deadline, left_open",
    [(0.0, 2.0, False), (5.0, 2.0, True), (5.0, 0.3, False)],
    ids=["closed", "left_open", "no_time_left_to_tell"],
)
def test_a_connection_left_open_after_the_answer_shows(linger, deadline, left_open):
    data = response("200 OK", {"Content-Length": str(len(BODY))}, BODY)
    with raw_server(writing(data, linger=linger)) as server:
        start = time.monotonic()
        answer = send(server.base_url + "/v1/usage", deadline=deadline)
    assert (answer.status, answer.body, answer.left_open) == (200, BODY, left_open)
    assert time.monotonic() - start < raw.CLOSE_GRACE + 0.5


def test_content_after_a_304_shows():
    data = response("304 Not Modified", {"Content-Length": str(len(BODY))}, BODY)
    with raw_server(writing(data)) as server:
        answer = send(server.base_url + "/v1/usage", [("If-None-Match", "*")])
    assert (answer.status, answer.body) == (304, BODY)


@pytest.mark.parametrize(
    "data, error",
    [
        (response("200 OK", {"Content-Length": "50"}, BODY), "body ends after 12 of its 50"),
        (b"HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\n", "before a complete response head"),
        (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    ],
)
def test_broken_answers_are_broken_responses(data, error):
    with raw_server(writing(data)) as server:
        answer = send(server.base_url + "/v1/usage")
    assert answer.error.startswith("broken response") and error in answer.error


def test_the_deadline_bounds_a_silent_server():
    with raw_server(writing(b"", linger=5)) as server:
        start = time.monotonic()
        answer = send(server.base_url + "/v1/usage", deadline=0.5)
    assert answer.stalled and "deadline" in answer.error
    assert time.monotonic() - start < 1.5


def test_a_coding_asked_for_and_not_decoded_is_kept_as_it_came():
    data = response("200 OK", {"Content-Encoding": "br", "Content-Length": "4"}, b"\x0b\x02\x80x")
    with raw_server(writing(data)) as server:
        asked = send(server.base_url + "/v1/usage", [("Accept-Encoding", "br")])
        not_asked = send(server.base_url + "/v1/usage")
    assert (asked.coded, asked.body, asked.error) == ("br", b"\x0b\x02\x80x", "")
    assert "Content-Encoding br was not asked for" in not_asked.error


def test_the_pooled_client_keeps_a_coding_asked_for_and_joins_repeated_fields():
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nVary: Accept\r\nVary: x-api-key\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    )
    pools = wire.Pools()
    try:
        with raw_server(writing(data)) as server:
            answer = wire.exchange(
                pools.current(),
                "GET",
                server.base_url + "/v1/usage",
                {"Accept-Encoding": "gzip, *;q=0.1"},
                connect_timeout=1.0,
                read_timeout=1.5,
                deadline=2.0,
                max_body_bytes=1 << 20,
            )
    finally:
        pools.close()
    assert (answer.coded, answer.body) == ("zstd", b"abc")
    assert answer.headers is not None and answer.headers["vary"] == "Accept, x-api-key"


@pytest.mark.parametrize(
    "accept, coding, accepted",
    [
        ("br", "br", True),
        ("gzip, *;q=0.5", "zstd", True),
        ("*;q=0", "br", False),
        ("br;q=0, *", "br", False),
        ("gzip", "br", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(accept, coding, accepted):
    assert wire.accepts_coding(accept, coding) is accepted


@pytest.mark.parametrize("between, body", [(b"", b""), (BODY, BODY)], ids=["none", "a-body"])
def test_a_get_after_a_head_shows_what_came_in_between(between, body):
    head = response("200 OK", {"Content-Length": str(len(BODY))})
    get = response("200 OK", {"Content-Length": str(len(BODY))}, BODY)
    with raw_server(writing(head + between + get, linger=5)) as server:
        start = time.monotonic()
        answer = send(server.base_url + "/v1/usage", method="HEAD", form=Raw(then_get=True))
    assert (answer.status, answer.body, answer.error) == (200, body, "")
    assert time.monotonic() - start < 0.5  # the follow-up's answer ends the wait
    written = raw.request_bytes("HEAD", "http://h/x", [], Raw(then_get=True))
    first, second = written.split(b"\r\n\r\n", 1)
    assert b"Connection: close" not in first and second.startswith(b"GET /x HTTP/1.1\r\n")
    assert b"Connection: close" in second


def test_a_malformed_request_is_written_as_asked():
    url = "http://127.0.0.1:1/v1/usage?a=1"
    keyed = [("X-Api-Key", "k"), ("Transfer-Encoding", "chunked")]
    form = Raw(host=False, before="\r\n", indent_first=True, content=b"0\r\n\r\n", watch_close=True)
    head = raw.request_bytes("GET", url, keyed, form)
    assert head.startswith(b"\r\nGET /v1/usage?a=1 HTTP/1.1\r\n X-Api-Key: k\r\n")
    assert b"Host:" not in head and b"Connection:" not in head
    assert head.endswith(b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    line = raw.request_bytes("GET", url, [], Raw(line="GET {target}\x00 HTTP/1.1"))
    assert line.startswith(b"GET /v1/usage?a=1\x00 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n")


@pytest.mark.parametrize("close", [True, False])
def test_a_watched_connection_reports_whether_the_server_closed(close):
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(response("400 Bad Request", {"Content-Length": "0"}, b""))
        await writer.drain()
        if not close:
            await asyncio.sleep(raw.CLOSE_WATCH + 0.5)

    with raw_server(handler) as server:
        started = time.monotonic()
        answer = send(server.base_url + "/v1/usage", form=Raw(watch_close=True))
    assert (answer.status, answer.error, answer.closed) == (400, "", close)
    assert time.monotonic() - started < raw.CLOSE_WATCH + 0.4


def test_a_close_without_an_answer_is_reported():
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.close()

    with raw_server(handler) as server:
        answer = send(server.base_url + "/v1/usage", form=Raw(watch_close=True))
    assert answer.status is None and answer.closed and not answer.stalled


def test_an_unfinished_head_waits_a_second_for_an_answer():
    url = "http://127.0.0.1:1/v1/usage?a=1"
    head = raw.request_bytes("GET", url, [("X-Api-Key", "k")], Raw(unfinished=True))
    assert head.endswith(b"X-Api-Key: k\r\nConnection: close\r\n") and b"\r\n\r\n" not in head
    with raw_server(writing(response("200 OK", {"Content-Length": "0"}))) as server:
        started = time.monotonic()  # the server waits for the head's end: no answer
        answer = send(server.base_url + "/v1/usage", form=Raw(unfinished=True))
    assert (answer.status, answer.error, answer.stalled, answer.closed) == (None, "", False, False)
    assert time.monotonic() - started < raw.UNFINISHED_WAIT + 0.5
