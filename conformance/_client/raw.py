"""One request written byte for byte on a connection of its own, for what the pooled client
(`wire`) cannot send or cannot see: HTTP/1.0, a request-target in absolute-form (RFC 9112
3.2.2), whitespace around a field value, whatever a server sends after a response that has no
content (a HEAD or a 304 answered with content), and requests malformed at HTTP/1.1's level
on purpose (no Host, a request-line of its own, octets before it, an indented first field
line, content after the head, a head without its end), with whether the server then closed
the connection. The request asks for the connection to be closed after it unless told to
watch for the close (whether the server leaves it open is seen); the answer is read as RFC
9112 frames it (1xx interim responses read past, their codes kept; Content-Length, chunked,
or until the close),
within the same deadline and size cap as every other request, and decoded as labelled."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from conformance._client.wire import (
    ACCEPT_ENCODING,
    DEFAULT_HEADERS,
    OVERSIZE_EVIDENCE_BYTES,
    Answer,
    Undecodable,
    header_fields,
    header_value,
    read_body,
    request_target,
)
from conformance._core.errors import TargetUnavailable

MAX_HEAD_BYTES = 64 * 1024  # of a response head
#: After a complete answer, how long the server has to close the connection as asked before
#: its silence is taken for the end (only a server that ignores `Connection: close` waits).
CLOSE_GRACE = 0.5
#: How long a watched connection may stay open after a complete answer before it is taken
#: for kept open (a server that closes does so at once).
CLOSE_WATCH = 1.0
#: How long an answer to a head written without its end is awaited (a correct server waits
#: for the rest, so this is the time the probe costs).
UNFINISHED_WAIT = 1.0
#: status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4: the second SP
#: is sent even when the reason-phrase is empty); HTTP/1.x only (RFC 9110 6.2: a server sends
#: no version it does not conform to, and on this connection it speaks HTTP/1.x)
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3}) [^\r\n]*")
_BODILESS = frozenset({204, 304})
#: A status-line in what came after an answer: an answer to a request that followed.
_ANSWER = re.compile(rb"(?:^|\n)HTTP/1\.[0-9] [0-9]{3} ")


@dataclass(frozen=True)
class Raw:
    """How a request goes on the wire when written byte for byte."""

    version: str = "1.1"  # "1.0" or "1.1" ("1.9": a minor version above any, RFC 9110 6.2)
    absolute_form: bool = False  # the request-target is the whole URL
    #: a GET of the same target follows on the same kept-alive connection, written at once
    #: (pipelined, RFC 9112 9.3.2): whatever the server sends between the two answers is
    #: seen, as a HEAD's content that would corrupt the next answer (a correct server sends
    #: nothing there, and the follow-up's own answer ends the wait). It counts as a request.
    then_get: bool = False
    #: what makes the request malformed at HTTP/1.1's level, in words ("" for none): the
    #: answer is then judged as the HTTP layer's (`readings.outside_the_api`)
    flaw: str = ""
    host: bool = True  # a Host field is added unless named (False: none)
    #: the request-line as written, `{target}` standing for the request-target ("": composed
    #: from method, target and version)
    line: str = ""
    before: str = ""  # octets written before the request-line (empty lines, say)
    #: the first of the request's own fields goes right after the request-line, preceded by
    #: a space (RFC 9112 2.2: whitespace between the request-line and the first field)
    indent_first: bool = False
    content: bytes = b""  # written after the head, as is
    #: no `Connection: close` is asked for; whether the server closed the connection after
    #: its answer (or without one) is reported, within `CLOSE_WATCH` more seconds
    watch_close: bool = False
    #: with `watch_close`: a plain GET of the same target without a key follows at once
    #: (pipelined); whether an answer to it came after the first is reported
    follow: bool = False
    #: a GET of the same path with this query and the same fields follows at once
    #: (pipelined, RFC 9112 9.3.2), asking for the close; the answer read is the first's
    then_query: str = ""
    #: the head is written without the empty line that ends it (RFC 9110 5.3): an answer is
    #: awaited `UNFINISHED_WAIT` seconds, and none coming is no error (the server waits);
    #: whether the server closed the connection is reported
    unfinished: bool = False


class _Broken(Exception):
    """The answer is not a well-formed HTTP/1.x response."""


def exchange(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    raw: Raw,
    *,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
    max_body_bytes: int,
) -> Answer:
    """Send one request as `raw` says on a new connection, and read its answer, all within
    `deadline` seconds; a connection that cannot be made raises `TargetUnavailable`."""
    due = time.monotonic() + deadline
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        sock = socket.create_connection((host, port), timeout=min(connect_timeout, deadline))
    except TimeoutError as exc:
        raise TargetUnavailable(f"connecting to {origin} timed out") from exc
    except OSError as exc:
        raise TargetUnavailable(f"cannot connect to {origin} ({exc.strerror or exc})") from exc
    answer = Answer()
    reader: _Reader | None = None
    try:
        if parts.scheme == "https":
            sock.settimeout(max(due - time.monotonic(), 0.001))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        sock.settimeout(max(due - time.monotonic(), 0.001))
        sock.sendall(request_bytes(method, url, headers, raw))
        asked = ", ".join(v for k, v in headers if k.lower() == "accept-encoding")
        reader = _Reader(sock, due, read_timeout)
        if raw.unfinished:
            _receive_unfinished(method, answer, reader, max_body_bytes, asked or ACCEPT_ENCODING)
            return answer
        _receive(method, answer, reader, max_body_bytes, asked or ACCEPT_ENCODING)
        if raw.watch_close:
            reader.until_close(max_body_bytes, CLOSE_WATCH)
            answer.answered_after = _ANSWER.search(reader.buffer) is not None
        elif not (raw.then_get or raw.then_query or answer.streamed or reader.closed):
            if not reader.idled:  # it was asked to close: give it the grace once
                reader.until_close(max_body_bytes, CLOSE_GRACE)
            answer.left_open = not reader.closed and reader.idled
    except TimeoutError:
        ran_out = time.monotonic() >= due - 0.05
        answer.error = (
            f"no complete response within the {deadline:g} s deadline"
            if ran_out
            else f"no data for {read_timeout:g} s (read timeout)"
        )
        answer.stalled = True
    except (_Broken, Undecodable) as exc:
        answer.error = f"broken response: {exc}"
    except OSError as exc:
        answer.error = f"broken response: {exc.strerror or type(exc).__name__}"
        if isinstance(exc, ConnectionResetError) and reader is not None:
            reader.closed = True  # reset: closed without the graceful end
    finally:
        sock.close()
    if raw.watch_close:
        answer.closed = reader is not None and reader.closed
    return answer


def request_bytes(method: str, url: str, headers: Sequence[tuple[str, str]], raw: Raw) -> bytes:
    """The request head as written: the suite's default fields unless named, `Host` unless
    named, and `Connection: close` unless named; values exactly as given (UTF-8). With
    `raw.then_get`, the follow-up GET after it, which asks for the close instead; with
    `raw.watch_close`, no close is asked for (and with `raw.follow`, the plain GET after it
    asks for it). Octets of `raw.before`, `raw.line` and
    `raw.content` go as Latin-1."""
    if raw.then_get:
        first = _head_bytes(method, url, headers, raw, close=False)
        return first + _head_bytes("GET", url, headers, raw, close=True)
    if raw.then_query:
        first = _head_bytes(method, url, headers, raw, close=False)
        then = urlsplit(url)._replace(query=raw.then_query).geturl()
        return first + _head_bytes("GET", then, headers, Raw(raw.version), close=True)
    first = _head_bytes(method, url, headers, raw, close=not raw.watch_close) + raw.content
    if raw.unfinished:
        return first[: -len(b"\r\n")]
    if raw.follow:
        first += _head_bytes("GET", url, [], Raw(raw.version), close=True)
    return first


def _head_bytes(
    method: str, url: str, headers: Sequence[tuple[str, str]], raw: Raw, *, close: bool
) -> bytes:
    parts = urlsplit(url)
    target = request_target(url)
    if raw.absolute_form:
        target = f"{parts.scheme}://{parts.netloc}{target}"
    names = {name.lower() for name, _ in headers}
    own = list(headers)
    first = [(" " + own[0][0], own.pop(0)[1])] if raw.indent_first and own else []
    lines = [] if "host" in names or not raw.host else [("Host", parts.netloc)]
    lines += [(k, v) for k, v in DEFAULT_HEADERS.items() if k.lower() not in names]
    lines += own
    lines += [] if "connection" in names or not close else [("Connection", "close")]
    line = raw.line.replace("{target}", target) or f"{method} {target} HTTP/{raw.version}"
    head = (raw.before + line + "\r\n").encode("latin-1")
    for name, value in first + lines:
        head += name.encode("ascii") + b": " + header_value(value) + b"\r\n"
    return head + b"\r\n"


def _send_all(sock: socket.socket, data: bytes, due: float) -> None:
    sock.settimeout(max(due - time.monotonic(), 0.001))
    sock.sendall(data)


class _Reader:
    """The bytes of one connection as they arrive, within the request's deadline."""

    def __init__(self, sock: socket.socket, due: float, read_timeout: float) -> None:
        self.sock, self.due, self.read_timeout = sock, due, read_timeout
        self.buffer = bytearray()
        self.closed = False
        self.idled = False  # silent for a whole grace period (the deadline left room for it)

    def more(self, grace: float | None = None) -> bool:
        """Read what comes next into the buffer; False once the server has closed."""
        if self.closed:
            return False
        wait = min(self.read_timeout, self.due - time.monotonic())
        whole_grace = grace is not None and wait >= grace
        if grace is not None:
            wait = min(wait, grace)
        if wait <= 0:
            raise TimeoutError
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            self.idled = self.idled or whole_grace  # silent for a whole grace, not cut short
            raise
        self.closed = not chunk
        self.buffer.extend(chunk)
        return bool(chunk)

    def until_next_answer(self, cap: int, grace: float) -> None:
        """After an answer without content: read until the server closes or the next answer
        begins (then dropped from the buffer), or `grace` seconds of silence; what remains
        in the buffer came in between."""
        try:
            while len(self.buffer) <= cap:
                start = self.buffer.find(b"HTTP/1.")
                if start >= 0:
                    del self.buffer[start:]
                    return
                if not self.more(grace):
                    return
        except TimeoutError:
            return

    def until_close(self, cap: int, grace: float | None = None) -> None:
        """Read until the server closes (or `cap` bytes, or `grace` seconds of silence)."""
        try:
            while len(self.buffer) <= cap and self.more(grace):
                pass
        except TimeoutError:
            if grace is None:
                raise


def _receive(method: str, answer: Answer, reader: _Reader, cap: int, asked: str) -> None:
    """Read the final response into `answer`; after a response to HEAD, or a 204 or 304,
    whatever comes before the close is kept as its body (it has none by definition)."""
    buffer = reader.buffer
    interim: list[int] = []
    while True:  # the head of the final response, past any 1xx
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _Broken(f"a response head over {MAX_HEAD_BYTES} bytes")
            if not reader.more():
                raise _Broken("the connection closed before a complete response head")
            end = buffer.find(b"\r\n\r\n")
        status, fields = _head(bytes(buffer[:end]))
        del buffer[: end + 4]
        if status == 101 or not 100 <= status < 200:
            break
        interim.append(status)
    answer.status, answer.headers, answer.interim = status, fields, tuple(interim)
    if status == 101:
        answer.streamed = True
        return
    if method.upper() == "HEAD" or status in _BODILESS:
        reader.until_next_answer(cap, CLOSE_GRACE)
        answer.body = bytes(buffer[:OVERSIZE_EVIDENCE_BYTES])
        return
    read_body([_body(reader, fields, cap)], answer, cap, asked)


def _receive_unfinished(method: str, answer: Answer, reader: _Reader, cap: int, asked: str) -> None:
    """After a head written without its end: the answer if one begins within
    `UNFINISHED_WAIT` seconds (read to its end within the deadline), else none, and whether
    the server closed the connection meanwhile."""
    try:
        while not reader.buffer and reader.more(UNFINISHED_WAIT):
            pass
    except TimeoutError:
        pass  # no answer: the server waits for the rest of the head
    if reader.buffer:
        _receive(method, answer, reader, cap, asked)
    answer.closed = reader.closed


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise _Broken(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    pairs = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise _Broken(f"a folded field line (obs-fold, RFC 9112 5.2): {line[:60]!r}")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise _Broken(f"a malformed header line: {line[:60]!r}")
        pairs.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return int(match.group(1)), header_fields(pairs)


def _body(reader: _Reader, fields: dict[str, str], cap: int) -> bytes:
    """The content as framed (RFC 9112 6.3), still in its content coding."""
    buffer = reader.buffer
    coding = fields.get("transfer-encoding", "").lower()
    if coding.rsplit(",", 1)[-1].strip() == "chunked":
        return _chunked(reader, cap)
    length = fields.get("content-length")
    if coding or length is None:
        reader.until_close(cap)
        data = bytes(buffer)
        buffer.clear()
        return data
    values = {value.strip() for value in length.split(",")}
    size_text = values.pop()
    if values or not size_text.isdigit():
        raise _Broken(f"an invalid Content-Length: {length[:40]}")
    size = int(size_text)
    while len(buffer) < size and len(buffer) <= cap:
        if not reader.more():
            raise _Broken(f"the body ends after {len(buffer)} of its {size} bytes")
    data = bytes(buffer[:size])
    del buffer[:size]  # what follows is another answer's
    return data


def _chunked(reader: _Reader, cap: int) -> bytes:
    buffer = reader.buffer
    body = bytearray()
    position = 0
    while len(body) <= cap:
        end = buffer.find(b"\r\n", position)
        while end < 0:
            if not reader.more():
                raise _Broken("the chunked body ends before its last chunk")
            end = buffer.find(b"\r\n", position)
        size_text = bytes(buffer[position:end]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Broken(f"a malformed chunk size: {size_text[:20]!r}") from None
        position = end + 2
        if size == 0:
            del buffer[:position]  # trailers, if any, are not read
            break
        while len(buffer) < position + size + 2:
            if not reader.more():
                raise _Broken("the chunked body ends inside a chunk")
        body += buffer[position : position + size]
        position += size + 2
    return bytes(body)
