"""One request on the wire, with httpcore: a total deadline on every socket operation, the
body read up to a cap and decoded as labelled, streams not read, the request-target sent as
spelled. Synchronous: each thread that sends has its own connection pool (`Pools`), so tests
run ahead in threads (`_ahead`) wait for the network in parallel with the GIL released."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import h11
import httpcore

from conformance._core.errors import TargetUnavailable

#: Content codings the suite asks for and decodes (RFC 9110 8.4.1).
ACCEPT_ENCODING = "gzip, deflate"
#: Sent unless the request names its own (schemathesis's cases do).
DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": ACCEPT_ENCODING,
    "User-Agent": "dcs-conformance",
}
#: Media types of streams: their status and headers are judged, the stream itself is not read.
STREAM_MEDIA_TYPES = frozenset({"text/event-stream"})
OVERSIZE_EVIDENCE_BYTES = 64 * 1024  # of a body over the cap, what an exchange keeps
#: httpcore's type of a socket option (`setsockopt` arguments)
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_SLACK = 0.05  # a socket timeout cut to the deadline may fire this much early

#: When the request being sent in this context must be complete (time.monotonic()).
_deadline: ContextVar[float | None] = ContextVar("dcs_deadline", default=None)


@dataclass
class Answer:
    """What came back for one request: status and headers (lower-case names) once a head
    arrived, the body read, and the transport error if any."""

    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""
    error: str = ""
    stalled: bool = False  # the deadline or the read timeout ran out
    streamed: bool = False  # a stream (event stream, protocol switch): its body was not read
    coded: str = ""  # a content coding the request asked for that is not decoded here
    left_open: bool = False  # asked to close, the server kept the connection open after it
    closed: bool | None = None  # the server closed the connection after it (None: not watched)
    answered_after: bool = False  # an answer to a request that followed it came (raw wire)
    interim: tuple[int, ...] = ()  # the 1xx statuses before the final answer (raw wire)


class _DeadlineExceeded(httpcore.ReadTimeout):
    """The request's total deadline passed during a socket operation."""


def _bounded(timeout: float | None) -> float | None:
    """A socket operation's timeout, cut to what is left of the request's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlineExceeded("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, every socket operation bounded by the deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, _bounded(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class Pools:
    """A connection pool per sending thread (one connection kept alive is the usual case),
    and one-connection pools for `one_connection` blocks; all closed by `close`."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[httpcore.ConnectionPool] = []
        self._lock = threading.Lock()
        self._pinned: ContextVar[httpcore.ConnectionPool | None] = ContextVar(
            "dcs_pinned", default=None
        )

    def current(self) -> httpcore.ConnectionPool:
        pinned = self._pinned.get()
        if pinned is not None:
            return pinned
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = self._new(max_connections=4)
        return pool

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Requests of this context in the `with` body share one connection of their own."""
        pool = self._new(max_connections=1)
        token = self._pinned.set(pool)
        try:
            yield
        finally:
            self._pinned.reset(token)
            pool.close()

    @contextmanager
    def fresh(self) -> Iterator[httpcore.ConnectionPool]:
        """A pool of one connection, new, closed after the `with` body: a request on it is
        the first of its connection."""
        pool = self._new(max_connections=1)
        try:
            yield pool
        finally:
            pool.close()

    def close(self) -> None:
        with self._lock:
            pools, self._all = self._all, []
        for pool in pools:
            pool.close()

    def _new(self, *, max_connections: int) -> httpcore.ConnectionPool:
        pool = httpcore.ConnectionPool(
            max_connections=max_connections, network_backend=_DeadlineBackend()
        )
        with self._lock:
            self._all.append(pool)
        return pool


def exchange(
    pool: httpcore.ConnectionPool,
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
    max_body_bytes: int,
) -> Answer:
    """Send one request and read its answer, all within `deadline` seconds; a connection
    that cannot be made raises `TargetUnavailable`, anything else is in the `Answer`.

    A kept-alive connection that the server closed while it was idle fails before any byte of
    an answer: the request never reached the server, so it is sent once more on a new
    connection (RFC 9112 9.3.1), within the same deadline."""
    due = time.monotonic() + deadline
    token = _deadline.set(due)
    try:
        while True:
            reused = [True]
            answer = _attempt(
                pool, method, url, headers, reused, due, connect_timeout, read_timeout, deadline,
                max_body_bytes,
            )  # fmt: skip
            if answer.status is not None or answer.stalled or not reused[0]:
                return answer
    finally:
        _deadline.reset(token)


def _attempt(
    pool: httpcore.ConnectionPool,
    method: str,
    url: str,
    headers: Mapping[str, str],
    reused: list[bool],
    due: float,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
    max_body_bytes: int,
) -> Answer:
    answer = Answer()
    timeouts = {"connect": connect_timeout, "read": read_timeout, "write": read_timeout}

    def note(event: str, info: Any) -> None:
        if event.startswith("connection.connect_tcp"):
            reused[0] = False  # a new connection: a failure on it is the server's

    names = {name.lower() for name in headers}
    sent = {k: v for k, v in DEFAULT_HEADERS.items() if k.lower() not in names} | dict(headers)
    try:
        with pool.stream(
            method,
            _url(url),
            headers=[(name, header_value(value)) for name, value in sent.items()],
            extensions={"timeout": timeouts, "trace": note},
        ) as response:
            answer.status = response.status
            answer.headers = header_fields(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.headers
            )
            media = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            answer.streamed = response.status == 101 or media in STREAM_MEDIA_TYPES
            if response.status == 101:
                _close_switched(response)
            elif not answer.streamed:
                asked = ", ".join(v for k, v in sent.items() if k.lower() == "accept-encoding")
                read_body(response.iter_stream(), answer, max_body_bytes, asked)
    except (httpcore.LocalProtocolError, h11.LocalProtocolError) as exc:  # ours, not the server's
        raise Unsendable(_reason(exc)) from exc
    except httpcore.ConnectError as exc:
        raise TargetUnavailable(f"cannot connect to {_origin(url)} ({_reason(exc)})") from exc
    except httpcore.ConnectTimeout as exc:
        raise TargetUnavailable(f"connecting to {_origin(url)} timed out") from exc
    except httpcore.TimeoutException as exc:
        ran_out = isinstance(exc, _DeadlineExceeded) or time.monotonic() >= due - _SLACK
        answer.error = (
            f"no complete response within the {deadline:g} s deadline"
            if ran_out
            else f"no data for {read_timeout:g} s (read timeout)"
        )
        answer.stalled = True
    except Undecodable as exc:
        answer.error = f"broken response: {exc}"
    except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
        answer.error = f"broken response: {_reason(exc)}"
    return answer


class Unsendable(Exception):
    """A request the pooled client cannot write whole as asked (framing fields that do not
    fit it, a field value HTTP forbids): the server is not to blame."""


class Undecodable(Exception):
    """The body is not in the content coding its Content-Encoding names."""


def header_fields(lines: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response header fields by lower-case name; a field sent on several lines is one
    comma-separated value (RFC 9110 5.3)."""
    fields: dict[str, str] = {}
    for name, value in lines:
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields


def read_body(chunks: Iterable[bytes], answer: Answer, cap: int, asked: str) -> None:
    """Read and decode the body into `answer`, stopping past `cap` decoded bytes. A coding
    the request asked for (`asked`: its Accept-Encoding) that is not decoded here, and any
    coding of a 206's part, is kept as it came, in `answer.coded`."""
    coding = (answer.headers or {}).get("content-encoding", "").strip().lower()
    if answer.status == 206 and coding not in ("", "identity"):
        # a range of the coded representation (RFC 9110 8.4.1, 14.1.2): no coding decodes a
        # part on its own; kept as it came
        answer.coded = coding
        decoder = _Decoder("")
    elif coding not in DECODED and "," not in coding and accepts_coding(asked, coding):
        answer.coded = coding
        decoder = _Decoder("")
    else:
        decoder = _decoder(coding, asked)
    body = bytearray()
    for chunk in chunks:
        body += decoder.decode(chunk, cap + 1 - len(body))
        if len(body) > cap:
            answer.body = bytes(body[:OVERSIZE_EVIDENCE_BYTES])  # not 4 MiB per request kept
            answer.error = f"body exceeds {cap} bytes; stopped reading"
            return
    decoder.finish()
    answer.body = bytes(body)


class _Decoder:
    """Decodes gzip or deflate (zlib or raw) as it arrives; identity passes through."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}.get(coding)
        self._zlib = None if not coding else zlib.decompressobj(wbits or zlib.MAX_WBITS)
        self._raw_deflate = coding == "deflate"
        self._seen = False

    def decode(self, chunk: bytes, room: int) -> bytes:
        if self._zlib is None:
            return chunk
        try:
            data = self._zlib.decompress(chunk, max(room, 1))
        except zlib.error as exc:
            if self._raw_deflate and not self._seen:  # deflate without the zlib wrapper
                self._zlib, self._raw_deflate = zlib.decompressobj(-zlib.MAX_WBITS), False
                return self.decode(chunk, room)
            raise Undecodable(f"the body is not {self.coding} as labelled ({exc})") from exc
        self._seen = True
        return data

    def finish(self) -> None:
        if self._zlib is not None and self._seen and not self._zlib.eof:
            raise Undecodable(f"the {self.coding} body ends before its end marker")
        if self._zlib is not None and not self._seen:
            return  # an empty body: nothing to decode


#: The content codings read here (and "identity", which is none).
DECODED = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})


def accepts_coding(accept_encoding: str, coding: str) -> bool:
    """Whether an Accept-Encoding value accepts `coding` (RFC 9110 12.5.3): named, or `*`,
    with a weight above 0."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip().lower() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            weights[name] = weight
    return weights.get(coding, weights.get("*", 0.0)) > 0


def _decoder(content_encoding: str, asked: str) -> _Decoder:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 1:
        raise Undecodable(f"more than one content coding ({content_encoding})")
    coding = codings[0] if codings else ""
    if coding not in ("", "gzip", "x-gzip", "deflate"):
        raise Undecodable(f"Content-Encoding {coding} was not asked for (Accept-Encoding: {asked})")
    return _Decoder(coding)


def _close_switched(response: httpcore.Response) -> None:
    """Close the connection of a switched protocol (WebSocket): it is not spoken here."""
    stream = response.extensions.get("network_stream")
    if stream is not None:
        stream.close()


def request_target(url: str) -> str:
    """The origin-form request-target of a URL exactly as spelled (dot segments, a bare
    `?` and all); characters that are not ASCII percent-encoded as UTF-8."""
    parts = urlsplit(url)
    target = parts.path or "/"
    target += f"?{parts.query}" if parts.query or url.endswith("?") else ""
    if not target.isascii():
        target = quote(target, safe="".join(chr(c) for c in range(0x21, 0x7F)))
    return target


def _url(url: str) -> httpcore.URL:
    """The URL with its request-target exactly as spelled."""
    parts = urlsplit(url)
    return httpcore.URL(
        scheme=parts.scheme.encode(),
        host=(parts.hostname or "").encode("idna"),
        port=parts.port,
        target=request_target(url).encode("ascii"),
    )


def header_value(value: str) -> bytes:
    """ASCII as is; anything else (a probe) as its UTF-8 bytes; a lone surrogate escape
    (`"\udcff"`) as the one byte it stands for (obs-text that is not UTF-8)."""
    return value.encode("utf-8", "surrogateescape")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
