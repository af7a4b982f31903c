"""Strict parsing of a raw query string (valid percent-encoding and UTF-8, or an error) and
of a Host field value."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
#: Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP-literal or a reg-name.
_HOST = re.compile(rb"(?:\[[0-9A-Za-z:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?")


def valid_host(value: bytes) -> bool:
    """Whether ``value`` is a valid Host field value."""
    return _HOST.fullmatch(value) is not None


class MalformedQuery(ValueError):
    """A query component is not valid percent-encoded UTF-8."""

    def __init__(self, name: str | None) -> None:
        super().__init__("malformed query string")
        self.name = name  # the decoded parameter name, when that part was readable


def query_values(raw: bytes, name: str) -> list[str]:
    """All decoded values of parameter ``name`` in ``raw`` (``+`` is a space).

    A pair without ``=`` has the empty value. Raises MalformedQuery if any component of
    the query (not only ``name``'s) has a bad ``%`` escape or is not UTF-8.
    """
    if not raw:
        return []
    values: list[str] = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        decoded_key = _decode(key, None)
        decoded_value = _decode(value, decoded_key)
        if decoded_key == name:
            values.append(decoded_value)
    return values


def _decode(part: bytes, name: str | None) -> str:
    if b"%" not in part and b"+" not in part and part.isascii():
        return part.decode("ascii")
    if _BAD_ESCAPE.search(part):
        raise MalformedQuery(name)
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedQuery(name) from None
