"""HTTP's own rules as the suite reads them: field syntax (lists, quoted strings, dates),
content negotiation, conditional requests, byte ranges and caching (RFC 9110, RFC 9111).
Knowledge only, no requests; where the RFCs leave room the choice is `readings`'."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping

#: A field value split at the commas outside quoted strings (RFC 9110 5.6.1, 5.6.4).
_MEMBER = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+')
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def members(value: str) -> list[str]:
    """The members of a list-based field value, stripped, empty ones dropped."""
    return [m.strip() for m in _MEMBER.findall(value) if m.strip()]


def field(headers: Mapping[str, str], name: str) -> str | None:
    """A field's value, whatever the letter case of its name; several lines (names that
    differ only in case) joined with commas, as RFC 9110 5.3 combines them."""
    values = [v for k, v in headers.items() if k.lower() == name.lower()]
    return ", ".join(values) if values else None


def field_lines(headers: Mapping[str, str], name: str) -> int:
    """On how many lines a request sent a field (names that differ only in letter case)."""
    return sum(1 for k in headers if k.lower() == name.lower())


def http_date(value: str) -> dt.datetime | None:
    """An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime
    forms), as an aware UTC datetime; None when it is not one."""
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- caching (RFC 9111) ---------------------------------------------------------------------


def cache_directives(value: str | None) -> dict[str, str | None]:
    """Cache-Control directives by lower-case name, with their argument unquoted (None when
    a directive has none). RFC 9111 5.2."""
    found: dict[str, str | None] = {}
    for member in members(value or ""):
        name, eq, argument = member.partition("=")
        argument = argument.strip()
        if argument.startswith('"') and argument.endswith('"') and len(argument) > 1:
            argument = re.sub(r"\\(.)", r"\1", argument[1:-1])
        found.setdefault(name.strip().lower(), argument if eq else None)
    return found


def delta_seconds(argument: str | None) -> int | None:
    """A directive's delta-seconds (RFC 9111 1.2.2), or None when it has none or a bad one."""
    if argument is None or not argument.isdigit():
        return None
    return int(argument)


def explicit_freshness(response: Mapping[str, str]) -> int | None:
    """How many seconds the response is fresh for, by its own explicit expiration time
    (RFC 9111 4.2.1: s-maxage for a shared cache, else max-age, else Expires minus Date);
    None when it gives none."""
    directives = cache_directives(field(response, "cache-control"))
    for name in ("s-maxage", "max-age"):
        if name in directives:
            return delta_seconds(directives[name]) or 0
    expires = field(response, "expires")
    if expires is None:
        return None
    until = http_date(expires)
    if until is None:
        return 0  # an invalid Expires means already expired (RFC 9111 5.3)
    now = http_date(field(response, "date") or "") or dt.datetime.now(dt.UTC)
    return max(0, int((until - now).total_seconds()))


def varies_on(response: Mapping[str, str], name: str) -> bool:
    """Whether the response's Vary lists the field `name`, or `*` (RFC 9110 12.5.5)."""
    listed = {m.lower() for m in members(field(response, "vary") or "")}
    return "*" in listed or name.lower() in listed


# --- content negotiation (RFC 9110 12) ------------------------------------------------------


def _weighted(value: str) -> list[tuple[str, dict[str, str], float]] | None:
    """The members of an Accept-style value: (lower-case name, parameters, weight); None
    when a member is not `token[/token] *(; param)` or its weight is not a qvalue."""
    found = []
    for member in members(value):
        name, *raw = (part.strip() for part in member.split(";"))
        params: dict[str, str] = {}
        weight = 1.0
        for param in raw:
            key, eq, argument = param.partition("=")
            key = key.strip().lower()
            if not eq or not _TOKEN.fullmatch(key):
                return None
            if key == "q":
                if not re.fullmatch(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?", argument.strip()):
                    return None
                weight = float(argument)
            else:
                params[key] = argument.strip().strip('"')
        if not all(_TOKEN.fullmatch(part) for part in name.split("/", 1)):
            return None
        found.append((name.lower(), params, weight))
    return found


def accept_excludes(accept: str, media_type: str) -> bool | None:
    """Whether an Accept value makes `media_type` unacceptable (RFC 9110 12.5.1: the most
    specific range that matches decides, and a weight of 0 excludes); None when the value
    is malformed or contradicts itself (the same range accepted and refused)."""
    ranges = _weighted(accept)
    if ranges is None or any("/" not in name for name, _, _ in ranges):
        return None
    rank = {media_type: 3, f"{media_type.split('/')[0]}/*": 2, "*/*": 1}
    matching = [(rank[name], weight) for name, _, weight in ranges if name in rank]
    if not matching:
        return True
    top = max(r for r, _ in matching)
    weights = {w > 0 for r, w in matching if r == top}
    return None if len(weights) > 1 else weights == {False}  # both: it contradicts itself


def accept_list_excludes(value: str, wanted: str, *, default_ok: bool) -> bool | None:
    """For Accept-Charset and Accept-Encoding: whether the value makes `wanted` unacceptable
    (named with weight 0, or absent where `*` has weight 0 or, unless `default_ok`, absent
    altogether); None when it is malformed or contradicts itself."""
    items = _weighted(value)
    if items is None or any("/" in name for name, _, _ in items):
        return None
    for name in (wanted, "*"):
        weights = {weight > 0 for listed, _, weight in items if listed == name}
        if len(weights) > 1:
            return None  # named twice, accepted and refused: it contradicts itself
        if weights:
            return weights == {False}
    return not default_ok


# --- conditional requests (RFC 9110 13) -----------------------------------------------------


def entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """The entity-tags of an If-Match / If-None-Match value as (weak, opaque tag); `*` is
    [(False, "*")]; None when the value is neither."""
    if value.strip() == "*" or (members(value) and set(members(value)) == {"*"}):
        return [(False, "*")]  # `*` on several field lines is still `*`
    tags = []
    for member in members(value):
        match = _ENTITY_TAG.fullmatch(member)
        if match is None:
            return None
        tags.append((bool(match.group(1)), match.group(2)))
    return tags or None


def etag_listed(value: str, etag: str | None, *, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match value names `etag` (the representation's ETag):
    `*`, or the same opaque tag (weak comparison for If-None-Match, strong for If-Match:
    RFC 9110 8.8.3.2)."""
    tags = entity_tags(value)
    if tags == [(False, "*")]:
        return True
    parsed = entity_tags(etag or "")
    if not tags or not parsed or len(parsed) != 1:
        return False
    own_weak, own = parsed[0]
    return any(tag == own and (weak or not (is_weak or own_weak)) for is_weak, tag in tags)


# --- ranges (RFC 9110 14) -------------------------------------------------------------------

_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")


def byte_ranges(value: str) -> list[tuple[int | None, int | None]] | None:
    """A `bytes=` Range as (first, last) pairs (a suffix range is (None, length)); None when
    the unit is not bytes or the ranges are malformed (RFC 9110 14.1.1)."""
    unit, eq, spec = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    found: list[tuple[int | None, int | None]] = []
    for member in members(spec):
        match = _RANGE_SPEC.fullmatch(member)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            found.append((None, int(suffix)))
        elif last and int(last) < int(first):
            return None  # "invalid if the last-pos value is ... less than the first-pos"
        else:
            found.append((int(first), int(last) if last else None))
    return found or None


def range_unit(value: str) -> str:
    """The range unit a Range value names (lower case; empty when none)."""
    unit, eq, _ = value.partition("=")
    return unit.strip().lower() if eq else ""


_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)", re.IGNORECASE)


def content_range(value: str) -> tuple[int, int, int | None] | None:
    """A Content-Range `bytes first-last/complete` (complete None for `*`), or None."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first, last, complete = match.groups()
    return int(first), int(last), None if complete == "*" else int(complete)


#: Where one Set-Cookie field line ends in a combined value: a comma before `name=` (the
#: commas of an Expires date are followed by a day, not by a cookie's name).
_NEXT_COOKIE = re.compile(r",\s*(?=[!#$%&'*+.^_`|~0-9A-Za-z-]+=)")


def set_cookies(value: str) -> list[str]:
    """The `name=value` pairs of the cookies a Set-Cookie field sets (RFC 6265 4.1), from its
    field lines combined with commas; attributes left out."""
    pairs = (line.split(";", 1)[0].strip() for line in _NEXT_COOKIE.split(value) if line.strip())
    return [pair for pair in pairs if "=" in pair.lstrip("=")]
