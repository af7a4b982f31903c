"""Variants of the HTTP/1.1 layer (RFC 9112): correct servers that take the other branch
where the RFC gives two, as stock HTTP layers do - control bytes and folds in a field value
replaced by SP, a request with two framings answered and then the connection closed,
octets that are no HTTP dropped without an answer, and HTTP/1.9 processed as 1.1. Each is
the mock's own protocol with a hand-written front before its parser (``_http.front``)."""

from __future__ import annotations

import re

from conformance.mock._http.front import Drop, head_lines, join_head, protocol
from conformance.mock._layers import Apply, passthrough, wire

_BARE = re.compile(rb"[\r\n\x00]")


def front(name: str, step: object) -> Apply:
    """The correct app behind a protocol whose request heads pass ``step`` first."""
    return wire(lambda scope: False, passthrough, protocol(step, name))  # type: ignore[arg-type]


def fields_replaced(head: bytes) -> bytes:
    """RFC 9112 2.2 and 5.2, RFC 9110 5.5: whitespace-preceded lines right after the
    request-line are consumed unread; a later one (obs-fold) joins its field with SP; a
    bare CR, a bare LF or a NUL in a field line becomes SP."""
    first, *lines = head_lines(head)
    while lines and lines[0][:1] in (b" ", b"\t"):
        lines.pop(0)
    fields: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.lstrip(b" \t")
        else:
            fields.append(line)
    return join_head([first, *(_BARE.sub(b" ", line) for line in fields)])


def conflict_closed(head: bytes) -> bytes:
    """RFC 9112 6.1: a request with Transfer-Encoding and Content-Length is processed by
    Transfer-Encoding alone and the connection closed after the answer."""
    first, *fields = head_lines(head)
    names = [line.split(b":", 1)[0].strip().lower() for line in fields]
    if b"transfer-encoding" not in names or b"content-length" not in names:
        return head
    kept = [
        f for f, n in zip(fields, names, strict=True) if n not in (b"content-length", b"connection")
    ]
    return join_head([first, *kept, b"Connection: close"])


def garbage_dropped(head: bytes) -> bytes:
    """RFC 9112 2.2: octets that are no request (a NUL in the request-line, a TLS
    handshake) get no answer: the connection is closed."""
    if b"\x00" in head_lines(head)[0] or head[:1] == b"\x16":
        raise Drop
    return head


_HIGHER_MINOR = re.compile(rb" HTTP/1\.[2-9]$")


def higher_minor_as_1_1(head: bytes) -> bytes:
    """RFC 9110 6.2: a request in HTTP/1.x, x above 1, is processed as HTTP/1.1 (the mock's
    parser, llhttp, refuses it with 400, which our reading allows)."""
    first, *fields = head_lines(head)
    return join_head([_HIGHER_MINOR.sub(b" HTTP/1.1", first), *fields])
