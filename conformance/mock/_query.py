"""Strict parsing of a raw query string: valid percent-encoding and UTF-8, or an error."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


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
